#include "meshcache/status.hpp"

#include <array>

namespace meshcache {
namespace {
constexpr std::array<const char*, 10> kNames = {
    "ok",          "bad_request", "too_large",        "unavailable", "timeout",
    "load_failed", "overloaded",  "invalid_argument", "io_error",    "internal",
};
}  // namespace

const char* CodeName(Code code) { return kNames[static_cast<size_t>(code)]; }

Code CodeFromName(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (name == kNames[i]) return static_cast<Code>(i);
  }
  return Code::kInternal;
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(CodeName(code_)) + ": " + message_;
}

}  // namespace meshcache
