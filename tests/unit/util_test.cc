#include <array>
#include <catch2/catch.hpp>
#include <optional>
#include <random>
#include <string>

#include "meshcache/status.hpp"
#include "util/base64.h"
#include "util/bytes.h"
#include "util/clock.h"
#include "util/hash.h"
#include "util/histogram.h"
#include "util/hlc.h"
#include "util/node_state.h"

using namespace meshcache;

TEST_CASE("xxh32 matches the protocol's vectors", "[util]") {
  CHECK(Xxh32("") == 46947589u);
  CHECK(Xxh32("xia") == 181303650u);
  CHECK(Xxh32("user") == 2062859425u);
  CHECK(Xxh32("hello") == 4211111929u);
  CHECK(Xxh32("tcp://127.0.0.1:7000#0") == 330272902u);
}

TEST_CASE("status names round-trip through the wire codes", "[util]") {
  for (Code c : {Code::kBadRequest, Code::kTooLarge, Code::kUnavailable, Code::kTimeout,
                 Code::kLoadFailed, Code::kOverloaded}) {
    CHECK(CodeFromName(CodeName(c)) == c);
  }
  CHECK(std::string(CodeName(Code::kTooLarge)) == "too_large");
  CHECK(CodeFromName("no_such_code") == Code::kInternal);
  Status s = Status::Error(Code::kTimeout, "load took 5000 ms");
  CHECK_FALSE(s.ok());
  CHECK(s.ToString() == "timeout: load took 5000 ms");
}

TEST_CASE("result holds a value or an error", "[util]") {
  Result<int> good = 7;
  REQUIRE(good.ok());
  CHECK(*good == 7);
  Result<int> bad = Status::Error(Code::kUnavailable, "down");
  CHECK_FALSE(bad.ok());
  CHECK(bad.status().code() == Code::kUnavailable);
}

TEST_CASE("manual clock moves only when told", "[util]") {
  ManualClock clock(100);
  CHECK(clock.NowMs() == 100);
  clock.Advance(50);
  CHECK(clock.NowMs() == 150);
}

TEST_CASE("node states parse from their names", "[util]") {
  for (auto s : {NodeState::kAlive, NodeState::kSuspect, NodeState::kDead, NodeState::kLeft}) {
    CHECK(ParseNodeState(NodeStateName(s)) == s);
  }
  CHECK_FALSE(ParseNodeState("zombie").has_value());
  CHECK(OnRing(NodeState::kSuspect));
  CHECK_FALSE(OnRing(NodeState::kLeft));
}

TEST_CASE("a standalone value owns a copy of its bytes", "[util][value]") {
  std::string bytes("a\0b", 3);
  const Value v = MakeValue(bytes);
  bytes[0] = 'x';
  REQUIRE(v);
  CHECK(v.size() == 3);
  CHECK(v.view() == std::string_view("a\0b", 3));
  CHECK(std::string_view(v.data(), v.size()) == v.view());
  const Value empty = MakeValue("");
  CHECK(empty);  // an empty value is not a null one
  CHECK(empty.size() == 0);
  CHECK(empty.view().empty());
}

TEST_CASE("a null value has no bytes", "[util][value]") {
  const Value none;
  const Value from_null = nullptr;
  CHECK_FALSE(none);
  CHECK(none == nullptr);
  CHECK_FALSE(from_null);
  CHECK(none.size() == 0);
  CHECK(none.view().empty());
}

TEST_CASE("value copies share the bytes and outlive the original", "[util][value]") {
  Value original = MakeValue("shared");
  Value copy = original;
  CHECK(copy.data() == original.data());
  original = Value();
  CHECK_FALSE(original);
  CHECK(copy.view() == "shared");
  Value assigned;
  assigned = copy;
  copy = copy;  // self-assignment keeps the reference
  copy = nullptr;
  CHECK(assigned.view() == "shared");
}

TEST_CASE("moving a value leaves the source null", "[util][value]") {
  Value source = MakeValue("moved");
  const char* data = source.data();
  Value target = std::move(source);
  CHECK_FALSE(source);  // NOLINT(bugprone-use-after-move): the moved-from state is the contract
  CHECK(target.data() == data);
  CHECK(target.view() == "moved");
  Value other = MakeValue("other");
  other = std::move(target);
  CHECK(other.view() == "moved");
}

