#include "membership/membership.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace meshcache;

namespace {

constexpr NodeState kAlive = NodeState::kAlive;
constexpr NodeState kSuspect = NodeState::kSuspect;
constexpr NodeState kDead = NodeState::kDead;
constexpr NodeState kLeft = NodeState::kLeft;

MemberInfo Peer(const std::string& id, NodeState state = kAlive, uint64_t incarnation = 10) {
  return {id, id, id + "/gossip", state, incarnation};
}

// A table for "self" at incarnation 100 with the default timers
// (suspect 1500 ms, dead 3000 ms, forget 60000 ms) on a manual clock.
struct Mesh {
  ManualClock clock{0};
  Membership table{Peer("self", kAlive, 100), MembershipOptions{}, &clock};

  NodeState StateOf(const std::string& id) const { return table.Find(id)->info.state; }
};

bool IsChange(const std::vector<MemberChange>& changes, const std::string& id,
              std::optional<NodeState> before, std::optional<NodeState> after) {
  return changes.size() == 1 && changes[0].id == id && changes[0].before == before &&
         changes[0].after == after;
}

}  // namespace

TEST_CASE("membership starts with itself alive at epoch 1", "[membership]") {
  Mesh m;
  CHECK(m.table.epoch() == 1);
  CHECK(m.table.self().id == "self");
  CHECK(m.table.self().incarnation == 100);
  REQUIRE(m.table.Snapshot().size() == 1);
  CHECK(m.table.AlivePeers() == 0);
}

TEST_CASE("membership adds an unknown sender and reports it", "[membership]") {
  Mesh m;
  auto changes = m.table.HeardFrom(Peer("b"));
  CHECK(IsChange(changes, "b", std::nullopt, kAlive));
  CHECK(m.table.epoch() == 2);
  REQUIRE(m.table.Find("b") != nullptr);
  CHECK(m.table.Find("b")->info == Peer("b"));
  CHECK(m.table.Find("nobody") == nullptr);
}

TEST_CASE("membership suspects a member after suspect_ms without news", "[membership]") {
  Mesh m;
  (void)m.table.HeardFrom(Peer("b"));
  m.clock.Advance(1499);
  CHECK(m.table.Tick().empty());
  CHECK(m.StateOf("b") == kAlive);
  m.clock.Advance(1);
  CHECK(IsChange(m.table.Tick(), "b", kAlive, kSuspect));
  CHECK(m.StateOf("b") == kSuspect);
  CHECK(m.table.Tick().empty());  // no second report
}

TEST_CASE("membership news resets the timers", "[membership]") {
  Mesh m;
  (void)m.table.HeardFrom(Peer("b"));
  m.clock.Advance(1400);
  CHECK(m.table.HeardFrom(Peer("b")).empty());
  m.clock.Advance(1400);
  CHECK(m.table.Tick().empty());
  CHECK(m.StateOf("b") == kAlive);
}

TEST_CASE("membership takes a probe's answer as news, but not as a heartbeat", "[membership]") {
  Mesh m;
  (void)m.table.HeardFrom(Peer("b"));
  m.clock.Advance(1400);
  CHECK(m.table.Answered(Peer("b")).empty());
  CHECK(m.table.Find("b")->last_heard_ms == 1400);
  CHECK(m.table.Find("b")->last_direct_ms == 0);  // its heartbeats still do not get through
  m.clock.Advance(1400);
  CHECK(m.table.Tick().empty());
  CHECK(m.StateOf("b") == kAlive);
  // The same precedence: an answer at the incarnation held does not clear a
  // suspicion, a higher one does; a stale one is not news.
  m.clock.Advance(1500);
  CHECK(IsChange(m.table.Tick(), "b", kAlive, kSuspect));
  CHECK(m.table.Answered(Peer("b")).empty());
  CHECK(m.StateOf("b") == kSuspect);
  CHECK(IsChange(m.table.Answered(Peer("b", kAlive, 11)), "b", kSuspect, kAlive));
  m.clock.Advance(1000);
  CHECK(m.table.Answered(Peer("b", kAlive, 10)).empty());
  CHECK(m.table.Find("b")->last_heard_ms == 4300);
  // An unknown member that answers is added, with no heartbeat yet.
  CHECK(IsChange(m.table.Answered(Peer("c")), "c", std::nullopt, kAlive));
  CHECK(m.table.Find("c")->last_direct_ms < 0);
}

