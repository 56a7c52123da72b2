// node::Service's lookups and writes: hot copies and their invalidation,
// replica writes, shared loads and mget merging (the harness: node_harness.h).
#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "node_harness.h"

using namespace meshcache;
using namespace meshcache::testing;

// ---- hot copies ---------------------------------------------------------------

TEST_CASE("an owner's answer is kept as a hot copy that serves the next get", "[node]") {
  Harness h;
  h.Join({kA});
  std::string key = h.KeyOwnedBy(kA);
  h.Get("c1", key);
  h.AnswerValue(h.LastSent(kA), "v");
  CHECK(h.ValueOf("c1") == "v");
  h.Get("c2", key);
  CHECK(h.peers.SentTo(kA).size() == 1);
  CHECK(h.ValueOf("c2") == "v");
  CHECK(h.Stat("hot_hits") == 1);
}

TEST_CASE("an invalidation while a get is in flight keeps the answer out of the hot copies",
          "[node]") {
  Harness h;
  h.Join({kA});
  std::string key = h.KeyOwnedBy(kA);
  h.Get("c1", key);
  Sent s = h.LastSent(kA);
  h.Invalidate(kA, key);
  h.AnswerValue(s, "v");
  CHECK(h.ValueOf("c1") == "v");
  h.Get("c2", key);
  REQUIRE(h.peers.SentTo(kA).size() == 2);
  CHECK(IsGetOf(h.LastSent(kA), key));
  CHECK(h.RepliesTo("c2") == 0);
  CHECK(h.Stat("hot_hits") == 0);
}

TEST_CASE("an invalidation of another key does not keep the answer out of the hot copies",
          "[node]") {
  Harness h;
  h.Join({kA});
  std::string key = h.KeyOwnedBy(kA);
  h.Get("c1", key);
  h.Invalidate(kA, key + "-other");
  h.AnswerValue(h.LastSent(kA), "v");
  h.Get("c2", key);
  CHECK(h.peers.SentTo(kA).size() == 1);
  CHECK(h.Stat("hot_hits") == 1);
}

TEST_CASE("a gap in a sender's gossip sequence drops every hot copy", "[node]") {
  Harness h;
  h.Join({kA, kB});
  std::string ka = h.KeyOwnedBy(kA), kb = h.KeyOwnedBy(kB);
  h.Get("c", ka);
  h.AnswerValue(h.LastSent(kA), "va");
  h.Get("c", kb);
  h.AnswerValue(h.LastSent(kB), "vb");
  h.Get("c", ka);  // both are hot now
  h.Get("c", kb);
  REQUIRE(h.peers.sent.size() == 2);
  REQUIRE(h.Stat("hot_hits") == 2);
  ++h.seq[kA];  // kA's next message is lost
  h.Heartbeat(kA);
  CHECK(h.Stat("gossip_gaps") == 1);
  CHECK(h.Stat("hot_invalidations") == 2);
  h.Get("c", ka);
  h.Get("c", kb);
  CHECK(h.peers.SentTo(kA).size() == 2);
  CHECK(h.peers.SentTo(kB).size() == 2);
  CHECK(h.Stat("hot_hits") == 2);
}

TEST_CASE("a gossip gap while a get is in flight keeps the answer out of the hot copies",
          "[node]") {
  Harness h;
  h.Join({kA, kB});
  std::string key = h.KeyOwnedBy(kA);
  h.Get("c1", key);
  ++h.seq[kB];  // kB's next message is lost: it may have invalidated anything
  h.Heartbeat(kB);
  h.AnswerValue(h.LastSent(kA), "v");
  CHECK(h.ValueOf("c1") == "v");
  h.Get("c2", key);
  CHECK(h.peers.SentTo(kA).size() == 2);
  CHECK(h.Stat("hot_hits") == 0);
}

TEST_CASE("a hot copy lives no longer than the owner's ttl_left", "[node]") {
  Harness h;
  h.Join({kA});
  std::string key = h.KeyOwnedBy(kA);
  h.Get("c", key);
  h.Answer(protocol::EncodeValue(h.LastSent(kA).id, "v", /*ttl_left_ms=*/100));
  h.clock.Advance(99);
  h.Get("c", key);
  CHECK(h.peers.SentTo(kA).size() == 1);
  h.clock.Advance(1);
  h.Get("c", key);
  CHECK(h.peers.SentTo(kA).size() == 2);
}

