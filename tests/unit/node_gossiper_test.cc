// Gossiper alone, over FakePeers and a manual clock: heartbeat every 500 ms,
// suspect after 1500 ms, dead after 3000 ms (the defaults).
#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "fakes/fake_peers.h"
#include "node/gossiper.h"
#include "util/hash.h"

using namespace meshcache;
using node::Gossiper;
using protocol::Gossip;

namespace {

constexpr NodeState kAlive = NodeState::kAlive;

MemberInfo Peer(const std::string& id, NodeState state = kAlive, uint64_t incarnation = 10) {
  return {id, id, id + "/gossip", state, incarnation};
}

const std::string kSelf = "self";

net::Frames Frames(const Gossip& g) {
  net::Frames f;
  f.push_back(net::Frame(protocol::EncodeGossip(g)));
  return f;
}

net::Frames Heartbeat(const std::string& from, uint64_t seq, std::vector<MemberInfo> members,
                      std::vector<std::string> invals = {}) {
  Gossip g;
  g.kind = Gossip::Kind::kHeartbeat;
  g.from = from;
  g.seq = seq;
  g.members = std::move(members);
  g.invals = std::move(invals);
  return Frames(g);
}

net::Frames Inv(const std::string& from, uint64_t seq, std::vector<std::string> invals,
                bool overflow = false) {
  Gossip g;
  g.kind = Gossip::Kind::kInvalidate;
  g.from = from;
  g.seq = seq;
  g.invals = std::move(invals);
  g.invals_overflow = overflow;
  return Frames(g);
}

const MemberInfo* Entry(const Gossip& g, const std::string& id) {
  for (const auto& m : g.members) {
    if (m.id == id) return &m;
  }
  return nullptr;
}

// "self" at incarnation 100, starting a mesh unless seeds are given.
struct Node {
  explicit Node(std::vector<std::string> seeds = {})
      : gossiper(Peer(kSelf, kAlive, 100), Options(std::move(seeds)), peers, &clock, nullptr) {}
  static node::GossipOptions Options(std::vector<std::string> seeds) {
    node::GossipOptions o;
    o.join = std::move(seeds);
    return o;
  }
  // Moves the clock to t and runs the timer.
  bool TimerAt(int64_t t) {
    clock.Set(t);
    return gossiper.OnTimer(t);
  }
  const Gossip& Last() const {
    REQUIRE_FALSE(peers.published.empty());
    return peers.published.back();
  }

  testing::FakePeers peers;
  ManualClock clock{0};
  Gossiper gossiper;
};

}  // namespace

TEST_CASE("gossiper heartbeats every heartbeat_ms", "[node][gossiper]") {
  Node n;
  CHECK(n.gossiper.NextWakeMs() == 500);
  CHECK_FALSE(n.TimerAt(499));
  CHECK(n.peers.published.empty());
  CHECK(n.TimerAt(500));
  CHECK(n.peers.published.size() == 1);
  CHECK(n.gossiper.NextWakeMs() == 1000);
  CHECK_FALSE(n.TimerAt(999));
  CHECK(n.TimerAt(1000));
  REQUIRE(n.peers.published.size() == 2);
  CHECK(n.peers.published[1].seq == n.peers.published[0].seq + 1);
}

TEST_CASE(
    "gossiper heartbeat carries its entry, the changed ones, its digest and the invalidations",
    "[node][gossiper]") {
  Node n;
  (void)n.gossiper.OnMessage(Heartbeat("b", 1, {Peer("b")}));
  n.gossiper.Invalidate("k1");
  n.gossiper.Invalidate("k2");
  REQUIRE(n.TimerAt(500));
  const Gossip& first = n.Last();
  CHECK(first.kind == Gossip::Kind::kHeartbeat);
  CHECK(first.from == kSelf);
  CHECK(first.members.size() == 2);
  CHECK(Entry(first, "b") != nullptr);
  REQUIRE(Entry(first, kSelf) != nullptr);
  CHECK(Entry(first, kSelf)->incarnation == 100);
  CHECK(first.digest == n.gossiper.membership().Digest());
  CHECK(first.invals == std::vector<std::string>{"k1", "k2"});
  CHECK_FALSE(first.invals_overflow);

  n.gossiper.Invalidate("k3");
  REQUIRE(n.TimerAt(1000));
  CHECK(n.Last().invals == std::vector<std::string>{"k3"});
  REQUIRE(n.TimerAt(1500));
  CHECK(n.Last().invals.empty());
}

TEST_CASE("gossiper flushes the pending invalidations as one inv", "[node][gossiper]") {
  Node n;
  n.gossiper.FlushInvalidations();
  CHECK(n.peers.published.empty());  // nothing pending: nothing sent

  n.gossiper.Invalidate("a");
  n.gossiper.Invalidate("b");
  n.gossiper.FlushInvalidations();
  REQUIRE(n.peers.published.size() == 1);
  CHECK(n.Last().kind == Gossip::Kind::kInvalidate);
  CHECK(n.Last().from == kSelf);
  CHECK(n.Last().invals == std::vector<std::string>{"a", "b"});
  n.gossiper.FlushInvalidations();
  CHECK(n.peers.published.size() == 1);

  REQUIRE(n.TimerAt(500));  // the heartbeat repeats them
  CHECK(n.Last().invals == std::vector<std::string>{"a", "b"});
}

