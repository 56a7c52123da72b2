#include "singleflight/singleflight.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

using namespace meshcache;

using Flights = SingleFlight<int>;

TEST_CASE("singleflight starts a flight on the first join, later ones join it", "[singleflight]") {
  Flights f;
  auto [token, started] = f.Join("k", 1, 100);
  CHECK(started);
  auto [token2, started2] = f.Join("k", 2, 500);
  CHECK_FALSE(started2);
  CHECK(token2 == token);
  CHECK(f.in_flight() == 1);
}

TEST_CASE("singleflight keeps one flight per key", "[singleflight]") {
  Flights f;
  auto a = f.Join("a", 1, 100);
  auto b = f.Join("b", 2, 100);
  CHECK(a.second);
  CHECK(b.second);
  CHECK(a.first != b.first);
  CHECK(f.in_flight() == 2);
  CHECK(f.Complete("a", b.first).empty());  // b's token does not end a's flight
  CHECK(f.in_flight() == 2);
}

TEST_CASE("singleflight complete returns every waiter once, in join order", "[singleflight]") {
  Flights f;
  auto [token, started] = f.Join("k", 1, 100);
  REQUIRE(started);
  (void)f.Join("k", 2, 100);
  (void)f.Join("k", 3, 100);
  CHECK(f.Complete("k", token) == std::vector<int>{1, 2, 3});
  CHECK(f.in_flight() == 0);
  CHECK(f.Complete("k", token).empty());
}

TEST_CASE("singleflight starts afresh after a flight completes", "[singleflight]") {
  Flights f;
  auto first = f.Join("k", 1, 100);
  (void)f.Complete("k", first.first);
  auto second = f.Join("k", 2, 100);
  CHECK(second.second);
  CHECK(second.first != first.first);
  CHECK(f.Complete("k", second.first) == std::vector<int>{2});
}

TEST_CASE("singleflight drops a late result for an expired flight", "[singleflight]") {
  Flights f;
  auto old = f.Join("k", 1, 100);
  auto expired = f.Expire(100);
  REQUIRE(expired.size() == 1);
  auto fresh = f.Join("k", 2, 300);
  REQUIRE(fresh.second);
  CHECK(f.Complete("k", old.first).empty());  // the old load finishing late
  CHECK(f.in_flight() == 1);
  CHECK(f.Complete("k", fresh.first) == std::vector<int>{2});
}

TEST_CASE("singleflight complete of an unknown key returns nothing", "[singleflight]") {
  Flights f;
  CHECK(f.Complete("nope", 1).empty());
}

TEST_CASE("singleflight expires only flights past their deadline", "[singleflight]") {
  Flights f;
  (void)f.Join("early", 1, 100);
  (void)f.Join("early", 2, 999);  // a joiner's deadline does not extend the flight
  (void)f.Join("on-time", 3, 200);
  (void)f.Join("late", 4, 201);
  CHECK(f.Expire(99).empty());
  auto ended = f.Expire(200);
  REQUIRE(ended.size() == 2);
  std::sort(ended.begin(), ended.end());
  CHECK(ended[0].first == "early");
  CHECK(ended[0].second == std::vector<int>{1, 2});
  CHECK(ended[1].first == "on-time");
  CHECK(ended[1].second == std::vector<int>{3});
  CHECK(f.in_flight() == 1);
  CHECK(f.Expire(200).empty());
}

TEST_CASE("singleflight next deadline is the earliest one in flight", "[singleflight]") {
  Flights f;
  CHECK(f.NextDeadline() == INT64_MAX);
  (void)f.Join("a", 1, 300);
  (void)f.Join("b", 2, 100);
  (void)f.Join("c", 3, 200);
  CHECK(f.NextDeadline() == 100);
  (void)f.Expire(100);
  CHECK(f.NextDeadline() == 200);
  (void)f.Expire(1000);
  CHECK(f.NextDeadline() == INT64_MAX);
}

TEST_CASE("singleflight moves waiters it cannot copy", "[singleflight]") {
  SingleFlight<std::unique_ptr<int>> f;
  auto [token, started] = f.Join("k", std::make_unique<int>(7), 100);
  REQUIRE(started);
  auto waiters = f.Complete("k", token);
  REQUIRE(waiters.size() == 1);
  CHECK(*waiters[0] == 7);
}
