#include "text_codecs.h"

#include <charconv>
#include <cstdint>

#include "bench_values.h"

namespace meshbench {
namespace {

// Reads lines and data blocks off the front of the received bytes. Each call
// returns false when the bytes end first (read more) or when they are broken
// (then *out says why); either way the caller stops and returns *out.
class Cursor {
 public:
  Cursor(std::string_view in, Parsed* out) : in_(in), out_(out) {}
  size_t pos() const { return pos_; }

  // A line without its \r\n.
  bool Line(std::string_view* line) {
    const size_t end = in_.find("\r\n", pos_);
    if (end == std::string_view::npos) return false;
    *line = in_.substr(pos_, end - pos_);
    pos_ = end + 2;
    return true;
  }
  // n bytes followed by \r\n.
  bool Data(uint64_t n, std::string_view* data) {
    constexpr uint64_t kMaxData = uint64_t{1} << 30;
    if (n > kMaxData) return Broken("a data block of " + std::to_string(n) + " bytes");
    if (in_.size() - pos_ < n + 2) return false;
    if (in_.substr(pos_ + n, 2) != "\r\n") return Broken("a data block not ended by \\r\\n");
    *data = in_.substr(pos_, n);
    pos_ += n + 2;
    return true;
  }
  bool Broken(std::string what) {
    out_->broken = true;
    out_->problem = std::move(what);
    return false;
  }
  bool Unexpected(std::string_view line) {
    return Broken("an unexpected reply line \"" + std::string(line.substr(0, 80)) + "\"");
  }
  // An error reply, or a wrong value: counted, and the stream goes on.
  void Fail(std::string what) {
    if (out_->errors++ == 0) out_->problem = std::move(what);
  }
  void Check(uint32_t index, std::string_view value, size_t value_size) {
    const KeyName key = KeyOf(index);
    if (!IsValueOf(key.view(), value, value_size)) {
      Fail("a wrong value for " + std::string(key.view()) + " (" + std::to_string(value.size()) +
           " bytes)");
    }
  }
  // The whole reply is in: what it used.
  Parsed Done() {
    out_->consumed = pos_;
    return std::move(*out_);
  }

 private:
  std::string_view in_;
  Parsed* out_;
  size_t pos_ = 0;
};

bool ParseNumber(std::string_view s, int64_t* n) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *n);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// The next space-separated word of *s, taken off it.
std::string_view Word(std::string_view* s) {
  const size_t start = s->find_first_not_of(' ');
  if (start == std::string_view::npos) return *s = std::string_view();
  const size_t end = s->find(' ', start);
  const std::string_view word = s->substr(start, end - start);
  *s = end == std::string_view::npos ? std::string_view() : s->substr(end);
  return word;
}

void AppendNumber(uint64_t n, std::string* out) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  out->append(digits, end);
}

// Matches the keys a multi-key get answered (hits only, in request order)
// to the requested keys; also counts the misses.
class HitMatcher {
 public:
  explicit HitMatcher(const Request& r) : r_(r) {}
  // The index of the requested key `key` after the previous hit; false if none.
  bool Match(std::string_view key, uint32_t* index) {
    while (next_ < r_.keys.size() && KeyOf(r_.keys[next_]).view() != key) ++next_;
    if (next_ == r_.keys.size()) return false;
    *index = r_.keys[next_++];
    ++hits_;
    return true;
  }
  uint32_t misses() const { return static_cast<uint32_t>(r_.keys.size()) - hits_; }

 private:
  const Request& r_;
  size_t next_ = 0;
  uint32_t hits_ = 0;
};

// A value a multi-key get returned for key: checked against the value the
// key must have, or an error when the key was not asked for (or not in order).
void CheckHit(Cursor& c, HitMatcher& hits, std::string_view key, std::string_view data,
              size_t value_size) {
  uint32_t index = 0;
  if (hits.Match(key, &index)) {
    c.Check(index, data, value_size);
  } else {
    c.Fail("memcached: a value for \"" + std::string(key) + "\", not asked for here");
  }
}

bool IsMemcachedError(std::string_view line) {
  return line == "ERROR" || StartsWith(line, "CLIENT_ERROR") || StartsWith(line, "SERVER_ERROR");
}

// --- redis -------------------------------------------------------------------

