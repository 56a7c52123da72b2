// The store's versions (Set, SetIfNewer, VersionOf) and its Scan.
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "store/store.h"
#include "util/clock.h"

using namespace meshcache;

namespace {

StoreOptions Options(size_t shards = 4) {
  StoreOptions o;
  o.capacity_bytes = 4u << 20;
  o.shards = shards;
  return o;
}

std::string ValueOf(const std::optional<Value>& v) { return v ? std::string(v->view()) : "<miss>"; }

}  // namespace

TEST_CASE("store returns the version a value was set with", "[store][version]") {
  ManualClock clock;
  Store store(Options(), &clock);
  REQUIRE(store.Set("k", "v", 0, 42));
  uint64_t version = 0;
  CHECK(ValueOf(store.Get("k", nullptr, &version)) == "v");
  CHECK(version == 42);
  CHECK(store.VersionOf("k") == 42u);
  CHECK_FALSE(store.VersionOf("absent").has_value());
}

TEST_CASE("store SetIfNewer replaces an older version and keeps a newer or equal one",
          "[store][version]") {
  ManualClock clock;
  Store store(Options(), &clock);
  CHECK(store.SetIfNewer("k", "first", 0, 10));  // absent: stored
  CHECK(store.SetIfNewer("k", "newer", 0, 11));
  CHECK(ValueOf(store.Get("k")) == "newer");
  CHECK_FALSE(store.SetIfNewer("k", "older", 0, 9));
  CHECK_FALSE(store.SetIfNewer("k", "same", 0, 11));
  uint64_t version = 0;
  CHECK(ValueOf(store.Get("k", nullptr, &version)) == "newer");
  CHECK(version == 11);
}

TEST_CASE("store SetIfNewer is not held back by an expired entry", "[store][version]") {
  ManualClock clock;
  Store store(Options(), &clock);
  REQUIRE(store.Set("k", "old", 100, 50));
  clock.Advance(100);
  CHECK_FALSE(store.VersionOf("k").has_value());
  CHECK(store.SetIfNewer("k", "fresh", 0, 1));
  CHECK(ValueOf(store.Get("k")) == "fresh");
}

TEST_CASE("store VersionOf counts no hit", "[store][version]") {
  ManualClock clock;
  Store store(Options(), &clock);
  REQUIRE(store.Set("k", "v", 0, 1));
  (void)store.VersionOf("k");
  (void)store.VersionOf("absent");
  CHECK(store.Stats().hits == 0);
  CHECK(store.Stats().misses == 0);
}

TEST_CASE("store Scan hands out every live entry once, with its ttl and version", "[store][scan]") {
  ManualClock clock;
  Store store(Options(8), &clock);
  for (int i = 0; i < 500; ++i) {
    const std::string key = "k" + std::to_string(i);
    REQUIRE(store.Set(key, "v" + std::to_string(i), i % 2 ? 1000 : 0, 1000 + i));
  }
  REQUIRE(store.Set("gone", "x", 10, 1));
  clock.Advance(10);  // "gone" expires; the others have 990 ms left or none

  std::map<std::string, StoreEntry> seen;
  Store::ScanCursor cursor;
  size_t calls = 0;
  while (!cursor.done()) {
    std::vector<StoreEntry> batch;
    store.Scan(&cursor, 64, &batch);
    CHECK(batch.size() <= 64 + 16);  // whole buckets: a little past the budget at most
    for (auto& e : batch) CHECK(seen.emplace(e.key, e).second);
    ++calls;
  }
  CHECK(calls > 1);
  REQUIRE(seen.size() == 500);
  CHECK(seen.count("gone") == 0);
  const StoreEntry& odd = seen.at("k7");
  CHECK(std::string(odd.value.view()) == "v7");
  CHECK(odd.ttl_left_ms == 990);
  CHECK(odd.version == 1007);
  CHECK(seen.at("k8").ttl_left_ms == 0);
}

TEST_CASE("store Scan sees every entry present throughout while its table grows", "[store][scan]") {
  ManualClock clock;
  Store store(Options(1), &clock);
  for (int i = 0; i < 100; ++i) REQUIRE(store.Set("first-" + std::to_string(i), "v", 0));
  std::set<std::string> seen;
  Store::ScanCursor cursor;
  int calls = 0, later = 0;
  while (!cursor.done()) {
    std::vector<StoreEntry> batch;
    store.Scan(&cursor, 4, &batch);
    for (auto& e : batch) seen.insert(e.key);
    // 100 entries a call for 20 calls: the table doubles several times mid-scan.
    if (++calls <= 20) {
      for (int j = 0; j < 100; ++j) REQUIRE(store.Set("later-" + std::to_string(later++), "v", 0));
    }
  }
  REQUIRE(store.Stats().items == 2100);
  for (int i = 0; i < 100; ++i) CHECK(seen.count("first-" + std::to_string(i)) == 1);
}
