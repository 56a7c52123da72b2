// Entries moving between nodes: the hand-off passes that follow ring
// changes (handoff.h decides what moves, this sends it), the batches other
// nodes hand here, and what is handed on because this node's ring says it
// belongs elsewhere.
#include <algorithm>
#include <map>
#include <set>

#include "node/service.h"
#include "protocol/codec.h"

namespace meshcache::node {
namespace {

// Entries scanned per poll round.
constexpr size_t kHandOffStep = 512;
// How often a batch that was not acknowledged is sent (its holder may be
// reachable again in a moment, as after a heal) before its entries are
// given up.
constexpr int kHandOffTries = 4;

}  // namespace

void Service::StepHandOff() {
  if (!handoff_.active()) return;
  HandOff::Step step = handoff_.Next(store_, kHandOffStep, [this] { return tombstones_.Live(); });
  const std::set<std::string> drop(step.drop.begin(), step.drop.end());
  std::set<std::string> sent;
  for (auto& [target, entries] : step.batches) {
    SendHandOff(target, std::move(entries), drop, &sent, 0, /*relayed=*/false);
  }
  size_t dropped = 0;
  for (const std::string& key : drop) {
    // Unsent: its holders did not change since the last pass, which gave it
    // to them; or that pass's batch is still out, and its answer decides.
    if (!sent.count(key) && !handing_.count(key)) dropped += store_.Del(key);
  }
  if (options_.log && (!step.batches.empty() || dropped > 0)) {
    options_.log(LogLevel::kDebug, "hand-off: " + std::to_string(step.batches.size()) +
                                       " batches sent, " + std::to_string(dropped) +
                                       " entries dropped, " + std::to_string(sent.size()) +
                                       " to drop when acknowledged");
  }
}

void Service::SendHandOff(const std::string& target, std::vector<protocol::HandoffEntry> entries,
                          const std::set<std::string>& drop, std::set<std::string>* sent,
                          int attempt, bool relayed) {
  Forward fwd;
  fwd.inner.op = Op::kHandoff;
  fwd.inner.relayed = relayed;
  fwd.attempt = attempt;
  // Entries this node gives away stay here, and keep answering (peeks
  // included), until their new holder has them.
  for (const auto& e : entries) {
    if (e.deleted) fwd.deletes.push_back(e.key);
    if (!drop.count(e.key)) continue;
    fwd.inner.keys.push_back(e.key);
    fwd.given_versions.push_back(e.version);
  }
  protocol::Request req;
  req.op = Op::kHandoff;
  req.from = id_;
  req.entries = std::move(entries);
  req.relayed = relayed;
  const std::vector<std::string> given = fwd.inner.keys;  // Send moves fwd
  if (!forwarder_.Send(target, fwd, std::move(req))) return;
  ++handoffs_in_flight_;
  for (const std::string& key : given) ++handing_[key];
  sent->insert(given.begin(), given.end());
}

void Service::HandedOff(const Forward& fwd, bool delivered) {
  --handoffs_in_flight_;
  for (const std::string& key : fwd.inner.keys) {
    auto it = handing_.find(key);
    if (it != handing_.end() && --it->second == 0) handing_.erase(it);
  }
  const int attempt = delivered ? 0 : fwd.attempt + 1;
  std::vector<std::string> again;
  for (size_t i = 0; i < fwd.inner.keys.size(); ++i) {
    const std::string& key = fwd.inner.keys[i];
    if (Holds(key)) continue;  // the ring gave it back meanwhile
    std::optional<uint64_t> held = store_.VersionOf(key);
    if (!held) continue;
    if (*held > fwd.given_versions[i]) {
      again.push_back(key);  // written again after the scan: the holders need this one
    } else if (*held == fwd.given_versions[i]) {
      if (delivered || attempt >= kHandOffTries) {
        (void)store_.Del(key);
      } else {
        again.push_back(key);
      }
    }
  }
  if (!delivered && attempt < kHandOffTries) {
    for (const std::string& key : fwd.deletes) {
      if (tombstones_.Find(key)) again.push_back(key);
    }
  }
  if (!delivered && options_.log) {
    options_.log(LogLevel::kDebug, "hand-off to " + fwd.target + " not acknowledged (try " +
                                       std::to_string(fwd.attempt + 1) + "): " +
                                       std::to_string(again.size()) + " entries sent again");
  }
  HandOn(again, attempt, fwd.inner.relayed);
}

std::optional<protocol::HandoffEntry> Service::EntryOf(const std::string& key) {
  int64_t ttl_left = -1;
  uint64_t version = 0;
  uint32_t flags = 0;
  if (std::optional<Value> v = store_.Get(key, &ttl_left, &version, &flags)) {
    return protocol::HandoffEntry{key,     std::string(v->view()), static_cast<uint64_t>(ttl_left),
                                  version, /*deleted=*/false,      flags};
  }
  if (std::optional<uint64_t> deleted = tombstones_.Find(key)) {
    return protocol::HandoffEntry{key, {}, 0, *deleted, /*deleted=*/true};
  }
  return std::nullopt;
}

void Service::HandOn(const std::vector<std::string>& keys, int attempt, bool relayed) {
  if (keys.empty()) return;
  std::vector<std::pair<std::string, protocol::HandoffEntry>> moves;
  std::set<std::string> drop;
  const std::shared_ptr<const Ring> ring = gossiper_.ring();
  for (const std::string& key : keys) {
    std::optional<protocol::HandoffEntry> entry = EntryOf(key);
    if (!entry) continue;
    if (!entry->deleted && !Holds(key)) drop.insert(key);
    for (const std::string* holder : ring->Holders(key)) {
      if (*holder != id_) moves.emplace_back(*holder, *entry);
    }
  }
  std::set<std::string> sent;
  for (auto& [target, entries] : handoff_.Pack(std::move(moves))) {
    SendHandOff(target, std::move(entries), drop, &sent, attempt, relayed);
  }
  for (const std::string& key : drop) {
    // No other holder to give it to (unless a batch out already has it).
    if (!sent.count(key) && !handing_.count(key)) (void)store_.Del(key);
  }
}

void Service::HandleHandoff(net::Frames& envelope, const protocol::Request& req,
                            uint64_t reply_id) {
  // An entry for a key this node does not hold (its ring and the sender's
  // differ for a moment, as while a partition heals) is relayed to the
  // holders this node knows, so that it does not end up where no get looks;
  // once only, so rings that stay apart cannot bounce it back and forth.
  std::vector<std::string> elsewhere;
  for (const protocol::HandoffEntry& e : req.entries) {
    if (TakeEntry(e) && !req.relayed && !Holds(e.key)) elsewhere.push_back(e.key);
  }
  Reply(envelope, protocol::EncodeOk(reply_id));
  HandOn(elsewhere, 0, /*relayed=*/true);
}

bool Service::TakeEntry(const protocol::HandoffEntry& e) {
  if (!hlc_.Observe(e.version)) {
    ++counters_.versions_refused;
    return false;
  }
  if (tombstones_.Buries(e.key, e.version)) return false;
  if (e.deleted) return TakeDelete(e.key, e.version);
  const int64_t ttl = TtlMs(e.ttl_left_ms);
  if (!store_.SetIfNewer(e.key, e.value, ttl, e.version, e.flags)) return false;
  TookNewer(e.key);
  return true;
}

bool Service::TakeDelete(const std::string& key, uint64_t version) {
  std::optional<uint64_t> held = store_.VersionOf(key);
  if (held && *held >= version) return false;  // written again after that delete
  tombstones_.Add(key, version);
  if (held) (void)store_.Del(key);
  TookNewer(key);
  return true;
}

void Service::TookNewer(const std::string& key) {
  ++counters_.handoff_received;
  if (hot_) (void)hot_->Del(key);
  // Other nodes' hot copies may hold what this entry replaced.
  if (const std::string* owner = gossiper_.ring()->Owner(key); owner && *owner == id_) {
    gossiper_.Invalidate(key);
  }
}

}  // namespace meshcache::node
