#include "sim.h"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <utility>

#include "net/sockets.h"
#include "protocol/codec.h"

namespace meshcache::sim {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
// A node due again at the very time it just ran, this many times in a row,
// would spin the loop forever: the gossiper's timers must make progress.
constexpr int kMaxSpins = 1000;

std::string SimId(int i) {
  const int n = i + 1;  // 10.0.0.1 upwards, like a subnet of hosts
  return "tcp://10." + std::to_string((n >> 16) & 255) + "." + std::to_string((n >> 8) & 255) +
         "." + std::to_string(n & 255) + ":7700";
}

bool Gone(const MemberEntry* e) {
  return e == nullptr || e->info.state == NodeState::kDead || e->info.state == NodeState::kLeft;
}

}  // namespace

class Mesh::SimPeers final : public node::Peers {
 public:
  SimPeers(Mesh* mesh, int self) : mesh_(mesh), self_(self) {}
  bool Send(const std::string& endpoint, uint64_t id, std::string body) override {
    return mesh_->Send(self_, endpoint, id, std::move(body));
  }
  void Cancel(const std::string&, uint64_t) override {}
  void Publish(std::string_view body) override { mesh_->Publish(self_, body); }
  void Follow(const std::vector<MemberInfo>& members) override { mesh_->Follow(self_, members); }
  void Listen(const std::vector<std::string>& ids) override { mesh_->Listen(self_, ids); }

 private:
  Mesh* mesh_;
  int self_;
};

struct Mesh::Node {
  Node(Mesh* mesh, int i) : peers(mesh, i) {}
  SimPeers peers;
  std::unique_ptr<node::Gossiper> gossiper;  // null until started
  NodeTraffic traffic;
  int spins = 0;  // wakes in a row at one instant
  int64_t last_wake_us = -1;
};

Mesh::Mesh(MeshOptions options)
    : options_(std::move(options)),
      now_us_(clock_.NowMs() * 1000),
      rng_(options_.seed * 0x9e3779b97f4a7c15ull + 1) {
  const int n = options_.nodes;
  assert(n >= 1 && options_.delay_max_us >= options_.delay_min_us);
  for (int i = 0; i < n; ++i) {
    ids_.push_back(SimId(i));
    index_.emplace(ids_.back(), i);
    nodes_.push_back(std::make_unique<Node>(this, i));
  }
  live_.assign(n, false);
  followed_.assign(n, {});
  followers_.assign(n, {});
  listened_.assign(n, {});
  listeners_.assign(n, {});
  side_.assign(n, 0);
  scheduled_.assign(n, kNever);
}

Mesh::~Mesh() = default;

const node::Gossiper& Mesh::gossiper(int i) const { return *nodes_[i]->gossiper; }

const NodeTraffic& Mesh::traffic(int i) const { return nodes_[i]->traffic; }

void Mesh::Start(int i) {
  Node& node = *nodes_[i];
  assert(!node.gossiper);
  MemberInfo self{ids_[i], ids_[i], ids_[i] + "/g", NodeState::kAlive,
                  static_cast<uint64_t>(clock_.WallMs())};
  node::GossipOptions gossip = options_.gossip;
  gossip.join.clear();
  if (i != 0) gossip.join.push_back(ids_[0]);
  followed_[i].assign(options_.nodes, -1);
  node.gossiper = std::make_unique<node::Gossiper>(std::move(self), std::move(gossip), node.peers,
                                                   &clock_, LogFn{});
  live_[i] = true;
  ++live_count_;
  ++started_count_;
  node.gossiper->Announce();  // as Service::Start
  RunTimers(i);
  Reschedule(i);
}

void Mesh::Kill(int i) {
  if (!live_[i]) return;
  live_[i] = false;
  --live_count_;
}

void Mesh::Partition(std::vector<int> side) {
  side_ = std::move(side);
  partitioned_ = true;
}

void Mesh::ResetCounters() {
  counters_ = {};
  for (auto& node : nodes_) node->traffic = {};
}

