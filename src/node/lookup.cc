// Gets and writes: what the owner answers from its store or its loader, and
// what a non-owner serves from a hot copy or sends on to the owner.
#include <algorithm>

#include "node/service.h"
#include "protocol/codec.h"
#include "util/hash.h"

namespace meshcache::node {

bool OneBodyFrame(const net::Frames& frames) {
  const size_t n = frames.size();
  if (n < 3) return false;
  for (size_t i = 1; i + 2 < n; ++i) {
    if (frames[i].empty()) return false;
  }
  return frames[n - 2].empty();
}

bool Service::AnswerQuickGet(net::Frames& frames) {
  std::optional<protocol::QuickGet> get =
      protocol::DecodeQuickGet(net::View(frames.back()), limits_);
  if (!get) return false;
  // One clock read serves the ownership check, the store and get_us.
  const int64_t started_us = clock_->NowUs();
  const int64_t now_ms = started_us / 1000;
  if (!OwnsAll({&get->key, 1}, now_ms)) return false;
  ++counters_.gets;
  const zmq::message_t body = std::move(frames.back());  // get->key views it
  frames.pop_back();                                     // the envelope is left
  if (std::optional<Value> v = store_.GetHashed(get->key, key_hashes_[0], now_ms)) {
    ++counters_.hits;
    protocol::EncodeValueTo(&reply_buf_, get->id, v->view());
    Reply(frames, reply_buf_);
    counters_.get_us.Record(clock_->NowUs() - started_us);
    return true;
  }
  ++counters_.misses;
  if (!MissesWait(now_ms)) {
    Reply(frames, protocol::EncodeMiss(get->id));
    counters_.get_us.Record(clock_->NowUs() - started_us);
    return true;
  }
  if (Overloaded(frames, get->id)) return true;
  const std::string key(get->key);
  const uint64_t job = jobs_.Add(std::move(frames), Op::kGet, get->id, 1, 1, /*forwarded=*/false);
  if (!Peek(job, 0, key)) AfterMiss(job, 0, key);
  return true;
}

bool Service::ReadOwnedNow(std::span<const std::string_view> keys,
                           std::vector<std::optional<HeldEntry>>* out) {
  const int64_t started_us = clock_->NowUs();
  const int64_t now_ms = started_us / 1000;
  if (!OwnsAll(keys, now_ms)) return false;
  out->clear();
  uint64_t hits = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    out->push_back(ReadHeld(keys[i], key_hashes_[i], now_ms));
    if (out->back()) {
      ++hits;
    } else if (MissesWait(now_ms)) {
      return false;
    }
  }
  counters_.gets += keys.size();
  counters_.hits += hits;
  counters_.misses += keys.size() - hits;
  counters_.get_us.Record(clock_->NowUs() - started_us);
  return true;
}

void Service::HandleLookup(net::Frames envelope, const protocol::Request& req, uint64_t reply_id,
                           bool forwarded) {
  counters_.gets += req.keys.size();
  if (!forwarded && req.op == Op::kMget) {
    const std::vector<std::string_view> keys(req.keys.begin(), req.keys.end());
    const int64_t started_us = clock_->NowUs();
    if (OwnsAll(keys, started_us / 1000)) {
      AnswerOwnedMget(envelope, keys, reply_id, started_us);
      return;
    }
  }
  if (Overloaded(envelope, reply_id)) return;
  const size_t n = req.keys.size();
  uint64_t job = jobs_.Add(std::move(envelope), req.op, reply_id, n, n, forwarded);
  // Keys owned elsewhere, grouped by owner: one forward per owner (and part).
  RemoteKeys remote;
  for (size_t slot = 0; slot < n; ++slot) {
    const std::string& key = req.keys[slot];
    const std::string* owner = forwarded ? nullptr : gossiper_.ring()->Owner(key);
    if (owner == nullptr || *owner == id_) {
      LookupLocal(job, slot, key);
      continue;
    }
    if (hot_ && HotCopyFresh(*owner)) {
      if (auto v = hot_->Get(key)) {
        ++counters_.hits;
        ++counters_.hot_hits;
        jobs_.Fill(job, slot, std::move(*v));
        continue;
      }
    }
    auto& [slots, keys] = remote[*owner];
    slots.push_back(slot);
    keys.push_back(key);
  }
  ForwardLookups(job, remote);
}

