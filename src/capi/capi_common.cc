#include <cstdlib>
#include <cstring>

#include "capi/capi_internal.h"
#include "util/version.h"

namespace meshcache::capi {

void SaveError(char** errptr, const Status& s) {
  if (errptr == nullptr) return;
  std::free(*errptr);
  *errptr = CopyBytes(s.ToString());
}

char* CopyBytes(std::string_view bytes) {
  char* out = static_cast<char*>(std::malloc(bytes.size() + 1));
  if (out == nullptr) std::abort();  // as LevelDB: no way to report it through a C ABI
  if (!bytes.empty()) std::memcpy(out, bytes.data(), bytes.size());
  out[bytes.size()] = '\0';
  return out;
}

}  // namespace meshcache::capi

extern "C" {

void meshcache_free(void* ptr) { std::free(ptr); }

const char* meshcache_version(void) { return meshcache::kVersion; }

}  // extern "C"