TEST_CASE("an owner's answer without ttl_left is not kept as a hot copy", "[node]") {
  Harness h;
  h.Join({kA});
  std::string key = h.KeyOwnedBy(kA);
  h.Get("c", key);
  h.Answer(protocol::EncodeValue(h.LastSent(kA).id, "v"));
  CHECK(h.ValueOf("c") == "v");
  h.Get("c", key);
  CHECK(h.peers.SentTo(kA).size() == 2);
}

TEST_CASE("consecutive gossip sequence numbers keep the hot copies", "[node]") {
  Harness h;
  h.Join({kA});
  std::string key = h.KeyOwnedBy(kA);
  h.Get("c", key);
  h.AnswerValue(h.LastSent(kA), "v");
  h.Heartbeat(kA);
  h.Heartbeat(kA);
  CHECK(h.Stat("hot_invalidations") == 0);
  h.Get("c", key);
  CHECK(h.peers.SentTo(kA).size() == 1);
}

// ---- writes ---------------------------------------------------------------------

TEST_CASE("a replica write is stored and never replicated again", "[node]") {
  Harness h(Options(2));
  h.Join({kA, kB});
  std::string key = h.KeyWith([](const auto& hs) { return hs[0] != kSelf && hs[1] == kSelf; });
  const std::string owner = *h.service.gossiper().ring()->Owner(key);
  h.Forwarded(owner, {.op = Op::kSet, .keys = {key}, .value = "rv"}, /*replica=*/true);
  REQUIRE(h.RepliesTo(owner) == 1);
  CHECK(h.Last(owner, Op::kSet).status == protocol::ReplyStatus::kOk);
  CHECK(h.peers.sent.empty());
  CHECK(h.Stat("replica_writes") == 1);
  h.Forwarded(owner, {.op = Op::kGet, .keys = {key}}, /*replica=*/false);  // a fallback
  CHECK(h.ValueOf(owner) == "rv");
  h.service.OnTimers(h.clock.NowMs());  // would flush an invalidation
  for (const auto& g : h.peers.published) CHECK(g.invals.empty());
}

TEST_CASE("a write forwarded to the owner is replicated to the other holder", "[node]") {
  Harness h(Options(2));
  h.Join({kA, kB});
  std::string key = h.KeyWith([](const auto& hs) { return hs[0] == kSelf; });
  const std::string other = *h.service.gossiper().ring()->Holders(key)[1];
  h.Forwarded(kA, {.op = Op::kSet, .keys = {key}, .value = "v"}, /*replica=*/false);
  CHECK(h.Last(kA, Op::kSet).status == protocol::ReplyStatus::kOk);
  REQUIRE(h.peers.sent.size() == 1);
  Sent s = h.LastSent(other);
  CHECK(s.request.op == Op::kFwd);
  CHECK(s.request.replica);
  CHECK(s.request.from == kSelf);
  REQUIRE(s.request.inner);
  CHECK(s.request.inner->op == Op::kSet);
  CHECK(s.request.inner->keys == std::vector<std::string>{key});
  CHECK(s.request.inner->value == "v");
  CHECK(h.Stat("replica_writes") == 0);
}

TEST_CASE("a client's set at the owner is replicated to the other holder", "[node]") {
  Harness h(Options(2));
  h.Join({kA, kB});
  std::string key = h.KeyWith([](const auto& hs) { return hs[0] == kSelf; });
  const std::string other = *h.service.gossiper().ring()->Holders(key)[1];
  h.Set("c", key, "v");
  CHECK(h.Last("c", Op::kSet).status == protocol::ReplyStatus::kOk);
  REQUIRE(h.peers.sent.size() == 1);
  Sent s = h.LastSent(other);
  CHECK(s.request.op == Op::kFwd);
  CHECK(s.request.replica);
  REQUIRE(s.request.inner);
  CHECK(s.request.inner->value == "v");
}

