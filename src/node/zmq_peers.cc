#include "node/zmq_peers.h"

#include <algorithm>

#include "protocol/codec.h"

namespace meshcache::node {

ZmqPeers::ZmqPeers(zmq::context_t& ctx, const net::SocketLimits& limits, zmq::socket_t pub,
                   std::string source, net::CurveKeys curve)
    : ctx_(ctx),
      limits_(limits),
      source_(std::move(source)),
      curve_(std::move(curve)),
      pub_(std::move(pub)),
      sub_(net::MakeSub(ctx, limits)) {
  // Peers share the mesh's key pair: each is the CURVE server of its own
  // key and connects to the others as a client with it.
  if (curve_.on()) net::MakeCurveClient(sub_, curve_, curve_.public_key);
  // Every invalidation; heartbeats only from the members Listen names.
  sub_.set(zmq::sockopt::unsubscribe, "");
  sub_.set(zmq::sockopt::subscribe, protocol::InvalidationTopic());
}

void ZmqPeers::Refresh(const std::string& id) {
  auto it = gossip_of_.find(id);
  if (it == gossip_of_.end() || !subscribed_.count(it->second)) return;
  try {
    sub_.disconnect(FromSource(it->second));
    sub_.connect(FromSource(it->second));
  } catch (const zmq::error_t&) {
  }
  touched_ = true;
}

void ZmqPeers::Listen(const std::vector<std::string>& ids) {
  const std::set<std::string> wanted(ids.begin(), ids.end());
  for (const std::string& id : wanted) {
    if (!listened_.count(id)) sub_.set(zmq::sockopt::subscribe, protocol::HeartbeatTopic(id));
  }
  for (const std::string& id : listened_) {
    if (!wanted.count(id)) sub_.set(zmq::sockopt::unsubscribe, protocol::HeartbeatTopic(id));
  }
  listened_ = wanted;
}

std::string ZmqPeers::FromSource(const std::string& endpoint) const {
  constexpr std::string_view kTcp = "tcp://";
  if (source_.empty() || endpoint.rfind(kTcp, 0) != 0) return endpoint;
  // libzmq's tcp://SOURCE:PORT;HOST:PORT, port 0: any.
  return std::string(kTcp) + source_ + ":0;" + endpoint.substr(kTcp.size());
}

ZmqPeers::PeerLink* ZmqPeers::Open(const std::string& endpoint) {
  touched_ = true;  // the caller sends, or a new socket is polled
  auto it = links_.find(endpoint);
  if (it != links_.end()) return &it->second;
  try {
    zmq::socket_t s = net::MakeDealer(ctx_, limits_);
    if (curve_.on()) net::MakeCurveClient(s, curve_, curve_.public_key);
    s.connect(FromSource(endpoint));
    return &links_.emplace(endpoint, PeerLink{net::Link(std::move(s))}).first->second;
  } catch (const zmq::error_t&) {
    return nullptr;  // a malformed endpoint
  }
}

bool ZmqPeers::Send(const std::string& endpoint, uint64_t id, std::string body) {
  std::erase(to_close_, endpoint);  // wanted again before it was closed
  PeerLink* peer = Open(endpoint);
  if (peer == nullptr) return false;
  peer->sent_ms = now_ms_;
  (void)peer->link.Send(id, std::move(body));
  return true;
}

void ZmqPeers::Cancel(const std::string& endpoint, uint64_t id) {
  touched_ = true;
  auto it = links_.find(endpoint);
  if (it != links_.end()) (void)it->second.link.Cancel(id);
}

void ZmqPeers::Publish(std::string_view body) {
  net::Frames frames;
  frames.push_back(net::Frame(body));
  (void)net::SendFrames(pub_, frames);  // lossy: gossip repeats what matters
}

void ZmqPeers::Follow(const std::vector<MemberInfo>& members) {
  touched_ = true;
  std::set<std::string> gossip, service;
  gossip_of_.clear();
  for (const MemberInfo& m : members) {
    gossip_of_[m.id] = m.gossip;
    gossip.insert(m.gossip);
    service.insert(m.service);
    try {
      if (subscribed_.insert(m.gossip).second) sub_.connect(FromSource(m.gossip));
    } catch (const zmq::error_t&) {
      subscribed_.erase(m.gossip);  // a malformed endpoint: nothing to follow
    }
    // The link to its service opens with the first request (Send): an idle
    // mesh keeps no N - 1 links per node, nor their pings.
  }
  for (auto it = subscribed_.begin(); it != subscribed_.end();) {
    if (gossip.count(*it)) {
      ++it;
      continue;
    }
    try {
      sub_.disconnect(FromSource(*it));
    } catch (const zmq::error_t&) {
    }
    it = subscribed_.erase(it);
  }
  std::erase_if(to_close_, [&service](const std::string& ep) { return service.count(ep) > 0; });
  for (const std::string& ep : followed_) {
    if (!service.count(ep)) to_close_.push_back(ep);
  }
  followed_ = std::move(service);
}

void ZmqPeers::CloseIdle(int64_t now, int64_t idle_ms) {
  now_ms_ = now;
  if (now < next_idle_check_ms_) return;
  next_idle_check_ms_ = now + std::clamp<int64_t>(idle_ms / 10, 1, 1000);
  for (auto& [ep, peer] : links_) {
    if (now - peer.sent_ms >= idle_ms && !peer.link.queued() &&
        std::find(to_close_.begin(), to_close_.end(), ep) == to_close_.end()) {
      to_close_.push_back(ep);
    }
  }
}

void ZmqPeers::AddPollItems(std::vector<zmq::pollitem_t>& items, std::vector<char>& recheck) {
  for (const std::string& ep : to_close_) links_.erase(ep);
  to_close_.clear();
  items.push_back({sub_.handle(), 0, ZMQ_POLLIN, 0});
  recheck.push_back(touched_);
  polled_.clear();
  for (auto& [ep, peer] : links_) {
    net::Link& link = peer.link;
    items.push_back({link.socket().handle(), 0, link.events(), 0});
    // Waiting to write: ZMQ_POLLOUT comes back without a command either.
    recheck.push_back(touched_ || (link.events() & ZMQ_POLLOUT) != 0);
    polled_.push_back(&link);
  }
  touched_ = false;  // the poll asks them now
}

void ZmqPeers::Dispatch(const zmq::pollitem_t* items, int batch, const Handler& on_gossip,
                        const Handler& on_reply) {
  if (items[0].revents & ZMQ_POLLIN) ReadAll(sub_, batch, on_gossip);
  for (size_t p = 0; p < polled_.size(); ++p) {
    const short got = items[1 + p].revents;
    if (got & ZMQ_POLLOUT) {
      touched_ = true;
      (void)polled_[p]->Flush();
    }
    if (got & ZMQ_POLLIN) ReadAll(polled_[p]->socket(), batch, on_reply);
  }
}

void ZmqPeers::ReadAll(zmq::socket_t& socket, int batch, const Handler& handler) {
  net::Frames frames;
  for (int i = 0; i < batch; ++i) {
    if (!net::RecvFrames(socket, frames)) return;
    handler(frames);
  }
  touched_ = true;  // messages left: they arrive without waking the fd
}

}  // namespace meshcache::node
