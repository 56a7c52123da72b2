// Loader: what the owner calls on a miss (a callback when embedded).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "meshcache/status.hpp"

namespace meshcache {

struct Loaded {
  std::string value;
  // Expiry of the cached value; 0 = the node's default TTL.
  uint64_t ttl_ms = 0;
};

// Returns the value, nullopt when the key does not exist at the origin, or an
// error (any non-ok Status; the client sees load_failed with its message).
// Called on one of the node's worker threads, never concurrently for the same
// key; it may block (the node answers `timeout` after load_timeout_ms and
// drops the late result). Must be thread-safe across different keys.
// Node::Stop() does not wait for a callback that is still running when the
// node has drained: it is abandoned (its thread finishes on its own and its
// result is dropped), so a loader that never returns cannot hang Stop. A
// loader must therefore not use anything its caller frees after Stop
// returns; capture what it needs by value or shared_ptr.
using Loader = std::function<Result<std::optional<Loaded>>(std::string_view key)>;

}  // namespace meshcache
