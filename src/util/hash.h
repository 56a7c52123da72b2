// The mesh's one hash function: XXH32 with seed 0 (docs/protocol.md).
#pragma once

#include <cstdint>
#include <string_view>

namespace meshcache {

uint32_t Xxh32(std::string_view bytes);

}  // namespace meshcache
