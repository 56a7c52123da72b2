// What gossip_fuzz and join_fuzz share: a node's Gossiper on FuzzPeers and a
// ManualClock, its timers run as Service::OnTimers runs them, the checks a
// table must pass after any message, and the codec round trips.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fakes.h"
#include "node/gossiper.h"
#include "protocol/codec.h"
#include "util/clock.h"

namespace meshcache::fuzz {

inline const std::string kGossipSelf = "tcp://self:7400";
inline const std::string kGossipSeed = "tcp://seed:7400";

// Small limits reach the limit checks with small inputs; a node's defaults
// check that real settings behave too.
inline protocol::Limits SmallLimits() {
  protocol::Limits l;
  l.max_key_bytes = 16;
  l.max_value_bytes = 64;
  l.max_mget_keys = 4;
  l.max_members = 4;
  l.max_depth = 4;
  return l;
}

// What decodes re-encodes to a body that decodes to the same message.
inline void CheckRequestRoundTrip(const protocol::Request& request,
                                  const protocol::Limits& limits) {
  std::string once = protocol::EncodeRequest(request);
  protocol::DecodedRequest again = protocol::DecodeRequest(once, limits);
  if (!again.status.ok()) Fail("a decoded request re-encodes to a refused body");
  if (protocol::EncodeRequest(again.request) != once) Fail("a request does not round-trip");
}

inline void CheckGossipRoundTrip(const protocol::Gossip& gossip, const protocol::Limits& limits) {
  std::string once = protocol::EncodeGossip(gossip);
  auto again = protocol::DecodeGossip(once, limits);
  if (!again.ok()) Fail("decoded gossip re-encodes to a refused body");
  if (protocol::EncodeGossip(again.value()) != once) Fail("gossip does not round-trip");
}

// A node's Gossiper, started as a lone node or as one joining through
// kGossipSeed.
class GossipNode {
 public:
  explicit GossipNode(bool joining)
      : peers_(limits_),
        gossiper_(
            MemberInfo{kGossipSelf, kGossipSelf, kGossipSelf + "/gossip", NodeState::kAlive, 1},
            Options(joining, limits_), peers_, &clock_, [](LogLevel, const std::string&) {}) {
    gossiper_.Announce();
  }

  node::Gossiper& gossiper() { return gossiper_; }
  const protocol::Limits& limits() const { return limits_; }
  ManualClock& clock() { return clock_; }

  // Time passes and the timers run, as Service::OnTimers runs them. The
  // joins, syncs and probes they ask for must be requests a peer takes.
  void Tick(int64_t ms) {
    clock_.Advance(ms);
    const int64_t now = clock_.NowMs();
    gossiper_.FlushInvalidations();
    std::vector<node::Gossiper::JoinRequest> due;
    for (auto join : {gossiper_.JoinDue(now), gossiper_.SyncDue(now)}) {
      if (join) due.push_back(std::move(*join));
    }
    for (auto& probe : gossiper_.ProbesDue(now)) due.push_back(std::move(probe));
    for (auto& r : due) {
      r.request.id = ++sent_;
      protocol::DecodedRequest d =
          protocol::DecodeRequest(protocol::EncodeRequest(r.request), limits_);
      if (!d.status.ok()) Fail("gossiper asks for a request a peer refuses: " + d.status.message());
    }
    (void)gossiper_.OnTimer(now);
  }

  // After any message: this node is alive in its own table, at an
  // incarnation that never went down, and on its own ring; the table is
  // sorted, without duplicates, its epoch never went down, and the ring is
  // built from it; the table a joiner would get decodes.
  void Check() {
    const Membership& m = gossiper_.membership();
    const MemberInfo& self = m.self();
    if (self.state != NodeState::kAlive) {
      Fail(std::string("node is ") + NodeStateName(self.state) + " in its own table");
    }
    if (self.incarnation < incarnation_) Fail("node's own incarnation went down");
    incarnation_ = self.incarnation;
    if (m.epoch() < epoch_) Fail("membership epoch went down");
    epoch_ = m.epoch();
    const std::vector<MemberInfo> table = m.Snapshot();
    if (table.size() != m.size()) Fail("snapshot and table differ in size");
    for (size_t i = 1; i < table.size(); ++i) {
      if (!(table[i - 1].id < table[i].id)) Fail("snapshot not sorted by id, or an id twice");
    }
    const Ring& ring = *gossiper_.ring();
    if (ring.epoch() != m.epoch()) Fail("ring built from another epoch than the table's");
    const MemberInfo* on_ring = ring.Find(kGossipSelf);
    if (on_ring == nullptr || !OnRing(on_ring->state)) Fail("node is not on its own ring");
    auto answer =
        protocol::DecodeReply(protocol::EncodeMembers(1, table), protocol::Op::kJoin, limits_);
    if (!answer.ok()) Fail("a joiner would refuse this table: " + answer.status().message());
  }

 private:
  static node::GossipOptions Options(bool joining, const protocol::Limits& limits) {
    node::GossipOptions o;
    o.ring.vnodes = 16;  // ring builds stay cheap
    o.membership.suspect_ms = 1500;
    o.membership.dead_ms = 3000;
    o.membership.forget_ms = 20000;
    if (joining) o.join = {kGossipSeed};
    o.limits = limits;
    return o;
  }

  ManualClock clock_;
  const protocol::Limits limits_;
  FuzzPeers peers_;
  node::Gossiper gossiper_;
  uint64_t sent_ = 0;
  uint64_t incarnation_ = 0;
  uint64_t epoch_ = 0;
};

}  // namespace meshcache::fuzz
