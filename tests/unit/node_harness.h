// The harness for node::Service tests (tests/unit/node_*_test.cc): one
// service on FakePeers, FakeLoadRunner and a ManualClock. Peers join through
// gossip heartbeats; forwards are answered by hand from what FakePeers
// recorded; replies are kept per client routing id.
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fakes/fake_peers.h"
#include "node/service.h"
#include "protocol/codec.h"

namespace meshcache::testing {

using protocol::Op;
using Sent = FakePeers::Sent;

inline const std::string kSelf = "tcp://self:7400";
inline const std::string kA = "tcp://a:7400";
inline const std::string kB = "tcp://b:7400";

inline MemberInfo Member(const std::string& id) {
  return {id, id, id + "/gossip", NodeState::kAlive, 1};
}

// Peers stay alive however long a test's clock runs.
inline NodeOptions Options(uint32_t replicas = 1) {
  NodeOptions o;
  o.replicas = replicas;
  o.suspect_ms = 600'000;
  o.dead_ms = 900'000;
  return o;
}

using Values = std::vector<std::optional<std::string>>;

// One node under test. Clients are told apart by their routing id.
struct Harness {
  // self: the node's own id (another one plays a second node of one mesh).
  explicit Harness(NodeOptions o = Options(), bool with_loader = false,
                   const std::string& self = kSelf)
      : options(std::move(o)),
        service(options, Member(self), peers, with_loader ? &loader : nullptr, &clock,
                [this](net::Frames& envelope, const std::string& body) {
                  replies.emplace_back(std::string(net::View(envelope[0])), body);
                  return true;
                }) {}

  // --- the mesh -------------------------------------------------------------
  void Gossip(protocol::Gossip g) {
    g.seq = ++seq[g.from];
    net::Frames frames;
    frames.push_back(net::Frame(protocol::EncodeGossip(g)));
    service.OnGossipMessage(frames);
  }
  void Heartbeat(const std::string& peer) {
    Gossip({.kind = protocol::Gossip::Kind::kHeartbeat, .from = peer, .members = {Member(peer)}});
  }
  // The peers join; then, unless `warm` is asked for, the clock moves past
  // the hand-off window after a ring change, so a miss is a miss again (not
  // a peek at the key's previous owner). Heartbeats keep the peers' leases.
  void Join(const std::vector<std::string>& ids, bool warm = false) {
    for (const auto& id : ids) Heartbeat(id);
    REQUIRE(service.gossiper().ring()->members().size() == ids.size() + 1);
    if (!warm) PastWarmUp(ids);
  }
  // Past the hand-off window after a ring change: a miss is a miss again.
  void PastWarmUp(const std::vector<std::string>& alive) {
    clock.Advance(options.handoff_ms);
    for (const auto& id : alive) Heartbeat(id);
  }
  void Invalidate(const std::string& owner, const std::string& key) {
    Gossip({.kind = protocol::Gossip::Kind::kInvalidate, .from = owner, .invals = {key}});
  }

  // The first of k0, k1, ... (after `skip` others) whose holders fit.
  std::string KeyWith(const std::function<bool(const std::vector<std::string>&)>& fits,
                      int skip = 0) {
    for (int i = 0; i < 100'000; ++i) {
      std::string key = "k" + std::to_string(i);
      std::vector<std::string> holders;
      for (const std::string* h : service.gossiper().ring()->Holders(key)) holders.push_back(*h);
      if (fits(holders) && skip-- == 0) return key;
    }
    FAIL("no key with the wanted holders");
    return {};
  }
  std::string KeyOwnedBy(const std::string& id, int skip = 0) {
    return KeyWith([&](const auto& h) { return h[0] == id; }, skip);
  }

  // --- clients --------------------------------------------------------------
  void Send(const std::string& client, protocol::Request r) {
    r.id = ++next_id;
    net::Frames frames;
    frames.push_back(net::Frame(client));
    frames.push_back(net::Frame(""));
    frames.push_back(net::Frame(protocol::EncodeRequest(r)));
    service.OnRequest(frames);
  }
  void Get(const std::string& client, const std::string& key) {
    Send(client, {.op = Op::kGet, .keys = {key}});
  }
  void Mget(const std::string& client, std::vector<std::string> keys) {
    Send(client, {.op = Op::kMget, .keys = std::move(keys)});
  }
  void Set(const std::string& client, const std::string& key, const std::string& value) {
    Send(client, {.op = Op::kSet, .keys = {key}, .value = value});
  }
  // A peer's fwd of inner.
  void Forwarded(const std::string& peer, protocol::Request inner, bool replica) {
    Send(peer, {.op = Op::kFwd,
                .from = peer,
                .inner = std::make_shared<const protocol::Request>(std::move(inner)),
                .replica = replica});
  }
  void Del(const std::string& client, const std::string& key) {
    Send(client, {.op = Op::kDel, .keys = {key}});
  }
  // An owner's replica write of inner, stamped `version` (fwd's 6th element).
  void Replica(const std::string& owner, protocol::Request inner, uint64_t version) {
    Send(owner, {.op = Op::kFwd,
                 .from = owner,
                 .inner = std::make_shared<const protocol::Request>(std::move(inner)),
                 .replica = true,
                 .version = version});
  }
  // A peer hands entries to this node.
  void Handoff(const std::string& peer, std::vector<protocol::HandoffEntry> entries) {
    Send(peer, {.op = Op::kHandoff, .from = peer, .entries = std::move(entries)});
  }

