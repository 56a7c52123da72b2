#include "node/zmq_peers.h"

#include <algorithm>

namespace meshcache::node {

ZmqPeers::ZmqPeers(zmq::context_t& ctx, const net::SocketLimits& limits, zmq::socket_t pub,
                   std::string source)
    : ctx_(ctx),
      limits_(limits),
      source_(std::move(source)),
      pub_(std::move(pub)),
      sub_(net::MakeSub(ctx, limits)) {}

std::string ZmqPeers::FromSource(const std::string& endpoint) const {
  constexpr std::string_view kTcp = "tcp://";
  if (source_.empty() || endpoint.rfind(kTcp, 0) != 0) return endpoint;
  // libzmq's tcp://SOURCE:PORT;HOST:PORT, port 0: any.
  return std::string(kTcp) + source_ + ":0;" + endpoint.substr(kTcp.size());
}

net::Link* ZmqPeers::Open(const std::string& endpoint) {
  auto it = links_.find(endpoint);
  if (it != links_.end()) return &it->second;
  try {
    zmq::socket_t s = net::MakeDealer(ctx_, limits_);
    s.connect(FromSource(endpoint));
    return &links_.emplace(endpoint, net::Link(std::move(s))).first->second;
  } catch (const zmq::error_t&) {
    return nullptr;  // a malformed endpoint
  }
}

bool ZmqPeers::Send(const std::string& endpoint, uint64_t id, std::string body) {
  std::erase(to_close_, endpoint);  // wanted again before it was closed
  net::Link* link = Open(endpoint);
  if (link == nullptr) return false;
  (void)link->Send(id, std::move(body));
  return true;
}

void ZmqPeers::Cancel(const std::string& endpoint, uint64_t id) {
  auto it = links_.find(endpoint);
  if (it != links_.end()) (void)it->second.Cancel(id);
}

void ZmqPeers::Publish(std::string_view body) {
  net::Frames frames;
  frames.push_back(net::Frame(body));
  (void)net::SendFrames(pub_, frames);  // lossy: gossip repeats what matters
}

void ZmqPeers::Follow(const std::vector<MemberInfo>& members) {
  std::set<std::string> gossip, service;
  for (const MemberInfo& m : members) {
    gossip.insert(m.gossip);
    service.insert(m.service);
    try {
      if (subscribed_.insert(m.gossip).second) sub_.connect(FromSource(m.gossip));
    } catch (const zmq::error_t&) {
      subscribed_.erase(m.gossip);  // a malformed endpoint: nothing to follow
    }
    (void)Open(m.service);  // connect early: forwards need a live link
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

void ZmqPeers::AddPollItems(std::vector<zmq::pollitem_t>& items) {
  for (const std::string& ep : to_close_) links_.erase(ep);
  to_close_.clear();
  items.push_back({sub_.handle(), 0, ZMQ_POLLIN, 0});
  polled_.clear();
  for (auto& [ep, link] : links_) {
    items.push_back({link.socket().handle(), 0, link.events(), 0});
    polled_.push_back(&link);
  }
}

void ZmqPeers::Dispatch(const zmq::pollitem_t* items, int batch, const Handler& on_gossip,
                        const Handler& on_reply) {
  net::Frames frames;
  if (items[0].revents & ZMQ_POLLIN) {
    for (int i = 0; i < batch && net::RecvFrames(sub_, frames); ++i) on_gossip(frames);
  }
  for (size_t p = 0; p < polled_.size(); ++p) {
    const short got = items[1 + p].revents;
    if (got & ZMQ_POLLOUT) (void)polled_[p]->Flush();
    if (!(got & ZMQ_POLLIN)) continue;
    for (int i = 0; i < batch && net::RecvFrames(polled_[p]->socket(), frames); ++i) {
      on_reply(frames);
    }
  }
}

}  // namespace meshcache::node
