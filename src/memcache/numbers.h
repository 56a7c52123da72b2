// Decimal tokens, read as memcached's newer tokenizer (mcmc_tokto*) reads
// them: digits only, a leading '-' for the signed kinds, nothing else (no
// '+', no spaces, no hex), and a value that overflows the type is no number.
// memcached 1.6.18's strtol-based readers also took "+5" and silently
// truncated 2^32 to 0; these do neither.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace meshcache::memcache {

template <typename T>
std::optional<T> ParseDecimal(std::string_view token) {
  if (token.empty() || token.front() == '+') return std::nullopt;
  T value{};
  const char* end = token.data() + token.size();
  const auto [ptr, ec] = std::from_chars(token.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

inline std::optional<uint32_t> ParseU32(std::string_view t) { return ParseDecimal<uint32_t>(t); }
inline std::optional<uint64_t> ParseU64(std::string_view t) { return ParseDecimal<uint64_t>(t); }
inline std::optional<int32_t> ParseI32(std::string_view t) { return ParseDecimal<int32_t>(t); }

}  // namespace meshcache::memcache
