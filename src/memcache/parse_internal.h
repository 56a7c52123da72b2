// Shared by the parser's files (parser.cc frames a line and dispatches it;
// text.cc and meta.cc read the commands). Not part of the module's API.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "memcache/parser.h"

namespace meshcache::memcache::internal {

// memcached's replies, word for word.
inline constexpr std::string_view kError = "ERROR\r\n";
inline constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format\r\n";
inline constexpr std::string_view kBadDataChunk = "CLIENT_ERROR bad data chunk\r\n";
inline constexpr std::string_view kTooLarge = "SERVER_ERROR object too large for cache\r\n";
inline constexpr std::string_view kBadExptime = "CLIENT_ERROR invalid exptime argument\r\n";
inline constexpr std::string_view kBadDelta = "CLIENT_ERROR invalid numeric delta argument\r\n";
inline constexpr std::string_view kBadDeleteFormat =
    "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n";
// memcached's proxy (proto_proxy.c) for a request over its bounds.
inline constexpr std::string_view kTooLong = "CLIENT_ERROR request too long\r\n";

// A command line split on spaces, as memcached's tokenizer splits it: runs
// of spaces separate tokens, nothing else does (a tab is part of a token).
struct Tokens {
  // More than any command but a get needs (a meta line has at most 19).
  static constexpr size_t kMax = 24;
  std::array<std::string_view, kMax> at{};
  size_t size = 0;
  bool overflow = false;  // the line has more than kMax tokens
};

// One complete command line at the front of the buffer.
struct Line {
  std::string_view input;  // the whole buffer
  size_t size = 0;         // bytes of the line, its \n included: where data starts
  std::string_view text;   // the line without its \r\n (or bare \n)
  std::string_view rest;   // text after the command word, outer spaces removed
  Tokens tokens;           // tokens of text; at[0] is the command word
  const Limits* limits = nullptr;
};

// Handlers: each reads one command word's line into *r (r->command.op is
// set) and sets kind, consumed and the rest.
void ParseRetrieval(const Line& line, ParseResult* r);  // get gets gat gats
void ParseStorage(const Line& line, ParseResult* r);    // set add replace append prepend cas
void ParseDelete(const Line& line, ParseResult* r);
void ParseArithmetic(const Line& line, ParseResult* r);  // incr decr
void ParseTouch(const Line& line, ParseResult* r);
void ParseVerbosity(const Line& line, ParseResult* r);
void ParseFlushAll(const Line& line, ParseResult* r);
void ParseNoArgs(const Line& line, ParseResult* r);  // version quit mn
void ParseStats(const Line& line, ParseResult* r);
void ParseMeta(const Line& line, ParseResult* r);  // mg md ma
void ParseMetaSet(const Line& line, ParseResult* r);
void ParseMetaDebug(const Line& line, ParseResult* r);

// Outcomes.
void Done(const Line& line, ParseResult* r);  // the line alone is the command
// An error after the line, dropping swallow bytes of data after it.
void Fail(const Line& line, std::string_view reply, ParseResult* r, size_t swallow = 0);
// The data block of a storage command whose line said `bytes` (<= max_value):
// the command once it is all in; "bad data chunk" (sent unless
// quiet_errors) when it does not end in \r\n.
void TakeData(const Line& line, size_t bytes, bool quiet_errors, ParseResult* r);

// A key memcached would take: at most max_key bytes. Any byte but the
// space that splits tokens (and the line's end) is a key byte, control
// characters too, as memcached 1.6.18 takes them (protocol.txt says keys
// hold none, but clients send them: libmemcached's memcaslap does).
bool KeyOk(std::string_view key, const Limits& limits);

}  // namespace meshcache::memcache::internal
