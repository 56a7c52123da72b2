// Forwarder alone, over FakePeers and a manual clock (timeout 1000 ms).
#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fakes/fake_peers.h"
#include "node/forwarder.h"

using namespace meshcache;
using node::Forward;
using protocol::Op;

namespace {

constexpr int64_t kTimeoutMs = 1000;

struct Mesh {
  testing::FakePeers peers;
  ManualClock clock{0};
  node::Forwarder forwarder{peers, &clock, kTimeoutMs};

  // Forwards inner (op with keys) to target for job; returns its wire id, 0
  // when Send refused.
  uint64_t Send(const std::string& target, Op op, std::vector<std::string> keys, uint64_t job = 1) {
    Forward fwd;
    fwd.job = job;
    fwd.inner.op = op;
    fwd.inner.keys = std::move(keys);
    for (size_t i = 0; i < fwd.inner.keys.size(); ++i) fwd.slots.push_back(i);
    size_t before = peers.sent.size();
    if (!forwarder.Send(target, fwd, Wrap(fwd.inner))) return 0;
    REQUIRE(peers.sent.size() == before + 1);
    return peers.sent.back().id;
  }
  uint64_t Get(const std::string& key, const std::string& target = "tcp://owner:1") {
    return Send(target, Op::kGet, {key});
  }
  bool Invalidated(uint64_t wire_id) {
    std::optional<Forward> f = forwarder.Match(wire_id);
    REQUIRE(f);
    return f->invalidated;
  }
  static protocol::Request Wrap(const protocol::Request& inner) {
    protocol::Request outer;
    outer.op = Op::kFwd;
    outer.from = "tcp://self:1";
    outer.inner = std::make_shared<const protocol::Request>(inner);
    return outer;
  }
};

}  // namespace

const std::string kY = "y";

TEST_CASE("forwarder sends each request with a fresh wire id", "[node][forwarder]") {
  Mesh m;
  uint64_t a = m.Send("tcp://b:1", Op::kGet, {"k1"});
  uint64_t b = m.Send("tcp://c:1", Op::kMget, {"k2", "k3"});
  CHECK(a != 0);
  CHECK(b != 0);
  CHECK(a != b);
  REQUIRE(m.peers.sent.size() == 2);
  const auto& first = m.peers.sent[0];
  CHECK(first.endpoint == "tcp://b:1");
  CHECK(first.request.id == a);  // the body carries the wire id Peers was told
  CHECK(first.request.op == Op::kFwd);
  CHECK(first.request.from == "tcp://self:1");
  REQUIRE(first.request.inner);
  CHECK(first.request.inner->op == Op::kGet);
  CHECK(first.request.inner->keys == std::vector<std::string>{"k1"});
  const auto& second = m.peers.sent[1];
  CHECK(second.endpoint == "tcp://c:1");
  CHECK(second.request.id == b);
  REQUIRE(second.request.inner);
  CHECK(second.request.inner->keys == std::vector<std::string>{"k2", "k3"});
  CHECK(m.forwarder.pending() == 2);
  CHECK(m.forwarder.stats().forwards == 2);
}

TEST_CASE("forwarder counts client forwards apart from its own peer requests",
          "[node][forwarder]") {
  Mesh m;
  REQUIRE(m.Get("k") != 0);  // a client's get, sent on to its owner
  Forward replica;
  replica.inner.op = Op::kSet;
  replica.inner.keys = {"k"};
  protocol::Request outer = Mesh::Wrap(replica.inner);
  outer.replica = true;
  REQUIRE(m.forwarder.Send("tcp://r:1", replica, outer));
  for (Op op : {Op::kProbe, Op::kJoin, Op::kPeek}) {
    Forward own;
    own.inner.op = op;
    REQUIRE(m.forwarder.Send("tcp://p:1", own, own.inner));
  }
  CHECK(m.forwarder.stats().forwards == 1);
  CHECK(m.forwarder.stats().peer_requests == 4);
}

