#include "util/hash.h"

#include <xxhash.h>

namespace meshcache {

uint32_t Xxh32(std::string_view bytes) { return XXH32(bytes.data(), bytes.size(), 0); }

}  // namespace meshcache
