// Tombstones alone, on a manual clock: life 1000 ms, at most 3 remembered.
#include <catch2/catch.hpp>
#include <optional>
#include <string>

#include "node/tombstones.h"

using namespace meshcache;
using node::Tombstones;

namespace {

constexpr int64_t kLifeMs = 1000;

struct Fixture {
  ManualClock clock{0};
  Tombstones stones{&clock, kLifeMs, 3};
};

}  // namespace

TEST_CASE("tombstones find a delete's version and bury writes not newer", "[node][tombstones]") {
  Fixture f;
  CHECK(f.stones.Find("k") == std::nullopt);
  CHECK_FALSE(f.stones.Buries("k", 1));
  f.stones.Add("k", 50);
  CHECK(f.stones.Find("k") == 50u);
  CHECK(f.stones.size() == 1);
  CHECK(f.stones.Buries("k", 49));
  CHECK(f.stones.Buries("k", 50));  // the delete itself, or a write at its version
  CHECK_FALSE(f.stones.Buries("k", 51));
  CHECK(f.stones.Find("other") == std::nullopt);
  CHECK_FALSE(f.stones.Buries("other", 1));
}

TEST_CASE("tombstones keep the newer delete of a key", "[node][tombstones]") {
  Fixture f;
  f.stones.Add("k", 50);
  f.stones.Add("k", 70);
  CHECK(f.stones.Find("k") == 70u);
  f.stones.Add("k", 60);  // an older delete arriving late
  CHECK(f.stones.Find("k") == 70u);
  CHECK(f.stones.Buries("k", 65));
  CHECK(f.stones.size() == 1);
}

TEST_CASE("tombstones erase a key that lives again", "[node][tombstones]") {
  Fixture f;
  f.stones.Add("k", 50);
  f.stones.Add("j", 50);
  f.stones.Erase("k");
  CHECK(f.stones.Find("k") == std::nullopt);
  CHECK_FALSE(f.stones.Buries("k", 1));
  CHECK(f.stones.Find("j") == 50u);
  CHECK(f.stones.size() == 1);
  f.stones.Erase("never-added");  // harmless
  CHECK(f.stones.size() == 1);
}

TEST_CASE("tombstones forget a delete after their life", "[node][tombstones]") {
  Fixture f;
  f.stones.Add("k", 50);
  f.clock.Set(kLifeMs - 1);
  CHECK(f.stones.Find("k") == 50u);
  f.clock.Set(kLifeMs);
  CHECK(f.stones.Find("k") == std::nullopt);
  CHECK_FALSE(f.stones.Buries("k", 1));
  CHECK(f.stones.size() == 0);
}

TEST_CASE("tombstones over their count drop the oldest", "[node][tombstones]") {
  Fixture f;
  f.stones.Add("a", 1);
  f.clock.Advance(1);
  f.stones.Add("b", 2);
  f.clock.Advance(1);
  f.stones.Add("c", 3);
  f.clock.Advance(1);
  f.stones.Add("d", 4);
  CHECK(f.stones.size() == 3);
  CHECK(f.stones.Find("a") == std::nullopt);
  CHECK(f.stones.Find("b") == 2u);
  CHECK(f.stones.Find("c") == 3u);
  CHECK(f.stones.Find("d") == 4u);
}

TEST_CASE("a re-added tombstone keeps its newer deadline", "[node][tombstones]") {
  Fixture f;
  f.stones.Add("k", 50);
  f.clock.Set(500);
  f.stones.Add("k", 60);  // remembered until 1500 now
  f.clock.Set(kLifeMs);
  CHECK(f.stones.Find("k") == 60u);  // the first deadline passed over
  f.clock.Set(1499);
  CHECK(f.stones.Find("k") == 60u);
  f.clock.Set(1500);
  CHECK(f.stones.Find("k") == std::nullopt);
}

TEST_CASE("a re-added tombstone is not the oldest when the count overflows", "[node][tombstones]") {
  Fixture f;
  f.stones.Add("a", 1);
  f.clock.Advance(1);
  f.stones.Add("b", 1);
  f.clock.Advance(1);
  f.stones.Add("c", 1);
  f.clock.Advance(1);
  f.stones.Add("a", 2);  // a's deadline is the newest now
  f.clock.Advance(1);
  f.stones.Add("d", 1);
  CHECK(f.stones.size() == 3);
  CHECK(f.stones.Find("a") == 2u);
  CHECK(f.stones.Find("b") == std::nullopt);
  CHECK(f.stones.Find("c") == 1u);
  CHECK(f.stones.Find("d") == 1u);
}

TEST_CASE("an older re-add of a tombstone keeps the first deadline", "[node][tombstones]") {
  Fixture f;
  f.stones.Add("k", 60);
  f.clock.Set(500);
  f.stones.Add("k", 50);  // ignored, deadline and all
  f.clock.Set(kLifeMs - 1);
  CHECK(f.stones.Find("k") == 60u);
  f.clock.Set(kLifeMs);
  CHECK(f.stones.Find("k") == std::nullopt);
}

TEST_CASE("an erased and re-added tombstone lives its new life", "[node][tombstones]") {
  Fixture f;
  f.stones.Add("k", 50);
  f.clock.Set(500);
  f.stones.Erase("k");
  f.stones.Add("k", 70);
  f.clock.Set(kLifeMs);  // the first Add's deadline ends nothing
  CHECK(f.stones.Find("k") == 70u);
  f.clock.Set(1500);
  CHECK(f.stones.Find("k") == std::nullopt);
}
