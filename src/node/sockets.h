// Every socket of a node is made here, so the options that make ZeroMQ safe
// for a mesh (../shared/ZEROMQ.md) are set in one place: no linger, a message
// size limit, bounded queues, no queueing for absent peers, loud ROUTER drops.
// CURVE, when it comes, is added here too.
#pragma once

#include <string>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "meshcache/options.hpp"
#include "meshcache/status.hpp"
#include "protocol/messages.h"

namespace meshcache::node {

using Frames = std::vector<zmq::message_t>;

struct SocketLimits {
  size_t max_message_bytes;  // ZMQ_MAXMSGSIZE: libzmq drops bigger frames
  int hwm = 10000;           // per-peer queue bound in messages
};

SocketLimits LimitsFor(const protocol::Limits& limits);

zmq::socket_t MakeRouter(zmq::context_t& ctx, const SocketLimits& l);
zmq::socket_t MakeDealer(zmq::context_t& ctx, const SocketLimits& l);
zmq::socket_t MakePub(zmq::context_t& ctx, const SocketLimits& l);
zmq::socket_t MakeSub(zmq::context_t& ctx, const SocketLimits& l);

// Binds, turning ZeroMQ's exception into a Status that names the endpoint.
Status Bind(zmq::socket_t& socket, const std::string& endpoint);

// Sends the frames (the last one without SNDMORE) without blocking; false
// when the peer is gone (ROUTER_MANDATORY) or its queue is full.
bool SendFrames(zmq::socket_t& socket, Frames& frames);
// Receives one whole multipart message without blocking; false when none.
bool RecvFrames(zmq::socket_t& socket, Frames& frames);

inline zmq::message_t Frame(const std::string& s) { return zmq::message_t(s.data(), s.size()); }
inline std::string_view View(const zmq::message_t& m) {
  return std::string_view(static_cast<const char*>(m.data()), m.size());
}

}  // namespace meshcache::node
