// What the owner holds for a key, all of it: shared by the service
// (memcache_ops.cc, lookup.cc) and the memcached door, which formats it.
#pragma once

#include <cstdint>

#include "util/bytes.h"

namespace meshcache::node {

struct HeldEntry {
  Value value;
  uint32_t flags = 0;
  uint64_t version = 0;
  uint64_t ttl_left_ms = 0;  // 0: never expires
};

}  // namespace meshcache::node
