#include "node/forwarder.h"

#include "protocol/codec.h"

namespace meshcache::node {

using protocol::Op;

namespace {

bool IsLookup(const Forward& fwd) { return fwd.inner.op == Op::kGet || fwd.inner.op == Op::kMget; }

// A client's request sent on to its owner, as the contract's `forwards`
// counts them; everything else a node asks its peers is peer traffic.
bool IsClientForward(const protocol::Request& outer) {
  return outer.op == Op::kFwd && !outer.replica;
}

}  // namespace

Forwarder::Forwarder(Peers& peers, const Clock* clock, int64_t timeout_ms,
                     size_t max_replica_writes)
    : peers_(peers),
      clock_(clock),
      timeout_ms_(timeout_ms),
      max_replica_writes_(max_replica_writes) {}

bool Forwarder::Send(const std::string& target, Forward& fwd, protocol::Request outer) {
  const bool replica_write = outer.op == Op::kFwd && outer.replica;
  if (replica_write && replica_writes_ >= max_replica_writes_) {
    ++stats_.replica_writes_dropped;
    return false;
  }
  outer.id = next_id_++;
  if (!peers_.Send(target, outer.id, protocol::EncodeRequest(outer))) return false;
  fwd.client_forward = IsClientForward(outer);
  ++(fwd.client_forward ? stats_.forwards : stats_.peer_requests);
  fwd.replica_write = replica_write;
  if (fwd.client_forward) fwd.sent_us = clock_->NowUs();
  replica_writes_ += replica_write;
  fwd.target = target;
  fwd.deadline_ms = clock_->NowMs() + timeout_ms_;
  if (IsLookup(fwd)) {
    for (const std::string& key : fwd.inner.keys) ++inflight_gets_[key].count;
  }
  deadlines_.emplace(fwd.deadline_ms, outer.id);
  pending_.emplace(outer.id, std::move(fwd));
  return true;
}

Forward Forwarder::Take(std::unordered_map<uint64_t, Forward>::iterator it) {
  Forward fwd = std::move(it->second);
  deadlines_.erase({fwd.deadline_ms, it->first});
  pending_.erase(it);
  replica_writes_ -= fwd.replica_write;
  if (!IsLookup(fwd)) return fwd;
  for (const std::string& key : fwd.inner.keys) {
    auto in = inflight_gets_.find(key);
    if (in == inflight_gets_.end()) continue;
    fwd.invalidated = fwd.invalidated || in->second.invalidated;  // a fallback keeps its mark
    if (--in->second.count == 0) inflight_gets_.erase(in);
  }
  return fwd;
}

std::optional<Forward> Forwarder::Match(uint64_t wire_id) {
  auto it = pending_.find(wire_id);
  if (it == pending_.end()) {
    ++stats_.late_replies;  // past its deadline, or not ours
    return std::nullopt;
  }
  if (it->second.client_forward) stats_.forward_us.Record(clock_->NowUs() - it->second.sent_us);
  return Take(it);
}

std::vector<Forward> Forwarder::Expire(int64_t now) {
  std::vector<Forward> out;
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    uint64_t id = deadlines_.begin()->second;
    auto it = pending_.find(id);
    if (it == pending_.end()) {
      deadlines_.erase(deadlines_.begin());
      continue;
    }
    peers_.Cancel(it->second.target, id);
    ++stats_.forward_timeouts;
    out.push_back(Take(it));
  }
  return out;
}

int64_t Forwarder::NextDeadline() const {
  return deadlines_.empty() ? INT64_MAX : deadlines_.begin()->first;
}

void Forwarder::MarkInvalidated(const std::string* key) {
  if (key == nullptr) {
    for (auto& [k, f] : inflight_gets_) f.invalidated = true;
    return;
  }
  auto it = inflight_gets_.find(*key);
  if (it != inflight_gets_.end()) it->second.invalidated = true;
}

}  // namespace meshcache::node