TEST_CASE("hybrid clock stamps from the wall clock, shifted past the counter", "[util][hlc]") {
  ManualClock clock(5000);
  HybridClock hlc(&clock);
  const uint64_t v = hlc.Now();
  CHECK(HybridClock::WallMsOf(v) == 5000);
  CHECK(v == (uint64_t{5000} << HybridClock::kCounterBits));
}

TEST_CASE("hybrid clock never repeats or goes back, even when the wall clock does", "[util][hlc]") {
  ManualClock clock(5000);
  HybridClock hlc(&clock);
  const uint64_t a = hlc.Now();
  const uint64_t b = hlc.Now();  // same millisecond
  CHECK(b == a + 1);
  clock.SetSkew(-1000);  // the wall clock steps back a second
  const uint64_t c = hlc.Now();
  CHECK(c > b);
  clock.SetSkew(0);
  clock.Advance(10);
  CHECK(HybridClock::WallMsOf(hlc.Now()) == 5010);
}

TEST_CASE("hybrid clock stamps after a version it observed from a node ahead of it",
          "[util][hlc]") {
  ManualClock clock(5000);
  HybridClock hlc(&clock);
  const uint64_t ahead = (uint64_t{9000} << HybridClock::kCounterBits) + 7;
  hlc.Observe(ahead);
  CHECK(hlc.Now() == ahead + 1);
  hlc.Observe(1);  // an old version changes nothing
  CHECK(hlc.Now() == ahead + 2);
}

TEST_CASE("base64 decoding is strict and encoding round-trips", "[base64]") {
  std::array<char, 16> out{};
  const auto decode = [&](std::string_view text) { return Base64Decode(text, out.data(), 16); };
  CHECK(decode("YQ==") == 1u);
  CHECK(decode("YWI=") == 2u);
  CHECK(decode("YWJj") == 3u);
  CHECK_FALSE(decode(""));
  CHECK_FALSE(decode("YQ="));       // length
  CHECK_FALSE(decode("YR=="));      // bits under the padding
  CHECK_FALSE(decode("Y==="));      // too much padding
  CHECK_FALSE(decode("Y=Q="));      // padding inside
  CHECK_FALSE(decode("YQ==YWJj"));  // padding before the end
  CHECK_FALSE(decode("YW J"));      // outside the alphabet
  CHECK(decode("YWJjYWJjYWJjYWJjYWJj") == 15u);
  CHECK_FALSE(decode("YWJjYWJjYWJjYWJjYWJjYWJj"));  // 18 bytes: more than 16
  std::mt19937 rng(7);
  for (int n = 0; n < 200; ++n) {
    std::string bytes(static_cast<size_t>(rng() % 40), '\0');
    for (char& ch : bytes) ch = static_cast<char>(rng());
    std::string text;
    AppendBase64(&text, bytes);
    std::array<char, 40> back{};
    const std::optional<size_t> size = Base64Decode(text, back.data(), back.size());
    REQUIRE(size == (bytes.empty() ? std::nullopt : std::optional<size_t>(bytes.size())));
    CHECK(std::string(back.data(), size.value_or(0)) == bytes);
  }
}

TEST_CASE("latency histogram counts each duration in its bucket and all above",
          "[util][histogram]") {
  LatencyHistogram h;
  const auto& bounds = LatencyHistogram::kBoundsUs;
  h.Record(bounds[0]);          // on the first bound: in it
  h.Record(bounds[0] + 1);      // just above: in the next
  h.Record(-5);                 // a clock that stepped back: 0
  h.Record(bounds.back() + 1);  // beyond the last bound: only in the count
  CHECK(h.AtMost(0) == 2);
  CHECK(h.AtMost(1) == 3);
  CHECK(h.AtMost(bounds.size() - 1) == 3);
  CHECK(h.count() == 4);
  CHECK(h.sum_us() == static_cast<uint64_t>(bounds[0] + bounds[0] + 1 + bounds.back() + 1));
  for (size_t i = 1; i < bounds.size(); ++i) CHECK(bounds[i] > bounds[i - 1]);
}
