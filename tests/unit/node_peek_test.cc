// node::Service around a ring change: a new owner's miss peeks at the
// previous owner, a node that refuted its own death checks its hits with the
// stand-in, and leases of hot copies (the harness: node_harness.h).
#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "node_harness.h"
#include "util/hlc.h"

using namespace meshcache;
using namespace meshcache::testing;

namespace {

using protocol::ReplyStatus;

bool IsPeekOf(const Sent& s, const std::string& key) {
  return s.request.op == Op::kPeek && s.request.keys == std::vector<std::string>{key};
}

// A key self owns once kA has joined (kA held every key before: a stand-in).
std::string SelfKey(Harness& h) { return h.KeyOwnedBy(kSelf); }

// kA's gossip saying self is dead at self's incarnation: self refutes it.
void DeclaredDead(Harness& h) {
  MemberInfo me = Member(kSelf);
  me.state = NodeState::kDead;
  h.Gossip({.kind = protocol::Gossip::Kind::kHeartbeat, .from = kA, .members = {Member(kA), me}});
}

}  // namespace

TEST_CASE("a new owner's miss asks the key's previous holder and keeps its answer",
          "[node][peek]") {
  Harness h;
  h.Join({kA}, /*warm=*/true);
  const std::string key = SelfKey(h);
  h.Get("c1", key);
  const Sent peek = h.LastSent(kA);
  REQUIRE(IsPeekOf(peek, key));
  CHECK(h.RepliesTo("c1") == 0);
  h.Answer(protocol::EncodeValue(peek.id, "from-a", /*ttl_left_ms=*/0, /*version=*/5,
                                 /*flags=*/3));
  CHECK(h.ValueOf("c1") == "from-a");
  const size_t sent = h.peers.sent.size();
  h.Get("c2", key);  // kept: a hit here now
  CHECK(h.ValueOf("c2") == "from-a");
  CHECK(h.peers.sent.size() == sent);
  // With the previous holder's flags and version (what a gets returns).
  h.Send("c3", {.op = Op::kGets, .keys = {key}});
  CHECK(h.Last("c3", Op::kGets).entries ==
        std::vector<std::optional<protocol::ValueMeta>>{protocol::ValueMeta{"from-a", 3, 5, 0}});
}

TEST_CASE("a new owner's miss goes to its loader when the previous holder misses too",
          "[node][peek]") {
  Harness h(Options(), /*with_loader=*/true);
  h.Join({kA}, /*warm=*/true);
  const std::string key = SelfKey(h);
  h.Get("c", key);
  const Sent peek = h.LastSent(kA);
  REQUIRE(IsPeekOf(peek, key));
  CHECK(h.loader.submitted.empty());
  h.Answer(protocol::EncodeMiss(peek.id));
  REQUIRE(h.loader.submitted.size() == 1);
  CHECK(h.loader.submitted[0].first == key);
}

TEST_CASE("a peek that crosses the hand-off serves what the hand-off brought", "[node][peek]") {
  Harness h;
  h.Join({kA}, /*warm=*/true);
  const std::string key = SelfKey(h);
  h.Get("c", key);
  const Sent peek = h.LastSent(kA);
  REQUIRE(IsPeekOf(peek, key));
  h.Handoff(kA, {{key, "handed", 0, 9}});  // kA gave it away before the peek got there
  h.Answer(protocol::EncodeMiss(peek.id));
  CHECK(h.ValueOf("c") == "handed");
}

TEST_CASE("a miss past the hand-off window is a miss, with no peek", "[node][peek]") {
  Harness h;
  h.Join({kA});  // and the window passes
  const std::string key = SelfKey(h);
  h.Get("c", key);
  CHECK(h.Last("c", Op::kGet).status == ReplyStatus::kMiss);
  CHECK(h.peers.sent.empty());
}

