// A blocking request over one DEALER, for the threads that are not the I/O
// thread: the embedding API's calls into its own node and the load workers'
// calls to an origin.
#pragma once

#include <cstdint>
#include <zmq.hpp>

#include "meshcache/status.hpp"
#include "protocol/messages.h"

namespace meshcache::node {

// Sends req as [empty][body] and waits up to timeout_ms for the reply that
// carries req.id (replies to earlier requests are skipped). The reply comes
// back as decoded, `err` replies included. Errors: kUnavailable when the
// request cannot be sent, kTimeout when no reply came in time, the decoder's
// status for a reply that is not one to req.op.
Result<protocol::Reply> CallOnce(zmq::socket_t& socket, const protocol::Request& req,
                                 int64_t timeout_ms, const protocol::Limits& limits);

}  // namespace meshcache::node