void RespBulk(std::string_view s, std::string* out) {
  out->push_back('$');
  AppendNumber(s.size(), out);
  out->append("\r\n").append(s).append("\r\n");
}

void RespEncode(const Request& r, size_t value_size, std::string* out) {
  const KeyName first = KeyOf(r.keys[0]);
  switch (r.kind) {
    case Kind::kGet:
      out->append("*2\r\n$3\r\nGET\r\n");
      return RespBulk(first.view(), out);
    case Kind::kMget:
      out->push_back('*');
      AppendNumber(r.keys.size() + 1, out);
      out->append("\r\n$4\r\nMGET\r\n");
      for (uint32_t k : r.keys) RespBulk(KeyOf(k).view(), out);
      return;
    case Kind::kSet:
      out->append("*3\r\n$3\r\nSET\r\n");
      RespBulk(first.view(), out);
      out->push_back('$');
      AppendNumber(value_size, out);
      out->append("\r\n");
      AppendValue(first.view(), value_size, out);
      out->append("\r\n");
      return;
  }
}

// One bulk string answering key `index`: a value, nil ($-1), or an error.
bool RespValue(Cursor& c, uint32_t index, size_t value_size, Parsed* out) {
  std::string_view line, data;
  int64_t n = 0;
  if (!c.Line(&line)) return false;
  if (StartsWith(line, "-")) {
    c.Fail("redis: " + std::string(line.substr(1)));
    return true;
  }
  if (!StartsWith(line, "$") || !ParseNumber(line.substr(1), &n)) return c.Unexpected(line);
  if (n < 0) {
    ++out->misses;
    return true;
  }
  if (!c.Data(static_cast<uint64_t>(n), &data)) return false;
  c.Check(index, data, value_size);
  return true;
}

Parsed RespParse(std::string_view in, const Request& r, size_t value_size) {
  Parsed out;
  Cursor c(in, &out);
  if (r.kind == Kind::kGet) {
    return RespValue(c, r.keys[0], value_size, &out) ? c.Done() : out;
  }
  std::string_view line;
  if (!c.Line(&line)) return out;
  if (StartsWith(line, "-")) {
    c.Fail("redis: " + std::string(line.substr(1)));
    return c.Done();
  }
  if (r.kind == Kind::kSet) {
    if (line != "+OK") c.Unexpected(line);
    return out.broken ? out : c.Done();
  }
  int64_t n = 0;
  if (!StartsWith(line, "*") || !ParseNumber(line.substr(1), &n) ||
      n != static_cast<int64_t>(r.keys.size())) {
    c.Unexpected(line);
    return out;
  }
  for (uint32_t k : r.keys) {
    if (!RespValue(c, k, value_size, &out)) return out;
  }
  return c.Done();
}

// --- memcached, text protocol --------------------------------------------------

void McTextEncode(const Request& r, size_t value_size, std::string* out) {
  if (r.kind == Kind::kSet) {
    const KeyName key = KeyOf(r.keys[0]);
    out->append("set ").append(key.view()).append(" 0 0 ");
    AppendNumber(value_size, out);
    out->append("\r\n");
    AppendValue(key.view(), value_size, out);
    out->append("\r\n");
    return;
  }
  out->append("get");
  for (uint32_t k : r.keys) out->append(" ").append(KeyOf(k).view());
  out->append("\r\n");
}

// get and multi-key get: VALUE <key> <flags> <bytes> [<cas>] + data per hit, END.
Parsed McTextParseGet(std::string_view in, const Request& r, size_t value_size) {
  Parsed out;
  Cursor c(in, &out);
  HitMatcher hits(r);
  for (;;) {
    std::string_view line, data;
    if (!c.Line(&line)) return out;
    if (line == "END") break;
    if (IsMemcachedError(line)) {
      c.Fail("memcached: " + std::string(line));
      return c.Done();
    }
    std::string_view rest = line;
    int64_t bytes = 0;
    const std::string_view tag = Word(&rest), key = Word(&rest), flags = Word(&rest);
    if (tag != "VALUE" || flags.empty() || !ParseNumber(Word(&rest), &bytes) || bytes < 0) {
      c.Unexpected(line);
      return out;
    }
    if (!c.Data(static_cast<uint64_t>(bytes), &data)) return out;
    CheckHit(c, hits, key, data, value_size);
  }
  out.misses = hits.misses();
  return c.Done();
}

