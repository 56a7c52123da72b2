// Framing: the binary magic byte, the line bound, the command word's
// dispatch, and the data blocks of storage commands.
#include "memcache/parser.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "memcache/parse_internal.h"

namespace meshcache::memcache {
namespace internal {
namespace {

using Handler = void (*)(const Line&, ParseResult*);

struct Entry {
  std::string_view word;
  Op op;
  Handler handler;
};

// One handler per command word, as memcached's process_request switches on
// the exact word (case matters: "GET" is an unknown command).
constexpr std::array<Entry, 25> kCommands = {{
    {"get", Op::kGet, ParseRetrieval},
    {"gets", Op::kGets, ParseRetrieval},
    {"gat", Op::kGat, ParseRetrieval},
    {"gats", Op::kGats, ParseRetrieval},
    {"set", Op::kSet, ParseStorage},
    {"add", Op::kAdd, ParseStorage},
    {"replace", Op::kReplace, ParseStorage},
    {"append", Op::kAppend, ParseStorage},
    {"prepend", Op::kPrepend, ParseStorage},
    {"cas", Op::kCas, ParseStorage},
    {"delete", Op::kDelete, ParseDelete},
    {"incr", Op::kIncr, ParseArithmetic},
    {"decr", Op::kDecr, ParseArithmetic},
    {"touch", Op::kTouch, ParseTouch},
    {"version", Op::kVersion, ParseNoArgs},
    {"stats", Op::kStats, ParseStats},
    {"verbosity", Op::kVerbosity, ParseVerbosity},
    {"quit", Op::kQuit, ParseNoArgs},
    {"flush_all", Op::kFlushAll, ParseFlushAll},
    {"mg", Op::kMetaGet, ParseMeta},
    {"ms", Op::kMetaSet, ParseMetaSet},
    {"md", Op::kMetaDelete, ParseMeta},
    {"ma", Op::kMetaArithmetic, ParseMeta},
    {"mn", Op::kMetaNoop, ParseNoArgs},
    {"me", Op::kMetaDebug, ParseMetaDebug},
}};

constexpr uint8_t kBinaryMagic = 0x80;
constexpr size_t kBinaryHeader = 24;

std::string_view Trim(std::string_view s) {
  const size_t start = s.find_first_not_of(' ');
  if (start == std::string_view::npos) return {};
  return s.substr(start, s.find_last_not_of(' ') - start + 1);
}

// Splits line->text into line->tokens (a byte loop: tokens are short, and a
// memchr call per token costs more than it saves) and sets line->rest.
void Tokenize(Line* line) {
  const std::string_view text = line->text;
  Tokens& t = line->tokens;
  size_t at = 0;
  while (true) {
    while (at < text.size() && text[at] == ' ') ++at;
    if (at == text.size()) break;
    if (t.size == Tokens::kMax) {
      t.overflow = true;
      break;
    }
    const size_t start = at;
    while (at < text.size() && text[at] != ' ') ++at;
    t.at[t.size++] = text.substr(start, at - start);
  }
  if (t.size > 0) line->rest = Trim(text.substr(t.at[0].data() + t.at[0].size() - text.data()));
}

// memcached's reply to a binary request when it does not know the opcode
// (proto_bin.c write_bin_error): a 24-byte response header with status
// 0x0081, the request's opcode and opaque, and the body "Unknown command".
std::string BinaryUnknownCommand(std::string_view header) {
  constexpr std::string_view kBody = "Unknown command";
  std::string reply(kBinaryHeader, '\0');
  reply[0] = static_cast<char>(0x81);  // response magic
  reply[1] = header[1];                // opcode
  reply[7] = static_cast<char>(0x81);  // status, big-endian
  reply[11] = static_cast<char>(kBody.size());
  std::memcpy(reply.data() + 12, header.data() + 12, 4);  // opaque
  reply.append(kBody);
  return reply;
}

void ParseBinary(std::string_view input, ParseResult* r) {
  if (input.size() < kBinaryHeader) {
    r->needed = kBinaryHeader;
    return;
  }
  r->kind = ParseResult::kError;
  r->consumed = kBinaryHeader;
  r->reply = BinaryUnknownCommand(input.substr(0, kBinaryHeader));
  r->close = true;
}

// An unknown command word: ERROR, except that memcached closes at once,
// without a reply, on what looks like an HTTP request line.
void ParseUnknown(const Line& line, ParseResult* r) {
  const std::string_view text = Trim(line.text);
  const std::string_view last = text.substr(text.rfind(' ') + 1);  // npos + 1 == 0
  if (line.tokens.size > 1 && last.starts_with("HTTP/")) {
    Fail(line, "", r);
    r->close = true;
    return;
  }
  Fail(line, kError, r);
}

void Dispatch(const Line& line, ParseResult* r) {
  const std::string_view word = line.tokens.size > 0 ? line.tokens.at[0] : std::string_view();
  for (const Entry& e : kCommands) {
    if (e.word == word) {
      r->command.op = e.op;
      e.handler(line, r);
      return;
    }
  }
  ParseUnknown(line, r);
}

}  // namespace

void Done(const Line& line, ParseResult* r) {
  r->kind = ParseResult::kCommand;
  r->consumed = line.size;
}

void Fail(const Line& line, std::string_view reply, ParseResult* r, size_t swallow) {
  const size_t total = line.size + swallow;
  r->kind = ParseResult::kError;
  r->consumed = std::min(total, line.input.size());
  r->swallow = total - r->consumed;
  r->reply.assign(reply);
}

void TakeData(const Line& line, size_t bytes, bool quiet_errors, ParseResult* r) {
  const size_t total = line.size + bytes + 2;
  if (line.input.size() < total) {
    r->kind = ParseResult::kNeedMore;
    r->needed = total;
    return;
  }
  // memcached reads exactly bytes + 2 and checks the last two
  // (complete_nread_ascii); whatever follows is the next command.
  if (line.input.substr(line.size + bytes, 2) != "\r\n") {
    Fail(line, quiet_errors ? "" : kBadDataChunk, r, bytes + 2);
    return;
  }
  r->command.data = line.input.substr(line.size, bytes);
  r->kind = ParseResult::kCommand;
  r->consumed = total;
}

bool KeyOk(std::string_view key, const Limits& limits) { return key.size() <= limits.max_key; }

}  // namespace internal

ParseResult Parse(std::string_view input, const Limits& limits) {
  using internal::Line;
  ParseResult r;
  if (input.empty()) return r;
  if (static_cast<uint8_t>(input[0]) == internal::kBinaryMagic) {
    internal::ParseBinary(input, &r);
    return r;
  }
  const std::string_view window = input.substr(0, limits.max_line);
  const size_t newline = window.find('\n');
  if (newline == std::string_view::npos) {
    // No newline among the first max_line bytes: the line is too long
    // however it ends, and the connection cannot find the next command.
    if (input.size() >= limits.max_line) {
      r.kind = ParseResult::kError;
      r.consumed = window.size();
      r.reply.assign(internal::kTooLong);
      r.close = true;
    }
    return r;
  }
  Line line;
  line.input = input;
  line.size = newline + 1;
  // Lines may end in a bare \n (memcached accepts it for compatibility).
  line.text = input.substr(0, newline > 0 && input[newline - 1] == '\r' ? newline - 1 : newline);
  line.limits = &limits;
  internal::Tokenize(&line);
  internal::Dispatch(line, &r);
  return r;
}

}  // namespace meshcache::memcache