  size_t RepliesTo(const std::string& client) const {
    return std::count_if(replies.begin(), replies.end(),
                         [&](const auto& r) { return r.first == client; });
  }
  // The last reply to client, decoded as a reply to op.
  protocol::Reply Last(const std::string& client, Op op) const {
    auto it = std::find_if(replies.rbegin(), replies.rend(),
                           [&](const auto& r) { return r.first == client; });
    REQUIRE(it != replies.rend());
    auto reply = protocol::DecodeReply(it->second, op, node::NodeLimits(options));
    REQUIRE(reply.ok());
    return *reply;
  }
  std::string ValueOf(const std::string& client) const {
    protocol::Reply r = Last(client, Op::kGet);
    REQUIRE(r.status == protocol::ReplyStatus::kOk);
    return r.value;
  }
  int64_t Stat(const std::string& name) {
    Send("stats", {.op = Op::kStats});
    for (const auto& [k, v] : Last("stats", Op::kStats).stats) {
      if (k == name) return std::get<int64_t>(v);
    }
    FAIL("no stat " << name);
    return -1;
  }

  // --- peers answering --------------------------------------------------------
  Sent LastSent(const std::string& peer) const {
    auto sent = peers.SentTo(peer);
    REQUIRE(!sent.empty());
    return sent.back();
  }
  // The handoff batches sent to peer, oldest first.
  std::vector<Sent> HandoffsTo(const std::string& peer) const {
    std::vector<Sent> out;
    for (const Sent& s : peers.SentTo(peer)) {
      if (s.request.op == Op::kHandoff) out.push_back(s);
    }
    return out;
  }
  // A peer's reply: [empty][body].
  void Answer(const std::string& body) {
    net::Frames frames;
    frames.push_back(net::Frame(""));
    frames.push_back(net::Frame(body));
    service.OnPeerMessage(frames);
  }
  // The owner's answer to a forwarded get (with its ttl_left, 0: no expiry).
  void AnswerValue(const Sent& s, const std::string& value) {
    Answer(protocol::EncodeValue(s.id, value, /*ttl_left_ms=*/0));
  }
  bool WasCancelled(const Sent& s) const {
    return std::count(peers.cancelled.begin(), peers.cancelled.end(),
                      std::make_pair(s.endpoint, s.id)) == 1;
  }

  // --- time -------------------------------------------------------------------
  void At(int64_t t) {
    clock.Set(t);
    service.OnTimers(t);
  }
  void PastForwardTimeout() { At(clock.NowMs() + options.forward_timeout_ms); }

  NodeOptions options;
  ManualClock clock;
  FakePeers peers;
  FakeLoadRunner loader;
  std::vector<std::pair<std::string, std::string>> replies;  // (routing id, body)
  std::map<std::string, uint64_t> seq;                       // gossip seq per sender
  uint64_t next_id = 0;
  node::Service service;
};

// What h's store holds for key, asked by peer as a forwarded get (served
// locally whatever the ring says). Needs a harness without a loader, past
// the hand-off window (Join or PastWarmUp), so a miss is a miss.
inline std::optional<std::string> HeldAt(Harness& h, const std::string& peer,
                                         const std::string& key) {
  const size_t before = h.RepliesTo(peer);
  h.Forwarded(peer, {.op = Op::kGet, .keys = {key}}, /*replica=*/false);
  REQUIRE(h.RepliesTo(peer) == before + 1);
  protocol::Reply r = h.Last(peer, Op::kGet);
  if (r.status == protocol::ReplyStatus::kMiss) return std::nullopt;
  REQUIRE(r.status == protocol::ReplyStatus::kOk);
  return r.value;
}

inline bool IsGetOf(const Sent& s, const std::string& key) {
  return s.request.op == Op::kFwd && s.request.inner && s.request.inner->op == Op::kGet &&
         s.request.inner->keys == std::vector<std::string>{key};
}

}  // namespace meshcache::testing