Parsed McTextParse(std::string_view in, const Request& r, size_t value_size) {
  if (r.kind != Kind::kSet) return McTextParseGet(in, r, value_size);
  Parsed out;
  Cursor c(in, &out);
  std::string_view line;
  if (!c.Line(&line)) return out;
  if (line == "STORED") return c.Done();
  if (IsMemcachedError(line) || line == "NOT_STORED") {
    c.Fail("memcached: " + std::string(line));
    return c.Done();
  }
  c.Unexpected(line);
  return out;
}

// --- memcached, meta protocol --------------------------------------------------

void McMetaEncode(const Request& r, size_t value_size, std::string* out) {
  switch (r.kind) {
    case Kind::kGet:
      out->append("mg ").append(KeyOf(r.keys[0]).view()).append(" v\r\n");
      return;
    case Kind::kMget:
      for (uint32_t k : r.keys) out->append("mg ").append(KeyOf(k).view()).append(" v q k\r\n");
      out->append("mn\r\n");
      return;
    case Kind::kSet: {
      const KeyName key = KeyOf(r.keys[0]);
      out->append("ms ").append(key.view()).append(" ");
      AppendNumber(value_size, out);
      out->append("\r\n");
      AppendValue(key.view(), value_size, out);
      out->append("\r\n");
      return;
    }
  }
}

// "VA <bytes> <flags>*": the data size and, if asked for (k), the key.
bool ParseVa(std::string_view line, int64_t* bytes, std::string_view* key) {
  std::string_view rest = line;
  if (Word(&rest) != "VA" || !ParseNumber(Word(&rest), bytes) || *bytes < 0) return false;
  for (std::string_view flag = Word(&rest); !flag.empty(); flag = Word(&rest)) {
    if (flag[0] == 'k') *key = flag.substr(1);
  }
  return true;
}

// A quiet mg per key (hits answer "VA <n> k<key>" + data, misses nothing),
// then MN.
Parsed McMetaParseMget(std::string_view in, const Request& r, size_t value_size) {
  Parsed out;
  Cursor c(in, &out);
  HitMatcher hits(r);
  for (;;) {
    std::string_view line, data, key;
    int64_t bytes = 0;
    if (!c.Line(&line)) return out;
    if (line == "MN") break;
    if (line == "EN") continue;  // a miss, though q should have hidden it
    if (IsMemcachedError(line)) {
      c.Fail("memcached: " + std::string(line));
      continue;
    }
    if (!ParseVa(line, &bytes, &key)) {
      c.Unexpected(line);
      return out;
    }
    if (!c.Data(static_cast<uint64_t>(bytes), &data)) return out;
    CheckHit(c, hits, key, data, value_size);
  }
  out.misses = hits.misses();
  return c.Done();
}

Parsed McMetaParse(std::string_view in, const Request& r, size_t value_size) {
  if (r.kind == Kind::kMget) return McMetaParseMget(in, r, value_size);
  Parsed out;
  Cursor c(in, &out);
  std::string_view line, data, key;
  int64_t bytes = 0;
  if (!c.Line(&line)) return out;
  if (IsMemcachedError(line) || (r.kind == Kind::kSet && line == "NS")) {
    c.Fail("memcached: " + std::string(line));
  } else if (r.kind == Kind::kSet) {
    if (line != "HD") c.Unexpected(line);
  } else if (line == "EN") {
    out.misses = 1;
  } else if (!ParseVa(line, &bytes, &key)) {
    c.Unexpected(line);
  } else if (c.Data(static_cast<uint64_t>(bytes), &data)) {
    c.Check(r.keys[0], data, value_size);
  } else {
    return out;
  }
  return out.broken ? out : c.Done();
}

constexpr TextCodec kRedis{RespEncode, RespParse};
constexpr TextCodec kMemcachedText{McTextEncode, McTextParse};
constexpr TextCodec kMemcachedMeta{McMetaEncode, McMetaParse};

}  // namespace

const TextCodec& CodecFor(Target target) {
  switch (target) {
    case Target::kRedis:
      return kRedis;
    case Target::kMemcachedText:
      return kMemcachedText;
    default:
      return kMemcachedMeta;
  }
}

}  // namespace meshbench