TEST_CASE("a client's set and del of an owned key are answered, counted and invalidated",
          "[node]") {
  Harness h;
  h.Join({kA});
  const std::string key = h.KeyOwnedBy(kSelf);
  h.Send("c", {.op = Op::kSet, .keys = {key}, .value = "v1", .ttl_ms = 60'000});
  CHECK(h.Last("c", Op::kSet).status == protocol::ReplyStatus::kOk);
  h.Get("c", key);
  CHECK(h.ValueOf("c") == "v1");
  h.Del("c", key);
  CHECK(h.Last("c", Op::kDel).existed);
  h.Del("c", key);
  CHECK_FALSE(h.Last("c", Op::kDel).existed);
  h.Get("c", key);
  CHECK(h.Last("c", Op::kGet).status == protocol::ReplyStatus::kMiss);
  CHECK(h.Stat("sets") == 1);
  CHECK(h.Stat("dels") == 2);
  CHECK(h.peers.sent.empty());
  h.peers.published.clear();
  h.service.OnTimers(h.clock.NowMs());  // flushes the writes' invalidations
  size_t invals = 0;
  for (const auto& g : h.peers.published) {
    if (g.kind == protocol::Gossip::Kind::kInvalidate) {
      invals += std::count(g.invals.begin(), g.invals.end(), key);
    }
  }
  CHECK(invals == 3);  // every write that is not older than what is held invalidates
}

TEST_CASE("a set's ttl at the owner expires the value", "[node]") {
  Harness h;
  h.Send("c", {.op = Op::kSet, .keys = {"k"}, .value = "v", .ttl_ms = 1000});
  h.clock.Advance(999);
  h.Get("c", "k");
  CHECK(h.ValueOf("c") == "v");
  h.clock.Advance(1);
  h.Get("c", "k");
  CHECK(h.Last("c", Op::kGet).status == protocol::ReplyStatus::kMiss);
}

TEST_CASE("a set whose ttl is past what int64 holds never expires and replaces the old value",
          "[node]") {
  Harness h;
  h.Send("c", {.op = Op::kSet, .keys = {"k"}, .value = "old"});
  for (const uint64_t ttl : {uint64_t{1} << 63, UINT64_MAX}) {
    h.Send("c", {.op = Op::kSet, .keys = {"k"}, .value = "new", .ttl_ms = ttl});
    CHECK(h.Last("c", Op::kSet).status == protocol::ReplyStatus::kOk);
    h.clock.Advance(365LL * 24 * 3600 * 1000);
    h.Get("c", "k");
    CHECK(h.ValueOf("c") == "new");
  }
}

// ---- loads ------------------------------------------------------------------------

TEST_CASE("concurrent gets of a missing key at its owner share one load", "[node]") {
  Harness h(Options(), /*with_loader=*/true);
  h.Get("c1", "k");
  h.Get("c2", "k");
  REQUIRE(h.loader.submitted.size() == 1);
  h.loader.Finish("k", std::optional<Loaded>(Loaded{"loaded", 0}));
  h.service.OnLoadsDone();
  CHECK(h.ValueOf("c1") == "loaded");
  CHECK(h.ValueOf("c2") == "loaded");
  h.Get("c3", "k");  // stored now
  CHECK(h.ValueOf("c3") == "loaded");
  CHECK(h.loader.submitted.empty());
  CHECK(h.Stat("loads") == 1);
}

// ---- mget -------------------------------------------------------------------------

TEST_CASE("an mget of keys this node owns is answered at once, misses as nil", "[node]") {
  Harness h;  // alone: it owns every key; no loader
  h.Set("w", "a", "va");
  h.Set("w", "c", "vc");
  const int64_t gets = h.Stat("gets");
  h.Mget("c", {"a", "b", "c"});
  REQUIRE(h.RepliesTo("c") == 1);
  CHECK(h.Last("c", Op::kMget).values == Values{"va", std::nullopt, "vc"});
  CHECK(h.Stat("gets") == gets + 3);
  CHECK(h.Stat("hits") == 2);
  CHECK(h.Stat("misses") == 1);
  CHECK(h.peers.sent.empty());
}

TEST_CASE("an owned mget with a miss to load answers hits and the load together", "[node]") {
  Harness h(Options(), /*with_loader=*/true);
  h.Set("w", "a", "va");
  h.Mget("c", {"a", "b"});
  CHECK(h.RepliesTo("c") == 0);  // waits for b's load
  REQUIRE(h.loader.submitted.size() == 1);
  CHECK(h.loader.submitted[0].first == "b");
  h.loader.Finish("b", std::optional<Loaded>(Loaded{"vb", 0}));
  h.service.OnLoadsDone();
  REQUIRE(h.RepliesTo("c") == 1);
  CHECK(h.Last("c", Op::kMget).values == Values{"va", "vb"});
}

TEST_CASE("mget parts from several owners are merged in request order", "[node]") {
  Harness h;
  h.Join({kA, kB});
  std::string s = h.KeyOwnedBy(kSelf), a1 = h.KeyOwnedBy(kA), a2 = h.KeyOwnedBy(kA, 1);
  std::string b1 = h.KeyOwnedBy(kB), b2 = h.KeyOwnedBy(kB, 1);
  h.Set("w", s, "vs");
  h.Mget("c", {a1, s, b1, a2, b2});
  Sent to_a = h.LastSent(kA), to_b = h.LastSent(kB);
  REQUIRE(h.peers.sent.size() == 2);
  CHECK(to_a.request.inner->keys == std::vector<std::string>{a1, a2});
  CHECK(to_b.request.inner->keys == std::vector<std::string>{b1, b2});
  h.Answer(protocol::EncodeValues(to_b.id, {std::optional<std::string_view>("vb1"), "vb2"}));
  CHECK(h.RepliesTo("c") == 0);
  h.Answer(protocol::EncodeValues(to_a.id, {std::optional<std::string_view>("va1"), std::nullopt}));
  REQUIRE(h.RepliesTo("c") == 1);
  CHECK(h.Last("c", Op::kMget).values == Values{"va1", "vs", "vb1", std::nullopt, "vb2"});
}

TEST_CASE("mget parts to one owner are merged in request order", "[node]") {
  NodeOptions o = Options();
  o.max_value_bytes = 4u << 20;  // a part's reply holds two values at most
  Harness h(o);
  h.Join({kA});
  std::string s = h.KeyOwnedBy(kSelf);
  std::vector<std::string> a;
  for (int i = 0; i < 4; ++i) a.push_back(h.KeyOwnedBy(kA, i));
  h.Set("w", s, "vs");
  h.Mget("c", {a[0], s, a[1], a[2], a[3]});
  auto parts = h.peers.SentTo(kA);
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].request.inner->op == Op::kMget);
  CHECK(parts[0].request.inner->keys == std::vector<std::string>{a[0], a[1]});
  CHECK(parts[1].request.inner->keys == std::vector<std::string>{a[2], a[3]});
  h.Answer(protocol::EncodeValues(parts[1].id, {std::optional<std::string_view>("v2"), {}}));
  CHECK(h.RepliesTo("c") == 0);
  h.Answer(protocol::EncodeValues(parts[0].id, {std::optional<std::string_view>("v0"), "v1"}));
  REQUIRE(h.RepliesTo("c") == 1);
  CHECK(h.Last("c", Op::kMget).values == Values{"v0", "vs", "v1", "v2", std::nullopt});
}

