// The meta commands, checked as memcached 1.6.18's process_m*_command and
// _meta_flag_preparse check them. Their errors are always sent: q hides
// only nominal replies (out_errstring).
#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "memcache/numbers.h"
#include "memcache/parse_internal.h"
#include "util/base64.h"

namespace meshcache::memcache::internal {
namespace {

// memcached's MFLAG_MAX_OPT_LENGTH (20) counts a terminal token.
constexpr size_t kMaxMetaTokens = 19;
// memcached's MFLAG_MAX_OPAQUE_LENGTH, the 'O' included.
constexpr size_t kMaxOpaque = 32;

constexpr std::string_view kDuplicateFlag = "CLIENT_ERROR duplicate flag\r\n";
constexpr std::string_view kInvalidFlag = "CLIENT_ERROR invalid flag\r\n";
constexpr std::string_view kBadToken = "CLIENT_ERROR bad token in command line format\r\n";
constexpr std::string_view kBadKeyEncoding = "CLIENT_ERROR error decoding key\r\n";
constexpr std::string_view kBadModeLength = "CLIENT_ERROR incorrect length for M token\r\n";
constexpr std::string_view kBadInitial = "CLIENT_ERROR invalid numeric initial value\r\n";
constexpr std::string_view kBadMetaDelta = "CLIENT_ERROR invalid numeric delta value\r\n";
constexpr std::string_view kInvalidOrDuplicate = "CLIENT_ERROR invalid or duplicate flag\r\n";
constexpr std::string_view kOpaqueTooLong = "CLIENT_ERROR opaque token too long\r\n";
// mg says "are"; ms, md and ma do not.
constexpr std::string_view kMgTooManyFlags = "CLIENT_ERROR options flags are too long\r\n";
constexpr std::string_view kTooManyFlags = "CLIENT_ERROR options flags too long\r\n";
constexpr std::string_view kBadSetMode = "CLIENT_ERROR invalid mode for ms M token\r\n";
constexpr std::string_view kBadArithmeticMode = "CLIENT_ERROR invalid mode for ma M token\r\n";

size_t Count(const Line& line) {
  return line.tokens.overflow ? Tokens::kMax + 1 : line.tokens.size;
}

bool DecodeKey(Command* c) {
  std::array<char, kMaxDecodedKey> bytes{};
  const std::optional<size_t> n = Base64Decode(c->key, bytes.data(), bytes.size());
  if (!n) return false;
  c->SetDecodedKey(std::string_view(bytes.data(), *n));
  return true;
}

// Stores a flag's number; the error when it is none.
template <typename T>
std::string_view Store(std::optional<T> number, std::optional<T>* slot, std::string_view error) {
  *slot = number;
  return number ? std::string_view() : error;
}

// Reads one flag's token; returns the error it sets (empty when none). A
// numeric flag needs its number right after the flag character.
std::string_view ReadFlag(std::string_view token, Command* c) {
  MetaFlags& m = c->meta;
  const std::string_view arg = token.substr(1);
  switch (token[0]) {
    case 'b':
      return DecodeKey(c) ? std::string_view() : kBadKeyEncoding;
    case 'N':
      return Store(ParseI32(arg), &m.vivify_ttl, kBadToken);
    case 'T':
      return Store(ParseI32(arg), &m.ttl, kBadToken);
    case 'R':
      return Store(ParseI32(arg), &m.recache_ttl, kBadToken);
    case 'F':  // memcached sets no message of its own for F
      return Store(ParseU32(arg), &m.client_flags, kBadFormat);
    case 'C':
      return Store(ParseU64(arg), &m.compare_cas, kBadToken);
    case 'J':
      return Store(ParseU64(arg), &m.initial, kBadInitial);
    case 'D':
      return Store(ParseU64(arg), &m.delta, kBadMetaDelta);
    case 'M':
      if (token.size() != 2) return kBadModeLength;
      m.mode = token[1];
      return {};
    default:
      return {};
  }
}

constexpr uint64_t FlagBits(std::string_view flags) {
  uint64_t bits = 0;
  for (const char f : flags) bits |= uint64_t{1} << (f - 'A');
  return bits;
}

// The flags memcached 1.6.18's _meta_flag_preparse knows.
bool KnownFlag(char flag) {
  constexpr uint64_t kKnown = FlagBits("bcfhklOPLqstuvNRTFCMJDI");
  return flag >= 'A' && flag <= 'z' && ((kKnown >> (flag - 'A')) & 1) != 0;
}

// memcached's _meta_flag_preparse: a repeated flag (or a byte >= 127) or
// an unknown one stops at once; the other errors let the loop go on, the
// last one's message winning (F's leaves the message as it was).
std::string_view ReadFlags(std::span<const std::string_view> tokens, Command* c) {
  MetaFlags& m = c->meta;
  std::string_view error;
  bool failed = false;
  for (const std::string_view token : tokens) {
    const char flag = token[0];
    if (static_cast<unsigned char>(flag) >= 127 || m.Has(flag)) return kDuplicateFlag;
    if (!KnownFlag(flag)) return kInvalidFlag;
    m.list[m.count++] = MetaFlag{flag, token.substr(1)};
    m.seen |= uint64_t{1} << (flag - 'A');
    const std::string_view e = ReadFlag(token, c);
    if (e.empty()) continue;
    if (flag != 'F' || !failed) error = e;
    failed = true;
  }
  return error;
}

// A mode memcached knows for this command; any mode for mg and md, which
// ignore it.
bool ModeOk(Op op, char mode) {
  if (mode == 0) return true;
  if (op == Op::kMetaSet) return std::string_view("EAPRS").find(mode) != std::string_view::npos;
  if (op == Op::kMetaArithmetic)
    return std::string_view("I+D-").find(mode) != std::string_view::npos;
  return true;
}

// The checks after the key, in memcached's order; the error, or empty.
std::string_view CheckFlags(const Line& line, size_t first_flag, ParseResult* r) {
  Command& c = r->command;
  const Op op = c.op;
  if (Count(line) > kMaxMetaTokens) return op == Op::kMetaGet ? kMgTooManyFlags : kTooManyFlags;
  const std::span<const std::string_view> flags(line.tokens.at.data() + first_flag,
                                                line.tokens.size - first_flag);
  const std::string_view error = ReadFlags(flags, &c);
  if (!error.empty()) {
    // md and ma answer every flag error alike (1.6.18 drops the message).
    const bool generic = op == Op::kMetaDelete || op == Op::kMetaArithmetic;
    return generic ? kInvalidOrDuplicate : error;
  }
  if (!ModeOk(op, c.meta.mode)) return op == Op::kMetaSet ? kBadSetMode : kBadArithmeticMode;
  const std::optional<std::string_view> opaque = c.meta.Token('O');
  if (opaque && 1 + opaque->size() > kMaxOpaque) return kOpaqueTooLong;
  return "";
}

}  // namespace

// mg|md|ma <key> <flag>*
void ParseMeta(const Line& line, ParseResult* r) {
  if (Count(line) < 2) return Fail(line, kError, r);
  r->command.key = line.tokens.at[1];
  if (!KeyOk(r->command.key, *line.limits)) return Fail(line, kBadFormat, r);
  const std::string_view error = CheckFlags(line, 2, r);
  if (!error.empty()) return Fail(line, error, r);
  Done(line, r);
}

// ms <key> <datalen> <flag>*\r\n<data>\r\n
void ParseMetaSet(const Line& line, ParseResult* r) {
  Command& c = r->command;
  if (Count(line) < 2) return Fail(line, kError, r);
  if (Count(line) == 2) return Fail(line, kBadFormat, r);
  // The length first, so that every later error swallows the data.
  const std::optional<int32_t> bytes = ParseI32(line.tokens.at[2]);
  if (!bytes || *bytes < 0 || *bytes > INT32_MAX - 2) return Fail(line, kBadFormat, r);
  const size_t data = static_cast<size_t>(*bytes) + 2;
  c.key = line.tokens.at[1];
  if (!KeyOk(c.key, *line.limits)) return Fail(line, kBadFormat, r, data);
  const std::string_view error = CheckFlags(line, 3, r);
  if (!error.empty()) return Fail(line, error, r, data);
  if (static_cast<size_t>(*bytes) > line.limits->max_value) return Fail(line, kTooLarge, r, data);
  TakeData(line, static_cast<size_t>(*bytes), false, r);
}

// me <key> [b]: only a third token of exactly "b" counts.
void ParseMetaDebug(const Line& line, ParseResult* r) {
  Command& c = r->command;
  if (Count(line) < 2) return Fail(line, kBadFormat, r);
  c.key = line.tokens.at[1];
  if (!KeyOk(c.key, *line.limits)) return Fail(line, kBadFormat, r);
  if (Count(line) >= 3 && line.tokens.at[2] == "b") {
    if (!DecodeKey(&c)) return Fail(line, kBadFormat, r);
    c.meta.list[c.meta.count++] = MetaFlag{'b', ""};
    c.meta.seen |= uint64_t{1} << ('b' - 'A');
  }
  Done(line, r);
}

}  // namespace meshcache::memcache::internal
