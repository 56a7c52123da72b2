#include "node/sockets.h"

namespace meshcache::node {
namespace {

void Common(zmq::socket_t& s, const SocketLimits& l) {
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(l.max_message_bytes));
  s.set(zmq::sockopt::sndhwm, l.hwm);
  s.set(zmq::sockopt::rcvhwm, l.hwm);
  // Reconnect quickly on loopback, back off to 2 s for peers that stay away.
  s.set(zmq::sockopt::reconnect_ivl, 100);
  s.set(zmq::sockopt::reconnect_ivl_max, 2000);
  // Close TCP links whose far end vanished without a FIN (ZMTP heartbeats).
  s.set(zmq::sockopt::heartbeat_ivl, 1000);
  s.set(zmq::sockopt::heartbeat_timeout, 3000);
}

}  // namespace

SocketLimits LimitsFor(const protocol::Limits& limits) {
  return SocketLimits{limits.max_body_bytes()};
}

zmq::socket_t MakeRouter(zmq::context_t& ctx, const SocketLimits& l) {
  zmq::socket_t s(ctx, zmq::socket_type::router);
  Common(s, l);
  // A reply to a client that has gone fails loudly (and is counted) instead of
  // vanishing.
  s.set(zmq::sockopt::router_mandatory, 1);
  return s;
}

zmq::socket_t MakeDealer(zmq::context_t& ctx, const SocketLimits& l) {
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  Common(s, l);
  // Never queue requests for a peer that is not connected: they would be
  // delivered late, after their deadline, possibly to a restarted peer.
  s.set(zmq::sockopt::immediate, 1);
  return s;
}

zmq::socket_t MakePub(zmq::context_t& ctx, const SocketLimits& l) {
  zmq::socket_t s(ctx, zmq::socket_type::pub);
  Common(s, l);
  // Give a final `left` heartbeat a moment to leave on shutdown.
  s.set(zmq::sockopt::linger, 200);
  return s;
}

zmq::socket_t MakeSub(zmq::context_t& ctx, const SocketLimits& l) {
  zmq::socket_t s(ctx, zmq::socket_type::sub);
  Common(s, l);
  s.set(zmq::sockopt::subscribe, "");
  return s;
}

Status Bind(zmq::socket_t& socket, const std::string& endpoint) {
  try {
    socket.bind(endpoint);
    return Status::Ok();
  } catch (const zmq::error_t& e) {
    return Status::Error(Code::kIoError, "cannot bind " + endpoint + ": " + e.what());
  }
}

bool SendFrames(zmq::socket_t& socket, Frames& frames) {
  try {
    for (size_t i = 0; i < frames.size(); ++i) {
      auto flags = zmq::send_flags::dontwait;
      if (i + 1 < frames.size()) flags = flags | zmq::send_flags::sndmore;
      if (!socket.send(frames[i], flags)) return false;
    }
    return true;
  } catch (const zmq::error_t&) {
    return false;  // EHOSTUNREACH from ROUTER_MANDATORY: the peer is gone
  }
}

bool RecvFrames(zmq::socket_t& socket, Frames& frames) {
  frames.clear();
  try {
    auto n = zmq::recv_multipart(socket, std::back_inserter(frames), zmq::recv_flags::dontwait);
    return n.has_value() && *n > 0;
  } catch (const zmq::error_t&) {
    return false;
  }
}

}  // namespace meshcache::node