// ---- the store's LRU ---------------------------------------------------------------

namespace {

// A full store, then hot keys stored and hit after the old-blocks time, then
// a scan of `cold` keys set once each; how many hot keys still hit afterwards.
int HotKeysLeftAfterScan(NodeOptions o, int hot, int cold) {
  o.memory_bytes = 64 * 1024;
  Harness h(o);
  const std::string value(100, 'v');
  for (int i = 0; i < cold; ++i) h.Set("w", "fill" + std::to_string(i), value);
  for (int i = 0; i < hot; ++i) h.Set("w", "hot" + std::to_string(i), value);
  h.clock.Advance(2000);
  for (int i = 0; i < hot; ++i) h.Get("c", "hot" + std::to_string(i));
  for (int i = 0; i < cold; ++i) h.Set("w", "cold" + std::to_string(i), value);
  int hits = 0;
  for (int i = 0; i < hot; ++i) {
    h.Get("c", "hot" + std::to_string(i));
    const protocol::Reply r = h.Last("c", Op::kGet);
    hits += r.status == protocol::ReplyStatus::kOk ? 1 : 0;
  }
  return hits;
}

}  // namespace

TEST_CASE("the store keeps a hot set through a scan with the default old-blocks settings",
          "[node]") {
  CHECK(HotKeysLeftAfterScan(Options(), 16, 4000) == 16);
}

TEST_CASE("old-blocks 100 % and 0 ms make the store a plain LRU that a scan empties", "[node]") {
  NodeOptions o = Options();
  o.lru_old_percent = 100;
  o.lru_old_time_ms = 0;
  CHECK(HotKeysLeftAfterScan(o, 16, 4000) == 0);
}