TEST_CASE("membership declares a member dead after dead_ms without news", "[membership]") {
  Mesh m;
  (void)m.table.HeardFrom(Peer("b"));
  m.clock.Advance(1500);
  (void)m.table.Tick();
  m.clock.Advance(1499);
  CHECK(m.table.Tick().empty());
  m.clock.Advance(1);
  CHECK(IsChange(m.table.Tick(), "b", kSuspect, kDead));
  CHECK(m.StateOf("b") == kDead);
}

TEST_CASE("membership goes straight to dead when ticks are far apart", "[membership]") {
  Mesh m;
  (void)m.table.HeardFrom(Peer("b"));
  m.clock.Advance(5000);
  CHECK(IsChange(m.table.Tick(), "b", kAlive, kDead));
}

TEST_CASE("membership never times out its own entry", "[membership]") {
  Mesh m;
  m.clock.Advance(1'000'000);
  CHECK(m.table.Tick().empty());
  CHECK(m.table.self().state == kAlive);
}

TEST_CASE("membership forgets dead and left members after forget_ms", "[membership]") {
  Mesh m;
  (void)m.table.HeardFrom(Peer("b"));
  m.clock.Advance(3000);
  (void)m.table.HeardFrom(Peer("c"));
  (void)m.table.Tick();  // b dies now
  CHECK(m.StateOf("b") == kDead);
  (void)m.table.HeardFrom(Peer("c", kLeft));  // c leaves now
  m.clock.Advance(59'999);
  CHECK(m.table.Tick().empty());
  m.clock.Advance(1);
  auto changes = m.table.Tick();
  REQUIRE(changes.size() == 2);
  CHECK((changes[0].id == "b" && changes[0].before == kDead && !changes[0].after));
  CHECK((changes[1].id == "c" && changes[1].before == kLeft && !changes[1].after));
  CHECK(m.table.Find("b") == nullptr);
  CHECK(m.table.Snapshot().size() == 1);
}

TEST_CASE("membership refutes gossip that suspects it", "[membership]") {
  Mesh m;
  const uint64_t epoch = m.table.epoch();
  // Refuting keeps the listing (self stays alive): no change, no new epoch.
  CHECK(m.table.Merge(Peer("self", kSuspect, 100)).empty());
  CHECK(m.table.self().state == kAlive);
  CHECK(m.table.self().incarnation == 101);
  CHECK(m.table.epoch() == epoch);
}

TEST_CASE("membership refutes its death above the gossiped incarnation", "[membership]") {
  Mesh m;
  (void)m.table.Merge(Peer("self", kDead, 250));
  CHECK(m.table.self().state == kAlive);
  CHECK(m.table.self().incarnation == 251);
  (void)m.table.Merge(Peer("self", kLeft, 251));
  CHECK(m.table.self().incarnation == 252);
}

TEST_CASE("membership ignores stale suspicion of itself", "[membership]") {
  Mesh m;
  (void)m.table.Merge(Peer("self", kDead, 99));
  CHECK(m.table.self().incarnation == 100);
  CHECK(m.table.self().state == kAlive);
}

TEST_CASE("membership catches up when held alive at a higher incarnation", "[membership]") {
  Mesh m;
  (void)m.table.Merge(Peer("self", kAlive, 150));
  CHECK(m.table.self().incarnation == 150);
  (void)m.table.Merge(Peer("self", kAlive, 120));
  CHECK(m.table.self().incarnation == 150);
}

TEST_CASE("membership ignores endpoints gossiped for itself", "[membership]") {
  Mesh m;
  MemberInfo moved = Peer("self", kAlive, 500);
  moved.gossip = "tcp://elsewhere:1";
  (void)m.table.Merge(moved);
  CHECK(m.table.self().gossip == "self/gossip");
}

TEST_CASE(
    "membership refutes a death claimed at the highest incarnation it takes, without wrapping",
    "[membership]") {
  constexpr uint64_t kMax = Membership::kMaxIncarnation;
  Mesh m;
  (void)m.table.Merge(Peer("self", kDead, kMax - 1));
  CHECK(m.table.self().state == kAlive);
  CHECK(m.table.self().incarnation == kMax);
  CHECK(m.table.refused() == 0);

  SECTION("a claim at the top, which could not be refuted, is refused") {
    (void)m.table.Merge(Peer("self", kDead, kMax));
    CHECK(m.table.self().incarnation == kMax);
    CHECK(m.table.refused() == 1);
  }
  SECTION("a claim past the top is refused, even one saying alive") {
    (void)m.table.Merge(Peer("self", kDead, UINT64_MAX));
    (void)m.table.Merge(Peer("self", kAlive, UINT64_MAX));
    CHECK(m.table.self().incarnation == kMax);
    CHECK(m.table.refused() == 2);
  }
}

TEST_CASE("membership refuses entries about others with an incarnation out of bounds",
          "[membership]") {
  constexpr uint64_t kMax = Membership::kMaxIncarnation;
  Mesh m;
  (void)m.table.HeardFrom(Peer("b"));
  CHECK(m.table.Merge(Peer("b", kDead, kMax)).empty());
  CHECK(m.table.Merge(Peer("c", kAlive, kMax + 1)).empty());
  CHECK(m.table.HeardFrom(Peer("d", kAlive, UINT64_MAX)).empty());
  CHECK(m.StateOf("b") == kAlive);
  CHECK(m.table.Find("c") == nullptr);
  CHECK(m.table.Find("d") == nullptr);
  CHECK(m.table.refused() == 3);
  // Alive at the top is a member's own last refutation: taken.
  CHECK(IsChange(m.table.Merge(Peer("e", kAlive, kMax)), "e", std::nullopt, kAlive));
}

TEST_CASE("membership adds no member past max_members and counts each refusal", "[membership]") {
  ManualClock clock{0};
  MembershipOptions o;
  o.max_members = 3;  // self and two
  Membership table{Peer("self", kAlive, 100), o, &clock};
  CHECK_FALSE(table.HeardFrom(Peer("b")).empty());
  CHECK_FALSE(table.Merge(Peer("c")).empty());
  CHECK(table.Merge(Peer("d")).empty());
  CHECK(table.HeardFrom(Peer("e")).empty());
  CHECK(table.size() == 3);
  CHECK(table.Find("d") == nullptr);
  CHECK(table.refused() == 2);
  // Members already held still change.
  CHECK(IsChange(table.Merge(Peer("c", kSuspect, 10)), "c", kAlive, kSuspect));
}

TEST_CASE("membership brings back a suspected peer that refutes", "[membership]") {
  Mesh m;
  (void)m.table.HeardFrom(Peer("b", kAlive, 10));
  m.clock.Advance(1500);
  (void)m.table.Tick();
  REQUIRE(m.StateOf("b") == kSuspect);
  // The same incarnation does not clear the suspicion, though it is news.
  CHECK(m.table.HeardFrom(Peer("b", kAlive, 10)).empty());
  CHECK(m.StateOf("b") == kSuspect);
  CHECK(IsChange(m.table.HeardFrom(Peer("b", kAlive, 11)), "b", kSuspect, kAlive));
  CHECK(m.table.Find("b")->info.incarnation == 11);
}

TEST_CASE("membership revives a dead member at a higher incarnation with fresh timers",
          "[membership]") {
  Mesh m;
  (void)m.table.HeardFrom(Peer("b", kAlive, 10));
  m.clock.Advance(3000);
  (void)m.table.Tick();
  REQUIRE(m.StateOf("b") == kDead);
  CHECK(m.table.Merge(Peer("b", kAlive, 10)).empty());  // equal: dead wins
  m.clock.Advance(50'000);
  CHECK(IsChange(m.table.Merge(Peer("b", kAlive, 11)), "b", kDead, kAlive));
  const MemberEntry* b = m.table.Find("b");
  CHECK(b->last_heard_ms == m.clock.NowMs());
  CHECK(b->state_since_ms == m.clock.NowMs());
  m.clock.Advance(1499);
  CHECK(m.table.Tick().empty());  // neither suspected nor forgotten
  CHECK(m.StateOf("b") == kAlive);
}

TEST_CASE("membership takes new endpoints at a higher incarnation only", "[membership]") {
  Mesh m;
  (void)m.table.HeardFrom(Peer("b", kAlive, 10));
  MemberInfo moved = Peer("b", kAlive, 10);
  moved.gossip = "tcp://10.0.0.9:7401";
  CHECK(m.table.Merge(moved).empty());
  CHECK(m.table.Find("b")->info.gossip == "b/gossip");
  moved.incarnation = 11;
  const uint64_t epoch = m.table.epoch();
  CHECK(IsChange(m.table.Merge(moved), "b", kAlive, kAlive));
  CHECK(m.table.Find("b")->info == moved);
  CHECK(m.table.epoch() == epoch + 1);
}

TEST_CASE("membership leaves and refutes nothing after", "[membership]") {
  Mesh m;
  CHECK(IsChange(m.table.Leave(), "self", kAlive, kLeft));
  CHECK(m.table.self().state == kLeft);
  CHECK(m.table.self().incarnation == 100);
  CHECK(m.table.Merge(Peer("self", kDead, 100)).empty());
  CHECK(m.table.self().state == kLeft);
  CHECK(m.table.self().incarnation == 100);
  CHECK(m.table.Leave().empty());
  m.clock.Advance(1'000'000);
  CHECK(m.table.Tick().empty());  // self is never forgotten
}

TEST_CASE("membership ignores stale gossip at a lower incarnation", "[membership]") {
  Mesh m;
  (void)m.table.HeardFrom(Peer("b", kAlive, 10));
  const uint64_t epoch = m.table.epoch();
  CHECK(m.table.Merge(Peer("b", kDead, 9)).empty());
  CHECK(m.StateOf("b") == kAlive);
  // A stale heartbeat is no news either.
  m.clock.Advance(1000);
  CHECK(m.table.HeardFrom(Peer("b", kAlive, 9)).empty());
  m.clock.Advance(500);
  CHECK(IsChange(m.table.Tick(), "b", kAlive, kSuspect));
  CHECK(m.table.Find("b")->info.incarnation == 10);
  CHECK(m.table.epoch() == epoch + 1);
}

TEST_CASE("membership ranks dead and left over suspect over alive at equal incarnation",
          "[membership]") {
  Mesh m;
  (void)m.table.HeardFrom(Peer("b", kAlive, 10));
  (void)m.table.HeardFrom(Peer("c", kAlive, 10));
  m.clock.Advance(1500);  // no heartbeat for suspect_ms: gossip is believed (no Tick yet)
  CHECK(IsChange(m.table.Merge(Peer("b", kSuspect, 10)), "b", kAlive, kSuspect));
  CHECK(m.table.Merge(Peer("b", kAlive, 10)).empty());
  CHECK(m.StateOf("b") == kSuspect);
  CHECK(IsChange(m.table.Merge(Peer("b", kDead, 10)), "b", kSuspect, kDead));
  CHECK(m.table.Merge(Peer("b", kSuspect, 10)).empty());
  CHECK(m.table.Merge(Peer("b", kLeft, 10)).empty());  // equal rank: first holds
  CHECK(m.StateOf("b") == kDead);
  CHECK(IsChange(m.table.Merge(Peer("c", kLeft, 10)), "c", kAlive, kLeft));
  CHECK(m.table.Merge(Peer("c", kDead, 10)).empty());
  CHECK(m.StateOf("c") == kLeft);
}

TEST_CASE("membership does not add unknown dead or left members", "[membership]") {
  Mesh m;
  CHECK(m.table.Merge(Peer("ghost", kDead)).empty());
  CHECK(m.table.Merge(Peer("gone", kLeft)).empty());
  CHECK(m.table.HeardFrom(Peer("gone", kLeft)).empty());
  CHECK(m.table.Find("ghost") == nullptr);
  CHECK(m.table.Find("gone") == nullptr);
  CHECK(m.table.epoch() == 1);
  CHECK(IsChange(m.table.Merge(Peer("rumoured", kSuspect)), "rumoured", std::nullopt, kSuspect));
}

TEST_CASE("membership moves the epoch exactly once per listing change", "[membership]") {
  Mesh m;
  auto changes = m.table.MergeAll({Peer("b"), Peer("c"), Peer("d", kDead), Peer("b")});
  CHECK(changes.size() == 2);
  CHECK(m.table.epoch() == 3);
  // An incarnation that rises with nothing else changing is not a change,
  // though it is news.
  m.clock.Advance(1000);
  CHECK(m.table.Merge(Peer("b", kAlive, 11)).empty());
  CHECK(m.table.epoch() == 3);
  m.clock.Advance(500);
  CHECK(IsChange(m.table.Tick(), "c", kAlive, kSuspect));
  CHECK(m.table.epoch() == 4);
  CHECK(m.StateOf("b") == kAlive);
  CHECK(m.table.Tick().empty());
  CHECK(m.table.epoch() == 4);
  m.clock.Advance(1500);
  CHECK(m.table.Tick().size() == 2);  // b suspect, c dead
  CHECK(m.table.epoch() == 6);
}

TEST_CASE("membership snapshot lists every member sorted by id", "[membership]") {
  Mesh m;
  (void)m.table.MergeAll({Peer("zed"), Peer("alpha", kSuspect), Peer("mid")});
  std::vector<std::string> ids;
  for (const MemberInfo& e : m.table.Snapshot()) ids.push_back(e.id);
  CHECK(ids == std::vector<std::string>{"alpha", "mid", "self", "zed"});
}

TEST_CASE("membership counts alive peers only", "[membership]") {
  Mesh m;
  (void)m.table.MergeAll({Peer("a"), Peer("b"), Peer("c"), Peer("d")});
  CHECK(m.table.AlivePeers() == 4);
  (void)m.table.Merge(Peer("b", kSuspect));
  (void)m.table.Merge(Peer("c", kDead));
  (void)m.table.Merge(Peer("d", kLeft));
  CHECK(m.table.AlivePeers() == 1);
  (void)m.table.Leave();  // self is never counted
  CHECK(m.table.AlivePeers() == 1);
}

TEST_CASE("membership believes its own heartbeats over gossip calling a member suspect or dead",
          "[membership]") {
  Mesh m;
  (void)m.table.HeardFrom(Peer("b", kAlive, 10));
  m.clock.Advance(1499);  // b's heartbeat is under suspect_ms old
  CHECK(m.table.Merge(Peer("b", kSuspect, 10)).empty());
  CHECK(m.table.Merge(Peer("b", kDead, 10)).empty());
  CHECK(m.StateOf("b") == kAlive);
  // Leaving is the member's own word: always taken.
  (void)m.table.HeardFrom(Peer("c", kAlive, 10));
  CHECK(IsChange(m.table.Merge(Peer("c", kLeft, 10)), "c", kAlive, kLeft));
  // Once b's heartbeats stop for suspect_ms, gossip about it counts again.
  m.clock.Advance(1);
  CHECK(IsChange(m.table.Merge(Peer("b", kDead, 10)), "b", kAlive, kDead));
}

TEST_CASE("membership takes gossip about a member it learnt of only by gossip", "[membership]") {
  Mesh m;
  (void)m.table.Merge(Peer("b", kAlive, 10));  // never heard from b itself
  CHECK(IsChange(m.table.Merge(Peer("b", kSuspect, 10)), "b", kAlive, kSuspect));
}

TEST_CASE("membership digest is the same for the same entries, whatever the order of news",
          "[membership]") {
  Mesh a, b;
  (void)a.table.MergeAll({Peer("x"), Peer("y", kSuspect, 7)});
  (void)b.table.Merge(Peer("y", kAlive, 7));
  (void)b.table.Merge(Peer("x"));
  CHECK(a.table.Digest() != b.table.Digest());  // y alive at b, suspect at a
  (void)b.table.Merge(Peer("y", kSuspect, 7));
  CHECK(a.table.Digest() == b.table.Digest());
}

TEST_CASE("membership digest moves with every change to an entry, and only then", "[membership]") {
  Mesh m;
  (void)m.table.Merge(Peer("x"));
  uint32_t d = m.table.Digest();
  auto moved = [&] {
    const uint32_t now = m.table.Digest();
    const bool changed = now != d;
    d = now;
    return changed;
  };
  m.clock.Advance(100);
  (void)m.table.HeardFrom(Peer("x"));  // news, no change to the entry
  CHECK_FALSE(moved());
  (void)m.table.Merge(Peer("x", kAlive, 11));  // incarnation only: no listing change
  CHECK(moved());
  (void)m.table.Merge(Peer("self", kSuspect, 100));  // refuted: self's incarnation
  CHECK(moved());
  m.clock.Advance(3000);
  (void)m.table.Tick();  // x dead
  CHECK(moved());
  m.clock.Advance(60000);
  (void)m.table.Tick();  // x forgotten
  CHECK(moved());
  CHECK(m.table.size() == 1);
}

TEST_CASE("membership judges only watched members' silence, and a newly watched one afresh",
          "[membership]") {
  Mesh m;
  (void)m.table.MergeAll({Peer("x"), Peer("y")});
  m.table.Watch({"x"});
  m.clock.Advance(3000);
  (void)m.table.Tick();
  CHECK(m.StateOf("x") == kDead);
  CHECK(m.StateOf("y") == kAlive);  // not watched: only gossip changes it
  m.table.Watch({"y"});
  m.clock.Advance(1499);
  (void)m.table.Tick();
  CHECK(m.StateOf("y") == kAlive);  // its timers started at the Watch
  m.clock.Advance(1);
  (void)m.table.Tick();
  CHECK(m.StateOf("y") == kSuspect);
  (void)m.table.Merge(Peer("z"));  // added after a Watch: not watched
  m.clock.Advance(5000);
  (void)m.table.Tick();
  CHECK(m.StateOf("z") == kAlive);
}

// ---- Lifeguard: a lone suspicion waits longer in a large table ---------------

namespace {

// self, "b" and 98 more members: a table of 100, log10(100) = 2.
void Fill100(Mesh& m) {
  for (int i = 0; i < 98; ++i) (void)m.table.HeardFrom(Peer("m" + std::to_string(i)));
  (void)m.table.HeardFrom(Peer("b"));
  REQUIRE(m.table.size() == 100);
  m.table.Watch({"b"});  // only b's silence is judged here
}

}  // namespace

TEST_CASE("membership stretches an unconfirmed suspicion by log10(N), shrinking with accusers",
          "[membership]") {
  Mesh m;
  CHECK(m.table.DeadAfterMs(0) == 3000);  // a table of 1 to 10: dead_ms
  Fill100(m);
  // The window after suspect_ms (1500 ms) is 1500 x 2 with no accuser,
  // 1500 x (2 - log 2 / log 3) with one, and 1500 with two.
  CHECK(m.table.DeadAfterMs(0) == 1500 + 3000);
  CHECK(m.table.DeadAfterMs(1) == 1500 + 2054);
  CHECK(m.table.DeadAfterMs(2) == 3000);
  CHECK(m.table.DeadAfterMs(7) == 3000);
}

TEST_CASE("membership declares an accused suspect dead at dead_ms, a lone one later",
          "[membership]") {
  SECTION("no other member accuses b: dead at 4500 ms") {
    Mesh m;
    Fill100(m);
    m.clock.Set(1500);
    CHECK(IsChange(m.table.Tick(), "b", kAlive, kSuspect));
    m.clock.Set(4499);
    CHECK(m.table.Tick().empty());
    m.clock.Set(4500);
    CHECK(IsChange(m.table.Tick(), "b", kSuspect, kDead));
  }
  SECTION("two others accuse it (the same one twice counts once): dead at dead_ms") {
    Mesh m;
    Fill100(m);
    m.clock.Set(1500);
    (void)m.table.Tick();
    CHECK(m.table.Merge(Peer("b", kSuspect), "m1").empty());
    CHECK(m.table.Merge(Peer("b", kSuspect), "m1").empty());
    m.clock.Set(3000);
    CHECK(m.table.Tick().empty());  // one accuser: 3554 ms
    CHECK(m.table.Find("b")->accusers == std::vector<std::string>{"m1"});
    CHECK(m.table.Merge(Peer("b", kSuspect), "m2").empty());
    CHECK(IsChange(m.table.Tick(), "b", kSuspect, kDead));
  }
  SECTION("accusations at an older incarnation, from self or unnamed, do not count") {
    Mesh m;
    Fill100(m);
    m.clock.Set(1500);
    (void)m.table.Tick();
    (void)m.table.Merge(Peer("b", kSuspect, 9), "m1");
    (void)m.table.Merge(Peer("b", kSuspect), "self");
    (void)m.table.Merge(Peer("b", kSuspect), "b");
    (void)m.table.Merge(Peer("b", kSuspect));
    CHECK(m.table.Find("b")->accusers.empty());
  }
  SECTION("a refutation clears the accusers") {
    Mesh m;
    Fill100(m);
    m.clock.Set(1500);
    (void)m.table.Tick();
    (void)m.table.Merge(Peer("b", kSuspect), "m1");
    (void)m.table.Merge(Peer("b", kAlive, 11), "m2");
    CHECK(m.StateOf("b") == kAlive);
    CHECK(m.table.Find("b")->accusers.empty());
  }
}
