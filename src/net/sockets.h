// Every ZeroMQ socket of a node and of the C++ client is made here, so the
// options that make ZeroMQ safe for a mesh (../shared/ZEROMQ.md) are set in
// one place: no linger, a message size limit, bounded queues, no queueing for
// absent peers, loud ROUTER drops, quick reconnects and dead-link detection.
// CURVE, when it comes, is added here too. Also the framing helpers both
// sides use.
//
// Layer 1 beside protocol: util and cppzmq only (node and client link it).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "meshcache/status.hpp"

namespace meshcache::net {

using Frames = std::vector<zmq::message_t>;

struct SocketLimits {
  size_t max_message_bytes;  // ZMQ_MAXMSGSIZE: libzmq drops bigger frames
  int hwm = 10000;           // per-peer queue bound in messages
  // ZMQ_RECONNECT_IVL_MAX: the longest wait between reconnects to a peer
  // that is away. A node keeps it below its dead timeout, so a peer that
  // restarts is heard again before it could be declared dead twice.
  int reconnect_max_ms = 2000;
  // ZMQ_CONNECT_TIMEOUT: a connect whose SYN got no answer (a cut link) is
  // abandoned and tried again after this, instead of waiting out the
  // kernel's SYN backoff (1 s, 3 s, 7 s, ...). A node keeps it well below its
  // dead timeout, so a healed link carries heartbeats again in time.
  int connect_timeout_ms = 1000;
  // ZMTP heartbeats (ZMQ_HEARTBEAT_IVL, ZMQ_HEARTBEAT_TIMEOUT): a link whose
  // far end stops answering (a cut, a crash without FIN) is closed and
  // connected afresh, instead of waiting out TCP's retransmission backoff
  // (seconds, doubling) once the far end is back.
  int heartbeat_ivl_ms = 1000;
  int heartbeat_timeout_ms = 3000;
};

zmq::socket_t MakeRouter(zmq::context_t& ctx, const SocketLimits& l);
// ZMQ_IMMEDIATE: nothing is queued for a peer that is not connected.
zmq::socket_t MakeDealer(zmq::context_t& ctx, const SocketLimits& l);
// The largest subscription a PUB takes (a connection that sends a larger
// one is dropped): topics are a msgpack array header, a kind and a node id.
inline constexpr int kMaxSubscriptionBytes = 512;
zmq::socket_t MakePub(zmq::context_t& ctx, const SocketLimits& l);
zmq::socket_t MakeSub(zmq::context_t& ctx, const SocketLimits& l);
// An inproc socket between two threads of one process (PAIR, PUSH, PULL, a
// DEALER to the node's own ROUTER): no linger, no other option.
zmq::socket_t MakeInproc(zmq::context_t& ctx, zmq::socket_type type);

// Binds, turning ZeroMQ's exception into a Status that names the endpoint.
Status Bind(zmq::socket_t& socket, const std::string& endpoint);

// Sends the frames (the last one without SNDMORE) without blocking; false
// when the peer is gone (ROUTER_MANDATORY) or its queue is full.
bool SendFrames(zmq::socket_t& socket, Frames& frames);
// Sends [empty][body], a DEALER's framing, without blocking; false as above.
bool SendBody(zmq::socket_t& socket, std::string_view body);
// Receives one whole multipart message without blocking; false when none.
bool RecvFrames(zmq::socket_t& socket, Frames& frames);
// The body of a DEALER's [empty][body] message, or nullptr for any other shape.
const zmq::message_t* DealerBody(const Frames& frames);

inline zmq::message_t Frame(std::string_view s) { return zmq::message_t(s.data(), s.size()); }
inline std::string_view View(const zmq::message_t& m) {
  return std::string_view(static_cast<const char*>(m.data()), m.size());
}

}  // namespace meshcache::net
