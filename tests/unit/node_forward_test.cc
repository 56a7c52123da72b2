// node::Service's forwards: fallbacks to the next holder, the loader and
// `unavailable`; late and err replies; writes through a non-owner; joins.
#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "node_harness.h"

using namespace meshcache;
using namespace meshcache::testing;

namespace {

// Holders h with neither being self (replicas=2 over self, a and b).
bool BothPeers(const std::vector<std::string>& h) {
  return h.size() == 2 && h[0] != kSelf && h[1] != kSelf;
}

// Gets key (held by two peers) and lets both holders time out.
void BothHoldersTimeOut(Harness& h, const std::string& key) {
  auto holders = h.service.gossiper().ring()->Holders(key);
  h.Get("c", key);
  Sent first = h.LastSent(*holders[0]);
  CHECK(IsGetOf(first, key));
  CHECK(h.peers.SentTo(*holders[1]).empty());
  h.PastForwardTimeout();
  CHECK(h.WasCancelled(first));
  REQUIRE(h.peers.SentTo(*holders[1]).size() == 1);
  Sent second = h.LastSent(*holders[1]);
  CHECK(IsGetOf(second, key));
  CHECK(h.RepliesTo("c") == 0);
  h.PastForwardTimeout();
  CHECK(h.WasCancelled(second));
  CHECK(h.peers.sent.size() == 2);
}

}  // namespace

// ---- forwards and fallbacks -------------------------------------------------

TEST_CASE("a get whose holders time out falls back to the next holder, then the loader", "[node]") {
  Harness h(Options(2), /*with_loader=*/true);
  h.Join({kA, kB});
  std::string key = h.KeyWith(BothPeers);
  BothHoldersTimeOut(h, key);
  REQUIRE(h.loader.submitted.size() == 1);
  CHECK(h.loader.submitted[0].first == key);
  CHECK(h.RepliesTo("c") == 0);
  h.loader.Finish(key, std::optional<Loaded>(Loaded{"loaded", 0}));
  h.service.OnLoadsDone();
  REQUIRE(h.RepliesTo("c") == 1);
  CHECK(h.ValueOf("c") == "loaded");
}

TEST_CASE("a get whose holders time out without a loader is answered unavailable", "[node]") {
  Harness h(Options(2));
  h.Join({kA, kB});
  std::string key = h.KeyWith(BothPeers);
  BothHoldersTimeOut(h, key);
  REQUIRE(h.RepliesTo("c") == 1);
  protocol::Reply r = h.Last("c", Op::kGet);
  CHECK(r.status == protocol::ReplyStatus::kErr);
  CHECK(r.error_code == "unavailable");
  CHECK(h.Stat("forward_timeouts") == 2);
}

TEST_CASE("a get to an unreachable holder falls back to the next holder at once", "[node]") {
  Harness h(Options(2));
  h.Join({kA, kB});
  std::string key = h.KeyWith(BothPeers);
  auto holders = h.service.gossiper().ring()->Holders(key);
  h.peers.unreachable.insert(*holders[0]);
  h.Get("c", key);
  REQUIRE(h.peers.sent.size() == 1);
  Sent s = h.LastSent(*holders[1]);
  CHECK(IsGetOf(s, key));
  h.AnswerValue(s, "from-replica");
  CHECK(h.ValueOf("c") == "from-replica");
}

TEST_CASE("a reply after its forward's deadline is dropped and counted", "[node]") {
  Harness h;
  h.Join({kA});
  std::string key = h.KeyOwnedBy(kA);
  h.Get("c", key);
  Sent s = h.LastSent(kA);
  h.PastForwardTimeout();
  REQUIRE(h.RepliesTo("c") == 1);
  CHECK(h.Last("c", Op::kGet).error_code == "unavailable");
  h.AnswerValue(s, "too-late");
  CHECK(h.RepliesTo("c") == 1);
  CHECK(h.Last("c", Op::kGet).status == protocol::ReplyStatus::kErr);
  CHECK(h.Stat("late_replies") == 1);
}

