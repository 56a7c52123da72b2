// The keys and values every benchmark program agrees on, so that meshbench
// can check each value any server returns and zmq_echo can make the same
// values without storing them.
//
// Key i is "key:%08u" (12 bytes below 10^8). The value of a key, V bytes
// long, is the key's bytes repeated and cut at V ("key:00000042key:00..."),
// or V bytes of '-' for an empty key. Pure functions, thread-safe.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace meshbench {

// A key's bytes, held inline so that naming a key never allocates.
struct KeyName {
  char bytes[16];
  size_t size;
  std::string_view view() const { return std::string_view(bytes, size); }
};

inline KeyName KeyOf(uint32_t index) {
  KeyName k;
  std::memcpy(k.bytes, "key:00000000", 12);
  char digits[10];
  const auto end = std::to_chars(digits, digits + sizeof digits, index).ptr;
  const size_t n = static_cast<size_t>(end - digits);
  const size_t width = n > 8 ? n : 8;
  std::memcpy(k.bytes + 4 + width - n, digits, n);
  k.size = 4 + width;
  return k;
}

// The number in a key made by KeyOf; false for any other key.
inline bool IndexOf(std::string_view key, uint32_t* index) {
  if (key.size() < 12 || key.substr(0, 4) != "key:") return false;
  const auto [end, ec] = std::from_chars(key.data() + 4, key.data() + key.size(), *index);
  return ec == std::errc() && end == key.data() + key.size();
}

// Writes the `size`-byte value of `key` to dst[0, size).
inline void WriteValue(std::string_view key, char* dst, size_t size) {
  if (key.empty()) {
    std::memset(dst, '-', size);
    return;
  }
  for (size_t off = 0; off < size; off += key.size()) {
    std::memcpy(dst + off, key.data(), key.size() < size - off ? key.size() : size - off);
  }
}

inline void AppendValue(std::string_view key, size_t size, std::string* out) {
  const size_t start = out->size();
  out->resize(start + size);
  WriteValue(key, out->data() + start, size);
}

// True when `value` is exactly the `size`-byte value of `key`.
inline bool IsValueOf(std::string_view key, std::string_view value, size_t size) {
  if (value.size() != size) return false;
  if (key.empty()) return value.find_first_not_of('-') == std::string_view::npos;
  for (size_t off = 0; off < size; off += key.size()) {
    const size_t n = key.size() < size - off ? key.size() : size - off;
    if (std::memcmp(value.data() + off, key.data(), n) != 0) return false;
  }
  return true;
}

}  // namespace meshbench
