// libFuzzer target: the memcached door's parser (memcache/parser.h) fed
// arbitrary bytes as one connection's stream, under memcached's default
// limits and under small ones that reach every bound with short inputs.
// What must hold, for every call and every stream:
//  - a command consumes 1..size bytes, and its views point into the buffer;
//    it re-encodes (memcache_harness.h) to a request that parses back to
//    the same command;
//  - an error drops at least one byte and at most the buffer now, swallows
//    later bytes only when it drops the whole buffer, and its reply is
//    "\r\n"-terminated (or empty, or binary with a close);
//  - "need more" only below a bound: without a line, below max_line; with
//    one, below the size it names, itself at most max_request();
//  - the stream cut into chunks (at points taken from the input, and byte
//    by byte for short streams) gives what it gives whole.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "memcache_harness.h"

using namespace meshcache::memcache;

namespace {

Limits SmallLimits() {
  Limits l;
  l.max_key = 12;
  l.max_value = 16;
  l.max_line = 48;
  l.max_keys = 3;
  return l;
}

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

bool Inside(std::string_view part, std::string_view buffer) {
  return part.empty() || (part.data() >= buffer.data() &&
                          part.data() + part.size() <= buffer.data() + buffer.size());
}

void CheckViews(const Command& c, std::string_view buffer) {
  Check(Inside(c.key, buffer) && Inside(c.data, buffer) && Inside(c.args, buffer));
  Check(Inside(c.keys.text(), buffer));
  for (const MetaFlag& f : c.meta.flags()) Check(Inside(f.token, buffer));
}

// The command re-encodes to a request that parses to the same command (a
// re-encoding may grow a little: "flush_all" becomes "flush_all 0").
void CheckRoundTrip(const Command& c, const Limits& limits) {
  const std::string again = testing::EncodeRequest(c);
  Limits roomy = limits;
  roomy.max_line += 16;
  const ParseResult r = Parse(again, roomy);
  Check(r.kind == ParseResult::kCommand && r.consumed == again.size());
  Check(testing::Describe(r.command) == testing::Describe(c));
}

void CheckResult(std::string_view buffer, const ParseResult& r, const Limits& limits) {
  switch (r.kind) {
    case ParseResult::kCommand:
      Check(r.consumed > 0 && r.consumed <= buffer.size());
      CheckViews(r.command, buffer);
      CheckRoundTrip(r.command, limits);
      return;
    case ParseResult::kNeedMore:
      Check(buffer.size() < limits.max_request());
      if (r.needed == 0) {
        Check(buffer.size() < limits.max_line);
      } else {
        Check(r.needed > buffer.size() && r.needed <= limits.max_request());
      }
      return;
    case ParseResult::kError:
      Check(r.consumed > 0 && r.consumed <= buffer.size());
      Check(r.swallow == 0 || r.consumed == buffer.size());
      Check(r.reply.empty() || r.reply.ends_with("\r\n") || r.close);
      return;
  }
}

// Cut points from the input's own bytes, so the fuzzer steers them.
std::vector<size_t> CutsFrom(std::string_view stream) {
  std::vector<size_t> cuts;
  size_t at = 0;
  for (size_t i = 0; i < stream.size() && cuts.size() < 8; i += 97) {
    at += 1 + static_cast<uint8_t>(stream[i]);
    cuts.push_back(at);
  }
  return cuts;
}

void Fuzz(std::string_view stream, const Limits& limits) {
  const testing::ParseCheck check = [&](std::string_view buffer, const ParseResult& r) {
    CheckResult(buffer, r, limits);
  };
  const std::vector<std::string> whole = testing::Drive(stream, {}, limits, check);
  const std::vector<size_t> cuts = CutsFrom(stream);
  Check(testing::Drive(stream, cuts, limits, check) == whole);
  if (stream.size() <= 256) {
    std::vector<size_t> bytes;
    for (size_t i = 1; i < stream.size(); ++i) bytes.push_back(i);
    Check(testing::Drive(stream, bytes, limits) == whole);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view stream(reinterpret_cast<const char*>(data), size);
  Fuzz(stream, Limits());
  Fuzz(stream, SmallLimits());
  return 0;
}
