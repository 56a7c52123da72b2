// node::Service's versioned writes: the owner's stamps, replica writes and
// hand-offs that keep the newer version, loads that a write overtakes, and
// fallback loads that are not kept (the harness: node_harness.h).
#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "node_harness.h"
#include "util/hlc.h"

using namespace meshcache;
using namespace meshcache::testing;

namespace {

using protocol::ReplyStatus;

// A version older than anything a node stamps.
constexpr uint64_t kAncient = 1;

// The first HybridClock stamp at the clock's wall time, plus ahead_ms.
uint64_t StampAt(const ManualClock& clock, int64_t ahead_ms = 0) {
  return static_cast<uint64_t>(clock.WallMs() + ahead_ms) << HybridClock::kCounterBits;
}
// A version newer than anything the node stamped yet, from a clock ahead of
// its own by less than HybridClock::kMaxAheadMs.
uint64_t Future(const ManualClock& clock) { return StampAt(clock, 10'000); }

// A key self holds as the second of two holders (replicas=2 over self, a, b).
std::string ReplicaKey(Harness& h) {
  return h.KeyWith([](const auto& hs) { return hs[0] != kSelf && hs[1] == kSelf; });
}

Result<std::optional<Loaded>> Found(const std::string& value) {
  return std::optional<Loaded>(Loaded{value, 0});
}

}  // namespace

// ---- the owner's stamps -------------------------------------------------------------

TEST_CASE("the owner stamps each set and del with a rising version its replica gets",
          "[node][versions]") {
  Harness h(Options(2));
  h.Join({kA});  // two nodes, two replicas: kA holds every key with self
  const std::string key = h.KeyOwnedBy(kSelf);
  const uint64_t first = StampAt(h.clock);
  h.Set("w", key, "v1");
  h.Set("w", key, "v2");  // the same millisecond: the counter moves
  h.Del("w", key);
  h.clock.Advance(5);
  h.Set("w", key, "v3");
  std::vector<Sent> sent = h.peers.SentTo(kA);
  REQUIRE(sent.size() == 4);
  for (const Sent& s : sent) {
    CHECK(s.request.op == Op::kFwd);
    CHECK(s.request.replica);
    REQUIRE(s.request.inner);
    CHECK(s.request.inner->keys == std::vector<std::string>{key});
  }
  CHECK(sent[0].request.version == first);
  CHECK(sent[1].request.version == first + 1);
  CHECK(sent[2].request.inner->op == Op::kDel);
  CHECK(sent[2].request.version == first + 2);
  CHECK(sent[3].request.version == StampAt(h.clock));
}

TEST_CASE("a node stamps its writes above every version it has seen from others",
          "[node][versions]") {
  Harness h(Options(2));
  h.Join({kA, kB});
  const std::string theirs = ReplicaKey(h);
  const std::string owner = *h.service.gossiper().ring()->Owner(theirs);
  const uint64_t ahead = StampAt(h.clock) + (uint64_t{10'000} << HybridClock::kCounterBits);
  h.Replica(owner, {.op = Op::kSet, .keys = {theirs}, .value = "x"}, ahead);  // a clock ahead
  const std::string mine = h.KeyWith([](const auto& hs) { return hs[0] == kSelf; });
  const std::string other = *h.service.gossiper().ring()->Holders(mine)[1];
  h.Set("w", mine, "v");
  Sent s = h.LastSent(other);
  CHECK(s.request.replica);
  CHECK(s.request.version > ahead);
}

// ---- replica writes -------------------------------------------------------------------

TEST_CASE("a replica set older than the one held changes nothing", "[node][versions]") {
  Harness h(Options(2));
  h.Join({kA, kB});
  const std::string key = ReplicaKey(h);
  const std::string owner = *h.service.gossiper().ring()->Owner(key);
  h.Replica(owner, {.op = Op::kSet, .keys = {key}, .value = "new"}, 2000);
  h.Replica(owner, {.op = Op::kSet, .keys = {key}, .value = "old"}, 1000);  // arrives late
  CHECK(h.Last(owner, Op::kSet).status == ReplyStatus::kOk);
  CHECK(HeldAt(h, owner, key) == "new");
  h.Replica(owner, {.op = Op::kSet, .keys = {key}, .value = "newer"}, 3000);
  CHECK(HeldAt(h, owner, key) == "newer");
  CHECK(h.peers.sent.empty());  // a replica replicates nothing
}

TEST_CASE("a replica set older than a replica del changes nothing", "[node][versions]") {
  Harness h(Options(2));
  h.Join({kA, kB});
  const std::string key = ReplicaKey(h);
  const std::string owner = *h.service.gossiper().ring()->Owner(key);
  h.Replica(owner, {.op = Op::kSet, .keys = {key}, .value = "v"}, 1000);
  h.Replica(owner, {.op = Op::kDel, .keys = {key}}, 2000);
  CHECK(h.Last(owner, Op::kDel).existed);
  CHECK(h.Stat("tombstones") == 1);
  h.Replica(owner, {.op = Op::kSet, .keys = {key}, .value = "old"}, 1500);  // the del buries it
  CHECK(h.Last(owner, Op::kSet).status == ReplyStatus::kOk);
  CHECK(HeldAt(h, owner, key) == std::nullopt);
  h.Replica(owner, {.op = Op::kSet, .keys = {key}, .value = "new"}, 2500);  // newer: lives again
  CHECK(HeldAt(h, owner, key) == "new");
  CHECK(h.Stat("tombstones") == 0);
}

TEST_CASE("a replica del older than the set held changes nothing", "[node][versions]") {
  Harness h(Options(2));
  h.Join({kA, kB});
  const std::string key = ReplicaKey(h);
  const std::string owner = *h.service.gossiper().ring()->Owner(key);
  h.Replica(owner, {.op = Op::kSet, .keys = {key}, .value = "v"}, 3000);
  h.Replica(owner, {.op = Op::kDel, .keys = {key}}, 2000);
  CHECK(HeldAt(h, owner, key) == "v");
}

// ---- loads a write overtakes ----------------------------------------------------------

TEST_CASE("a set that lands while a load is in flight wins over the load", "[node][versions]") {
  Harness h(Options(), /*with_loader=*/true);
  h.Get("c1", "k");
  REQUIRE(h.loader.submitted.size() == 1);
  h.Set("w", "k", "set");
  REQUIRE(h.Last("w", Op::kSet).status == ReplyStatus::kOk);
  h.loader.Finish("k", Found("loaded"));  // the origin's answer may predate the set
  h.service.OnLoadsDone();
  CHECK(h.ValueOf("c1") == "set");
  h.Get("c2", "k");
  CHECK(h.ValueOf("c2") == "set");
  CHECK(h.loader.submitted.empty());
  CHECK(h.Stat("loads") == 1);
  CHECK(h.Stat("stale_loads") == 1);
}

TEST_CASE("a del that lands while a load is in flight wins over the load", "[node][versions]") {
  Harness h(Options(), /*with_loader=*/true);
  h.Get("c1", "k");
  REQUIRE(h.loader.submitted.size() == 1);
  h.Del("w", "k");
  REQUIRE(h.RepliesTo("w") == 1);
  h.loader.Finish("k", Found("loaded"));
  h.service.OnLoadsDone();
  REQUIRE(h.RepliesTo("c1") == 1);
  CHECK(h.Last("c1", Op::kGet).status == ReplyStatus::kMiss);
  CHECK(h.Stat("stale_loads") == 1);
  CHECK(h.Stat("items") == 0);
  h.Get("c2", "k");  // nothing was stored: a new load
  CHECK(h.RepliesTo("c2") == 0);
  REQUIRE(h.loader.submitted.size() == 1);
  h.loader.Finish("k", Found("again"));
  h.service.OnLoadsDone();
  CHECK(h.ValueOf("c2") == "again");
  CHECK(h.Stat("stale_loads") == 1);
}

TEST_CASE("a del before a load starts does not keep the load's value out", "[node][versions]") {
  Harness h(Options(), /*with_loader=*/true);
  h.Del("w", "k");
  h.Get("c1", "k");
  REQUIRE(h.loader.submitted.size() == 1);
  h.loader.Finish("k", Found("loaded"));
  h.service.OnLoadsDone();
  CHECK(h.ValueOf("c1") == "loaded");
  h.Get("c2", "k");
  CHECK(h.ValueOf("c2") == "loaded");
  CHECK(h.loader.submitted.empty());
  CHECK(h.Stat("stale_loads") == 0);
}

TEST_CASE("a set forwarded to the owner while a forwarded get's load is in flight wins",
          "[node][versions]") {
  Harness h(Options(), /*with_loader=*/true);
  h.Join({kA});
  const std::string key = h.KeyOwnedBy(kSelf);
  h.Forwarded(kA, {.op = Op::kGet, .keys = {key}}, /*replica=*/false);  // a client's get at kA
  REQUIRE(h.loader.submitted.size() == 1);
  h.Forwarded(kA, {.op = Op::kSet, .keys = {key}, .value = "set"}, /*replica=*/false);
  REQUIRE(h.RepliesTo(kA) == 1);
  CHECK(h.Last(kA, Op::kSet).status == ReplyStatus::kOk);
  h.loader.Finish(key, Found("loaded"));
  h.service.OnLoadsDone();
  REQUIRE(h.RepliesTo(kA) == 2);
  CHECK(h.ValueOf(kA) == "set");
  h.Get("c", key);
  CHECK(h.ValueOf("c") == "set");
  CHECK(h.loader.submitted.empty());
  CHECK(h.Stat("stale_loads") == 1);
}

TEST_CASE("a del forwarded to the owner while a forwarded get's load is in flight wins",
          "[node][versions]") {
  Harness h(Options(), /*with_loader=*/true);
  h.Join({kA});
  const std::string key = h.KeyOwnedBy(kSelf);
  h.Forwarded(kA, {.op = Op::kGet, .keys = {key}}, /*replica=*/false);
  REQUIRE(h.loader.submitted.size() == 1);
  h.Forwarded(kA, {.op = Op::kDel, .keys = {key}}, /*replica=*/false);
  REQUIRE(h.RepliesTo(kA) == 1);
  h.loader.Finish(key, Found("loaded"));
  h.service.OnLoadsDone();
  REQUIRE(h.RepliesTo(kA) == 2);
  CHECK(h.Last(kA, Op::kGet).status == ReplyStatus::kMiss);
  CHECK(h.Stat("stale_loads") == 1);
  h.Get("c", key);  // not stored: a new load
  CHECK(h.RepliesTo("c") == 0);
  CHECK(h.loader.submitted.size() == 1);
}

// ---- fallback loads ------------------------------------------------------------------------

TEST_CASE("a fallback load for a key held elsewhere answers its waiters but is not stored",
          "[node][versions]") {
  Harness h(Options(), /*with_loader=*/true);
  h.Join({kA});
  const std::string key = h.KeyOwnedBy(kA);
  h.Get("c1", key);
  REQUIRE(IsGetOf(h.LastSent(kA), key));
  h.PastForwardTimeout();  // the owner does not answer: this node loads
  REQUIRE(h.loader.submitted.size() == 1);
  h.loader.Finish(key, Found("loaded"));
  h.service.OnLoadsDone();
  CHECK(h.ValueOf("c1") == "loaded");
  CHECK(h.Stat("items") == 0);
  h.Forwarded(kA, {.op = Op::kGet, .keys = {key}}, /*replica=*/false);  // asks this store
  CHECK(h.RepliesTo(kA) == 0);
  CHECK(h.loader.submitted.size() == 1);  // a miss here: loaded again
}

TEST_CASE("a fallback load for a key this node holds is stored", "[node][versions]") {
  Harness h(Options(2), /*with_loader=*/true);
  h.Join({kA, kB});
  const std::string key = ReplicaKey(h);
  const std::string owner = *h.service.gossiper().ring()->Owner(key);
  h.Get("c1", key);
  REQUIRE(IsGetOf(h.LastSent(owner), key));
  h.PastForwardTimeout();  // self is the next holder: it looks and loads
  REQUIRE(h.loader.submitted.size() == 1);
  h.loader.Finish(key, Found("loaded"));
  h.service.OnLoadsDone();
  CHECK(h.ValueOf("c1") == "loaded");
  CHECK(h.Stat("items") == 1);
}

// ---- hand-offs received ----------------------------------------------------------------------

TEST_CASE("a handed-off entry newer than the one held replaces it", "[node][versions]") {
  Harness h;
  h.Set("w", "k", "mine");
  h.Handoff(kA, {{"k", "theirs", 0, Future(h.clock)}});
  CHECK(h.Last(kA, Op::kHandoff).status == ReplyStatus::kOk);
  h.Get("c", "k");
  CHECK(h.ValueOf("c") == "theirs");
  CHECK(h.Stat("handoff_received") == 1);
}

TEST_CASE("a handed-off entry older than the one held changes nothing", "[node][versions]") {
  Harness h;
  h.Set("w", "k", "mine");
  h.Handoff(kA, {{"k", "theirs", 0, kAncient}, {"fresh", "f", 0, kAncient}});
  CHECK(h.Last(kA, Op::kHandoff).status == ReplyStatus::kOk);
  h.Get("c", "k");
  CHECK(h.ValueOf("c") == "mine");
  h.Get("c", "fresh");  // nothing held: even an old entry is taken
  CHECK(h.ValueOf("c") == "f");
  CHECK(h.Stat("handoff_received") == 1);
}

TEST_CASE("a handed-off entry older than a del changes nothing", "[node][versions]") {
  Harness h;
  h.Del("w", "k");
  h.Handoff(kA, {{"k", "old", 0, kAncient}});
  CHECK(h.Last(kA, Op::kHandoff).status == ReplyStatus::kOk);
  h.Get("c", "k");
  CHECK(h.Last("c", Op::kGet).status == ReplyStatus::kMiss);
  CHECK(h.Stat("handoff_received") == 0);
  h.Handoff(kA, {{"k", "new", 0, Future(h.clock)}});
  h.Get("c", "k");
  CHECK(h.ValueOf("c") == "new");
  CHECK(h.Stat("handoff_received") == 1);
}

TEST_CASE("a handed-off entry lives for its ttl_left", "[node][versions]") {
  Harness h;
  h.Handoff(kA, {{"short", "s", 100, kAncient}, {"forever", "f", 0, kAncient}});
  h.clock.Advance(99);
  h.Get("c", "short");
  CHECK(h.ValueOf("c") == "s");
  h.clock.Advance(1);
  h.Get("c", "short");
  CHECK(h.Last("c", Op::kGet).status == ReplyStatus::kMiss);
  h.clock.Advance(1'000'000'000);
  h.Get("c", "forever");
  CHECK(h.ValueOf("c") == "f");
}

// ---- writes stamped where they enter ------------------------------------------------

TEST_CASE("a write forwarded to the owner carries the forwarder's stamp", "[node][versions]") {
  Harness h;
  h.Join({kA});
  const std::string key = h.KeyOwnedBy(kA);
  const uint64_t before = StampAt(h.clock);
  h.Set("c", key, "v");
  const Sent fwd = h.LastSent(kA);
  REQUIRE(fwd.request.op == Op::kFwd);
  CHECK_FALSE(fwd.request.replica);
  CHECK(fwd.request.version >= before);
}

TEST_CASE("a forward that reaches the owner after a newer write loses to it", "[node][versions]") {
  Harness h;
  h.Join({kA});
  const std::string key = h.KeyOwnedBy(kSelf);
  // The stand-in's newer write comes back first; the late forward (stamped
  // when a frozen owner could not take it) comes after.
  h.Handoff(kA, {{key, "newer", 0, 5000}});
  h.Send(kA, {.op = Op::kFwd,
              .from = kA,
              .inner = std::make_shared<const protocol::Request>(
                  protocol::Request{.op = Op::kSet, .keys = {key}, .value = "late"}),
              .version = 4000});
  CHECK(h.Last(kA, Op::kSet).status == ReplyStatus::kOk);
  CHECK(HeldAt(h, kA, key) == "newer");
}

TEST_CASE("a handed-off delete removes an older value and buries later older writes",
          "[node][versions]") {
  Harness h;
  h.Join({kA});
  const std::string key = h.KeyOwnedBy(kSelf);
  h.Handoff(kA, {{key, "old", 0, 100}});
  REQUIRE(HeldAt(h, kA, key) == "old");
  h.Handoff(kA, {{key, "", 0, 200, /*deleted=*/true}});
  CHECK(HeldAt(h, kA, key) == std::nullopt);
  CHECK(h.Stat("tombstones") == 1);
  h.Handoff(kA, {{key, "older", 0, 150}});
  CHECK(HeldAt(h, kA, key) == std::nullopt);
  h.Handoff(kA, {{key, "newest", 0, 300}});
  CHECK(HeldAt(h, kA, key) == "newest");
  h.Handoff(kA, {{key, "", 0, 250, /*deleted=*/true}});  // older than what is held
  CHECK(HeldAt(h, kA, key) == "newest");
}

// ---- versions from the wire ---------------------------------------------------------

TEST_CASE("a forwarded write stamped no newer than the value held, but fresh, wins",
          "[node][versions]") {
  Harness h;
  h.Join({kA});
  const std::string key = h.KeyOwnedBy(kSelf);
  h.Set("c", key, "first");  // stamped by self at this millisecond
  const uint64_t held = StampAt(h.clock);
  // A client's next write, through kA, whose clock reads the same
  // millisecond: the same stamp, or one just behind.
  for (const uint64_t version : {held, held - 1}) {
    h.Send(kA, {.op = Op::kFwd,
                .from = kA,
                .inner = std::make_shared<const protocol::Request>(protocol::Request{
                    .op = Op::kSet, .keys = {key}, .value = "then " + std::to_string(version)}),
                .version = version});
    CHECK(h.Last(kA, Op::kSet).status == ReplyStatus::kOk);
    CHECK(HeldAt(h, kA, key) == "then " + std::to_string(version));
  }
}

TEST_CASE("a version stamped far ahead of the clock is refused and does not move it",
          "[node][versions]") {
  Harness h;
  h.Join({kA});
  const std::string key = h.KeyOwnedBy(kSelf);
  const uint64_t forged = StampAt(h.clock, HybridClock::kMaxAheadMs + 1);
  h.Send(kA, {.op = Op::kFwd,
              .from = kA,
              .inner = std::make_shared<const protocol::Request>(
                  protocol::Request{.op = Op::kSet, .keys = {key}, .value = "forged"}),
              .version = forged});
  CHECK(h.Last(kA, Op::kSet).error_code == "bad_request");
  h.Handoff(kA, {{"other", "forged", 0, forged}});
  CHECK(h.Stat("versions_refused") == 2);
  h.Get("c", "other");
  CHECK(h.Last("c", Op::kGet).status == ReplyStatus::kMiss);
  // The clock was not moved: a write stamped now, through kA, still wins.
  h.Set("c", key, "mine");
  h.clock.Advance(1);
  h.Send(kA, {.op = Op::kFwd,
              .from = kA,
              .inner = std::make_shared<const protocol::Request>(
                  protocol::Request{.op = Op::kSet, .keys = {key}, .value = "theirs"}),
              .version = StampAt(h.clock)});
  CHECK(HeldAt(h, kA, key) == "theirs");
}
