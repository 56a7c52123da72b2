// Gossip: heartbeats and invalidations on PUB, peers' on SUB, joining, and
// the membership changes that rewire sockets and rebuild the ring.
//
// PUB is lossy (slow joiners, high-water mark), so every heartbeat carries
// the sender's whole table and repeats the invalidations since the previous
// one; sequence numbers reveal a missed message, on which every hot copy is
// dropped rather than risk serving one that an invalidation missed.
#include "node/engine.h"
#include "protocol/codec.h"

namespace meshcache::node {
namespace {

// Invalidations a heartbeat repeats; past this it says "overflow" instead
// and receivers drop all hot copies.
constexpr size_t kMaxInvals = 1024;
constexpr int64_t kMaxJoinBackoffMs = 5000;

std::string Describe(const MemberChange& c) {
  auto name = [](const std::optional<NodeState>& s) {
    return s ? std::string(NodeStateName(*s)) : std::string("-");
  };
  if (!c.before) return "member " + c.id + " joined (" + name(c.after) + ")";
  if (!c.after) return "member " + c.id + " forgotten";
  if (c.before == c.after) return "member " + c.id + " moved endpoints";
  return "member " + c.id + ": " + name(c.before) + " -> " + name(c.after);
}

}  // namespace

void Engine::Heartbeat() {
  ApplyChanges(membership_.Tick());
  Publish(protocol::Gossip::Kind::kHeartbeat);
  recent_invals_.clear();
  invals_overflow_ = false;
  (void)store_.SweepExpired(256);
  if (hot_) (void)hot_->SweepExpired(256);
  // Cut off from everyone (a partition, or all peers restarted): join again.
  if (joined_ && !options_.join.empty() && membership_.AlivePeers() == 0 &&
      ring_->members().size() > 1) {
    joined_ = false;
  }
}

void Engine::Publish(protocol::Gossip::Kind kind) {
  protocol::Gossip g;
  g.kind = kind;
  g.from = id_;
  g.seq = ++gossip_seq_;
  if (kind == protocol::Gossip::Kind::kHeartbeat) {
    g.members = membership_.Snapshot();
    g.invals = recent_invals_;
    g.invals_overflow = invals_overflow_;
  } else {
    g.invals = pending_invals_;
  }
  Frames frames;
  frames.push_back(Frame(protocol::EncodeGossip(g)));
  (void)SendFrames(sockets_.pub, frames);  // lossy by design; see the file comment
}

void Engine::Invalidate(const std::string& key) {
  if (recent_invals_.size() < kMaxInvals) {
    recent_invals_.push_back(key);
  } else {
    invals_overflow_ = true;
  }
  if (pending_invals_.size() < kMaxInvals) pending_invals_.push_back(key);
}

void Engine::FlushInvalidations() {
  if (pending_invals_.empty()) return;
  Publish(protocol::Gossip::Kind::kInvalidate);
  pending_invals_.clear();
}

void Engine::DropHotCopies() {
  if (!hot_) return;
  counters_.hot_invalidations += hot_->Stats().items;
  hot_->Clear();
}

void Engine::OnGossipMessage(Frames& frames) {
  ++counters_.gossip_received;
  auto g = frames.size() == 1
               ? protocol::DecodeGossip(View(frames[0]), limits_)
               : Result<protocol::Gossip>(Status::Error(Code::kBadRequest, "frames"));
  if (!g.ok()) {
    ++counters_.gossip_bad;
    return;
  }
  if (g->from == id_) return;
  auto [it, fresh] = last_seq_.try_emplace(g->from, g->seq);
  if (!fresh) {
    if (g->seq != it->second + 1) {  // lost, reordered, or the sender restarted
      ++counters_.gossip_gaps;
      MarkInvalidated(nullptr);
      DropHotCopies();
    }
    it->second = g->seq;
  }
  if (g->invals_overflow) {
    MarkInvalidated(nullptr);
    DropHotCopies();
  }
  for (const auto& key : g->invals) {
    MarkInvalidated(&key);
    if (hot_ && hot_->Del(key)) ++counters_.hot_invalidations;
  }
  if (g->kind != protocol::Gossip::Kind::kHeartbeat) return;
  uint64_t incarnation = membership_.self().incarnation;
  for (const auto& m : g->members) {
    if (m.id == g->from) ApplyChanges(membership_.HeardFrom(m));
  }
  ApplyChanges(membership_.MergeAll(g->members));
  if (membership_.self().incarnation != incarnation) {
    Log(LogLevel::kInfo, "refuted suspicion from " + g->from + ": incarnation now " +
                             std::to_string(membership_.self().incarnation));
    Publish(protocol::Gossip::Kind::kHeartbeat);
  }
}

void Engine::ApplyChanges(const std::vector<MemberChange>& changes) {
  if (changes.empty()) return;
  for (const MemberChange& c : changes) {
    Log(LogLevel::kInfo, Describe(c));
    if (c.id == id_) continue;
    const MemberEntry* e = membership_.Find(c.id);
    if (e != nullptr && subscribed_.insert(e->info.gossip).second) {
      try {
        sub_.connect(e->info.gossip);
        (void)DealerFor(e->info.service);  // connect early: forwards need a live link
      } catch (const zmq::error_t& err) {
        Log(LogLevel::kWarn, "cannot connect to " + c.id + ": " + err.what());
      }
    }
    if (!c.after) {
      last_seq_.erase(c.id);
      DropDealer(c.id);
    }
  }
  RebuildRing();
}

void Engine::RebuildRing() {
  // SUB connections of forgotten members are dropped here too.
  std::vector<MemberInfo> members = membership_.Snapshot();
  std::set<std::string> wanted;
  for (const auto& m : members) {
    if (m.id != id_) wanted.insert(m.gossip);
  }
  for (auto it = subscribed_.begin(); it != subscribed_.end();) {
    if (wanted.count(*it)) {
      ++it;
      continue;
    }
    try {
      sub_.disconnect(*it);
    } catch (const zmq::error_t&) {
    }
    it = subscribed_.erase(it);
  }
  RingParams params;
  params.vnodes = options_.vnodes;
  params.replicas = options_.replicas;
  params.epoch = membership_.epoch();
  ring_ = Ring::Build(std::move(members), params);
}

void Engine::TryJoin(int64_t now) {
  const std::string& seed = options_.join[join_index_++ % options_.join.size()];
  next_join_ms_ = now + join_backoff_ms_;
  join_backoff_ms_ = std::min(join_backoff_ms_ * 2, kMaxJoinBackoffMs);
  if (seed == id_) return;
  protocol::Request join;
  join.op = protocol::Op::kJoin;
  join.member = membership_.self();
  Forward fwd;
  fwd.inner = join;
  if (!SendToPeer(seed, fwd, join)) {
    Log(LogLevel::kWarn, "join via " + seed + ": not a reachable endpoint");
  }
}

void Engine::OnJoined(const protocol::Reply& reply, const std::string& seed) {
  if (!joined_) Log(LogLevel::kInfo, "joined the mesh via " + seed);
  joined_ = true;
  join_backoff_ms_ = 100;
  ApplyChanges(membership_.MergeAll(reply.members));
  Publish(protocol::Gossip::Kind::kHeartbeat);
}

}  // namespace meshcache::node
