// Loads alone, over FakeLoadRunner and a manual clock (load timeout 1000 ms).
#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fakes/fake_peers.h"
#include "node/loads.h"

using namespace meshcache;
using node::LoadOutcome;
using node::Waiter;

namespace {

constexpr int64_t kTimeoutMs = 1000;

struct Origin {
  testing::FakeLoadRunner runner;
  ManualClock clock{0};
  node::Loads loads{&runner, &clock, kTimeoutMs};

  // Waiter {1, 0}'s flight for "k" times out with its loader call still
  // running; then waiter {2, 0} asks for "k". Returns what that Start did.
  std::vector<Waiter> StartAfterTimedOutCall() {
    (void)loads.Start("k", {1, 0});
    (void)loads.Expire(kTimeoutMs);
    clock.Set(kTimeoutMs);
    return loads.Start("k", {2, 0});
  }

  size_t SubmittedFor(const std::string& key) const {
    size_t n = 0;
    for (const auto& [k, token] : runner.submitted) n += k == key;
    return n;
  }
};

Result<std::optional<Loaded>> Found(const std::string& value, uint64_t ttl_ms = 0) {
  return std::optional<Loaded>(Loaded{value, ttl_ms});
}

bool Same(const std::vector<Waiter>& got, const std::vector<Waiter>& want) {
  if (got.size() != want.size()) return false;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].job != want[i].job || got[i].slot != want[i].slot) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("loads submit once for concurrent starts and give every waiter the outcome",
          "[node][loads]") {
  Origin o;
  CHECK(o.loads.Start("k", {1, 0}).empty());
  CHECK(o.loads.Start("k", {2, 0}).empty());
  CHECK(o.loads.Start("k", {3, 4}).empty());
  CHECK(o.SubmittedFor("k") == 1);
  CHECK(o.loads.stats().loads == 1);
  CHECK(o.loads.in_flight() == 1);
  CHECK(o.loads.TakeDone().empty());  // nothing finished yet

  o.runner.Finish("k", Found("v", 250));
  std::vector<LoadOutcome> done = o.loads.TakeDone();
  REQUIRE(done.size() == 1);
  CHECK(done[0].key == "k");
  CHECK(Same(done[0].waiters, {{1, 0}, {2, 0}, {3, 4}}));
  REQUIRE(done[0].result.ok());
  REQUIRE(done[0].result->has_value());
  CHECK((*done[0].result)->value == "v");
  CHECK((*done[0].result)->ttl_ms == 250);
  CHECK(o.loads.in_flight() == 0);
  CHECK(o.loads.stats().late_loads == 0);

  SECTION("a start after the flight ended starts another") {
    CHECK(o.loads.Start("k", {4, 0}).empty());
    CHECK(o.SubmittedFor("k") == 1);
    CHECK(o.loads.stats().loads == 2);
  }
}

TEST_CASE("loads run different keys as separate flights", "[node][loads]") {
  Origin o;
  (void)o.loads.Start("a", {1, 0});
  (void)o.loads.Start("b", {2, 0});
  CHECK(o.runner.submitted.size() == 2);
  CHECK(o.loads.in_flight() == 2);
  o.runner.Finish("b", std::optional<Loaded>());  // the origin has no such key
  std::vector<LoadOutcome> done = o.loads.TakeDone();
  REQUIRE(done.size() == 1);
  CHECK(done[0].key == "b");
  REQUIRE(done[0].result.ok());
  CHECK_FALSE(done[0].result->has_value());
  CHECK(o.loads.in_flight() == 1);
}

TEST_CASE("loads return the waiters when the runner refuses", "[node][loads]") {
  Origin o;
  o.runner.full = true;
  std::vector<Waiter> refused = o.loads.Start("k", {5, 2});
  CHECK(Same(refused, {{5, 2}}));
  CHECK(o.loads.in_flight() == 0);
  CHECK(o.loads.stats().loads == 0);

  o.runner.full = false;  // room again: the next miss starts a flight
  CHECK(o.loads.Start("k", {6, 0}).empty());
  CHECK(o.SubmittedFor("k") == 1);
  CHECK(o.loads.stats().loads == 1);
}

