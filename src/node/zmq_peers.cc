#include "node/zmq_peers.h"

#include <algorithm>

#include "protocol/codec.h"

namespace meshcache::node {

namespace {

std::set<std::string> PeerKeys(const net::CurveKeys& curve, std::vector<std::string> listed) {
  if (!curve.on()) return {};
  std::set<std::string> keys(listed.begin(), listed.end());
  keys.insert(curve.public_key);
  return keys;
}

}  // namespace

ZmqPeers::ZmqPeers(zmq::context_t& ctx, const net::SocketLimits& limits, zmq::socket_t pub,
                   std::string source, net::CurveKeys curve, std::vector<std::string> peer_keys)
    : ctx_(ctx),
      limits_(limits),
      source_(std::move(source)),
      curve_(std::move(curve)),
      peer_keys_(PeerKeys(curve_, std::move(peer_keys))),
      pub_(std::move(pub)),
      sub_(net::MakeSub(ctx, limits)) {
  // A CURVE client; each connection's server key is set before it is made
  // (libzmq takes the socket's options as they are at connect).
  if (curve_.on()) net::MakeCurveClient(sub_, curve_, curve_.public_key);
  // Every invalidation; heartbeats only from the members Listen names.
  sub_.set(zmq::sockopt::unsubscribe, "");
  sub_.set(zmq::sockopt::subscribe, protocol::InvalidationTopic());
}

void ZmqPeers::Refresh(const std::string& id) {
  auto it = gossip_of_.find(id);
  if (it == gossip_of_.end()) return;
  auto sub = subscribed_.find(it->second);
  if (sub == subscribed_.end()) return;
  const std::string key = sub->second;
  try {
    sub_.disconnect(FromSource(sub->first));
  } catch (const zmq::error_t&) {
  }
  subscribed_.erase(sub);
  Subscribe(it->second, key);
}

void ZmqPeers::Subscribe(const std::string& gossip, const std::string& key) {
  touched_ = true;
  try {
    if (curve_.on()) sub_.set(zmq::sockopt::curve_serverkey, key);
    sub_.connect(FromSource(gossip));
    subscribed_[gossip] = key;
  } catch (const zmq::error_t&) {
    // a malformed endpoint: nothing to follow
  }
}

std::vector<std::string> ZmqPeers::KeysFor(const std::string& endpoint) const {
  if (!curve_.on()) return {""};
  auto it = key_of_.find(endpoint);
  if (it != key_of_.end() && peer_keys_.count(it->second)) return {it->second};
  return {peer_keys_.begin(), peer_keys_.end()};
}

std::vector<std::string> ZmqPeers::LinkKeys(const std::string& endpoint) const {
  std::vector<std::string> keys;
  for (auto it = links_.lower_bound({endpoint, ""});
       it != links_.end() && it->first.first == endpoint; ++it) {
    if (std::find(to_close_.begin(), to_close_.end(), it->first) == to_close_.end()) {
      keys.push_back(it->first.second);
    }
  }
  return keys;
}

void ZmqPeers::Close(const LinkId& id) {
  if (std::find(to_close_.begin(), to_close_.end(), id) == to_close_.end()) to_close_.push_back(id);
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

ZmqPeers::PeerLink* ZmqPeers::Open(const LinkId& id) {
  touched_ = true;  // the caller sends, or a new socket is polled
  auto it = links_.find(id);
  if (it != links_.end()) return &it->second;
  try {
    zmq::socket_t s = net::MakeDealer(ctx_, limits_);
    if (curve_.on()) net::MakeCurveClient(s, curve_, id.second);
    s.connect(FromSource(id.first));
    return &links_.emplace(id, PeerLink{net::Link(std::move(s))}).first->second;
  } catch (const zmq::error_t&) {
    return nullptr;  // a malformed endpoint
  }
}

bool ZmqPeers::Send(const std::string& endpoint, uint64_t id, std::string body) {
  const std::vector<std::string> keys = KeysFor(endpoint);  // never empty
  for (size_t i = 0; i < keys.size(); ++i) {
    const LinkId link_id{endpoint, keys[i]};
    std::erase(to_close_, link_id);  // wanted again before it was closed
    PeerLink* peer = Open(link_id);
    if (peer == nullptr) return false;  // the endpoint, whatever the key
    peer->sent_ms = now_ms_;
    // NOLINTNEXTLINE(bugprone-use-after-move): moved on the last pass only
    (void)peer->link.Send(id, i + 1 == keys.size() ? std::move(body) : body);
  }
  return true;
}

void ZmqPeers::Cancel(const std::string& endpoint, uint64_t id) {
  touched_ = true;
  for (auto it = links_.lower_bound({endpoint, ""});
       it != links_.end() && it->first.first == endpoint; ++it) {
    (void)it->second.link.Cancel(id);
  }
}

void ZmqPeers::Publish(std::string_view body) {
  net::Frames frames;
  frames.push_back(net::Frame(body));
  (void)net::SendFrames(pub_, frames);  // lossy: gossip repeats what matters
}

void ZmqPeers::Follow(const std::vector<MemberInfo>& members) {
  touched_ = true;
  std::set<std::string> service;
  std::map<std::string, std::string> gossip;  // endpoint -> key
  gossip_of_.clear();
  key_of_.clear();
  for (const MemberInfo& m : members) {
    gossip_of_[m.id] = m.gossip;
    service.insert(m.service);
    if (!m.curve_key.empty()) key_of_[m.service] = key_of_[m.gossip] = m.curve_key;
    // A member without a key (or with one off the peer list) is reached
    // with the mesh's own key, as when every peer holds the same pair.
    const std::vector<std::string> keys = KeysFor(m.gossip);
    gossip[m.gossip] = keys.size() == 1 ? keys[0] : curve_.public_key;
    // The link to its service opens with the first request (Send): an idle
    // mesh keeps no N - 1 links per node, nor their pings.
  }
  for (auto it = subscribed_.begin(); it != subscribed_.end();) {
    auto want = gossip.find(it->first);
    if (want != gossip.end() && want->second == it->second) {
      ++it;
      continue;
    }
    try {
      sub_.disconnect(FromSource(it->first));
    } catch (const zmq::error_t&) {
    }
    it = subscribed_.erase(it);
  }
  for (const auto& [endpoint, key] : gossip) {
    if (!subscribed_.count(endpoint)) Subscribe(endpoint, key);
  }
  // Links that are wanted again stay; links to members gone, or with a key
  // that is not the member's own (a seed tried with every peer key, a
  // member restarted with another key pair), close.
  std::erase_if(to_close_, [&service](const LinkId& id) { return service.count(id.first) > 0; });
  for (const auto& [id, peer] : links_) {
    const bool member = service.count(id.first) > 0;
    const std::vector<std::string> keys = member ? KeysFor(id.first) : std::vector<std::string>{};
    if ((!member && followed_.count(id.first)) ||
        (member && std::find(keys.begin(), keys.end(), id.second) == keys.end())) {
      Close(id);
    }
  }
  followed_ = std::move(service);
}

void ZmqPeers::CloseIdle(int64_t now, int64_t idle_ms) {
  now_ms_ = now;
  if (now < next_idle_check_ms_) return;
  next_idle_check_ms_ = now + std::clamp<int64_t>(idle_ms / 10, 1, 1000);
  for (auto& [id, peer] : links_) {
    if (now - peer.sent_ms >= idle_ms && !peer.link.queued()) Close(id);
  }
}

void ZmqPeers::AddPollItems(std::vector<zmq::pollitem_t>& items, std::vector<char>& recheck) {
  for (const LinkId& id : to_close_) links_.erase(id);
  to_close_.clear();
  items.push_back({sub_.handle(), 0, ZMQ_POLLIN, 0});
  recheck.push_back(touched_);
  polled_.clear();
  for (auto& [id, peer] : links_) {
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