bool Service::AnswerQuickMget(net::Frames& frames) {
  if (!protocol::DecodeQuickMget(net::View(frames.back()), limits_, &quick_mget_)) return false;
  const int64_t started_us = clock_->NowUs();
  if (!OwnsAll(quick_mget_.keys, started_us / 1000)) return false;
  counters_.gets += quick_mget_.keys.size();
  const zmq::message_t body = std::move(frames.back());  // the keys view it
  frames.pop_back();                                     // the envelope is left
  AnswerOwnedMget(frames, quick_mget_.keys, quick_mget_.id, started_us);
  return true;
}

bool Service::MissesWait(int64_t now_ms) const {
  return loads_.enabled() || now_ms < warm_until_ms_;
}

bool Service::OwnsAll(std::span<const std::string_view> keys, int64_t now_ms) {
  if (now_ms < verify_until_ms_) return false;
  const Ring& ring = *gossiper_.ring();
  key_hashes_.clear();
  for (std::string_view key : keys) {
    const uint32_t hash = Xxh32(key);
    const std::string* owner = ring.OwnerOfPosition(hash);
    if (owner != nullptr && *owner != id_) return false;
    key_hashes_.push_back(hash);
  }
  if (key_hashes_.size() > 1) {
    for (const uint32_t hash : key_hashes_) store_.Prefetch(hash);
  }
  return true;
}

void Service::AnswerOwnedMget(net::Frames& envelope, const std::vector<std::string_view>& keys,
                              uint64_t reply_id, int64_t started_us) {
  const int64_t now_ms = started_us / 1000;
  std::vector<std::optional<Value>>& values = mget_values_;  // its capacity reused
  values.clear();
  bool waits = false;
  for (size_t i = 0; i < keys.size(); ++i) {
    values.push_back(store_.GetHashed(keys[i], key_hashes_[i], now_ms));
    if (values.back()) {
      ++counters_.hits;
    } else {
      ++counters_.misses;
      waits = waits || MissesWait(now_ms);
    }
  }
  if (!waits) {
    protocol::EncodeValuesTo(&reply_buf_, reply_id, values);
    values.clear();  // the store's references go now, not at the next mget
    Reply(envelope, reply_buf_);
    counters_.get_us.Record(clock_->NowUs() - started_us);
    return;
  }
  // Some miss peeks or loads: the hits wait in the job with it.
  if (Overloaded(envelope, reply_id)) return;
  const size_t n = keys.size();
  const uint64_t job = jobs_.Add(std::move(envelope), Op::kMget, reply_id, n, n);
  for (size_t slot = 0; slot < n; ++slot) {
    if (values[slot]) {
      jobs_.Fill(job, slot, std::move(*values[slot]));
      continue;
    }
    const std::string key(keys[slot]);
    if (!Peek(job, slot, key)) AfterMiss(job, slot, key);
  }
}

void Service::ForwardLookups(uint64_t job, RemoteKeys& remote) {
  const size_t part = MgetPartKeys();
  for (auto& [owner, group] : remote) {
    auto& [slots, keys] = group;
    for (size_t begin = 0; begin < keys.size(); begin += part) {
      size_t end = std::min(keys.size(), begin + part);
      Op op = end - begin == 1 ? Op::kGet : Op::kMget;
      ForwardKeys(job, owner, op, {slots.begin() + begin, slots.begin() + end},
                  {keys.begin() + begin, keys.begin() + end}, {owner});
    }
  }
}

size_t Service::MgetPartKeys() const {
  // A part's reply must fit the peer socket's message limit (the largest
  // request the node accepts), so a part asks for no more values than fit
  // in it, with room for framing; the parts to one owner run in parallel.
  constexpr size_t kSlack = 64 * 1024;
  const size_t per_value = options_.max_value_bytes + 16;
  return std::clamp<size_t>((limits_.max_body_bytes() - kSlack) / per_value, 1,
                            limits_.max_mget_keys);
}

void Service::LookupLocal(uint64_t job, size_t slot, const std::string& key) {
  int64_t ttl_left = -1;
  uint64_t version = 0;
  if (auto v = store_.Get(key, &ttl_left, &version)) {
    ++counters_.hits;
    if (!Verify(job, slot, key, version)) jobs_.Fill(job, slot, std::move(*v), ttl_left);
    return;
  }
  ++counters_.misses;
  if (!Peek(job, slot, key)) AfterMiss(job, slot, key);
}