TEST_CASE("loads answer timeout past the deadline and drop the late result", "[node][loads]") {
  Origin o;
  (void)o.loads.Start("k", {1, 0});
  (void)o.loads.Start("k", {2, 1});
  CHECK(o.loads.NextDeadline() == kTimeoutMs);
  CHECK(o.loads.Expire(kTimeoutMs - 1).empty());
  CHECK(o.loads.stats().load_timeouts == 0);

  std::vector<LoadOutcome> expired = o.loads.Expire(kTimeoutMs);
  REQUIRE(expired.size() == 1);
  CHECK(expired[0].key == "k");
  CHECK(Same(expired[0].waiters, {{1, 0}, {2, 1}}));
  REQUIRE_FALSE(expired[0].result.ok());
  CHECK(expired[0].result.status().code() == Code::kTimeout);
  CHECK(o.loads.stats().load_timeouts == 1);
  CHECK(o.loads.in_flight() == 0);
  CHECK(o.loads.NextDeadline() == INT64_MAX);

  o.runner.Finish("k", Found("too late"));
  CHECK(o.loads.TakeDone().empty());
  CHECK(o.loads.stats().late_loads == 1);
}

TEST_CASE("loads drop an old flight's result that comes after a new flight started",
          "[node][loads]") {
  Origin o;
  o.StartAfterTimedOutCall();
  o.runner.Finish("k", Found("old"));  // the first flight's call
  CHECK(o.loads.TakeDone().empty());
  CHECK(o.loads.stats().late_loads == 1);
  CHECK(o.loads.in_flight() == 1);

  o.runner.Finish("k", Found("new"));
  std::vector<LoadOutcome> done = o.loads.TakeDone();
  REQUIRE(done.size() == 1);
  CHECK(Same(done[0].waiters, {{2, 0}}));
  CHECK((*done[0].result)->value == "new");
}

TEST_CASE("loads never call the loader twice at once for a key", "[node][loads]") {
  Origin o;
  CHECK(o.StartAfterTimedOutCall().empty());
  CHECK(o.SubmittedFor("k") == 1);  // the new flight waits for the running call
  CHECK(o.loads.stats().loads == 1);

  o.runner.Finish("k", Found("old"));
  CHECK(o.loads.TakeDone().empty());  // late, and the waiting flight starts now
  CHECK(o.SubmittedFor("k") == 1);
  CHECK(o.loads.stats().loads == 2);
  o.runner.Finish("k", Found("new"));
  std::vector<LoadOutcome> done = o.loads.TakeDone();
  REQUIRE(done.size() == 1);
  CHECK(Same(done[0].waiters, {{2, 0}}));
  CHECK((*done[0].result)->value == "new");
}

TEST_CASE("loads end a flight that waited for a running call at its own deadline",
          "[node][loads]") {
  Origin o;
  o.StartAfterTimedOutCall();
  std::vector<LoadOutcome> expired = o.loads.Expire(2 * kTimeoutMs);
  REQUIRE(expired.size() == 1);
  CHECK(Same(expired[0].waiters, {{2, 0}}));
  o.runner.Finish("k", Found("old"));
  CHECK(o.loads.TakeDone().empty());
  CHECK(o.runner.submitted.empty());  // the ended flight never calls the loader
  CHECK(o.loads.stats().loads == 1);
}

TEST_CASE("loads answer overloaded when a waiting flight's call is refused", "[node][loads]") {
  Origin o;
  o.StartAfterTimedOutCall();
  o.runner.full = true;
  o.runner.Finish("k", Found("old"));
  std::vector<LoadOutcome> done = o.loads.TakeDone();
  REQUIRE(done.size() == 1);
  CHECK(Same(done[0].waiters, {{2, 0}}));
  REQUIRE_FALSE(done[0].result.ok());
  CHECK(done[0].result.status().code() == Code::kOverloaded);
  CHECK(o.loads.in_flight() == 0);
}