TEST_CASE("gossiper heartbeat says overflow past 1024 invalidations", "[node][gossiper]") {
  Node n;
  for (int i = 0; i < 1024; ++i) n.gossiper.Invalidate("k" + std::to_string(i));
  REQUIRE(n.TimerAt(500));
  CHECK_FALSE(n.Last().invals_overflow);
  CHECK(n.Last().invals.size() == 1024);

  for (int i = 0; i < 1025; ++i) n.gossiper.Invalidate("k" + std::to_string(i));
  REQUIRE(n.TimerAt(1000));
  CHECK(n.Last().invals_overflow);
  CHECK(n.Last().invals.empty());

  n.gossiper.Invalidate("one");
  REQUIRE(n.TimerAt(1500));  // the overflow is reported once
  CHECK_FALSE(n.Last().invals_overflow);
  CHECK(n.Last().invals == std::vector<std::string>{"one"});
}

TEST_CASE("gossiper sets drop_all on a sequence gap from a sender", "[node][gossiper]") {
  Node n;
  (void)n.gossiper.OnMessage(Heartbeat("b", 1, {Peer("b"), Peer("c")}));  // members now
  Gossiper::Received r = n.gossiper.OnMessage(Inv("b", 1, {"x"}));
  CHECK_FALSE(r.drop_all);
  CHECK(r.invalidated == std::vector<std::string>{"x"});
  CHECK_FALSE(n.gossiper.OnMessage(Inv("b", 2, {"y"})).drop_all);
  CHECK_FALSE(n.gossiper.OnMessage(Inv("c", 7, {"z"})).drop_all);  // c's first: no gap
  CHECK(n.gossiper.stats().gaps == 0);

  r = n.gossiper.OnMessage(Inv("b", 4, {"w"}));
  CHECK(r.drop_all);
  CHECK(r.invalidated == std::vector<std::string>{"w"});
  CHECK(n.gossiper.stats().gaps == 1);
  CHECK_FALSE(n.gossiper.OnMessage(Inv("b", 5, {})).drop_all);
  CHECK_FALSE(n.gossiper.OnMessage(Inv("c", 8, {})).drop_all);
  CHECK(n.gossiper.stats().gaps == 1);
  CHECK(n.gossiper.stats().received == 7);
}

TEST_CASE("gossiper follows the sequence of members only", "[node][gossiper]") {
  Node n;
  // Made-up senders would grow the table of sequences without bound.
  Gossiper::Received r = n.gossiper.OnMessage(Inv("nobody", 1, {"x"}));
  CHECK(r.invalidated == std::vector<std::string>{"x"});  // still applied
  CHECK_FALSE(n.gossiper.OnMessage(Inv("nobody", 5, {})).drop_all);
  CHECK(n.gossiper.stats().gaps == 0);
}

TEST_CASE("gossiper sets drop_all for a sender's overflow", "[node][gossiper]") {
  Node n;
  Gossiper::Received r = n.gossiper.OnMessage(Inv("b", 1, {}, /*overflow=*/true));
  CHECK(r.drop_all);
  CHECK(r.invalidated.empty());
  CHECK(n.gossiper.stats().gaps == 0);
}

TEST_CASE("gossiper reports a heartbeat's invalidated keys", "[node][gossiper]") {
  Node n;
  Gossiper::Received r = n.gossiper.OnMessage(Heartbeat("b", 1, {Peer("b")}, {"k"}));
  CHECK_FALSE(r.drop_all);
  CHECK(r.invalidated == std::vector<std::string>{"k"});
}

TEST_CASE("gossiper adds a new peer to the ring and follows it", "[node][gossiper]") {
  Node n;
  CHECK(n.gossiper.ring()->members().size() == 1);
  CHECK(n.peers.followed.empty());
  (void)n.gossiper.OnMessage(Heartbeat("b", 1, {Peer("b"), Peer("c")}));
  const auto& ring = n.gossiper.ring();
  CHECK(ring->members().size() == 3);
  CHECK(ring->Find("b") != nullptr);
  CHECK(ring->nodes_on_ring() == 3);
  CHECK(ring->epoch() == n.gossiper.membership().epoch());
  CHECK(n.peers.followed == std::vector<MemberInfo>{Peer("b"), Peer("c")});  // self excluded
}

TEST_CASE("gossiper refutes gossip that calls this node dead, at once", "[node][gossiper]") {
  Node n;
  (void)n.gossiper.OnMessage(Heartbeat("b", 1, {Peer("b"), Peer(kSelf, NodeState::kDead, 100)}));
  CHECK(n.gossiper.membership().self().incarnation == 101);
  CHECK(n.gossiper.membership().self().state == kAlive);
  REQUIRE(n.peers.published.size() == 1);  // without waiting for the timer
  const MemberInfo* self = Entry(n.Last(), kSelf);
  REQUIRE(self != nullptr);
  CHECK(self->state == kAlive);
  CHECK(self->incarnation == 101);

  SECTION("stale gossip about this node is not refuted") {
    (void)n.gossiper.OnMessage(Heartbeat("b", 2, {Peer("b"), Peer(kSelf, NodeState::kDead, 100)}));
    CHECK(n.gossiper.membership().self().incarnation == 101);
    CHECK(n.peers.published.size() == 1);
  }
}

