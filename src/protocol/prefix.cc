// Reads [str, id, ...] straight from the msgpack bytes. It runs on bodies
// that failed to parse, so it trusts no length: every read is bounds-checked
// and nothing is allocated.
#include <cstdint>

#include "protocol/wire.h"

namespace meshcache::protocol::wire {
namespace {

class Cursor {
 public:
  explicit Cursor(std::string_view bytes) : bytes_(bytes) {}
  size_t pos() const { return pos_; }

  // A big-endian unsigned of `width` bytes.
  bool Fixed(size_t width, uint64_t* out) {
    if (bytes_.size() - pos_ < width) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < width; ++i) v = (v << 8) | static_cast<uint8_t>(bytes_[pos_ + i]);
    pos_ += width;
    *out = v;
    return true;
  }

  bool Byte(uint8_t* out) {
    uint64_t v = 0;
    if (!Fixed(1, &v)) return false;
    *out = static_cast<uint8_t>(v);
    return true;
  }

  bool ArrayHeader(uint64_t* count) {
    uint8_t b = 0;
    if (!Byte(&b)) return false;
    if (b >= 0x90 && b <= 0x9f) {
      *count = b & 0x0f;
      return true;
    }
    if (b == 0xdc) return Fixed(2, count);
    if (b == 0xdd) return Fixed(4, count);
    return false;
  }

  bool SkipStr() {
    uint8_t b = 0;
    uint64_t len = 0;
    if (!Byte(&b)) return false;
    if (b >= 0xa0 && b <= 0xbf) {
      len = b & 0x1f;
    } else if (b < 0xd9 || b > 0xdb || !Fixed(size_t{1} << (b - 0xd9), &len)) {
      return false;  // 0xd9, 0xda, 0xdb: str 8, 16, 32
    }
    if (bytes_.size() - pos_ < len) return false;
    pos_ += len;
    return true;
  }

  // A non-negative integer in any msgpack int encoding.
  bool Uint(uint64_t* out) {
    uint8_t b = 0;
    if (!Byte(&b)) return false;
    if (b <= 0x7f) {
      *out = b;
      return true;
    }
    if (b >= 0xcc && b <= 0xcf) return Fixed(size_t{1} << (b - 0xcc), out);
    if (b < 0xd0 || b > 0xd3) return false;
    const size_t width = size_t{1} << (b - 0xd0);
    if (!Fixed(width, out)) return false;
    return (*out >> (8 * width - 1)) == 0;  // the sign bit of a signed int
  }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

}  // namespace

std::optional<Prefix> ReadPrefix(std::string_view body) {
  Cursor c(body);
  uint64_t count = 0;
  if (!c.ArrayHeader(&count) || count < 2 || !c.SkipStr()) return std::nullopt;
  Prefix prefix;
  prefix.id_begin = c.pos();
  if (!c.Uint(&prefix.id)) return std::nullopt;
  prefix.id_end = c.pos();
  return prefix;
}

uint64_t RecoverId(std::string_view body) {
  std::optional<Prefix> prefix = ReadPrefix(body);
  return prefix ? prefix->id : 0;
}

}  // namespace meshcache::protocol::wire
