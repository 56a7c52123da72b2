#include "client/zmq_transport.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "net/curve.h"
#include "net/sockets.h"

namespace meshcache::client {

ZmqTransport::ZmqTransport(const Clock* clock, int64_t connect_timeout_ms, size_t max_reply_bytes,
                           Curve curve)
    : clock_(clock),
      connect_timeout_ms_(connect_timeout_ms),
      max_reply_bytes_(max_reply_bytes),
      curve_(std::move(curve)),
      ctx_(1) {}

ZmqTransport::~ZmqTransport() {
  conns_.clear();
  ctx_.close();
}

ZmqTransport::Conn* ZmqTransport::Open(const std::string& node) {
  auto it = conns_.find(node);
  if (it != conns_.end()) return &it->second;
  try {
    zmq::socket_t socket = net::MakeDealer(ctx_, net::SocketLimits{max_reply_bytes_});
    const std::string& key = ServerKey(node);
    if (curve_.own.on()) net::MakeCurveClient(socket, curve_.own, key);
    const std::string events = "inproc://meshcache-client-monitor-" +
                               std::to_string(reinterpret_cast<uintptr_t>(this)) + "-" +
                               std::to_string(monitors_++);
    if (zmq_socket_monitor(socket.handle(), events.c_str(), ZMQ_EVENT_DISCONNECTED) != 0) {
      throw zmq::error_t();
    }
    zmq::socket_t monitor = net::MakeInproc(ctx_, zmq::socket_type::pair);
    monitor.connect(events);
    socket.connect(node);
    return &conns_.emplace(node, Conn{net::Link(std::move(socket)), std::move(monitor), 0, key})
                .first->second;
  } catch (const zmq::error_t&) {
    return nullptr;
  }
}

bool ZmqTransport::Send(const std::string& node, uint64_t wire_id, std::string body) {
  Conn* conn = Open(node);
  if (!conn) return false;
  const bool was_queued = conn->link.queued();
  if (!conn->link.Send(wire_id, std::move(body)) && !was_queued) {
    conn->stuck_since_ms = clock_->NowMs();
  }
  return true;
}

void ZmqTransport::Cancel(const std::string& node, uint64_t wire_id) {
  auto it = conns_.find(node);
  if (it == conns_.end()) return;
  (void)it->second.link.Cancel(wire_id);
}

void ZmqTransport::Wait(int64_t timeout_ms, TransportEvents* events) {
  const int64_t now = clock_->NowMs();
  std::vector<zmq::pollitem_t> items;
  for (auto& [node, conn] : conns_) {
    if (conn.link.queued()) {
      timeout_ms = std::min(timeout_ms, conn.stuck_since_ms + connect_timeout_ms_ - now);
    }
    items.push_back({conn.link.socket().handle(), 0, conn.link.events(), 0});
    items.push_back({conn.monitor.handle(), 0, ZMQ_POLLIN, 0});
  }
  try {
    zmq::poll(items.data(), items.size(),
              std::chrono::milliseconds(std::max<int64_t>(timeout_ms, 0)));
  } catch (const zmq::error_t&) {
    return;  // EINTR: the caller's loop comes back
  }
  size_t i = 0;
  for (auto& [node, conn] : conns_) {
    const short got = items[i].revents, monitor = items[i + 1].revents;
    i += 2;
    if (got & ZMQ_POLLIN) Drain(node, conn, events);
    if ((got & ZMQ_POLLOUT) && conn.link.Flush()) conn.stuck_since_ms = clock_->NowMs();
    if ((monitor & ZMQ_POLLIN) && Disconnected(conn)) {
      events->disconnected.push_back(node);
      Stall(node, conn, events);  // what waits for this node goes elsewhere
    }
  }
  ReportStalls(events);
}

bool ZmqTransport::Disconnected(Conn& conn) {
  bool broke = false;
  for (;;) {
    // An event is [uint16 event, uint32 value][endpoint].
    net::Frames frames;
    if (!net::RecvFrames(conn.monitor, frames)) return broke;
    uint16_t event = 0;
    if (!frames.empty() && frames[0].size() >= sizeof event) {
      std::memcpy(&event, frames[0].data(), sizeof event);
    }
    broke = broke || event == ZMQ_EVENT_DISCONNECTED;
  }
}

void ZmqTransport::Drain(const std::string& node, Conn& conn, TransportEvents* events) {
  for (;;) {
    net::Frames frames;
    if (!net::RecvFrames(conn.link.socket(), frames)) return;
    // A DEALER receives [empty][body]; anything else is not a reply.
    if (const zmq::message_t* body = net::DealerBody(frames)) {
      events->replies.emplace_back(node, body->to_string());
    }
  }
}

void ZmqTransport::Stall(const std::string& node, Conn& conn, TransportEvents* events) {
  if (!conn.link.queued()) return;
  events->stalled.emplace_back(node, conn.link.Discard());
}

void ZmqTransport::ReportStalls(TransportEvents* events) {
  const int64_t now = clock_->NowMs();
  for (auto& [node, conn] : conns_) {
    if (now - conn.stuck_since_ms >= connect_timeout_ms_) Stall(node, conn, events);
  }
}

const std::string& ZmqTransport::ServerKey(const std::string& node) const {
  auto it = server_keys_.find(node);
  return it == server_keys_.end() ? curve_.server_key : it->second;
}

void ZmqTransport::SetServerKeys(const std::map<std::string, std::string>& keys) {
  if (!curve_.own.on()) return;
  server_keys_ = keys;
  std::erase_if(conns_, [this](const auto& entry) {
    return entry.second.server_key != ServerKey(entry.first);
  });
}

void ZmqTransport::Retain(const std::set<std::string>& keep) {
  std::erase_if(conns_, [&keep](const auto& entry) {
    return !entry.second.link.queued() && !keep.count(entry.first);
  });
}

}  // namespace meshcache::client
