// memcached's semantics, served at the owner (docs/protocol.md
// "Extensions"): gets with flags, cas and ttl left; setx's conditional
// writes; incr and decr; touch. A change is checked against what the owner
// holds and applied in the same step on the I/O thread, so no other write
// can land between what a condition saw and what it stores. Non-owners
// forward them as they forward a set, one hop at most.
#include <algorithm>
#include <charconv>
#include <string>

#include "node/service.h"
#include "protocol/codec.h"
#include "util/hash.h"

namespace meshcache::node {
namespace {

using protocol::Request;
using protocol::WriteMode;
using protocol::WriteOutcome;

// memcached's rule for incr and decr: the value is an unsigned decimal of at
// most 20 digits that fits 64 bits (no sign, no spaces).
std::optional<uint64_t> ParseCounter(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  uint64_t n = 0;
  const char* end = text.data() + text.size();
  auto [at, ec] = std::from_chars(text.data(), end, n);
  if (ec != std::errc() || at != end) return std::nullopt;
  return n;
}

// incr wraps modulo 2^64 and decr stops at 0, as memcached's do.
uint64_t Counted(uint64_t held, const Request& req) {
  if (!req.decr) return held + req.delta;
  return held > req.delta ? held - req.delta : 0;
}

// Why a setx may not store, given what is held (null: nothing).
std::optional<WriteOutcome> SetxRefused(const Request& req, const HeldEntry* held) {
  // A cas names the very entry the client read: it must still be there.
  if (req.cas != 0 && held == nullptr) return WriteOutcome::kNotFound;
  if (req.cas != 0 && held->version != req.cas) return WriteOutcome::kExists;
  switch (req.mode) {
    case WriteMode::kSet:
      return std::nullopt;
    case WriteMode::kAdd:
      return held ? std::optional(WriteOutcome::kNotStored) : std::nullopt;
    case WriteMode::kDelete:
      return held ? std::nullopt : std::optional(WriteOutcome::kNotFound);
    case WriteMode::kReplace:
    case WriteMode::kAppend:
    case WriteMode::kPrepend:
      break;
  }
  return held ? std::nullopt : std::optional(WriteOutcome::kNotStored);
}

// What a setx stores. REQUIRES: !SetxRefused(req, held).
NewEntry SetxEntry(const Request& req, const HeldEntry* held, uint64_t default_ttl_ms) {
  // append and prepend change the bytes alone: the flags and life stay.
  if (req.mode == WriteMode::kAppend) {
    return {std::string(held->value.view()) + req.value, held->flags, held->ttl_left_ms};
  }
  if (req.mode == WriteMode::kPrepend) {
    return {req.value + std::string(held->value.view()), held->flags, held->ttl_left_ms};
  }
  return {req.value, req.flags, req.ttl_ms.value_or(default_ttl_ms)};
}

// What an incr stores (and *number, the counter's new value), or why not.
std::optional<WriteOutcome> IncrEntry(const Request& req, const HeldEntry* held,
                                      uint64_t default_ttl_ms, NewEntry* e, uint64_t* number) {
  if (held == nullptr) {
    if (!req.initial) return WriteOutcome::kNotFound;
    *number = *req.initial;
    *e = {std::to_string(*number), 0, req.ttl_ms.value_or(default_ttl_ms)};
    return std::nullopt;
  }
  const std::optional<uint64_t> n = ParseCounter(held->value.view());
  if (!n) return WriteOutcome::kNonNumeric;
  *number = Counted(*n, req);
  *e = {std::to_string(*number), held->flags, held->ttl_left_ms};  // flags and life stay
  return std::nullopt;
}

// setx's or incr's entry, or why there is none.
std::optional<WriteOutcome> Planned(const Request& req, const HeldEntry* held,
                                    uint64_t default_ttl_ms, NewEntry* e, uint64_t* number) {
  if (req.op == protocol::Op::kIncr) return IncrEntry(req, held, default_ttl_ms, e, number);
  std::optional<WriteOutcome> refused = SetxRefused(req, held);
  if (!refused) *e = SetxEntry(req, held, default_ttl_ms);
  return refused;
}

// A ttl (0: none) that ends an entry sooner than the one it replaces.
bool Shortens(uint64_t old_ttl_ms, uint64_t new_ttl_ms) {
  return new_ttl_ms != 0 && (old_ttl_ms == 0 || new_ttl_ms < old_ttl_ms);
}

EntryMeta MetaOf(const HeldEntry& e) { return {e.flags, e.version, TtlMs(e.ttl_left_ms)}; }

}  // namespace

// ---- gets ------------------------------------------------------------------

void Service::HandleGets(net::Frames envelope, const Request& req, uint64_t reply_id,
                         bool forwarded) {
  counters_.gets += req.keys.size();
  if (Overloaded(envelope, reply_id)) return;
  const size_t n = req.keys.size();
  const uint64_t job = jobs_.Add(std::move(envelope), Op::kGets, reply_id, n, n, forwarded);
  RemoteKeys remote;
  for (size_t slot = 0; slot < n; ++slot) {
    const std::string& key = req.keys[slot];
    // One hop at most: what a peer forwarded is answered here.
    const std::string* owner = forwarded ? nullptr : gossiper_.ring()->Owner(key);
    if (owner == nullptr || *owner == id_) {
      GetsLocal(job, slot, key, req.ttl_ms);
      continue;
    }
    auto& [slots, keys] = remote[*owner];
    slots.push_back(slot);
    keys.push_back(key);
  }
  ForwardGetsParts(job, remote, req.ttl_ms);
}

void Service::ForwardGetsParts(uint64_t job, RemoteKeys& remote, std::optional<uint64_t> ttl_ms) {
  // An entry is an mget value and a few numbers: MgetPartKeys' slack holds them.
  const size_t part = MgetPartKeys();
  for (auto& [owner, group] : remote) {
    auto& [slots, keys] = group;
    for (size_t begin = 0; begin < keys.size(); begin += part) {
      const size_t end = std::min(keys.size(), begin + part);
      ForwardGets(job, owner, {slots.begin() + begin, slots.begin() + end},
                  {keys.begin() + begin, keys.begin() + end}, ttl_ms, {owner});
    }
  }
}

void Service::GetsLocal(uint64_t job, size_t slot, const std::string& key,
                        std::optional<uint64_t> touch_ttl) {
  std::optional<HeldEntry> held = touch_ttl ? TouchHeld(key, *touch_ttl) : ReadHeld(key);
  if (!held) {
    ++counters_.misses;
    // As a get's miss: in the hand-off window the previous owner is asked
    // (its answer is kept with its version and flags, so a cas names the
    // entry here). A gat's miss is not: its touch is for what is held here.
    if (touch_ttl || !Peek(job, slot, key)) AfterMiss(job, slot, key);
    return;
  }
  ++counters_.hits;
  if (!touch_ttl && Verify(job, slot, key, held->version)) return;
  const EntryMeta meta = MetaOf(*held);
  jobs_.Fill(job, slot, std::move(held->value), meta);
}

bool Service::FillFromStore(uint64_t job, size_t slot, const std::string& key) {
  std::optional<HeldEntry> held = ReadHeld(key);
  if (!held) return false;
  const EntryMeta meta = MetaOf(*held);
  jobs_.Fill(job, slot, std::move(held->value), meta);
  return true;
}

void Service::ForwardGets(uint64_t job, const std::string& target, std::vector<size_t> slots,
                          std::vector<std::string> keys, std::optional<uint64_t> ttl_ms,
                          std::vector<std::string> tried) {
  Forward fwd;
  fwd.job = job;
  fwd.slots = std::move(slots);
  fwd.inner.op = Op::kGets;
  fwd.inner.keys = std::move(keys);
  fwd.inner.ttl_ms = ttl_ms;
  fwd.tried = std::move(tried);
  if (!forwarder_.Send(target, fwd, Wrap(fwd.inner, /*replica=*/false))) {
    OnForwardFailed(fwd,
                    Status::Error(Code::kUnavailable, "owner " + target + " cannot be reached"));
  }
}

void Service::FillEntries(Forward& fwd, const protocol::Reply& reply) {
  if (reply.entries.size() != fwd.slots.size()) {
    jobs_.Fail(fwd.job, Status::Error(Code::kUnavailable, "owner sent a short gets reply"),
               fwd.slots.size());
    return;
  }
  for (size_t i = 0; i < fwd.slots.size(); ++i) {
    const std::optional<protocol::ValueMeta>& e = reply.entries[i];
    if (!e) {
      jobs_.Fill(fwd.job, fwd.slots[i], std::nullopt);
      continue;
    }
    jobs_.Fill(fwd.job, fwd.slots[i], MakeValue(e->value),
               EntryMeta{e->flags, e->cas, TtlMs(e->ttl_left_ms)});
  }
}

void Service::GetsFallBack(uint64_t job, size_t slot, const std::string& key,
                           const Forward& failed) {
  std::vector<std::string> tried = failed.tried;
  for (const std::string* holder : gossiper_.ring()->Holders(key)) {
    if (std::find(tried.begin(), tried.end(), *holder) != tried.end()) continue;
    if (*holder == id_) {
      GetsLocal(job, slot, key, failed.inner.ttl_ms);
      return;
    }
    tried.push_back(*holder);
    ForwardGets(job, *holder, {slot}, {key}, failed.inner.ttl_ms, std::move(tried));
    return;
  }
  if (loads_.enabled()) {
    StartLoad(job, slot, key);
    return;
  }
  jobs_.Fail(job, Status::Error(Code::kUnavailable, "no holder of the key answered"), 1);
}

// ---- setx, incr, touch -------------------------------------------------------

void Service::HandleMemcacheWrite(net::Frames envelope, const Request& req, uint64_t reply_id,
                                  bool forwarded, bool replica, uint64_t version) {
  if (req.op != Op::kTouch) ++counters_.sets;
  if (replica) {
    ReplicaTouch(envelope, req, reply_id, version);
    return;
  }
  if (!AppliesHere(envelope, req, reply_id, forwarded)) return;
  if (RefusesVersion(envelope, reply_id, version)) return;
  if (req.op == Op::kTouch) {
    const bool existed = TouchHeld(req.keys[0], req.ttl_ms.value_or(0)).has_value();
    Reply(envelope, protocol::EncodeExisted(reply_id, existed));
    return;
  }
  ApplyChange(envelope, req, reply_id, forwarded, version);
}

bool Service::AppliesHere(net::Frames& envelope, const Request& req, uint64_t reply_id,
                          bool forwarded) {
  const std::string* owner = gossiper_.ring()->Owner(req.keys[0]);
  if (forwarded || owner == nullptr || *owner == id_) return true;
  if (hot_) (void)hot_->Del(req.keys[0]);  // this node's next get asks the owner
  if (!Overloaded(envelope, reply_id)) {
    const uint64_t job = jobs_.Add(std::move(envelope), req.op, reply_id, 0, 1);
    ForwardWrite(job, *owner, req);
  }
  return false;
}

void Service::ApplyChange(net::Frames& envelope, const Request& req, uint64_t reply_id,
                          bool forwarded, uint64_t version) {
  const std::string& key = req.keys[0];
  const std::optional<HeldEntry> held = ReadHeld(key);
  NewEntry e;
  uint64_t number = 0;
  std::optional<WriteOutcome> refused =
      Planned(req, held ? &*held : nullptr, options_.default_ttl_ms, &e, &number);
  const uint64_t stamp = refused ? 0 : StampChange(key, version);
  if (!refused && stamp == 0) refused = WriteOutcome::kNotStored;
  const bool remove = req.op == Op::kSetx && req.mode == WriteMode::kDelete;
  if (!refused && remove) {
    Remove(key, stamp);
  } else if (!refused && !Commit(key, e, stamp)) {
    ReplyError(envelope, reply_id, Code::kTooLarge, "entry larger than the store can hold");
    return;
  }
  const std::optional<uint64_t> counter =
      req.op == Op::kIncr ? std::optional<uint64_t>(number) : std::nullopt;
  Reply(envelope, protocol::EncodeWritten(reply_id, refused.value_or(WriteOutcome::kStored),
                                          refused ? 0 : stamp, counter));
  // As for a set: the sender's ring names this node, this one's another.
  if (!refused && forwarded && !Holds(key)) HandOn({key}, 0, /*relayed=*/true);
}

uint64_t Service::StampChange(const std::string& key, uint64_t version) {
  // As HandleWrite stamps a set: a forward keeps its sender's stamp, so a
  // frozen owner's late change loses to what a stand-in took meanwhile, and
  // one still within its deadline that a clock a little behind put behind
  // what is held is stamped afresh. A fresh stamp is newer than what is held:
  // every version in the store was stamped or observed by hlc_.
  if (version == 0 || Overtaken(key, version, /*replica=*/false)) return hlc_.Now();
  const std::optional<uint64_t> held = store_.VersionOf(key);
  const bool behind = (held && *held >= version) || tombstones_.Buries(key, version);
  return behind ? 0 : version;
}

bool Service::Commit(const std::string& key, const NewEntry& e, uint64_t version) {
  if (e.value.size() > limits_.max_value_bytes) return false;  // an append may outgrow it
  if (hot_) (void)hot_->Del(key);  // this node's own copy from an earlier owner
  if (!store_.Set(key, e.value, TtlMs(e.ttl_ms), version, e.flags)) return false;
  tombstones_.Erase(key);
  gossiper_.Invalidate(key);
  // Replicas take the entry itself, with the version and flags that a
  // failover must keep for gets and cas to go on as they were.
  Replicate({.op = Op::kSet, .keys = {key}, .value = e.value, .ttl_ms = e.ttl_ms, .flags = e.flags},
            version);
  return true;
}

void Service::Remove(const std::string& key, uint64_t version) {
  if (hot_) (void)hot_->Del(key);  // this node's own copy from an earlier owner
  (void)store_.Del(key);
  tombstones_.Add(key, version);
  gossiper_.Invalidate(key);
  Replicate({.op = Op::kDel, .keys = {key}}, version);  // as a del's
}

std::optional<HeldEntry> Service::ReadHeld(const std::string& key) {
  return ReadHeld(key, Xxh32(key), clock_->NowMs());
}

std::optional<HeldEntry> Service::ReadHeld(std::string_view key, uint32_t hash, int64_t now_ms) {
  HeldEntry h;
  int64_t ttl_left = 0;
  std::optional<Value> v = store_.GetHashed(key, hash, now_ms, &ttl_left, &h.version, &h.flags);
  if (!v) return std::nullopt;
  h.value = std::move(*v);
  h.ttl_left_ms = static_cast<uint64_t>(std::max<int64_t>(ttl_left, 0));
  return h;
}

std::optional<HeldEntry> Service::TouchHeld(const std::string& key, uint64_t ttl_ms) {
  std::optional<HeldEntry> held = ReadHeld(key);
  if (!held) return std::nullopt;
  // memcached's touch leaves the cas alone: the entry keeps its version.
  if (!store_.Set(key, held->value.view(), TtlMs(ttl_ms), held->version, held->flags)) {
    return std::nullopt;
  }
  // Hot copies live at most as long as the owner's entry did when they were
  // taken; only a shorter life can leave one outliving it.
  if (Shortens(held->ttl_left_ms, ttl_ms)) gossiper_.Invalidate(key);
  held->ttl_left_ms = ttl_ms;
  Replicate({.op = Op::kTouch, .keys = {key}, .ttl_ms = ttl_ms}, held->version);
  return held;
}

void Service::ReplicaTouch(net::Frames& envelope, const Request& req, uint64_t reply_id,
                           uint64_t version) {
  if (req.op != Op::kTouch) {  // an owner sends setx and incr as the set of their entry
    ++counters_.bad_requests;
    ReplyError(envelope, reply_id, Code::kBadRequest,
               std::string("a replica is not sent ") + protocol::OpName(req.op));
    return;
  }
  ++counters_.replica_writes;
  const std::string& key = req.keys[0];
  // Only the entry the owner touched: an older one here missed a write (its
  // life is not the touched entry's), a newer one came after the touch.
  bool touched = false;
  if (store_.VersionOf(key) == version) {
    if (std::optional<HeldEntry> held = ReadHeld(key)) {
      touched =
          store_.Set(key, held->value.view(), TtlMs(req.ttl_ms.value_or(0)), version, held->flags);
    }
  }
  Reply(envelope, protocol::EncodeExisted(reply_id, touched));
}

}  // namespace meshcache::node