TEST_CASE("an owner's err reply is passed to the client", "[node]") {
  Harness h;
  h.Join({kA});
  std::string key = h.KeyOwnedBy(kA);
  h.Get("c", key);
  Sent s = h.LastSent(kA);
  h.Answer(protocol::EncodeError(s.id, Code::kLoadFailed, "origin down"));
  REQUIRE(h.RepliesTo("c") == 1);
  protocol::Reply r = h.Last("c", Op::kGet);
  CHECK(r.status == protocol::ReplyStatus::kErr);
  CHECK(r.error_code == "load_failed");
  CHECK(r.error_message == "origin down");
  CHECK(h.peers.sent.size() == 1);  // no fallback: the owner did answer
}

TEST_CASE("a set through a non-owner is forwarded to the owner and acknowledged", "[node]") {
  Harness h;
  h.Join({kA});
  std::string key = h.KeyOwnedBy(kA);
  h.Set("c", key, "v");
  CHECK(h.RepliesTo("c") == 0);
  Sent s = h.LastSent(kA);
  CHECK(s.request.op == Op::kFwd);
  CHECK_FALSE(s.request.replica);
  REQUIRE(s.request.inner);
  CHECK(s.request.inner->op == Op::kSet);
  CHECK(s.request.inner->value == "v");
  h.Answer(protocol::EncodeOk(s.id));
  REQUIRE(h.RepliesTo("c") == 1);
  CHECK(h.Last("c", Op::kSet).status == protocol::ReplyStatus::kOk);
}

// ---- joining ----------------------------------------------------------------------

TEST_CASE("a join tries the seeds in turn with doubling backoff until one answers", "[node]") {
  NodeOptions o = Options();
  o.join = {kA, kB};
  Harness h(o);
  const int64_t t0 = h.clock.NowMs();
  std::vector<std::pair<int64_t, std::string>> attempts;
  for (int64_t t = t0; t <= t0 + 16'500; ++t) {  // the last attempt is at t0 + 16300
    h.At(t);
    if (h.peers.sent.size() > attempts.size())
      attempts.emplace_back(t, h.peers.sent.back().endpoint);
  }
  REQUIRE(attempts.size() == 9);
  const std::vector<int64_t> gaps = {100, 200, 400, 800, 1600, 3200, 5000, 5000};
  for (size_t i = 0; i < attempts.size(); ++i) {
    CHECK(attempts[i].second == (i % 2 == 0 ? kA : kB));
    if (i > 0) CHECK(attempts[i].first - attempts[i - 1].first == gaps[i - 1]);
  }
  Sent last = h.peers.sent.back();
  CHECK(last.request.op == Op::kJoin);
  CHECK(last.request.member.id == kSelf);
  h.Answer(protocol::EncodeMembers(last.id, {Member(kA), Member(kB), Member(kSelf)}));
  CHECK(h.service.gossiper().joined());
  for (int64_t t = t0 + 16'500; t <= t0 + 40'000; t += 10) h.At(t);
  // No more joins; what leaves now are syncs, which carry this node's table.
  size_t joins = 0, syncs = 0;
  for (const Sent& s : h.peers.sent) (s.request.members.empty() ? joins : syncs) += 1;
  CHECK(joins == 9);
  CHECK(syncs >= 4);  // every 10 heartbeats of 500 ms, over 23.5 s
  std::vector<std::string> ring;
  for (const auto& m : h.service.gossiper().ring()->members()) ring.push_back(m.id);
  CHECK(std::is_permutation(ring.begin(), ring.end(),
                            std::vector<std::string>{kA, kB, kSelf}.begin()));
  CHECK(ring.size() == 3);
}

TEST_CASE(
    "an invalidation seen before a fallback keeps the next holder's answer out of the hot "
    "copies",
    "[node]") {
  Harness h(Options(2));
  h.Join({kA, kB});
  std::string key = h.KeyWith(BothPeers);
  auto holders = h.service.gossiper().ring()->Holders(key);
  h.Get("c1", key);
  h.Invalidate(*holders[0], key);  // the owner's write, seen while its forward is in flight
  h.PastForwardTimeout();
  Sent fallback = h.LastSent(*holders[1]);
  REQUIRE(IsGetOf(fallback, key));
  h.AnswerValue(fallback, "old");  // the replica may not have the write yet
  CHECK(h.ValueOf("c1") == "old");
  h.Get("c2", key);
  CHECK(h.RepliesTo("c2") == 0);  // asked again, not served from a hot copy
  CHECK(h.Stat("hot_hits") == 0);
}
