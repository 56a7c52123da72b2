#include "net/sockets.h"

namespace meshcache::net {
namespace {

void Common(zmq::socket_t& s, const SocketLimits& l) {
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(l.max_message_bytes));
  s.set(zmq::sockopt::sndhwm, l.hwm);
  s.set(zmq::sockopt::rcvhwm, l.hwm);
  // Reconnect quickly on loopback, back off for peers that stay away.
  s.set(zmq::sockopt::reconnect_ivl, 100);
  s.set(zmq::sockopt::reconnect_ivl_max, l.reconnect_max_ms);
  s.set(zmq::sockopt::connect_timeout, l.connect_timeout_ms);
  s.set(zmq::sockopt::heartbeat_ivl, l.heartbeat_ivl_ms);
  s.set(zmq::sockopt::heartbeat_timeout, l.heartbeat_timeout_ms);
}

// The options that differ by role, on top of Common.
void ForRole(zmq::socket_t& s, zmq::socket_type type) {
  switch (type) {
    case zmq::socket_type::router:
      // A reply to a client that has gone fails loudly (and is counted)
      // instead of vanishing.
      s.set(zmq::sockopt::router_mandatory, 1);
      // Only the connecting end pings (ZMTP heartbeats), since only it can
      // connect afresh; the bound end answers. Pings from both ends doubled
      // an idle mesh's cost, where a node has 4 (N - 1) connections.
      s.set(zmq::sockopt::heartbeat_ivl, 0);
      return;
    case zmq::socket_type::dealer:
      // Never queue requests for a peer that is not connected: they would be
      // delivered late, after their deadline, possibly to a restarted peer.
      s.set(zmq::sockopt::immediate, 1);
      return;
    case zmq::socket_type::pub:
      // Give a final `left` heartbeat a moment to leave on shutdown.
      s.set(zmq::sockopt::linger, 200);
      // What a PUB reads is subscriptions, which libzmq keeps for as long
      // as the subscriber stays: a topic is a few dozen bytes, so anything
      // larger is an attack on the node's memory (and a multi-megabyte one
      // overflows libzmq's stack when it is freed).
      s.set(zmq::sockopt::maxmsgsize, int64_t{kMaxSubscriptionBytes});
      s.set(zmq::sockopt::heartbeat_ivl, 0);  // the SUBs ping, as for the router
      return;
    case zmq::socket_type::sub:
      s.set(zmq::sockopt::subscribe, "");
      // No ZMTP pings on the N - 1 links of a node's SUB: it hears the
      // heartbeats of the members it watches anyway, and connects afresh to
      // one that falls silent (Peers::Refresh); the other links carry only
      // invalidations, whose loss is seen as a sequence gap.
      s.set(zmq::sockopt::heartbeat_ivl, 0);
      return;
    default:
      return;
  }
}

zmq::socket_t Make(zmq::context_t& ctx, zmq::socket_type type, const SocketLimits& l) {
  zmq::socket_t s(ctx, type);
  Common(s, l);
  ForRole(s, type);
  return s;
}

}  // namespace

zmq::socket_t MakeRouter(zmq::context_t& ctx, const SocketLimits& l) {
  return Make(ctx, zmq::socket_type::router, l);
}
zmq::socket_t MakeDealer(zmq::context_t& ctx, const SocketLimits& l) {
  return Make(ctx, zmq::socket_type::dealer, l);
}
zmq::socket_t MakePub(zmq::context_t& ctx, const SocketLimits& l) {
  return Make(ctx, zmq::socket_type::pub, l);
}
zmq::socket_t MakeSub(zmq::context_t& ctx, const SocketLimits& l) {
  return Make(ctx, zmq::socket_type::sub, l);
}

zmq::socket_t MakeInproc(zmq::context_t& ctx, zmq::socket_type type) {
  zmq::socket_t s(ctx, type);
  s.set(zmq::sockopt::linger, 0);
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

bool SendBody(zmq::socket_t& socket, std::string_view body) {
  Frames frames;
  frames.emplace_back();
  frames.push_back(Frame(body));
  return SendFrames(socket, frames);
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

const zmq::message_t* DealerBody(const Frames& frames) {
  if (frames.size() != 2 || !frames[0].empty()) return nullptr;
  return &frames[1];
}

}  // namespace meshcache::net
