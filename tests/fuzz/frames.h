// The input format of the fuzz targets that take a sequence of messages
// (gossip_fuzz, join_fuzz, handler_fuzz), and its writer (make_corpus, the
// handler's replay history).
//
// An input is a sequence of records, each a tag byte and what its target's
// tag says follows: bytes (Byte) and frames (Frame). A frame is a length
// byte 0-254 and that many bytes, or 255, a little-endian 16-bit length and
// that many bytes. Whatever the input is cut short by reads as zeros (bytes)
// or as the bytes that are left (a frame), so every input is a valid
// sequence and the fuzzer's mutations stay meaningful.
//
// Header-only: make_corpus includes it without the fuzz build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace meshcache::fuzz {

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool done() const { return pos_ >= size_; }
  // The next byte; 0 past the end.
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  // The next frame; it views the input.
  std::string_view Frame() {
    size_t n = Byte();
    if (n == 255) {
      n = Byte();
      n |= static_cast<size_t>(Byte()) << 8;
    }
    n = n < size_ - pos_ ? n : size_ - pos_;
    std::string_view f(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return f;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Writes records as Reader reads them (frames over 65535 bytes are cut).
class Writer {
 public:
  void Byte(uint8_t b) { data.push_back(static_cast<char>(b)); }
  void Frame(std::string_view f) {
    if (f.size() > 0xffff) f = f.substr(0, 0xffff);
    if (f.size() < 255) {
      Byte(static_cast<uint8_t>(f.size()));
    } else {
      Byte(255);
      Byte(static_cast<uint8_t>(f.size() & 0xff));
      Byte(static_cast<uint8_t>(f.size() >> 8));
    }
    data.append(f);
  }

  std::string data;
};

}  // namespace meshcache::fuzz