TEST_CASE("forwarder keeps at most max_replica_writes in flight, refusing and counting more",
          "[node][forwarder]") {
  testing::FakePeers peers;
  ManualClock clock{0};
  node::Forwarder forwarder{peers, &clock, kTimeoutMs, /*max_replica_writes=*/2};
  auto replicate = [&](const std::string& key) {
    Forward fwd;
    fwd.inner.op = Op::kSet;
    fwd.inner.keys = {key};
    protocol::Request outer = Mesh::Wrap(fwd.inner);
    outer.replica = true;
    return forwarder.Send("tcp://replica:1", fwd, outer);
  };
  CHECK(replicate("a"));
  CHECK(replicate("b"));
  CHECK_FALSE(replicate("c"));
  CHECK(forwarder.stats().replica_writes_dropped == 1);
  CHECK(peers.sent.size() == 2);
  // A client's forward is not a replica write: never refused for them.
  Forward get;
  get.job = 1;
  get.inner.op = Op::kGet;
  get.inner.keys = {"k"};
  get.slots = {0};
  CHECK(forwarder.Send("tcp://owner:1", get, Mesh::Wrap(get.inner)));
  // An answer, or a deadline, makes room again.
  REQUIRE(forwarder.Match(peers.sent[0].id));
  CHECK(replicate("d"));
  clock.Advance(kTimeoutMs);
  CHECK(forwarder.Expire(clock.NowMs()).size() == 3);
  CHECK(replicate("e"));
  CHECK(replicate("f"));
  CHECK(forwarder.stats().replica_writes_dropped == 1);
}

TEST_CASE("forwarder matches a reply once and counts a second or unknown id as late",
          "[node][forwarder]") {
  Mesh m;
  uint64_t id = m.Send("tcp://b:1", Op::kMget, {"x", "y"}, /*job=*/77);
  std::optional<Forward> f = m.forwarder.Match(id);
  REQUIRE(f);
  CHECK(f->job == 77);
  CHECK(f->target == "tcp://b:1");
  CHECK(f->slots == std::vector<size_t>{0, 1});
  CHECK(f->inner.keys == std::vector<std::string>{"x", "y"});
  CHECK(f->deadline_ms == kTimeoutMs);
  CHECK(m.forwarder.stats().late_replies == 0);
  CHECK(m.forwarder.pending() == 0);

  CHECK_FALSE(m.forwarder.Match(id));
  CHECK(m.forwarder.stats().late_replies == 1);
  CHECK_FALSE(m.forwarder.Match(id + 1000));
  CHECK(m.forwarder.stats().late_replies == 2);
}

TEST_CASE("forwarder expires only forwards past their deadline and cancels them",
          "[node][forwarder]") {
  Mesh m;
  uint64_t early = m.Get("a", "tcp://b:1");
  m.clock.Advance(500);
  uint64_t later = m.Get("b", "tcp://c:1");

  CHECK(m.forwarder.Expire(999).empty());
  CHECK(m.peers.cancelled.empty());
  CHECK(m.forwarder.stats().forward_timeouts == 0);

  std::vector<Forward> out = m.forwarder.Expire(1000);
  REQUIRE(out.size() == 1);
  CHECK(out[0].inner.keys[0] == "a");
  CHECK(m.forwarder.stats().forward_timeouts == 1);
  REQUIRE(m.peers.cancelled.size() == 1);
  CHECK(m.peers.cancelled[0] == std::make_pair(std::string("tcp://b:1"), early));
  CHECK(m.forwarder.pending() == 1);

  CHECK_FALSE(m.forwarder.Match(early));  // its reply, after the deadline, is late
  CHECK(m.forwarder.stats().late_replies == 1);

  out = m.forwarder.Expire(1500);
  REQUIRE(out.size() == 1);
  CHECK(out[0].inner.keys[0] == "b");
  REQUIRE(m.peers.cancelled.size() == 2);
  CHECK(m.peers.cancelled[1] == std::make_pair(std::string("tcp://c:1"), later));
  CHECK(m.forwarder.stats().forward_timeouts == 2);
  CHECK(m.forwarder.pending() == 0);
}

TEST_CASE("forwarder does not expire or cancel a forward that was answered", "[node][forwarder]") {
  Mesh m;
  uint64_t id = m.Get("a");
  REQUIRE(m.forwarder.Match(id));
  CHECK(m.forwarder.Expire(10 * kTimeoutMs).empty());
  CHECK(m.peers.cancelled.empty());
  CHECK(m.forwarder.stats().forward_timeouts == 0);
}

TEST_CASE("forwarder NextDeadline is the earliest pending deadline", "[node][forwarder]") {
  Mesh m;
  CHECK(m.forwarder.NextDeadline() == INT64_MAX);
  uint64_t first = m.Get("a");
  m.clock.Advance(300);
  m.Get("b");
  CHECK(m.forwarder.NextDeadline() == kTimeoutMs);
  REQUIRE(m.forwarder.Match(first));
  CHECK(m.forwarder.NextDeadline() == 300 + kTimeoutMs);
  (void)m.forwarder.Expire(300 + kTimeoutMs);
  CHECK(m.forwarder.NextDeadline() == INT64_MAX);
}

