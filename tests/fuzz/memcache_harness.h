// Test helpers for the memcached parser (memcache/parser.h), shared by
// tests/unit/memcache_test.cc and memcache_fuzz.cc: a request encoder (the
// node never sends requests, so it lives here), a description of a command
// that two equal commands share, and a connection driver that feeds a
// stream to the parser in chunks as the node's read loop would.
#pragma once

#include <algorithm>
#include <cstdio>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "memcache/command.h"
#include "memcache/parser.h"

namespace meshcache::memcache::testing {

inline void Add(std::string* out, std::string_view word) {
  out->push_back(' ');
  out->append(word);
}

inline void AddNumber(std::string* out, long long n) { Add(out, std::to_string(n)); }
inline void AddUnsigned(std::string* out, unsigned long long n) { Add(out, std::to_string(n)); }

inline void AddMetaFlags(std::string* out, const MetaFlags& meta) {
  for (const MetaFlag& f : meta.flags()) {
    out->push_back(' ');
    out->push_back(f.flag);
    out->append(f.token);
  }
}

// The arguments of c after its command word, as memcached spells them.
inline void AddArguments(std::string* out, const Command& c) {
  switch (c.op) {
    case Op::kGat:
    case Op::kGats:
      AddNumber(out, c.exptime);
      [[fallthrough]];
    case Op::kGet:
    case Op::kGets:
      for (const std::string_view key : c.keys) Add(out, key);
      return;
    case Op::kSet:
    case Op::kAdd:
    case Op::kReplace:
    case Op::kAppend:
    case Op::kPrepend:
    case Op::kCas:
      Add(out, c.key);
      AddUnsigned(out, c.client_flags);
      AddNumber(out, c.exptime);
      AddUnsigned(out, c.data.size());
      if (c.op == Op::kCas) AddUnsigned(out, c.cas);
      return;
    case Op::kIncr:
    case Op::kDecr:
      Add(out, c.key);
      AddUnsigned(out, c.delta);
      return;
    case Op::kTouch:
      Add(out, c.key);
      AddNumber(out, c.exptime);
      return;
    case Op::kVerbosity:
      AddUnsigned(out, c.verbosity);
      return;
    case Op::kFlushAll:
      AddNumber(out, c.exptime);
      return;
    case Op::kStats:
      if (!c.args.empty()) Add(out, c.args);
      return;
    case Op::kMetaSet:
      Add(out, c.key);
      AddUnsigned(out, c.data.size());
      AddMetaFlags(out, c.meta);
      return;
    case Op::kDelete:
    case Op::kMetaGet:
    case Op::kMetaDelete:
    case Op::kMetaArithmetic:
    case Op::kMetaDebug:
      Add(out, c.key);
      AddMetaFlags(out, c.meta);  // none for delete
      return;
    case Op::kVersion:
    case Op::kQuit:
    case Op::kMetaNoop:
      return;
  }
}

// The request of c in memcached's canonical spelling (single spaces,
// \r\n), with its data block: what a client would send for it.
inline std::string EncodeRequest(const Command& c) {
  std::string out(OpName(c.op));
  AddArguments(&out, c);
  if (c.noreply) Add(&out, "noreply");
  out.append("\r\n");
  const bool storage = (c.op >= Op::kSet && c.op <= Op::kCas) || c.op == Op::kMetaSet;
  if (storage) {
    out.append(c.data);
    out.append("\r\n");
  }
  return out;
}

inline std::string Printable(std::string_view bytes) {
  std::string out;
  for (const char ch : bytes) {
    const auto u = static_cast<unsigned char>(ch);
    if (u >= 0x20 && u < 0x7f && u != '\\') {
      out.push_back(ch);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof(hex), "\\x%02x", u);
      out.append(hex);
    }
  }
  return out;
}

template <typename T>
void Describe(std::string* out, char name, const std::optional<T>& v) {
  if (v) *out += " " + std::string(1, name) + "=" + std::to_string(*v);
}

// Everything c says, readably: equal for two commands that mean the same.
inline std::string Describe(const Command& c) {
  std::string out = Printable(EncodeRequest(c));
  out += " | key=" + Printable(c.DecodedKey()) + " keys=" + std::to_string(c.keys.size());
  const MetaFlags& m = c.meta;
  Describe(&out, 'T', m.ttl);
  Describe(&out, 'N', m.vivify_ttl);
  Describe(&out, 'R', m.recache_ttl);
  Describe(&out, 'F', m.client_flags);
  Describe(&out, 'C', m.compare_cas);
  Describe(&out, 'D', m.delta);
  Describe(&out, 'J', m.initial);
  if (m.mode != 0) out += " M=" + Printable(std::string_view(&m.mode, 1));
  return out;
}

inline std::string Describe(const ParseResult& r) {
  switch (r.kind) {
    case ParseResult::kCommand:
      return "command " + Describe(r.command) + " consumed=" + std::to_string(r.consumed);
    case ParseResult::kNeedMore:
      return "need more, needed=" + std::to_string(r.needed);
    case ParseResult::kError:
      return "error " + Printable(r.reply) + (r.close ? " close" : "") +
             " drop=" + std::to_string(r.consumed + r.swallow);
  }
  return "?";
}

// Called with each buffer Drive parses and what Parse made of it.
using ParseCheck = std::function<void(std::string_view buffer, const ParseResult& result)>;

// What a connection sees when stream arrives cut at `cuts` (ascending
// offsets): one entry per command or error, as the node's read loop (see
// parser.h) meets them, then what is left buffered and still to swallow.
inline std::vector<std::string> Drive(std::string_view stream, std::span<const size_t> cuts,
                                      const Limits& limits, const ParseCheck& check = nullptr) {
  std::vector<std::string> seen;
  std::string buffer;
  size_t swallow = 0;
  size_t at = 0;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    const size_t end = i < cuts.size() ? std::min(cuts[i], stream.size()) : stream.size();
    if (end < at) continue;
    buffer.append(stream.substr(at, end - at));
    at = end;
    const size_t drop = std::min(swallow, buffer.size());
    buffer.erase(0, drop);
    swallow -= drop;
    while (!buffer.empty()) {
      const ParseResult r = Parse(buffer, limits);
      if (check) check(buffer, r);
      if (r.kind == ParseResult::kNeedMore) break;
      // A swallow is one drop of consumed + swallow bytes however the data
      // arrives; describe it as one.
      seen.push_back(Describe(r));
      buffer.erase(0, r.consumed);
      swallow = r.swallow;
      if (r.kind == ParseResult::kError && r.close) return seen;
    }
  }
  seen.push_back("left " + std::to_string(buffer.size()) + " swallow " + std::to_string(swallow));
  return seen;
}

}  // namespace meshcache::memcache::testing
