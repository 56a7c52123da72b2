// memcached's text protocol commands, checked as memcached 1.6.18's
// process_command_ascii and its process_*_command functions check them:
// first the token count (a wrong one is "ERROR", sent even with noreply),
// then each argument (an error is not sent with noreply: out_string skips
// every reply of a noreply command).
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>

#include "memcache/numbers.h"
#include "memcache/parse_internal.h"

namespace meshcache::memcache::internal {
namespace {

constexpr std::string_view kNoreply = "noreply";

std::string_view Token(const Line& line, size_t i) { return line.tokens.at[i]; }
size_t Count(const Line& line) {
  return line.tokens.overflow ? Tokens::kMax + 1 : line.tokens.size;
}
bool CountIn(const Line& line, size_t min, size_t max) {
  return Count(line) >= min && Count(line) <= max;
}

// memcached's set_noreply_maybe: the last token is "noreply".
bool LastIsNoreply(const Line& line) { return Token(line, line.tokens.size - 1) == kNoreply; }

// An argument error of a command that may carry noreply.
void FailQuietly(const Line& line, std::string_view reply, ParseResult* r, size_t swallow = 0) {
  Fail(line, r->command.noreply ? "" : reply, r, swallow);
}

// The keys after `skip` tokens of the rest of the line; false with *r
// failed when one is too long or bad, or when there are too many.
bool ReadKeys(const Line& line, size_t skip, ParseResult* r) {
  std::string_view keys = line.rest;
  for (size_t i = 0; i < skip; ++i) {
    const size_t space = keys.find(' ');
    keys = space == std::string_view::npos ? std::string_view() : keys.substr(space);
    keys = keys.substr(std::min(keys.find_first_not_of(' '), keys.size()));
  }
  size_t count = 0;
  for (const std::string_view key : KeyList(keys, 0)) {
    if (!KeyOk(key, *line.limits)) {
      Fail(line, kBadFormat, r);
      return false;
    }
    if (++count > line.limits->max_keys) {
      Fail(line, kTooLong, r);
      return false;
    }
  }
  r->command.keys = KeyList(keys, count);
  return true;
}

// "<word> <key> <number> [noreply]", the shape of incr, decr and touch:
// the number, read by parse, goes to field; error is memcached's reply when
// it is no number.
template <typename T>
void ParseKeyAndNumber(const Line& line, ParseResult* r,
                       std::optional<T> (*parse)(std::string_view), T Command::*field,
                       std::string_view error) {
  Command& c = r->command;
  if (!CountIn(line, 3, 4)) return Fail(line, kError, r);
  c.noreply = LastIsNoreply(line);
  c.key = Token(line, 1);
  if (!KeyOk(c.key, *line.limits)) return FailQuietly(line, kBadFormat, r);
  const std::optional<T> number = parse(Token(line, 2));
  if (!number) return FailQuietly(line, error, r);
  c.*field = *number;
  Done(line, r);
}

}  // namespace

// get|gets <key>+ and gat|gats <exptime> <key>*: memcached wants one
// token after the word (so "gat 10" is a valid get of nothing), and refuses
// the whole command on its first key over 250 bytes.
void ParseRetrieval(const Line& line, ParseResult* r) {
  if (Count(line) < 2) return Fail(line, kError, r);
  const bool touch = r->command.op == Op::kGat || r->command.op == Op::kGats;
  if (touch) {
    const std::optional<int32_t> exptime = ParseI32(Token(line, 1));
    if (!exptime) return Fail(line, kBadExptime, r);
    r->command.exptime = *exptime;
  }
  if (ReadKeys(line, touch ? 1 : 0, r)) Done(line, r);
}

// <word> <key> <flags> <exptime> <bytes> [<cas unique>] [noreply]
void ParseStorage(const Line& line, ParseResult* r) {
  Command& c = r->command;
  const size_t args = c.op == Op::kCas ? 6 : 5;
  if (!CountIn(line, args, args + 1)) return Fail(line, kError, r);
  c.noreply = LastIsNoreply(line);
  // The length first: once it is known, the data block is swallowed on any
  // later error (memcached master's conn_swallow), never read as commands.
  const std::optional<int32_t> bytes = ParseI32(Token(line, 4));
  if (!bytes || *bytes < 0 || *bytes > INT32_MAX - 2) return FailQuietly(line, kBadFormat, r);
  const size_t data = static_cast<size_t>(*bytes) + 2;
  c.key = Token(line, 1);
  const std::optional<uint32_t> flags = ParseU32(Token(line, 2));
  const std::optional<int32_t> exptime = ParseI32(Token(line, 3));
  const std::optional<uint64_t> cas =
      c.op == Op::kCas ? ParseU64(Token(line, 5)) : std::optional<uint64_t>(0);
  if (!KeyOk(c.key, *line.limits) || !flags || !exptime || !cas) {
    return FailQuietly(line, kBadFormat, r, data);
  }
  if (static_cast<size_t>(*bytes) > line.limits->max_value) {
    return FailQuietly(line, kTooLarge, r, data);
  }
  c.client_flags = *flags;
  c.exptime = *exptime;
  c.cas = *cas;
  TakeData(line, static_cast<size_t>(*bytes), c.noreply, r);
}

// delete <key> [0] [noreply]: memcached 1.6.18 still takes the "0" that
// old clients send in place of a removed hold time.
void ParseDelete(const Line& line, ParseResult* r) {
  Command& c = r->command;
  if (!CountIn(line, 2, 4)) return Fail(line, kError, r);
  c.key = Token(line, 1);
  if (Count(line) > 2) {
    const bool zero = Token(line, 2) == "0";
    c.noreply = LastIsNoreply(line);
    const bool valid = Count(line) == 3 ? (zero || c.noreply) : (zero && c.noreply);
    if (!valid) return FailQuietly(line, kBadDeleteFormat, r);
  }
  if (!KeyOk(c.key, *line.limits)) return FailQuietly(line, kBadFormat, r);
  Done(line, r);
}

// incr|decr <key> <delta> [noreply]
void ParseArithmetic(const Line& line, ParseResult* r) {
  ParseKeyAndNumber(line, r, ParseU64, &Command::delta, kBadDelta);
}

// touch <key> <exptime> [noreply]
void ParseTouch(const Line& line, ParseResult* r) {
  ParseKeyAndNumber(line, r, ParseI32, &Command::exptime, kBadExptime);
}

// verbosity <level> [noreply]
void ParseVerbosity(const Line& line, ParseResult* r) {
  if (!CountIn(line, 2, 3)) return Fail(line, kError, r);
  r->command.noreply = LastIsNoreply(line);
  const std::optional<uint32_t> level = ParseU32(Token(line, 1));
  if (!level) return FailQuietly(line, kBadFormat, r);
  r->command.verbosity = *level;
  Done(line, r);
}

// flush_all [delay] [noreply]: the delay is read unless the only argument
// is noreply; a third token is ignored, as memcached ignores it.
void ParseFlushAll(const Line& line, ParseResult* r) {
  if (!CountIn(line, 1, 3)) return Fail(line, kError, r);
  r->command.noreply = LastIsNoreply(line);
  if (Count(line) != (r->command.noreply ? 2u : 1u)) {
    const std::optional<int32_t> delay = ParseI32(Token(line, 1));
    if (!delay) return FailQuietly(line, kBadExptime, r);
    r->command.exptime = *delay;
  }
  Done(line, r);
}

// version, quit and mn ignore whatever follows them.
void ParseNoArgs(const Line& line, ParseResult* r) { Done(line, r); }

void ParseStats(const Line& line, ParseResult* r) {
  r->command.args = line.rest;
  Done(line, r);
}

}  // namespace meshcache::memcache::internal