void Service::AfterMiss(uint64_t job, size_t slot, const std::string& key) {
  if (loads_.enabled()) {
    StartLoad(job, slot, key);
  } else {
    jobs_.Fill(job, slot, std::nullopt);
  }
}

const std::string* Service::PeekTarget(const std::string& key) {
  // The key's owner before the change; when that was this node (it left
  // and came back, or has just joined), whoever stands in for it.
  const std::string* before = prev_ring_ ? prev_ring_->Owner(key) : nullptr;
  if ((before == nullptr || *before == id_) && others_) before = others_->Owner(key);
  if (before == nullptr || *before == id_) return nullptr;
  // A left node is still handing off; a dead one cannot answer.
  const MemberEntry* e = gossiper_.membership().Find(*before);
  if (e == nullptr || e->info.state == NodeState::kDead) return nullptr;
  return before;
}

bool Service::Peek(uint64_t job, size_t slot, const std::string& key) {
  return clock_->NowMs() < warm_until_ms_ && SendPeek(job, slot, key, 0);
}

bool Service::Verify(uint64_t job, size_t slot, const std::string& key, uint64_t version) {
  return clock_->NowMs() < verify_until_ms_ && SendPeek(job, slot, key, version);
}

bool Service::SendPeek(uint64_t job, size_t slot, const std::string& key, uint64_t version) {
  const std::string* target = PeekTarget(key);
  if (target == nullptr) return false;
  Forward fwd;
  fwd.job = job;
  fwd.slots = {slot};
  fwd.inner.op = Op::kPeek;
  fwd.inner.keys = {key};
  fwd.held_version = version;
  protocol::Request peek = fwd.inner;
  return forwarder_.Send(*target, fwd, std::move(peek));
}

void Service::StartLoad(uint64_t job, size_t slot, const std::string& key) {
  std::vector<Waiter> refused = loads_.Start(key, Waiter{job, slot}, hlc_.Now());
  for (const Waiter& w : refused) {
    ++counters_.overloaded;
    jobs_.Fail(w.job, Status::Error(Code::kOverloaded, "load queue full"), 1);
  }
}

void Service::HandleWrite(net::Frames envelope, const protocol::Request& req, uint64_t reply_id,
                          bool forwarded, bool replica, uint64_t version) {
  ++(req.op == Op::kSet ? counters_.sets : counters_.dels);
  const std::string& key = req.keys[0];
  const std::string* owner = gossiper_.ring()->Owner(key);
  if (forwarded || owner == nullptr || *owner == id_) {
    // A write is stamped by the first node that took it: a forwarder, or
    // this node. So a forward that reaches a frozen owner late is older
    // than what a stand-in took meanwhile, and loses to it.
    if (RefusesVersion(envelope, reply_id, version)) return;
    if (version == 0 || Overtaken(key, version, replica)) version = hlc_.Now();
    const protocol::QuickWrite w{req.op, reply_id, key, req.value, req.ttl_ms};
    const KeyAt at{Xxh32(key), clock_->NowMs()};
    const bool applied = ApplyWrite(envelope, w, at, version, replica, req.flags);
    if (applied && !replica) Replicate(req, version);
    // The sender's ring names this node, this node's names another (one of
    // them is behind, or a one-way cut split them): the write goes on to
    // the holders this node knows, or it would stay where no get looks.
    if (applied && forwarded && !Holds(key)) HandOn({key}, 0, /*relayed=*/true);
    return;
  }
  if (hot_) (void)hot_->Del(key);
  if (Overloaded(envelope, reply_id)) return;
  uint64_t job = jobs_.Add(std::move(envelope), req.op, reply_id, 0, 1);
  ForwardWrite(job, *owner, req);
}

bool Service::RefusesVersion(net::Frames& envelope, uint64_t reply_id, uint64_t version) {
  if (version == 0 || hlc_.Observe(version)) return false;
  ++counters_.bad_requests;
  ++counters_.versions_refused;
  ReplyError(envelope, reply_id, Code::kBadRequest,
             "write version stamped more than 60 s ahead of this node's clock");
  return true;
}

bool Service::Overtaken(const std::string& key, uint64_t version, bool replica) {
  // A forward still within its sender's deadline is a write the client is
  // waiting on now: it came after what this node holds and must not lose to
  // it by a stamp from a clock a millisecond behind (or equal). One that
  // arrives late (a frozen owner) keeps its stamp and loses to what a
  // stand-in took meanwhile. Replicas carry the owner's version as it is.
  if (replica) return false;
  const std::optional<uint64_t> held = store_.VersionOf(key);
  const bool behind = (held && *held >= version) || tombstones_.Buries(key, version);
  return behind && clock_->WallMs() - HybridClock::WallMsOf(version) <= options_.forward_timeout_ms;
}

