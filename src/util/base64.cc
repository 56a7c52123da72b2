#include "util/base64.h"

#include <array>
#include <cstdint>

namespace meshcache {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr uint8_t kInvalid = 0xff;

constexpr std::array<uint8_t, 256> MakeDecodeTable() {
  std::array<uint8_t, 256> table{};
  for (uint8_t& v : table) v = kInvalid;
  for (size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<uint8_t>(kAlphabet[i])] = static_cast<uint8_t>(i);
  }
  return table;
}
constexpr std::array<uint8_t, 256> kDecode = MakeDecodeTable();

// The 6-bit values of one 4-byte group; false if a byte is not in the
// alphabet. pad: how many '=' end the group (allowed only in the last one).
bool GroupValues(std::string_view group, size_t pad, std::array<uint32_t, 4>* values) {
  for (size_t i = 0; i < 4; ++i) {
    if (i >= 4 - pad) {
      (*values)[i] = 0;
      continue;
    }
    const uint8_t v = kDecode[static_cast<uint8_t>(group[i])];
    if (v == kInvalid) return false;
    (*values)[i] = v;
  }
  return true;
}

size_t Padding(std::string_view text) {
  if (text.ends_with("==")) return 2;
  return text.ends_with('=') ? 1 : 0;
}

}  // namespace

std::optional<size_t> Base64Decode(std::string_view text, char* out, size_t cap) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  const size_t pad = Padding(text);
  const size_t size = text.size() / 4 * 3 - pad;
  if (size > cap) return std::nullopt;
  size_t n = 0;
  for (size_t at = 0; at < text.size(); at += 4) {
    const bool last = at + 4 == text.size();
    std::array<uint32_t, 4> v{};
    if (!GroupValues(text.substr(at, 4), last ? pad : 0, &v)) return std::nullopt;
    const uint32_t bits = v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3];
    const size_t bytes = last ? 3 - pad : 3;
    // Canonical only: the bits under the padding are zero.
    if (last && (bits & ((1u << (8 * pad)) - 1)) != 0) return std::nullopt;
    for (size_t i = 0; i < bytes; ++i) out[n++] = static_cast<char>(bits >> (16 - 8 * i));
  }
  return n;
}

void AppendBase64(std::string* out, std::string_view bytes) {
  size_t at = 0;
  for (; at + 3 <= bytes.size(); at += 3) {
    const uint32_t bits = static_cast<uint32_t>(static_cast<uint8_t>(bytes[at])) << 16 |
                          static_cast<uint32_t>(static_cast<uint8_t>(bytes[at + 1])) << 8 |
                          static_cast<uint8_t>(bytes[at + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out->push_back(kAlphabet[(bits >> shift) & 63]);
  }
  const size_t left = bytes.size() - at;
  if (left == 0) return;
  uint32_t bits = static_cast<uint32_t>(static_cast<uint8_t>(bytes[at])) << 16;
  if (left == 2) bits |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[at + 1])) << 8;
  out->push_back(kAlphabet[(bits >> 18) & 63]);
  out->push_back(kAlphabet[(bits >> 12) & 63]);
  out->push_back(left == 2 ? kAlphabet[(bits >> 6) & 63] : '=');
  out->push_back('=');
}

}  // namespace meshcache