TEST_CASE("loads map a loader timeout to timeout and other errors to load_failed",
          "[node][loads]") {
  Origin o;
  (void)o.loads.Start("slow", {1, 0});
  (void)o.loads.Start("broken", {2, 0});
  o.runner.Finish("slow", Status::Error(Code::kTimeout, "origin took too long"));
  o.runner.Finish("broken", Status::Error(Code::kIoError, "origin refused"));
  std::vector<LoadOutcome> done = o.loads.TakeDone();
  REQUIRE(done.size() == 2);
  const LoadOutcome& slow = done[0].key == "slow" ? done[0] : done[1];
  const LoadOutcome& broken = done[0].key == "slow" ? done[1] : done[0];
  REQUIRE_FALSE(slow.result.ok());
  CHECK(slow.result.status().code() == Code::kTimeout);
  CHECK(slow.result.status().message() == "origin took too long");
  REQUIRE_FALSE(broken.result.ok());
  CHECK(broken.result.status().code() == Code::kLoadFailed);
  CHECK(broken.result.status().message() == "origin refused");
  CHECK(o.loads.stats().load_timeouts == 1);
  CHECK(o.loads.stats().load_errors == 1);
}

TEST_CASE("loads without a runner are disabled", "[node][loads]") {
  ManualClock clock{0};
  node::Loads loads(nullptr, &clock, kTimeoutMs);
  CHECK_FALSE(loads.enabled());
  testing::FakeLoadRunner runner;
  CHECK(node::Loads(&runner, &clock, kTimeoutMs).enabled());
}

// ---- versions -----------------------------------------------------------------------------

TEST_CASE("loads give back the version of the start that began the flight", "[node][loads]") {
  Origin o;
  CHECK(o.loads.Start("k", {1, 0}, 42).empty());
  CHECK(o.loads.Start("k", {2, 0}, 99).empty());  // joins: its version is ignored
  o.runner.Finish("k", Found("v"));
  std::vector<LoadOutcome> done = o.loads.TakeDone();
  REQUIRE(done.size() == 1);
  CHECK(done[0].version == 42);
  CHECK(Same(done[0].waiters, {{1, 0}, {2, 0}}));

  SECTION("the next flight carries its own") {
    (void)o.loads.Start("k", {3, 0}, 7);
    o.runner.Finish("k", Found("w"));
    done = o.loads.TakeDone();
    REQUIRE(done.size() == 1);
    CHECK(done[0].version == 7);
  }
}

TEST_CASE("loads give the version to an expired flight's outcome", "[node][loads]") {
  Origin o;
  (void)o.loads.Start("k", {1, 0}, 42);
  (void)o.loads.Start("k", {2, 0}, 99);
  std::vector<LoadOutcome> expired = o.loads.Expire(kTimeoutMs);
  REQUIRE(expired.size() == 1);
  CHECK(expired[0].result.status().code() == Code::kTimeout);
  CHECK(expired[0].version == 42);
}

TEST_CASE("loads give a flight that waited for a running call its own version", "[node][loads]") {
  Origin o;
  (void)o.loads.Start("k", {1, 0}, 5);
  (void)o.loads.Expire(kTimeoutMs);  // its call keeps running
  o.clock.Set(kTimeoutMs);
  CHECK(o.loads.Start("k", {2, 0}, 6).empty());  // waits for that call
  CHECK(o.loads.Start("k", {3, 0}, 8).empty());  // joins it
  o.runner.Finish("k", Found("old"));            // late: the waiting flight's call starts
  CHECK(o.loads.TakeDone().empty());
  o.runner.Finish("k", Found("new"));
  std::vector<LoadOutcome> done = o.loads.TakeDone();
  REQUIRE(done.size() == 1);
  CHECK((*done[0].result)->value == "new");
  CHECK(done[0].version == 6);
}

TEST_CASE("loads give a waiting flight the queue refused its own version", "[node][loads]") {
  Origin o;
  (void)o.loads.Start("k", {1, 0}, 5);
  (void)o.loads.Expire(kTimeoutMs);
  o.clock.Set(kTimeoutMs);
  CHECK(o.loads.Start("k", {2, 0}, 6).empty());
  o.runner.full = true;
  o.runner.Finish("k", Found("old"));
  std::vector<LoadOutcome> done = o.loads.TakeDone();
  REQUIRE(done.size() == 1);
  CHECK(done[0].result.status().code() == Code::kOverloaded);
  CHECK(done[0].version == 6);
}