uint64_t Mesh::NextRandom() {  // splitmix64: the same stream on every platform
  uint64_t z = (rng_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double Mesh::NextUnit() { return static_cast<double>(NextRandom() >> 11) * 0x1.0p-53; }

int Mesh::IndexOf(const std::string& id) const {
  auto it = index_.find(id);
  return it == index_.end() ? -1 : it->second;
}

bool Mesh::Schedule(Kind kind, int from, int to, uint64_t id,
                    std::shared_ptr<const std::string> body) {
  // Both draws are made whatever the loss, so runs that differ only in the
  // loss see the same delays.
  const bool lost = NextUnit() < options_.loss;
  const int64_t span = options_.delay_max_us - options_.delay_min_us;
  const int64_t delay =
      options_.delay_min_us + static_cast<int64_t>(NextUnit() * static_cast<double>(span + 1));
  if (lost) {
    ++counters_.lost;
    return false;
  }
  events_.push(Event{now_us_ + delay, order_++, kind, from, to, id, std::move(body)});
  return true;
}

bool Mesh::Cut(int from, int to) const {
  return !live_[to] || (partitioned_ && side_[from] != side_[to]);
}

void Mesh::Publish(int from, std::string_view body) {
  auto gossip = protocol::DecodeGossip(body, options_.gossip.limits);
  if (!gossip.ok()) {  // matches no subscription
    ++counters_.bad;
    return;
  }
  auto shared = std::make_shared<const std::string>(body);
  auto send = [&](int to) {
    nodes_[from]->traffic.gossip_sent.Add(shared->size());
    Schedule(Kind::kGossip, from, to, 0, shared);
  };
  if (gossip->kind == protocol::Gossip::Kind::kInvalidate) {
    for (int to : followers_[from]) send(to);
    return;
  }
  for (int to : listeners_[from]) {
    if (followed_[to][from] >= 0) send(to);
  }
}

bool Mesh::Send(int from, const std::string& endpoint, uint64_t id, std::string body) {
  const int to = IndexOf(endpoint);
  if (to < 0) return false;
  nodes_[from]->traffic.sync_sent.Add(body.size());
  protocol::DecodedRequest d = protocol::DecodeRequest(body, options_.gossip.limits);
  if (!d.status.ok()) {  // the target answers with an error, which changes nothing
    ++counters_.bad;
    return true;
  }
  if (d.request.op == protocol::Op::kProbe) {
    ++counters_.probes;
  } else if (d.request.op == protocol::Op::kJoin) {
    ++(d.request.members.empty() ? counters_.joins : counters_.syncs);
  } else {
    return true;
  }
  pending_[id] = Pending{endpoint, std::move(d.request)};
  if (!Schedule(Kind::kRequest, from, to, id,
                std::make_shared<const std::string>(std::move(body)))) {
    Drop(id);
  }
  return true;
}

void Mesh::Drop(uint64_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  const std::optional<uint64_t> relayed = it->second.relay_id;
  pending_.erase(it);
  if (relayed) pending_.erase(*relayed);  // the asker gets no answer either
}

void Mesh::Follow(int who, const std::vector<MemberInfo>& members) {
  ++counters_.follows;
  std::vector<int8_t> now(options_.nodes, -1);
  for (const MemberInfo& m : members) {
    const int j = IndexOf(m.id);
    if (j >= 0) now[j] = static_cast<int8_t>(m.state);
  }
  std::vector<int8_t>& before = followed_[who];
  for (int j = 0; j < options_.nodes; ++j) {
    if (before[j] == now[j]) continue;
    if (before[j] < 0) {
      followers_[j].push_back(who);
    } else if (now[j] < 0) {
      auto& f = followers_[j];
      f.erase(std::find(f.begin(), f.end(), who));
    }
    if (now[j] == static_cast<int8_t>(NodeState::kSuspect) && live_[j]) {
      ++counters_.transitions.live_suspect;
    }
    if (now[j] == static_cast<int8_t>(NodeState::kDead)) {
      ++(live_[j] ? counters_.transitions.live_dead : counters_.transitions.killed_dead);
      if (live_[j] && side_[who] == side_[j]) ++counters_.transitions.live_dead_same_side;
    }
  }
  before.swap(now);
}

void Mesh::Listen(int who, const std::vector<std::string>& ids) {
  std::vector<int> now;
  for (const std::string& id : ids) {
    const int j = IndexOf(id);
    if (j >= 0) now.push_back(j);
  }
  std::sort(now.begin(), now.end());
  now.erase(std::unique(now.begin(), now.end()), now.end());
  std::vector<int>& before = listened_[who];
  for (int j : before) {
    if (!std::binary_search(now.begin(), now.end(), j)) {
      auto& l = listeners_[j];
      l.erase(std::find(l.begin(), l.end(), who));
    }
  }
  for (int j : now) {
    if (!std::binary_search(before.begin(), before.end(), j)) listeners_[j].push_back(who);
  }
  before.swap(now);
}

void Mesh::Deliver(const Event& e) {
  if (Cut(e.from, e.to)) {
    ++counters_.cut;
    if (e.kind != Kind::kGossip) Drop(e.id);
    return;
  }
  switch (e.kind) {
    case Kind::kGossip: {
      nodes_[e.to]->traffic.gossip_recv.Add(e.body->size());
      net::Frames frames;
      frames.push_back(net::Frame(*e.body));
      (void)nodes_[e.to]->gossiper->OnMessage(frames);
      break;
    }
    case Kind::kRequest:
      DeliverRequest(e);
      break;
    case Kind::kAnswer:
      DeliverAnswer(e);
      break;
  }
  SendDue(e.to);
  Reschedule(e.to);
}

void Mesh::DeliverRequest(const Event& e) {
  auto it = pending_.find(e.id);
  assert(it != pending_.end());
  nodes_[e.to]->traffic.sync_recv.Add(e.body->size());
  const protocol::Request& req = it->second.request;
  if (req.op == protocol::Op::kProbe) {
    DeliverProbe(e, req);
    return;
  }
  // As Service::HandleJoin.
  auto answer = std::make_shared<const std::string>(protocol::EncodeMembers(
      e.id, nodes_[e.to]->gossiper->OnJoinRequest(req.member, req.members)));
  nodes_[e.to]->traffic.sync_sent.Add(answer->size());
  if (!Schedule(Kind::kAnswer, e.to, e.from, e.id, std::move(answer))) Drop(e.id);
}

// As Service::HandleProbe: answered with the receiver's entry, or, on
// another's behalf, sent on to the target, whose answer DeliverAnswer relays.
void Mesh::DeliverProbe(const Event& e, const protocol::Request& req) {
  node::Gossiper& g = *nodes_[e.to]->gossiper;
  const MemberInfo self = g.OnProbe(req.member);
  if (req.target.empty()) {
    auto answer = std::make_shared<const std::string>(protocol::EncodeMembers(e.id, {self}));
    nodes_[e.to]->traffic.sync_sent.Add(answer->size());
    if (!Schedule(Kind::kAnswer, e.to, e.from, e.id, std::move(answer))) Drop(e.id);
    return;
  }
  const MemberEntry* target = g.membership().Find(req.target);
  const int to = target != nullptr ? IndexOf(target->info.service) : -1;
  if (to < 0) {  // the real node answers unavailable, which changes nothing
    Drop(e.id);
    return;
  }
  protocol::Request leg;
  leg.op = protocol::Op::kProbe;
  leg.id = next_request_id_++;
  leg.member = self;
  auto body = std::make_shared<const std::string>(protocol::EncodeRequest(leg));
  nodes_[e.to]->traffic.sync_sent.Add(body->size());
  ++counters_.probes;
  const uint64_t id = leg.id;
  pending_[id] = Pending{target->info.service, std::move(leg), e.from, e.id};
  if (!Schedule(Kind::kRequest, e.to, to, id, std::move(body))) Drop(id);
}

void Mesh::DeliverAnswer(const Event& e) {
  auto it = pending_.find(e.id);
  assert(it != pending_.end());
  Pending p = std::move(it->second);
  pending_.erase(it);
  nodes_[e.to]->traffic.sync_recv.Add(e.body->size());
  auto reply = protocol::DecodeReply(*e.body, p.request.op, options_.gossip.limits);
  if (!reply.ok()) {
    ++counters_.bad;
    if (p.relay_id) pending_.erase(*p.relay_id);
    return;
  }
  if (reply->status != protocol::ReplyStatus::kOk) return;
  // As Service::OnForwardReply.
  node::Gossiper& g = *nodes_[e.to]->gossiper;
  if (p.request.op == protocol::Op::kProbe) {  // As Service::OnProbed.
    g.OnProbeAnswer(p.request.target.empty() ? p.endpoint : p.request.target, reply->members);
    if (!p.relay_id) return;
    auto answer =
        std::make_shared<const std::string>(protocol::EncodeMembers(*p.relay_id, reply->members));
    nodes_[e.to]->traffic.sync_sent.Add(answer->size());
    if (!Schedule(Kind::kAnswer, e.to, p.relay_to, *p.relay_id, std::move(answer))) {
      Drop(*p.relay_id);
    }
    return;
  }
  if (p.request.members.empty()) {
    g.OnJoined(reply->members, p.endpoint);
  } else {
    g.OnSynced(reply->members, p.endpoint);
  }
}

void Mesh::RunTimers(int i) {
  SendDue(i);
  (void)nodes_[i]->gossiper->OnTimer(clock_.NowMs());
}

void Mesh::SendDue(int i) {
  node::Gossiper& g = *nodes_[i]->gossiper;
  const int64_t now = clock_.NowMs();
  // As Service::SendJoin: the join attempt first, then the sync, then the probes.
  if (auto join = g.JoinDue(now)) SendJoin(i, std::move(*join));
  if (auto sync = g.SyncDue(now)) SendJoin(i, std::move(*sync));
  for (node::Gossiper::Probe& probe : g.ProbesDue(now)) SendJoin(i, std::move(probe));
}

void Mesh::SendJoin(int i, node::Gossiper::JoinRequest join) {
  const uint64_t id = next_request_id_++;
  join.request.id = id;
  (void)nodes_[i]->peers.Send(join.seed, id, protocol::EncodeRequest(join.request));
}

void Mesh::Reschedule(int i) {
  if (!live_[i]) return;
  const int64_t wake = std::max(now_us_, nodes_[i]->gossiper->NextWakeMs() * 1000);
  if (wake >= scheduled_[i]) return;
  scheduled_[i] = wake;
  wakes_.push(Wake{wake, i});
}

void Mesh::RunTo(int64_t t_us) {
  for (;;) {
    const int64_t next_event = events_.empty() ? kNever : events_.top().t_us;
    const int64_t next_wake = wakes_.empty() ? kNever : wakes_.top().t_us;
    const int64_t t = std::min(next_event, next_wake);
    if (t > t_us) break;
    now_us_ = t;
    clock_.Set(t / 1000);
    if (next_event <= next_wake) {
      const Event e = events_.top();
      events_.pop();
      Deliver(e);
      continue;
    }
    const Wake w = wakes_.top();
    wakes_.pop();
    if (w.t_us != scheduled_[w.node]) continue;  // superseded by an earlier wake
    scheduled_[w.node] = kNever;
    if (!live_[w.node]) continue;
    Node& node = *nodes_[w.node];
    node.spins = node.last_wake_us == t ? node.spins + 1 : 0;
    node.last_wake_us = t;
    if (node.spins > kMaxSpins) {
      std::fprintf(stderr, "gossip_sim: node %d is due again and again at %lld us\n", w.node,
                   static_cast<long long>(t));
      std::abort();
    }
    RunTimers(w.node);
    Reschedule(w.node);
  }
  now_us_ = std::max(now_us_, t_us);
  clock_.Set(now_us_ / 1000);
}

bool Mesh::Converged() const {
  std::optional<uint32_t> digest;
  for (int i = 0; i < options_.nodes; ++i) {
    if (!live_[i]) continue;
    const Membership& m = nodes_[i]->gossiper->membership();
    if (m.size() != static_cast<size_t>(started_count_)) return false;
    if (!digest) digest = m.Digest();
    if (m.Digest() != *digest) return false;
  }
  for (int i = 0; i < options_.nodes; ++i) {
    if (!live_[i]) continue;
    if (nodes_[i]->gossiper->membership().AlivePeers() != static_cast<size_t>(live_count_ - 1)) {
      return false;
    }
  }
  return true;
}

int Mesh::CountSeeGone(int victim) const {
  int n = 0;
  for (int i = 0; i < options_.nodes; ++i) {
    if (live_[i] && Gone(nodes_[i]->gossiper->membership().Find(ids_[victim]))) ++n;
  }
  return n;
}

bool Mesh::AllSeeGone(int victim) const { return CountSeeGone(victim) == live_count_; }

uint64_t Mesh::DeathsRefuted() const {
  uint64_t n = 0;
  for (int i = 0; i < options_.nodes; ++i) {
    if (live_[i]) n += nodes_[i]->gossiper->membership().deaths_refuted();
  }
  return n;
}

uint64_t Mesh::IncarnationSum() const {
  uint64_t n = 0;
  for (int i = 0; i < options_.nodes; ++i) {
    if (live_[i]) n += nodes_[i]->gossiper->membership().self().incarnation;
  }
  return n;
}

}  // namespace meshcache::sim