bool Service::AnswerQuickWrite(net::Frames& frames) {
  std::optional<protocol::QuickWrite> w =
      protocol::DecodeQuickWrite(net::View(frames.back()), limits_);
  // A replicated write takes the full path: Replicate forwards the request.
  if (!w || gossiper_.ring()->replicas() > 1) return false;
  // One read of the store's clock serves the ownership check and the store.
  const int64_t now_ms = clock_->NowMs();
  if (!OwnsAll({&w->key, 1}, now_ms)) return false;
  ++(w->op == Op::kSet ? counters_.sets : counters_.dels);
  const zmq::message_t body = std::move(frames.back());  // w views it
  frames.pop_back();                                     // the envelope is left
  (void)ApplyWrite(frames, *w, KeyAt{key_hashes_[0], now_ms}, hlc_.Now(), /*replica=*/false);
  return true;
}

bool Service::ApplyWrite(net::Frames& envelope, const protocol::QuickWrite& w, KeyAt at,
                         uint64_t version, bool replica, uint32_t flags) {
  bool existed = false;
  bool applied = false;
  if (!WriteLocal(w, at, version, &existed, &applied, flags)) {
    ReplyError(envelope, w.id, Code::kTooLarge, "entry larger than the store can hold");
    return false;
  }
  if (replica) {
    ++counters_.replica_writes;  // a replica never replicates again
  } else if (applied) {
    gossiper_.Invalidate(std::string(w.key));
  }
  protocol::EncodeWrittenTo(&reply_buf_, w.id,
                            w.op == Op::kSet ? std::nullopt : std::optional<bool>(existed));
  Reply(envelope, reply_buf_);
  return applied;
}

bool Service::WriteLocal(const protocol::QuickWrite& w, KeyAt at, uint64_t version, bool* existed,
                         bool* applied, uint32_t flags) {
  // This node's own copy from an earlier owner.
  if (hot_) (void)hot_->DelHashed(w.key, at.hash, at.now_ms);
  // A newer write that got here first (held or buried) leaves this one
  // overwritten already: not applied, and no error.
  if (w.op == Op::kDel) {
    std::optional<uint64_t> held = store_.VersionOf(w.key);
    if ((held && *held >= version) || tombstones_.Buries(w.key, version)) {
      *existed = held.has_value();
      return true;
    }
    *applied = true;
    *existed = store_.DelHashed(w.key, at.hash, at.now_ms);
    tombstones_.Add(std::string(w.key), version);
    return true;
  }
  if (tombstones_.Buries(w.key, version)) return true;
  // One lookup checks the held version and stores (a set's hot path).
  const uint64_t ttl = w.ttl_ms.value_or(options_.default_ttl_ms);
  if (store_.SetIfNewerHashed(w.key, at.hash, at.now_ms, w.value, TtlMs(ttl), version, flags)) {
    tombstones_.Erase(w.key);
    *applied = true;
    return true;
  }
  // Refused: a newer entry is held, or this one cannot be stored at all.
  const std::optional<uint64_t> held = store_.VersionOf(w.key);
  return held && *held >= version;
}

void Service::Replicate(const protocol::Request& req, uint64_t version) {
  const std::shared_ptr<const Ring> ring = gossiper_.ring();
  if (ring->replicas() <= 1) return;
  for (const std::string* holder : ring->Holders(req.keys[0])) {
    if (*holder == id_) continue;
    Forward fwd;
    fwd.inner.op = req.op;  // the body travels in outer; the answer needs no more
    fwd.inner.keys = req.keys;
    protocol::Request outer = Wrap(req, /*replica=*/true);
    outer.version = version;
    if (!forwarder_.Send(*holder, fwd, std::move(outer)) &&
        forwarder_.stats().replica_writes_dropped == 1 && options_.log) {
      options_.log(LogLevel::kWarn, "replica writes to " + *holder + " dropped: " +
                                        std::to_string(Forwarder::kMaxReplicaWrites) +
                                        " in flight (counted in replica_writes_dropped)");
    }
  }
}

}  // namespace meshcache::node
