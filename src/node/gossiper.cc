#include "node/gossiper.h"

#include <algorithm>

#include "protocol/codec.h"
#include "util/hash.h"

namespace meshcache::node {
namespace {

// Invalidations a heartbeat repeats; past this it says "overflow" instead
// and receivers drop all hot copies.
constexpr size_t kMaxInvals = 1024;
// Changed entries a heartbeat carries besides the sender's own.
constexpr size_t kMaxPiggyback = 16;
constexpr int kRepeatFactor = 3;
// Watched members: the next ones in hash order, and more from hashed points.
constexpr size_t kWatchNext = 2;
constexpr size_t kWatchFar = 2;
// A change to the table goes out in a heartbeat this soon, not at the next
// beat: with each heartbeat heard by a few watchers, news travels in hops.
// But never sooner than kMinHeartbeatGapMs after the last heartbeat: in a
// burst of changes (a mesh starting) a heartbeat per change would load
// every node, and a loaded node's stalls make more changes.
constexpr int64_t kChangeHeartbeatMs = 10;
constexpr int64_t kMinHeartbeatGapMs = 100;
constexpr int64_t kFirstJoinBackoffMs = 100;
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

Gossiper::Gossiper(MemberInfo self, GossipOptions options, Peers& peers, const Clock* clock,
                   LogFn log)
    : id_(self.id),
      options_(std::move(options)),
      peers_(peers),
      clock_(clock),
      log_(std::move(log)),
      membership_(std::move(self), options_.membership, clock),
      next_heartbeat_ms_(clock->NowMs() + options_.heartbeat_ms),
      joined_(options_.join.empty()),
      join_backoff_ms_(kFirstJoinBackoffMs) {
  // Every node walks the same id-sorted list: from the same start, they
  // would all sync with the same member at once (seen in the simulator).
  sync_turn_ = Xxh32(id_);
  Rebuild();
}

void Gossiper::Log(LogLevel level, const std::string& msg) const {
  if (log_) log_(level, msg);
}

bool Gossiper::OnTimer(int64_t now) {
  if (now < next_heartbeat_ms_ && !(change_due_ms_ && now >= *change_due_ms_)) return false;
  // A heartbeat this late means this node was stalled, not its peers: had
  // it ticked, it would have heard them. Declaring them suspect or dead now
  // would spread false deaths (a SIGSTOP'd node waking up).
  if (now - next_heartbeat_ms_ >= options_.membership.suspect_ms) {
    Log(LogLevel::kWarn,
        "stalled for " + std::to_string(now - next_heartbeat_ms_) + " ms: peers' timers restart");
    membership_.RestartTimers();
  }
  next_heartbeat_ms_ = now + options_.heartbeat_ms;
  ++heartbeats_since_sync_;
  Apply(membership_.Tick());
  RefreshSilent(now);
  Publish(protocol::Gossip::Kind::kHeartbeat);
  recent_invals_.clear();
  invals_overflow_ = false;
  // Cut off from everyone (a partition, or all peers restarted): join again.
  if (joined_ && !options_.join.empty() && HearsNoOne() && membership_.size() > 1) {
    joined_ = false;
  }
  return true;
}

int64_t Gossiper::NextWakeMs() const {
  int64_t next = std::min(next_heartbeat_ms_, change_due_ms_.value_or(INT64_MAX));
  if (!joined_) next = std::min(next, next_join_ms_);
  if (joined_ && !sync_with_.empty()) next = std::min(next, next_sync_ms_);
  // 0: to be worked out by the next ProbesDue, which every poll round runs.
  if (joined_ && next_probe_ms_ > 0) next = std::min(next, next_probe_ms_);
  return next;
}

void Gossiper::Announce() { Publish(protocol::Gossip::Kind::kHeartbeat); }

void Gossiper::Publish(protocol::Gossip::Kind kind) {
  protocol::Gossip g;
  g.kind = kind;
  g.from = id_;
  g.seq = kind == protocol::Gossip::Kind::kHeartbeat ? ++hb_seq_ : ++inv_seq_;
  if (kind == protocol::Gossip::Kind::kHeartbeat) {
    change_due_ms_.reset();  // what changed goes out now
    last_heartbeat_ms_ = clock_->NowMs();
    g.members = Piggyback();
    g.invals = recent_invals_;
    g.invals_overflow = invals_overflow_;
    g.digest = membership_.Digest();
  } else {
    g.invals = pending_invals_;
  }
  const std::string body = protocol::EncodeGossip(g);
  ++stats_.sent;
  stats_.sent_bytes += body.size();
  peers_.Publish(body);
}

std::vector<MemberInfo> Gossiper::Piggyback() {
  std::vector<MemberInfo> out{membership_.self()};
  std::vector<std::pair<int, std::string>> due;  // the most repeats left first: the newest
  for (const auto& [id, left] : spread_) due.emplace_back(left, id);
  std::sort(due.begin(), due.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (const auto& [left, id] : due) {
    if (out.size() > kMaxPiggyback) break;
    const MemberEntry* e = membership_.Find(id);
    if (e != nullptr) out.push_back(e->info);
    if (e == nullptr || left <= 1) {
      spread_.erase(id);
    } else {
      spread_[id] = left - 1;
    }
  }
  return out;
}

int Gossiper::Repeats() const {
  int log2 = 0;
  for (size_t n = membership_.size() + 1; n > 1; n = (n + 1) / 2) ++log2;
  return kRepeatFactor * std::max(1, log2);
}

void Gossiper::Invalidate(const std::string& key) {
  if (recent_invals_.size() < kMaxInvals) {
    recent_invals_.push_back(key);
  } else {
    invals_overflow_ = true;
  }
  if (pending_invals_.size() < kMaxInvals) pending_invals_.push_back(key);
}

void Gossiper::FlushInvalidations() {
  if (pending_invals_.empty()) return;
  Publish(protocol::Gossip::Kind::kInvalidate);
  pending_invals_.clear();
}

Gossiper::Received Gossiper::OnMessage(const net::Frames& frames) {
  ++stats_.received;
  for (const zmq::message_t& f : frames) stats_.received_bytes += f.size();
  Received out;
  auto g = frames.size() == 1
               ? protocol::DecodeGossip(net::View(frames[0]), options_.limits)
               : Result<protocol::Gossip>(Status::Error(Code::kBadRequest, "frames"));
  if (!g.ok()) {
    ++stats_.bad;
    return out;
  }
  if (g->from == id_) return out;
  CheckSequence(*g, out);
  out.drop_all = out.drop_all || g->invals_overflow;
  out.invalidated = std::move(g->invals);
  if (g->kind == protocol::Gossip::Kind::kHeartbeat) Merge(*g);
  return out;
}

void Gossiper::CheckSequence(const protocol::Gossip& g, Received& out) {
  // Only members are followed: a sender the table does not hold (made-up
  // ids, a member forgotten) would grow last_seq_ without bound.
  if (membership_.Find(g.from) == nullptr) return;
  auto [it, fresh] = last_seq_.try_emplace({g.from, g.kind}, g.seq);
  if (fresh) return;
  if (g.seq != it->second + 1) {  // lost, reordered, or the sender restarted
    ++stats_.gaps;
    out.drop_all = true;
  }
  it->second = g.seq;
}

void Gossiper::Merge(const protocol::Gossip& g) {
  auto sender = std::find_if(g.members.begin(), g.members.end(),
                             [&g](const MemberInfo& m) { return m.id == g.from; });
  if (sender != g.members.end()) Apply(membership_.HeardFrom(*sender));
  MergeTable(g.members, g.from);
  if (!g.digest || *g.digest == membership_.Digest() || sender == g.members.end()) return;
  // Whatever this table says of the sender: its heartbeat came through, and
  // a member held dead here learns of it only by such a sync (to refute).
  // That sync comes first: other digests may differ for as long as this one
  // is unsettled (the members that heard the sender themselves ignore the
  // verdict on it), and heartbeats arriving in a steady order would
  // otherwise always name one of them last (seen: a one-way cut that took
  // 10 s to heal under CPU load).
  const MemberEntry* held = membership_.Find(g.from);
  const bool urgent = held != nullptr && held->info.state != NodeState::kAlive;
  if (sync_with_.empty() || (urgent && !sync_urgent_)) {
    sync_with_ = sender->service;
    sync_urgent_ = urgent;
  }
}

void Gossiper::MergeTable(const std::vector<MemberInfo>& entries, const std::string& from) {
  const uint64_t incarnation = membership_.self().incarnation;
  Apply(membership_.MergeAll(entries, from));
  if (membership_.self().incarnation != incarnation) {
    Log(LogLevel::kInfo, "refuted suspicion from " + from + ": incarnation now " +
                             std::to_string(membership_.self().incarnation));
    Announce();
  }
}

std::vector<MemberInfo> Gossiper::OnJoinRequest(const MemberInfo& member,
                                                const std::vector<MemberInfo>& pushed) {
  Apply(membership_.HeardFrom(member));
  if (!pushed.empty()) MergeTable(pushed, member.id);
  return membership_.Snapshot();
}

std::optional<Gossiper::JoinRequest> Gossiper::SyncDue(int64_t now) {
  if (!joined_ || now < next_sync_ms_) return std::nullopt;
  std::string target = std::move(sync_with_);
  sync_with_.clear();
  sync_urgent_ = false;
  if (target.empty() && heartbeats_since_sync_ >= options_.sync_every) target = NextInTurn();
  if (target.empty()) return std::nullopt;
  heartbeats_since_sync_ = 0;
  next_sync_ms_ = now + options_.heartbeat_ms;
  JoinRequest sync{target, {}};
  sync.request.op = protocol::Op::kJoin;
  sync.request.member = membership_.self();
  sync.request.members = membership_.Snapshot();
  return sync;
}

std::string Gossiper::NextInTurn() {
  std::vector<const MemberInfo*> alive;
  std::vector<MemberInfo> members = membership_.Snapshot();
  for (const MemberInfo& m : members) {
    if (m.id != id_ && m.state == NodeState::kAlive) alive.push_back(&m);
  }
  if (alive.empty()) return {};
  return alive[sync_turn_++ % alive.size()]->service;
}

void Gossiper::OnSynced(const std::vector<MemberInfo>& members, const std::string& from) {
  MergeTable(members, from);
}

std::vector<Gossiper::Probe> Gossiper::ProbesDue(int64_t now) {
  std::vector<Probe> out;
  if (!joined_ || now < next_probe_ms_) return out;  // every poll round: mostly this
  // A heartbeat and a half of silence (half of suspect_ms) before the direct
  // probe, so a heartbeat that is merely late costs nothing; a quarter more
  // before the indirect ones; the last quarter for their answers.
  const int64_t direct_after = std::max<int64_t>(1, options_.membership.suspect_ms / 2);
  const int64_t indirect_gap = std::max<int64_t>(1, options_.membership.suspect_ms / 4);
  auto probe = [&](const std::string& endpoint, const std::string& target) {
    Probe p{endpoint, {}};
    p.request.op = protocol::Op::kProbe;
    p.request.member = membership_.self();
    p.request.target = target;
    out.push_back(std::move(p));
  };
  std::erase_if(probing_, [this](const auto& kv) {
    return std::find(watched_.begin(), watched_.end(), kv.first) == watched_.end();
  });
  next_probe_ms_ = INT64_MAX;
  for (const std::string& id : watched_) {
    const MemberEntry* e = membership_.Find(id);
    if (e == nullptr || e->info.state != NodeState::kAlive) {
      probing_.erase(id);
      continue;
    }
    if (now - e->last_heard_ms < direct_after) {
      probing_.erase(id);
      next_probe_ms_ = std::min(next_probe_ms_, e->last_heard_ms + direct_after);
      continue;
    }
    auto [it, fresh] = probing_.try_emplace(id, Probing{now, false});
    if (fresh) {
      probe(e->info.service, "");
      ++stats_.probes;
      next_probe_ms_ = std::min(next_probe_ms_, now + indirect_gap);
    } else if (it->second.indirect) {
      continue;  // its answer, or its suspicion (Tick), comes next
    } else if (now - it->second.sent_ms >= indirect_gap) {
      it->second.indirect = true;
      for (const MemberInfo* via : Relays(id)) {
        probe(via->service, id);
        ++stats_.ping_reqs;
      }
    } else {
      next_probe_ms_ = std::min(next_probe_ms_, it->second.sent_ms + indirect_gap);
    }
  }
  return out;
}

std::vector<const MemberInfo*> Gossiper::Relays(const std::string& target) {
  std::vector<const MemberInfo*> candidates;
  for (const std::string& id : watched_) {
    const MemberEntry* e = membership_.Find(id);
    if (id != target && e != nullptr && e->info.state == NodeState::kAlive) {
      candidates.push_back(&e->info);
    }
  }
  std::vector<const MemberInfo*> out;
  const size_t k = std::min(candidates.size(), static_cast<size_t>(options_.indirect_probes));
  for (size_t i = 0; i < k; ++i) out.push_back(candidates[(probe_turn_ + i) % candidates.size()]);
  probe_turn_ += k;
  return out;
}

void Gossiper::OnProbeAnswer(const std::string& target, const std::vector<MemberInfo>& members) {
  for (const MemberInfo& m : members) {
    if (m.id != target) continue;  // an answer speaks for the probed member alone
    ++stats_.probe_answers;
    probing_.erase(m.id);
    next_probe_ms_ = 0;  // its next silence is timed from now
    Apply(membership_.Answered(m));
    return;
  }
}

MemberInfo Gossiper::OnProbe(const MemberInfo& member) {
  Apply(membership_.Answered(member));
  return membership_.self();
}

std::optional<Gossiper::JoinRequest> Gossiper::JoinDue(int64_t now) {
  if (joined_ || now < next_join_ms_) return std::nullopt;
  const std::string& seed = options_.join[join_index_++ % options_.join.size()];
  next_join_ms_ = now + join_backoff_ms_;
  join_backoff_ms_ = std::min(join_backoff_ms_ * 2, kMaxJoinBackoffMs);
  if (seed == id_) return std::nullopt;
  JoinRequest join{seed, {}};
  join.request.op = protocol::Op::kJoin;
  join.request.member = membership_.self();
  return join;
}

void Gossiper::OnJoined(const std::vector<MemberInfo>& members, const std::string& seed) {
  if (!joined_) Log(LogLevel::kInfo, "joined the mesh via " + seed);
  joined_ = true;
  join_backoff_ms_ = kFirstJoinBackoffMs;
  Apply(membership_.MergeAll(members));
  Announce();
}

void Gossiper::Leave() {
  Apply(membership_.Leave());
  Announce();
}

void Gossiper::Apply(const std::vector<MemberChange>& changes) {
  if (!refused_logged_ && membership_.refused() > 0) {
    refused_logged_ = true;
    Log(LogLevel::kWarn,
        "refused a member entry: its incarnation is out of bounds (a bug or a forged "
        "message) or the table is full; counted in stats members_refused, logged once");
  }
  if (changes.empty()) return;
  const int repeats = Repeats();
  for (const MemberChange& c : changes) {
    Log(LogLevel::kInfo, Describe(c));
    if (!c.after) {
      last_seq_.erase({c.id, protocol::Gossip::Kind::kHeartbeat});
      last_seq_.erase({c.id, protocol::Gossip::Kind::kInvalidate});
      spread_.erase(c.id);
      hot_owners_.erase(c.id);
      refreshed_at_.erase(c.id);
    } else if (c.id != id_) {
      spread_[c.id] = repeats;
    }
  }
  // The change goes out soon, not at the next beat: its watchers pass it on.
  if (!change_due_ms_) {
    change_due_ms_ =
        std::max(clock_->NowMs() + kChangeHeartbeatMs, last_heartbeat_ms_ + kMinHeartbeatGapMs);
  }
  Rebuild();
}

void Gossiper::Rebuild() {
  const std::vector<MemberInfo> members = membership_.Snapshot();
  std::vector<MemberInfo> others;
  for (const MemberInfo& m : members) {
    if (m.id != id_) others.push_back(m);
  }
  peers_.Follow(others);
  watched_ = ChooseWatched(members);
  membership_.Watch(watched_);
  ListenAgain(members);
  ring_.reset();
  next_probe_ms_ = 0;  // the watched members or their states changed
}

std::vector<std::string> Gossiper::ChooseWatched(const std::vector<MemberInfo>& members) const {
  std::vector<std::pair<uint32_t, std::string>> ring;  // alive and suspect members by hash
  for (const MemberInfo& m : members) {
    if (m.id != id_ && OnRing(m.state)) ring.emplace_back(Xxh32(m.id), m.id);
  }
  std::sort(ring.begin(), ring.end());
  std::vector<std::string> out;
  if (ring.size() <= kWatchNext + kWatchFar) {
    for (auto& [hash, id] : ring) out.push_back(std::move(id));
    return out;
  }
  auto after = [&](uint32_t point) {  // the first member at or after point, wrapping
    auto it = std::lower_bound(ring.begin(), ring.end(), std::make_pair(point, std::string()));
    return it == ring.end() ? ring.begin() : it;
  };
  auto it = after(Xxh32(id_) + 1);
  while (out.size() < kWatchNext) {
    out.push_back(it->second);
    if (++it == ring.end()) it = ring.begin();
  }
  for (size_t i = 1; out.size() < kWatchNext + kWatchFar; ++i) {
    auto far = after(Xxh32(id_ + "#" + std::to_string(i)));
    while (std::find(out.begin(), out.end(), far->second) != out.end()) {
      if (++far == ring.end()) far = ring.begin();
    }
    out.push_back(far->second);
  }
  return out;
}

bool Gossiper::HearsNoOne() const {
  return std::none_of(watched_.begin(), watched_.end(), [&](const std::string& id) {
    const MemberEntry* e = membership_.Find(id);
    return e != nullptr && e->info.state == NodeState::kAlive;
  });
}

void Gossiper::HearOwner(const std::string& owner) {
  if (owner == id_ || !hot_owners_.insert(owner).second) return;
  ListenAgain(membership_.Snapshot());
}

void Gossiper::ListenAgain(const std::vector<MemberInfo>& members) {
  std::set<std::string> ids(watched_.begin(), watched_.end());
  ids.insert(hot_owners_.begin(), hot_owners_.end());
  // A member held dead that is alive after all (a cut that healed) is heard,
  // so that its heartbeat's digest starts the sync that tells it to refute.
  for (const MemberInfo& m : members) {
    if (m.state == NodeState::kDead) ids.insert(m.id);
  }
  listened_.assign(ids.begin(), ids.end());
  peers_.Listen(listened_);
}

void Gossiper::RefreshSilent(int64_t now) {
  const int64_t after = options_.membership.suspect_ms;
  for (const std::string& id : listened_) {
    const MemberEntry* e = membership_.Find(id);
    if (e == nullptr || now - e->last_direct_ms < after) continue;
    int64_t& at = refreshed_at_[id];
    if (now - at < after) continue;
    at = now;
    peers_.Refresh(id);
  }
}

const std::shared_ptr<const Ring>& Gossiper::ring() const {
  if (!ring_) {
    RingParams params = options_.ring;
    params.epoch = membership_.epoch();
    ring_ = Ring::Build(membership_.Snapshot(), params);
  }
  return ring_;
}

}  // namespace meshcache::node
