// The daemon's loader: an origin service of any language that speaks the
// protocol's framing: ["load", id, key] -> ["ok", id, value, ttl_ms] |
// ["miss", id] | ["err", id, code, message] (docs/protocol.md).
#pragma once

#include <memory>
#include <string>
#include <zmq.hpp>

#include "meshcache/loader.hpp"
#include "protocol/messages.h"

namespace meshcache::node {

// A Loader that asks the origin at `endpoint`. Each call uses its own DEALER
// socket from `ctx` and waits at most timeout_ms; a reply that is not the
// expected one is an error. Thread-safe (no shared socket).
// REQUIRES: ctx outlives every call.
Loader MakeOriginLoader(zmq::context_t& ctx, std::string endpoint, int64_t timeout_ms,
                        protocol::Limits limits);

}  // namespace meshcache::node