TEST_CASE("gossiper tries the join seeds in turn with doubling backoff", "[node][gossiper]") {
  const std::vector<std::string> seeds = {"s1", "s2"};
  Node n(seeds);
  CHECK_FALSE(n.gossiper.joined());
  auto join = n.gossiper.JoinDue(0);
  REQUIRE(join);
  CHECK(join->seed == "s1");
  CHECK(join->request.op == protocol::Op::kJoin);
  CHECK(join->request.member == Peer(kSelf, kAlive, 100));

  CHECK(n.gossiper.NextWakeMs() == 100);  // the next attempt, before the first heartbeat

  int64_t t = 0;
  size_t attempt = 1;
  for (int64_t gap : {100, 200, 400, 800, 1600, 3200, 5000, 5000}) {
    INFO("attempt " << attempt << " expected " << gap << " ms after the previous one");
    CHECK_FALSE(n.gossiper.JoinDue(t + gap - 1));
    t += gap;
    join = n.gossiper.JoinDue(t);
    REQUIRE(join);
    CHECK(join->seed == seeds[attempt % 2]);
    ++attempt;
  }
}

TEST_CASE("gossiper stops joining once joined", "[node][gossiper]") {
  Node n({"s1"});
  REQUIRE(n.gossiper.JoinDue(0));
  n.gossiper.OnJoined({Peer("s1"), Peer("s2")}, "s1");
  CHECK(n.gossiper.joined());
  CHECK_FALSE(n.gossiper.JoinDue(100));
  CHECK_FALSE(n.gossiper.JoinDue(100'000));
  CHECK(n.gossiper.NextWakeMs() == 500);
  CHECK(n.gossiper.membership().Find("s2") != nullptr);
  REQUIRE(n.peers.published.size() == 1);  // announced at once
  CHECK(n.Last().members.size() == 3);
}

TEST_CASE("gossiper with seeds rejoins when every peer is gone", "[node][gossiper]") {
  Node n({"s1"});
  REQUIRE(n.gossiper.JoinDue(0));
  CHECK_FALSE(n.gossiper.JoinDue(50));
  n.gossiper.OnJoined({Peer("s1")}, "s1");
  REQUIRE(n.TimerAt(500));
  REQUIRE(n.TimerAt(1000));
  CHECK(n.gossiper.joined());
  REQUIRE(n.TimerAt(1500));  // s1 silent for suspect_ms: no alive peer left
  CHECK_FALSE(n.gossiper.joined());
  auto join = n.gossiper.JoinDue(1500);
  REQUIRE(join);
  CHECK(join->seed == "s1");
  CHECK_FALSE(n.gossiper.JoinDue(1599));  // the backoff starts over at 100 ms
  CHECK(n.gossiper.JoinDue(1600));
}

TEST_CASE("gossiper without seeds never rejoins", "[node][gossiper]") {
  Node n;
  (void)n.gossiper.OnMessage(Heartbeat("b", 1, {Peer("b")}));
  for (int64_t t = 500; t <= 5000; t += 500) REQUIRE(n.TimerAt(t));
  CHECK(n.gossiper.membership().Find("b")->info.state == NodeState::kDead);
  CHECK(n.gossiper.joined());
  CHECK_FALSE(n.gossiper.JoinDue(5000));
}

TEST_CASE("gossiper answers a join request with the table including the joiner",
          "[node][gossiper]") {
  Node n;
  std::vector<MemberInfo> table = n.gossiper.OnJoinRequest(Peer("j"));
  REQUIRE(table.size() == 2);
  CHECK(table[0] == Peer("j"));
  CHECK(table[1] == Peer(kSelf, kAlive, 100));
  CHECK(n.peers.followed == std::vector<MemberInfo>{Peer("j")});
}

TEST_CASE("gossiper Leave publishes this node left", "[node][gossiper]") {
  Node n;
  n.gossiper.Leave();
  REQUIRE(n.peers.published.size() == 1);
  CHECK(n.Last().kind == Gossip::Kind::kHeartbeat);
  const MemberInfo* self = Entry(n.Last(), kSelf);
  REQUIRE(self != nullptr);
  CHECK(self->state == NodeState::kLeft);
  CHECK(n.gossiper.membership().self().state == NodeState::kLeft);
}

TEST_CASE("gossiper counts undecodable gossip as bad and drops it", "[node][gossiper]") {
  Node n;
  net::Frames garbage;
  garbage.push_back(net::Frame("not msgpack at all"));
  Gossiper::Received r = n.gossiper.OnMessage(garbage);
  CHECK_FALSE(r.drop_all);
  CHECK(r.invalidated.empty());
  CHECK(n.gossiper.stats().bad == 1);

  net::Frames two = Inv("b", 1, {"k"});
  two.push_back(net::Frame("extra"));
  r = n.gossiper.OnMessage(two);
  CHECK(r.invalidated.empty());
  CHECK(n.gossiper.stats().bad == 2);

  (void)n.gossiper.OnMessage(Inv("b", 1, {"k"}));
  CHECK(n.gossiper.stats().bad == 2);
  CHECK(n.gossiper.stats().received == 3);
}

TEST_CASE("gossiper ignores its own gossip", "[node][gossiper]") {
  Node n;
  Gossiper::Received r = n.gossiper.OnMessage(Inv(kSelf, 1, {"k"}, true));
  CHECK_FALSE(r.drop_all);
  CHECK(r.invalidated.empty());
}

// ---- a stalled node ---------------------------------------------------------------------

namespace {

NodeState StateOf(const Node& n, const std::string& id) {
  const MemberEntry* e = n.gossiper.membership().Find(id);
  REQUIRE(e != nullptr);
  return e->info.state;
}

}  // namespace

TEST_CASE("gossiper on a normal schedule declares a silent peer suspect, then dead",
          "[node][gossiper]") {
  Node n;
  (void)n.gossiper.OnMessage(Heartbeat("b", 1, {Peer("b")}));  // heard at 0
  for (int64_t t = 500; t <= 1000; t += 500) REQUIRE(n.TimerAt(t));
  CHECK(StateOf(n, "b") == kAlive);
  REQUIRE(n.TimerAt(1500));  // silent for suspect_ms
  CHECK(StateOf(n, "b") == NodeState::kSuspect);
  for (int64_t t = 2000; t <= 2500; t += 500) REQUIRE(n.TimerAt(t));
  CHECK(StateOf(n, "b") == NodeState::kSuspect);
  REQUIRE(n.TimerAt(3000));  // silent for dead_ms
  CHECK(StateOf(n, "b") == NodeState::kDead);
}

TEST_CASE("gossiper whose timer fires a suspicion late restarts its peers' timers",
          "[node][gossiper]") {
  Node n;
  (void)n.gossiper.OnMessage(Heartbeat("b", 1, {Peer("b")}));  // heard at 0
  REQUIRE(n.TimerAt(500));                                     // next heartbeat due at 1000
  const uint64_t epoch = n.gossiper.membership().epoch();
  REQUIRE(n.TimerAt(6000));  // stalled 5 s, past dead_ms: it heard nobody, being stopped
  CHECK(StateOf(n, "b") == kAlive);
  CHECK(n.gossiper.membership().epoch() == epoch);
  CHECK(n.peers.published.size() == 2);  // the late heartbeat still goes out
  // From then on b's timers run from the wake-up: suspect 1500 ms later, dead 3000.
  for (int64_t t = 6500; t <= 7000; t += 500) REQUIRE(n.TimerAt(t));
  CHECK(StateOf(n, "b") == kAlive);
  REQUIRE(n.TimerAt(7500));
  CHECK(StateOf(n, "b") == NodeState::kSuspect);
  for (int64_t t = 8000; t <= 9000; t += 500) REQUIRE(n.TimerAt(t));
  CHECK(StateOf(n, "b") == NodeState::kDead);
}

TEST_CASE("gossiper whose timer fires less than a suspicion late still declares suspects",
          "[node][gossiper]") {
  Node n;
  (void)n.gossiper.OnMessage(Heartbeat("b", 1, {Peer("b")}));
  REQUIRE(n.TimerAt(500));   // next heartbeat due at 1000
  REQUIRE(n.TimerAt(2499));  // 1499 ms late: not a stall; b silent for 2499 ms
  CHECK(StateOf(n, "b") == NodeState::kSuspect);
}

TEST_CASE("gossiper whose timer fires exactly a suspicion late counts as stalled",
          "[node][gossiper]") {
  Node n;
  (void)n.gossiper.OnMessage(Heartbeat("b", 1, {Peer("b")}));
  REQUIRE(n.TimerAt(500));
  REQUIRE(n.TimerAt(2500));  // 1500 ms late
  CHECK(StateOf(n, "b") == kAlive);
}

// ---- small heartbeats, digests and syncs (push-pull) -------------------------

namespace {

// Heartbeats until the next one no longer carries id; returns how many did.
// Every member of live heartbeats before each, so no timer changes them.
int HeartbeatsCarrying(Node& n, const std::string& id, int64_t& t,
                       const std::vector<MemberInfo>& live) {
  int carried = 0;
  for (;; ++carried) {
    t += 500;
    for (const MemberInfo& m : live) (void)n.gossiper.OnMessage(Heartbeat(m.id, 0, {m}));
    REQUIRE(n.TimerAt(t));
    if (Entry(n.Last(), id) == nullptr) return carried;
    REQUIRE(carried < 100);
  }
}

net::Frames HeartbeatWithDigest(const std::string& from, uint64_t seq, uint32_t digest) {
  Gossip g;
  g.from = from;
  g.seq = seq;
  g.members = {Peer(from)};
  g.digest = digest;
  return Frames(g);
}

}  // namespace

TEST_CASE("gossiper carries a change in 3 x log2(N + 1) heartbeats, then only its own entry",
          "[node][gossiper]") {
  Node n;
  int64_t t = 0;
  (void)n.gossiper.OnMessage(Heartbeat("b", 1, {Peer("b")}));  // N = 2: 3 x ceil(log2 3) = 6
  CHECK(HeartbeatsCarrying(n, "b", t, {Peer("b")}) == 6);
  CHECK(n.Last().members == std::vector<MemberInfo>{Peer(kSelf, kAlive, 100)});
  // Seven more members (N = 9: 3 x ceil(log2 10) = 12); a change to b
  // starts b's count again.
  std::vector<MemberInfo> live;
  for (const char* id : {"c", "d", "e", "f", "g", "h", "i"}) live.push_back(Peer(id));
  for (const MemberInfo& m : live) (void)n.gossiper.OnMessage(Heartbeat(m.id, 1, {m}));
  (void)n.gossiper.OnMessage(Heartbeat("b", 2, {Peer("b", kAlive, 11)}));
  CHECK(n.gossiper.membership().Find("b")->info.incarnation == 11);  // no listing change
  (void)n.gossiper.OnMessage(Heartbeat("c", 2, {Peer("b", NodeState::kLeft, 11)}));
  CHECK(HeartbeatsCarrying(n, "b", t, live) == 12);
}

TEST_CASE("gossiper heartbeat carries at most 16 changed entries besides its own",
          "[node][gossiper]") {
  Node n;
  for (int i = 0; i < 40; ++i) {
    const std::string id = "m" + std::to_string(i);
    (void)n.gossiper.OnMessage(Heartbeat(id, 1, {Peer(id)}));
  }
  REQUIRE(n.TimerAt(500));
  CHECK(n.Last().members.size() == 17);
  CHECK(n.Last().members[0].id == kSelf);
}

TEST_CASE("gossiper syncs with a heartbeat's sender whose digest differs, at most once a beat",
          "[node][gossiper]") {
  Node n;
  (void)n.gossiper.OnMessage(Heartbeat("b", 1, {Peer("b")}));
  const uint32_t same = n.gossiper.membership().Digest();
  (void)n.gossiper.OnMessage(HeartbeatWithDigest("b", 2, same));
  CHECK_FALSE(n.gossiper.SyncDue(0));
  (void)n.gossiper.OnMessage(HeartbeatWithDigest("b", 3, same ^ 1));
  CHECK(n.gossiper.NextWakeMs() == 0);  // due now
  std::optional<Gossiper::JoinRequest> sync = n.gossiper.SyncDue(0);
  REQUIRE(sync);
  CHECK(sync->seed == "b");  // b's service endpoint
  CHECK(sync->request.op == protocol::Op::kJoin);
  CHECK(sync->request.member.id == kSelf);
  CHECK(sync->request.members == n.gossiper.membership().Snapshot());
  (void)n.gossiper.OnMessage(HeartbeatWithDigest("b", 4, same ^ 1));
  CHECK_FALSE(n.gossiper.SyncDue(499));  // one per heartbeat interval
  CHECK(n.gossiper.SyncDue(500));
}

TEST_CASE("gossiper syncs with a sender it holds dead, which learns it so and refutes",
          "[node][gossiper]") {
  Node n;
  (void)n.gossiper.OnMessage(Heartbeat("b", 1, {Peer("b")}));
  n.clock.Set(2000);  // b silent past suspect_ms: hearsay of its death is taken
  (void)n.gossiper.OnMessage(Heartbeat("c", 1, {Peer("c"), Peer("b", NodeState::kDead)}));
  REQUIRE(n.gossiper.membership().Find("b")->info.state == NodeState::kDead);
  (void)n.gossiper.OnMessage(HeartbeatWithDigest("b", 2, 12345));
  std::optional<Gossiper::JoinRequest> sync = n.gossiper.SyncDue(2000);
  REQUIRE(sync);
  CHECK(sync->seed == "b");

  // The other side: b gets this table, with b dead in it, and refutes.
  Node b;
  const size_t before = b.peers.published.size();
  std::vector<MemberInfo> answer =
      b.gossiper.OnJoinRequest(Peer("x"), {Peer("x"), Peer(kSelf, NodeState::kDead, 100)});
  CHECK(b.gossiper.membership().self().incarnation == 101);
  CHECK(b.peers.published.size() == before + 1);  // announced at once
  CHECK(b.gossiper.membership().Find("x") != nullptr);
  CHECK(answer.size() == 2);
}

TEST_CASE("gossiper syncs first with a sender it holds dead or suspect, whatever others say",
          "[node][gossiper]") {
  Node n;
  for (const char* id : {"b", "c", "d"}) (void)n.gossiper.OnMessage(Heartbeat(id, 1, {Peer(id)}));
  n.clock.Set(2000);  // b silent past suspect_ms: hearsay of its death is taken
  (void)n.gossiper.OnMessage(Heartbeat("c", 2, {Peer("c"), Peer("b", NodeState::kDead)}));
  REQUIRE(n.gossiper.membership().Find("b")->info.state == NodeState::kDead);
  // The cut heals: c and d, which never held b dead, differ too, and their
  // heartbeats come after b's, before and after each sync.
  for (int64_t t = 2000, seq = 3; t < 4000; t += 500, ++seq) {
    (void)n.gossiper.OnMessage(HeartbeatWithDigest("c", seq, 111));
    (void)n.gossiper.OnMessage(HeartbeatWithDigest("b", seq - 1, 222));
    (void)n.gossiper.OnMessage(HeartbeatWithDigest("d", seq - 1, 333));
    (void)n.gossiper.OnMessage(HeartbeatWithDigest("c", seq, 111));
    std::optional<Gossiper::JoinRequest> sync = n.gossiper.SyncDue(t);
    REQUIRE(sync);
    CHECK(sync->seed == "b");
  }
  // Once b is alive again (it refuted), a differing digest is synced with
  // whoever sent one first.
  (void)n.gossiper.OnMessage(Heartbeat("c", 20, {Peer("c"), Peer("b", kAlive, 11)}));
  REQUIRE(n.gossiper.membership().Find("b")->info.state == kAlive);
  (void)n.gossiper.OnMessage(HeartbeatWithDigest("d", 20, 333));
  (void)n.gossiper.OnMessage(HeartbeatWithDigest("b", 20, 222));
  std::optional<Gossiper::JoinRequest> sync = n.gossiper.SyncDue(4000);
  REQUIRE(sync);
  CHECK(sync->seed == "d");
}

TEST_CASE("gossiper syncs with each alive member in turn every sync_every heartbeats",
          "[node][gossiper]") {
  Node n;
  for (const char* id : {"b", "c"}) (void)n.gossiper.OnMessage(Heartbeat(id, 1, {Peer(id)}));
  std::vector<std::string> synced;
  for (int64_t t = 500; t <= 30 * 500; t += 500) {
    (void)n.TimerAt(t);
    if (auto sync = n.gossiper.SyncDue(t)) synced.push_back(sync->seed);
    (void)n.gossiper.OnMessage(Heartbeat("b", 2 + t / 500, {Peer("b")}));
    (void)n.gossiper.OnMessage(Heartbeat("c", 2 + t / 500, {Peer("c")}));
  }
  REQUIRE(synced.size() == 3);  // in turn: b and c alternate, from where self's hash says
  CHECK(synced[0] != synced[1]);
  CHECK(synced[2] == synced[0]);
  const size_t start = Xxh32(kSelf) % 2;
  CHECK(synced[0] == (start == 0 ? "b" : "c"));
}

TEST_CASE("gossiper merges a sync's answer and refutes what it says of this node",
          "[node][gossiper]") {
  Node n;
  n.gossiper.OnSynced({Peer("b"), Peer(kSelf, NodeState::kSuspect, 100)}, "b");
  CHECK(n.gossiper.membership().Find("b") != nullptr);
  CHECK(n.gossiper.membership().self().incarnation == 101);
}

// ---- watching a few members' heartbeats --------------------------------------

namespace {

std::vector<MemberInfo> Peers(int n) {
  std::vector<MemberInfo> out;
  for (int i = 0; i < n; ++i) out.push_back(Peer("m" + std::to_string(i)));
  return out;
}

}  // namespace

TEST_CASE("gossiper hears every member's heartbeats in a mesh of up to 5", "[node][gossiper]") {
  Node n;
  n.gossiper.OnSynced(Peers(4), "b");
  CHECK(n.peers.listened.size() == 4);
}

TEST_CASE("gossiper in a larger mesh hears and judges 4 members, each watched by 2 or more",
          "[node][gossiper]") {
  const std::vector<MemberInfo> all = Peers(20);
  std::map<std::string, int> watchers;
  for (const MemberInfo& me : all) {
    testing::FakePeers peers;
    ManualClock clock{0};
    Gossiper g(me, node::GossipOptions{}, peers, &clock, nullptr);
    g.OnSynced(all, "b");
    REQUIRE(peers.listened.size() == 4);
    for (const std::string& id : peers.listened) {
      CHECK(id != me.id);
      ++watchers[id];
    }
  }
  REQUIRE(watchers.size() == all.size());
  for (const auto& [id, count] : watchers) CHECK(count >= 2);
}

TEST_CASE("gossiper lets its timers judge only the members it watches", "[node][gossiper]") {
  Node n;
  n.gossiper.OnSynced(Peers(10), "b");
  const std::vector<std::string> watched = n.peers.listened;
  REQUIRE(watched.size() == 4);
  // All silent till an unconfirmed suspicion runs out: in a table of 11,
  // log10(11) x the window after suspect_ms (Lifeguard), just over dead_ms.
  const int64_t dead_after = n.gossiper.membership().DeadAfterMs(0);
  REQUIRE(dead_after == 1500 + 1563);  // 1500 x log10(11), rounded up
  for (int64_t t = 500; t < dead_after + 500; t += 500) REQUIRE(n.TimerAt(t));
  for (const MemberInfo& m : Peers(10)) {
    const bool is_watched = std::find(watched.begin(), watched.end(), m.id) != watched.end();
    CHECK(n.gossiper.membership().Find(m.id)->info.state ==
          (is_watched ? NodeState::kDead : kAlive));
  }
  // The dead ones' places go to others, whose timers start now; the dead
  // are still heard (in case they are back).
  CHECK(n.peers.listened.size() == 8);
  size_t alive = 0;
  for (const std::string& id : n.peers.listened) {
    const bool was_watched = std::find(watched.begin(), watched.end(), id) != watched.end();
    const NodeState state = n.gossiper.membership().Find(id)->info.state;
    CHECK(state == (was_watched ? NodeState::kDead : kAlive));
    alive += state == kAlive;
  }
  CHECK(alive == 4);
}

TEST_CASE("gossiper hears the owners of its hot copies until they leave the table",
          "[node][gossiper]") {
  Node n;
  n.gossiper.OnSynced(Peers(10), "b");
  std::vector<std::string> watched = n.peers.listened;
  std::string owner;
  for (const MemberInfo& m : Peers(10)) {
    if (std::find(watched.begin(), watched.end(), m.id) == watched.end()) owner = m.id;
  }
  n.gossiper.HearOwner(owner);
  CHECK(n.peers.listened.size() == 5);
  CHECK(std::find(n.peers.listened.begin(), n.peers.listened.end(), owner) !=
        n.peers.listened.end());
  n.gossiper.OnSynced({Peer(owner, NodeState::kLeft, 10)}, "b");
  n.clock.Set(60'000);  // forgotten at the next tick
  REQUIRE(n.TimerAt(60'000));
  CHECK(n.gossiper.membership().Find(owner) == nullptr);
  CHECK(std::find(n.peers.listened.begin(), n.peers.listened.end(), owner) ==
        n.peers.listened.end());
}

TEST_CASE("gossiper sends a change out within 10 ms, not at the next beat, 100 ms apart at most",
          "[node][gossiper]") {
  Node n;
  REQUIRE(n.TimerAt(500));
  const size_t before = n.peers.published.size();
  n.clock.Set(700);
  (void)n.gossiper.OnMessage(Heartbeat("b", 1, {Peer("b")}));
  CHECK(n.gossiper.NextWakeMs() == 710);
  CHECK_FALSE(n.TimerAt(709));
  CHECK(n.TimerAt(710));
  REQUIRE(n.peers.published.size() == before + 1);
  CHECK(Entry(n.Last(), "b") != nullptr);
  CHECK(n.gossiper.NextWakeMs() == 1210);
  // The next change comes 5 ms later: it waits until 100 ms after the last.
  n.clock.Set(715);
  (void)n.gossiper.OnMessage(Heartbeat("c", 1, {Peer("c")}));
  CHECK(n.gossiper.NextWakeMs() == 810);
  CHECK(n.TimerAt(810));
  CHECK(Entry(n.Last(), "c") != nullptr);
}

TEST_CASE("gossiper hears a member it holds dead, to sync with it if it is back",
          "[node][gossiper]") {
  Node n;
  n.gossiper.OnSynced(Peers(10), "b");
  n.gossiper.OnSynced({Peer("m3", NodeState::kDead)}, "b");
  const std::vector<std::string>& heard = n.peers.listened;
  CHECK(std::find(heard.begin(), heard.end(), "m3") != heard.end());
  (void)n.gossiper.OnMessage(HeartbeatWithDigest("m3", 1, 42));
  std::optional<Gossiper::JoinRequest> sync = n.gossiper.SyncDue(0);
  REQUIRE(sync);
  CHECK(sync->seed == "m3");
}

TEST_CASE("gossiper connects afresh to a listened member silent for suspect_ms",
          "[node][gossiper]") {
  Node n;  // suspect_ms 1500
  for (const char* id : {"b", "c"}) (void)n.gossiper.OnMessage(Heartbeat(id, 1, {Peer(id)}));
  for (int64_t t = 500; t <= 1000; t += 500) {
    (void)n.gossiper.OnMessage(Heartbeat("b", 1 + t / 500, {Peer("b")}));
    REQUIRE(n.TimerAt(t));
  }
  CHECK(n.peers.refreshed.empty());  // c silent for 1000 ms
  REQUIRE(n.TimerAt(1500));
  CHECK(n.peers.refreshed == std::vector<std::string>{"c"});
  REQUIRE(n.TimerAt(2000));  // b silent since 1000; c not again before 3000
  REQUIRE(n.TimerAt(2500));
  CHECK(n.peers.refreshed == std::vector<std::string>{"c", "b"});
  (void)n.gossiper.OnMessage(Heartbeat("c", 2, {Peer("c")}));  // c is back
  REQUIRE(n.TimerAt(3000));
  CHECK(n.peers.refreshed.size() == 2);
}

// ---- probes: a silent member is asked before it is suspected -----------------

namespace {

// A mesh of self and b, c, d (all watched), each heard at 0.
Node& Mesh4(Node& n) {
  for (const char* id : {"b", "c", "d"}) (void)n.gossiper.OnMessage(Heartbeat(id, 1, {Peer(id)}));
  return n;
}

// c and d go on beating at t; b stays silent.
void OthersBeat(Node& n, int64_t t, uint64_t seq) {
  n.clock.Set(t);
  for (const char* id : {"c", "d"}) (void)n.gossiper.OnMessage(Heartbeat(id, seq, {Peer(id)}));
}

}  // namespace

TEST_CASE("gossiper probes a watched member silent for suspect_ms / 2, once per silence",
          "[node][gossiper]") {
  Node n;
  Mesh4(n);
  REQUIRE(n.TimerAt(10));   // the joins' change
  REQUIRE(n.TimerAt(510));  // the next beat is at 1010
  OthersBeat(n, 749, 2);
  CHECK(n.gossiper.ProbesDue(749).empty());
  CHECK(n.gossiper.NextWakeMs() == 750);  // the node wakes for it
  OthersBeat(n, 750, 3);                  // suspect_ms 1500: half is 750 ms
  std::vector<Gossiper::Probe> due = n.gossiper.ProbesDue(750);
  REQUIRE(due.size() == 1);
  CHECK(due[0].seed == "b");  // b's service endpoint
  CHECK(due[0].request.op == protocol::Op::kProbe);
  CHECK(due[0].request.member == n.gossiper.membership().self());
  CHECK(due[0].request.target.empty());
  CHECK(n.gossiper.ProbesDue(800).empty());  // asked already
  CHECK(n.gossiper.stats().probes == 1);
}

TEST_CASE("gossiper asks two other members to probe one that does not answer (ping-req)",
          "[node][gossiper]") {
  Node n;
  Mesh4(n);
  OthersBeat(n, 750, 2);
  REQUIRE(n.gossiper.ProbesDue(750).size() == 1);
  REQUIRE(n.TimerAt(1000));  // the next beat is at 1500
  CHECK(n.gossiper.NextWakeMs() == 750 + 375);
  OthersBeat(n, 1124, 3);
  CHECK(n.gossiper.ProbesDue(1124).empty());
  OthersBeat(n, 1125, 4);
  std::vector<Gossiper::Probe> due = n.gossiper.ProbesDue(1125);
  REQUIRE(due.size() == 2);
  std::set<std::string> relays;
  for (const Gossiper::Probe& p : due) {
    CHECK(p.request.op == protocol::Op::kProbe);
    CHECK(p.request.target == "b");
    relays.insert(p.seed);
  }
  CHECK(relays == std::set<std::string>{"c", "d"});
  CHECK(n.gossiper.ProbesDue(1300).empty());  // once
  CHECK(n.gossiper.stats().ping_reqs == 2);
  // Nobody answers: suspect at suspect_ms, as without probes.
  OthersBeat(n, 1500, 5);
  REQUIRE(n.TimerAt(1500));
  CHECK(n.gossiper.membership().Find("b")->info.state == NodeState::kSuspect);
  CHECK(n.gossiper.ProbesDue(1600).empty());  // a suspect is not probed: it must refute
}

TEST_CASE("gossiper takes a probe's answer as news: no suspicion, and a fresh probe next time",
          "[node][gossiper]") {
  Node n;
  Mesh4(n);
  OthersBeat(n, 750, 2);
  REQUIRE(n.gossiper.ProbesDue(750).size() == 1);
  OthersBeat(n, 1125, 3);
  REQUIRE(n.gossiper.ProbesDue(1125).size() == 2);
  // An answer for another member (a wrong or hostile relay) is not taken.
  n.gossiper.OnProbeAnswer("b", {Peer("c", kAlive, 99)});
  CHECK(n.gossiper.stats().probe_answers == 0);
  CHECK(n.gossiper.membership().Find("c")->info.incarnation == 10);
  n.gossiper.OnProbeAnswer("b", {Peer("b")});  // relayed by c or d
  CHECK(n.gossiper.stats().probe_answers == 1);
  OthersBeat(n, 1500, 4);
  REQUIRE(n.TimerAt(1500));
  CHECK(n.gossiper.membership().Find("b")->info.state == kAlive);
  // Still no heartbeat from b: a new silence, probed directly again.
  OthersBeat(n, 1875, 5);
  CHECK(n.gossiper.ProbesDue(1874).empty());
  std::vector<Gossiper::Probe> due = n.gossiper.ProbesDue(1875);
  REQUIRE(due.size() == 1);
  CHECK(due[0].request.target.empty());
  // Its link is still connected afresh: the answer was not a heartbeat.
  CHECK(std::count(n.peers.refreshed.begin(), n.peers.refreshed.end(), "b") >= 1);
}

TEST_CASE("gossiper answers a probe with its own entry, and hears the prober", "[node][gossiper]") {
  Node n;
  const MemberInfo answer = n.gossiper.OnProbe(Peer("e"));
  CHECK(answer == n.gossiper.membership().self());
  REQUIRE(n.gossiper.membership().Find("e") != nullptr);
  CHECK(n.gossiper.membership().Find("e")->info.state == kAlive);
}