TEST_CASE("after refuting its own death a node checks a hit with the stand-in", "[node][peek]") {
  Harness h;
  h.Join({kA});
  const std::string key = SelfKey(h);
  h.Set("w", key, "mine");
  DeclaredDead(h);
  h.Get("c1", key);
  const Sent check = h.LastSent(kA);
  REQUIRE(IsPeekOf(check, key));
  CHECK(h.RepliesTo("c1") == 0);

  SECTION("the stand-in's newer write wins") {
    // Stamped by a clock a second ahead of this node's.
    const uint64_t newer = static_cast<uint64_t>(h.clock.WallMs() + 1000)
                           << HybridClock::kCounterBits;
    h.Answer(protocol::EncodeValue(check.id, "newer", 0, newer));
    CHECK(h.ValueOf("c1") == "newer");
  }
  SECTION("an answer stamped implausibly far ahead is not taken") {
    h.Answer(protocol::EncodeValue(check.id, "forged", 0, uint64_t{1} << 62));
    CHECK(h.ValueOf("c1") == "mine");
  }
  SECTION("an older or missing answer leaves the node's own value") {
    h.Answer(protocol::EncodeValue(check.id, "older", 0, 1));
    CHECK(h.ValueOf("c1") == "mine");
  }
  SECTION("no answer leaves the node's own value") {
    h.PastForwardTimeout();
    CHECK(h.ValueOf("c1") == "mine");
  }
}

TEST_CASE("an answer in flight when the ring changes is not kept as a hot copy",
          "[node][peek][hot]") {
  Harness h;
  h.Join({kA});
  const std::string key = h.KeyOwnedBy(kA);
  h.Get("c1", key);
  const Sent s = h.LastSent(kA);
  h.Heartbeat(kB);  // a new ring while the get is out
  h.AnswerValue(s, "v");
  CHECK(h.ValueOf("c1") == "v");
  const std::string owner = *h.service.gossiper().ring()->Owner(key);
  if (owner == kSelf) return;  // kB's arrival made self the owner: nothing to copy
  const size_t sent = h.peers.SentTo(owner).size();
  h.Get("c2", key);
  CHECK(h.peers.SentTo(owner).size() == sent + 1);  // asked again, not a hot hit
  CHECK(h.Stat("hot_hits") == 0);
}

TEST_CASE("a stalled node does not renew its hot copies' leases", "[node][peek][hot]") {
  NodeOptions o = Options();
  o.heartbeat_ms = 100;
  o.suspect_ms = 300;
  o.dead_ms = 100'000;
  Harness h(o);
  h.Join({kA});
  const std::string key = h.KeyOwnedBy(kA);
  h.Get("c1", key);
  h.AnswerValue(h.LastSent(kA), "v");
  h.Get("c2", key);
  REQUIRE(h.Stat("hot_hits") == 1);  // a hot copy, kA's heartbeats fresh
  h.At(h.clock.NowMs() + 1000);      // this node stalled for a second: no heartbeat came
  h.Get("c3", key);
  CHECK(h.RepliesTo("c3") == 0);  // asked kA, not served the copy
  CHECK(IsGetOf(h.LastSent(kA), key));
}

TEST_CASE("a new owner's gets miss asks the previous holder and keeps its flags and cas",
          "[node][peek][memcache]") {
  Harness h;
  h.Join({kA}, /*warm=*/true);
  const std::string key = SelfKey(h);
  h.Send("c", {.op = Op::kGets, .keys = {key}});
  const Sent peek = h.LastSent(kA);
  REQUIRE(IsPeekOf(peek, key));
  CHECK(h.RepliesTo("c") == 0);
  h.Answer(protocol::EncodeValue(peek.id, "from-a", /*ttl_left_ms=*/0, /*version=*/5,
                                 /*flags=*/9));
  const protocol::ValueMeta want{"from-a", 9, 5, 0};
  REQUIRE(h.Last("c", Op::kGets).entries == std::vector<std::optional<protocol::ValueMeta>>{want});
  // Kept with them: the next gets is a hit here, and a cas of 5 names it.
  const size_t sent = h.peers.sent.size();
  h.Send("c", {.op = Op::kGets, .keys = {key}});
  CHECK(h.Last("c", Op::kGets).entries == std::vector<std::optional<protocol::ValueMeta>>{want});
  h.Send("w", {.op = Op::kSetx,
               .keys = {key},
               .value = "new",
               .mode = protocol::WriteMode::kSet,
               .cas = 5});
  CHECK(h.Last("w", Op::kSetx).outcome == protocol::WriteOutcome::kStored);
  CHECK(h.peers.sent.size() == sent);
}

TEST_CASE("a peek is answered with the entry's flags", "[node][peek][memcache]") {
  Harness h;
  h.Send("w", {.op = Op::kSet, .keys = {"k"}, .value = "v", .flags = 12});
  h.Send(kA, {.op = Op::kPeek, .keys = {"k"}});
  const protocol::Reply r = h.Last(kA, Op::kPeek);
  CHECK(r.value == "v");
  CHECK(r.flags == 12);
  CHECK(r.version != 0);
}