TEST_CASE("forwarder Send to an unreachable endpoint leaves the forward as it was",
          "[node][forwarder]") {
  Mesh m;
  m.peers.unreachable.insert("not an endpoint");
  Forward fwd;
  fwd.job = 9;
  fwd.slots = {4};
  fwd.inner.op = Op::kGet;
  fwd.inner.keys = {"k"};
  fwd.tried = {"tcp://old:1"};
  CHECK_FALSE(m.forwarder.Send("not an endpoint", fwd, Mesh::Wrap(fwd.inner)));
  CHECK(fwd.job == 9);
  CHECK(fwd.slots == std::vector<size_t>{4});
  CHECK(fwd.inner.keys == std::vector<std::string>{"k"});
  CHECK(fwd.tried == std::vector<std::string>{"tcp://old:1"});
  CHECK(m.forwarder.pending() == 0);
  CHECK(m.forwarder.stats().forwards == 0);
  CHECK(m.forwarder.NextDeadline() == INT64_MAX);
  CHECK(m.peers.sent.empty());

  // Nor is the key left in flight: a later invalidation marks nothing.
  m.forwarder.MarkInvalidated(nullptr);
  uint64_t id = m.Get("k");
  CHECK_FALSE(m.Invalidated(id));
}

TEST_CASE("forwarder marks a get whose key is invalidated while in flight", "[node][forwarder]") {
  Mesh m;
  uint64_t a = m.Get("k");
  uint64_t b = m.Get("k", "tcp://replica:1");
  const std::string key = "k";
  m.forwarder.MarkInvalidated(&key);
  CHECK(m.Invalidated(a));
  CHECK(m.Invalidated(b));
}

TEST_CASE("forwarder marks every get in flight when all keys are invalidated",
          "[node][forwarder]") {
  Mesh m;
  uint64_t a = m.Get("k1");
  uint64_t b = m.Get("k2");
  m.forwarder.MarkInvalidated(nullptr);
  CHECK(m.Invalidated(a));
  CHECK(m.Invalidated(b));
}

TEST_CASE("forwarder marks the expired get too", "[node][forwarder]") {
  Mesh m;
  m.Get("k");
  const std::string key = "k";
  m.forwarder.MarkInvalidated(&key);
  std::vector<Forward> out = m.forwarder.Expire(kTimeoutMs);
  REQUIRE(out.size() == 1);
  CHECK(out[0].invalidated);
}

TEST_CASE("forwarder does not mark a get for an invalidation of another key", "[node][forwarder]") {
  Mesh m;
  uint64_t id = m.Get("k");
  const std::string other = "other";
  m.forwarder.MarkInvalidated(&other);
  CHECK_FALSE(m.Invalidated(id));
}

TEST_CASE("forwarder does not mark a get for an invalidation after it finished",
          "[node][forwarder]") {
  Mesh m;
  const std::string key = "k";
  uint64_t answered = m.Get("k");
  REQUIRE(m.forwarder.Match(answered));
  m.forwarder.MarkInvalidated(&key);
  m.Get("timed out");
  (void)m.forwarder.Expire(kTimeoutMs);
  m.forwarder.MarkInvalidated(nullptr);

  uint64_t fresh = m.Get("k");
  uint64_t fresh2 = m.Get("timed out");
  CHECK_FALSE(m.Invalidated(fresh));
  CHECK_FALSE(m.Invalidated(fresh2));
}

TEST_CASE("forwarder marks an mget one of whose keys is invalidated while in flight",
          "[node][forwarder]") {
  Mesh m;
  uint64_t mget = m.Send("tcp://b:1", Op::kMget, {"x", "y"});
  m.forwarder.MarkInvalidated(&kY);
  std::optional<Forward> f = m.forwarder.Match(mget);
  REQUIRE(f);
  CHECK(f->invalidated);
}

TEST_CASE("forwarder tracks in-flight lookups only: other ops are never marked",
          "[node][forwarder]") {
  Mesh m;
  uint64_t set = m.Send("tcp://b:1", Op::kSet, {"k"});
  m.forwarder.MarkInvalidated(nullptr);
  std::optional<Forward> f = m.forwarder.Match(set);
  REQUIRE(f);
  CHECK_FALSE(f->invalidated);
}
