#include "store/store.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <list>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/midpoint_lru.h"
#include "util/clock.h"
#include "util/hash.h"

using namespace meshcache;

namespace {

size_t ChargeOf(std::string_view key, size_t value_size) {
  return key.size() + value_size + Store::kEntryOverhead;
}

StoreOptions Options(size_t capacity, size_t shards = 1, int64_t old_time_ms = 1000) {
  StoreOptions o;
  o.capacity_bytes = capacity;
  o.shards = shards;
  o.old_time_ms = old_time_ms;
  return o;
}

std::string ValueOf(const std::optional<Value>& v) { return v ? std::string(v->view()) : "<miss>"; }

// One shard where every single-letter key with an empty value costs one byte,
// so the budget counts entries and DebugOrder shows the whole list.
struct Shard {
  explicit Shard(size_t entries, int64_t old_time_ms = 1000, double old_ratio = 3.0 / 8.0)
      : lru(LruOptions{entries, old_ratio, old_time_ms, 0}) {}
  bool Set(std::string_view key, std::string value = "") {
    const int64_t now = clock.NowMs();
    return lru.Set(key, Xxh32(key), value, MidpointLru::kNoDeadline, now);
  }
  void SetEach(std::string_view keys) {
    for (char k : keys) Set(std::string_view(&k, 1));
  }
  bool Get(std::string_view key) { return lru.Get(key, Xxh32(key), clock.NowMs()).has_value(); }
  std::string Order() const { return lru.DebugOrder(); }
  // The young (before "|") or old (after "|") keys, head first, no spaces.
  std::string Side(bool old) const {
    std::string order = Order();
    const size_t bar = order.find('|');
    std::string side = old ? order.substr(bar + 1) : order.substr(0, bar);
    side.erase(std::remove(side.begin(), side.end(), ' '), side.end());
    return side;
  }

  ManualClock clock;
  MidpointLru lru;
};

// The textbook LRU the midpoint policy is measured against.
class PlainLru {
 public:
  explicit PlainLru(size_t budget) : budget_(budget) {}
  bool Get(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    order_.splice(order_.begin(), order_, it->second);
    return true;
  }
  void Set(const std::string& key, size_t charge) {
    if (auto it = index_.find(key); it != index_.end()) {
      bytes_ -= it->second->second;
      order_.erase(it->second);
    }
    order_.emplace_front(key, charge);
    index_[key] = order_.begin();
    for (bytes_ += charge; bytes_ > budget_; order_.pop_back()) {
      bytes_ -= order_.back().second;
      index_.erase(order_.back().first);
    }
  }
  // As MidpointLru::DebugOrder shows a list that is all old: "| c b a".
  std::string Order() const {
    std::string out = "|";
    for (const Item& item : order_) out += " " + item.first;
    return out;
  }

 private:
  using Item = std::pair<std::string, size_t>;
  size_t budget_;
  size_t bytes_ = 0;
  std::list<Item> order_;
  std::unordered_map<std::string, std::list<Item>::iterator> index_;
};

}  // namespace

// --- one shard: the list itself ---

TEST_CASE("a new entry enters at the midpoint and leaves before the young entries", "[store]") {
  Shard s(8);
  s.SetEach("abcdefgh");
  CHECK(s.Order() == "a b d e g | h f c");  // old = 3/8 of 8 entries
  s.Set("i");
  CHECK(s.Order() == "a b d e g | i h f");  // the old tail c made room
  s.SetEach("jkl");
  CHECK(s.Order() == "a b d e g | l k j");  // i went before any young entry
  CHECK(s.lru.Stats().evictions == 4);
}

TEST_CASE("an old entry hit before old_time_ms stays old", "[store]") {
  Shard s(8, 1000);
  s.SetEach("abcdefgh");
  s.clock.Advance(999);
  CHECK(s.Get("h"));
  CHECK(s.Order() == "a b d e g | h f c");
}

TEST_CASE("an old entry hit after old_time_ms moves to the young head", "[store]") {
  Shard s(8, 1000);
  s.SetEach("abcdefgh");
  s.clock.Advance(1000);
  CHECK(s.Get("h"));
  // The young tail g steps down to keep the old sublist at 3 of 8.
  CHECK(s.Order() == "h a b d e | g f c");
  s.SetEach("ijk");
  CHECK(s.Get("h"));
}

TEST_CASE("old_time_ms 0 promotes an old entry on its first hit", "[store]") {
  Shard s(8, 0);
  s.SetEach("abcdefgh");
  CHECK(s.Get("c"));
  CHECK(s.Order() == "c a b d e | g h f");
}

TEST_CASE("a young hit in the first quarter stays put, further back it moves", "[store]") {
  Shard s(16, 0);
  s.SetEach("abcdefghijklmnop");
  const std::string old = s.Side(true);
  REQUIRE(old.size() == 6);
  const std::string x(1, old[5]), y(1, old[4]);
  CHECK(s.Get(x));
  CHECK(s.Get(y));
  CHECK(s.Order().substr(0, 3) == y + " " + x);
  CHECK(s.Get(x));  // second from the head of ~10 young: first quarter
  CHECK(s.Order().substr(0, 3) == y + " " + x);
  const std::string z(1, s.Side(false).back());
  CHECK(s.Get(z));  // the young tail
  CHECK(s.Order().substr(0, 5) == z + " " + y + " " + x);
}

TEST_CASE(
    "a young hit moves the entry only after a quarter of the young sublist has left the shard",
    "[store]") {
  Shard s(16, 0);  // budget for all 16, each promoted on its first old hit
  s.SetEach("abcdefghijklmnop");
  const std::string x(1, s.Side(false).back());
  CHECK(s.Get(x));  // it joined young at the tail: it moves
  REQUIRE(s.Side(false).front() == x[0]);
  const size_t young = s.Side(false).size();
  REQUIRE(young >= 8);
  // Promotions put others at the head: x drifts back, and nothing leaves.
  for (int i = 0; i < 5; ++i) CHECK(s.Get(std::string(1, s.Side(true).front())));
  REQUIRE(s.Side(false).size() == young);
  const std::string before = s.Order();
  REQUIRE(before.find(x) / 2 == 5);  // sixth from the head, past the first quarter
  CHECK(s.Get(x));
  CHECK(s.Order() == before);  // nothing evicted since it moved: it stays
  // A quarter of young's worth of entries leaves (new keys evict the old tail).
  const size_t quarter = (young + 3) / 4;
  for (size_t i = 0; i < quarter; ++i) s.Set(std::string(1, static_cast<char>('Q' + i)));
  REQUIRE(s.lru.Stats().evictions == quarter);
  CHECK(s.Get(x));
  CHECK(s.Side(false).front() == x[0]);
}

TEST_CASE("a prefetch changes neither the list nor the counters", "[store]") {
  Shard s(8, 0);
  s.SetEach("abcdefgh");
  const std::string order = s.Order();
  for (std::string_view key : {"a", "h", "z"}) s.lru.Prefetch(Xxh32(key));
  CHECK(s.Order() == order);
  CHECK(s.lru.Stats().hits == 0);
  CHECK(s.lru.Stats().misses == 0);
  Store store(StoreOptions{}, &s.clock);
  REQUIRE(store.Set("k", "v", 0));
  store.Prefetch(Xxh32("k"));
  store.Prefetch(Xxh32("missing"));
  CHECK(store.Stats().hits == 0);
  CHECK(store.Stats().misses == 0);
  CHECK(store.Get("k")->view() == "v");
}

TEST_CASE("replacing a value keeps the entry's place and evicts others to fit", "[store]") {
  Shard s(8);
  s.SetEach("abcdefgh");
  s.Set("a", "");
  CHECK(s.Order() == "a b d e g | h f c");
  s.Set("c", "xx");  // the old tail grows by two bytes
  CHECK(s.Order() == "a b d e g | c");
  CHECK(s.lru.Stats().bytes == 8);
  CHECK(s.lru.Stats().evictions == 2);
}

TEST_CASE("replacing any entry, midpoint and tail too, keeps the list and table intact",
          "[store]") {
  Shard s(8);
  s.SetEach("abcdefgh");
  const std::string order = s.Order();
  for (char k : std::string("abcdefgh")) {
    s.Set(std::string_view(&k, 1));
    CHECK(s.Order() == order);
  }
  for (char k : std::string("abcdefgh"))
    CHECK(s.lru.Get(std::string_view(&k, 1), Xxh32(std::string_view(&k, 1)), 0));
  CHECK(s.lru.Stats().items == 8);
  CHECK(s.lru.Stats().evictions == 0);
}

TEST_CASE("a replace that gives an entry a ttl or takes it away keeps its place", "[store]") {
  Shard s(8);
  s.SetEach("abcdefgh");
  const std::string order = s.Order();
  const int64_t deadline = s.clock.NowMs() + 100;
  const auto set_with_deadline = [&s](std::string_view key, int64_t deadline_ms) {
    return s.lru.Set(key, Xxh32(key), "", deadline_ms, s.clock.NowMs());
  };
  for (const char* key : {"a", "c", "g", "h"}) REQUIRE(set_with_deadline(key, deadline));
  CHECK(s.Order() == order);
  REQUIRE(set_with_deadline("g", MidpointLru::kNoDeadline));  // takes g's ttl away again
  CHECK(s.Order() == order);
  s.clock.Advance(100);
  for (const char* key : {"a", "c", "h"}) CHECK_FALSE(s.Get(key));
  CHECK(s.Order() == "b d e g | f");
  CHECK(s.lru.Stats().expired == 3);
}

TEST_CASE("old_ratio 1 and old_time_ms 0 make a plain LRU", "[store]") {
  Shard s(5, /*old_time_ms=*/0, /*old_ratio=*/1.0);
  s.SetEach("abcde");
  CHECK(s.Order() == "| e d c b a");
  CHECK(s.Get("c"));
  CHECK(s.Order() == "| c e d b a");
  CHECK(s.Get("a"));
  CHECK(s.Order() == "| a c e d b");
  s.Set("f");
  CHECK(s.Order() == "| f a c e d");  // the least recently used b went
  // Against the textbook list, over many random gets and sets of absent keys
  // (a set that replaces a live value keeps its place, in every configuration).
  PlainLru plain(5);
  for (char k : std::string("decaf")) plain.Set(std::string(1, k), 1);
  std::mt19937 rng(5);
  for (int i = 0; i < 2000; ++i) {
    const std::string key(1, static_cast<char>('a' + rng() % 9));
    const bool live = s.lru.VersionOf(key, Xxh32(key), s.clock.NowMs()).has_value();
    if (live || rng() % 2 == 0) {
      REQUIRE(s.Get(key) == plain.Get(key));
    } else {
      s.Set(key);
      plain.Set(key, 1);
    }
    REQUIRE(s.Order() == plain.Order());
  }
}

TEST_CASE("the old sublist keeps about old_ratio of the bytes", "[store]") {
  MidpointLru lru(LruOptions{2000, 3.0 / 8.0, 0, 0});
  std::mt19937 rng(7);
  const size_t max_charge = 3 + 20;
  for (int i = 0; i < 20000; ++i) {
    const std::string key = std::to_string(100 + rng() % 400);
    const uint32_t hash = Xxh32(key);
    switch (rng() % 3) {
      case 0:
        REQUIRE(lru.Set(key, hash, std::string(10 + rng() % 11, 'v'), MidpointLru::kNoDeadline, i));
        break;
      case 1:
        (void)lru.Get(key, hash, i);
        break;
      default:
        (void)lru.Del(key, hash, i);
    }
    const StoreStats st = lru.Stats();
    REQUIRE(lru.old_bytes() + lru.young_bytes() == st.bytes);
    REQUIRE(st.bytes <= 2000);
    const double target = 3.0 / 8.0 * static_cast<double>(st.bytes);
    REQUIRE(static_cast<double>(lru.old_bytes()) >= target - max_charge);
    REQUIRE(static_cast<double>(lru.old_bytes()) < target + max_charge);
  }
}

// --- the store ---

TEST_CASE("get after set returns the value, and an absent key misses", "[store]") {
  ManualClock clock;
  Store store(StoreOptions{}, &clock);
  CHECK(store.Set("user:1", "alice", 0));
  CHECK(ValueOf(store.Get("user:1")) == "alice");
  CHECK(ValueOf(store.Get("user:2")) == "<miss>");
  CHECK(ValueOf(store.Get("")) == "<miss>");
  CHECK(store.Set("", "empty key", 0));
  CHECK(ValueOf(store.Get("")) == "empty key");
}

TEST_CASE("a get with the key's hash given judges expiry at the time it is given", "[store]") {
  ManualClock clock;
  Store store(Options(1u << 20, 16), &clock);
  REQUIRE(store.Set("k", "v", 100));
  const int64_t now = clock.NowMs();
  int64_t ttl_left = 0;
  CHECK(ValueOf(store.GetHashed("k", Xxh32("k"), now + 99, &ttl_left)) == "v");
  CHECK(ttl_left == 1);
  // The store's own clock still says the entry is alive: the time given rules.
  CHECK(ValueOf(store.GetHashed("k", Xxh32("k"), now + 100)) == "<miss>");
  CHECK(ValueOf(store.Get("k")) == "<miss>");  // expired and removed by the read above
}

TEST_CASE("a set and a delete with the key's hash given reckon from the time given", "[store]") {
  ManualClock clock;
  Store store(Options(1u << 20, 16), &clock);
  const int64_t now = clock.NowMs();
  // Stamped 50 ms ahead of the store's own clock: the ttl runs from then.
  REQUIRE(store.SetIfNewerHashed("k", Xxh32("k"), now + 50, "v", 100, /*version=*/7));
  int64_t ttl_left = 0;
  uint64_t version = 0;
  CHECK(ValueOf(store.Get("k", &ttl_left, &version)) == "v");
  CHECK(ttl_left == 150);
  CHECK(version == 7);
  // An older version is refused, whatever the time given.
  CHECK_FALSE(store.SetIfNewerHashed("k", Xxh32("k"), now + 50, "older", 100, 6));
  CHECK(ValueOf(store.Get("k")) == "v");
  // At the time given the entry has expired: nothing live is deleted.
  CHECK_FALSE(store.DelHashed("k", Xxh32("k"), now + 150));
  REQUIRE(store.Set("k2", "v", 100));
  CHECK(store.DelHashed("k2", Xxh32("k2"), now + 99));
  CHECK(ValueOf(store.Get("k2")) == "<miss>");
}

TEST_CASE("a get with the key's hash given finds what a get finds, across shards", "[store]") {
  ManualClock clock;
  Store store(Options(1u << 20, 16), &clock);
  for (int i = 0; i < 64; ++i)
    REQUIRE(store.Set("k" + std::to_string(i), "v" + std::to_string(i), 0));
  for (int i = 0; i < 64; ++i) {
    const std::string key = "k" + std::to_string(i);
    CHECK(ValueOf(store.GetHashed(key, Xxh32(key), clock.NowMs())) == "v" + std::to_string(i));
  }
  CHECK(ValueOf(store.GetHashed("absent", Xxh32("absent"), clock.NowMs())) == "<miss>");
  const StoreStats st = store.Stats();
  CHECK(st.hits == 64);
  CHECK(st.misses == 1);
}

TEST_CASE("keys of no bytes and of 16 MiB + 1 are stored with a ttl or without", "[store]") {
  ManualClock clock;
  Store store(Options(64u << 20, 4), &clock);
  const std::string big((size_t{1} << 24) + 1, 'k');  // past any 24-bit size field
  std::string near_big = big;
  near_big.back() = 'j';
  for (int64_t ttl : {0, 1000}) {
    REQUIRE(store.Set("", "empty", ttl));
    REQUIRE(store.Set(big, "big", ttl));
    int64_t left = -1;
    CHECK(ValueOf(store.Get("", &left)) == "empty");
    CHECK(left == ttl);
    CHECK(ValueOf(store.Get(big, &left)) == "big");
    CHECK(left == ttl);
    CHECK(ValueOf(store.Get(near_big)) == "<miss>");
    CHECK(ValueOf(store.Get(big.substr(1))) == "<miss>");
    CHECK(store.Stats().bytes == ChargeOf("", 5) + ChargeOf(big, 3));
  }
  clock.Advance(1000);
  CHECK_FALSE(store.Del(""));
  CHECK_FALSE(store.Del(big));
  CHECK(store.Stats().items == 0);
}

TEST_CASE("entries with and without a ttl side by side keep their own deadlines", "[store]") {
  ManualClock clock;
  Store store(Options(1 << 20, 4), &clock);
  // Keys that start with zero bytes: read as a deadline, they are long past.
  const auto key_of = [](int i) { return std::string(8, '\0') + "key-" + std::to_string(i); };
  const auto ttl_of = [](int i) -> int64_t { return i % 2 ? 100 + i : 0; };
  for (int i = 0; i < 200; ++i) {
    REQUIRE(store.Set(key_of(i), "value-" + std::to_string(i), ttl_of(i)));
  }
  clock.Advance(150);  // the odd keys below 50 are past their deadlines
  CHECK(store.SweepExpired(1000) == 25);
  for (int i = 0; i < 200; ++i) {
    int64_t left = -1;
    const std::optional<Value> v = store.Get(key_of(i), &left);
    if (i % 2 == 1 && i < 50) {
      CHECK_FALSE(v);
      continue;
    }
    CHECK(ValueOf(v) == "value-" + std::to_string(i));
    CHECK(left == (ttl_of(i) == 0 ? 0 : ttl_of(i) - 150));
  }
  const StoreStats st = store.Stats();
  CHECK(st.items == 175);
  CHECK(st.expired == 25);
  CHECK(st.misses == 25);
}

TEST_CASE("a replace that adds or drops a ttl takes the new one in place or in a new block",
          "[store]") {
  ManualClock clock;
  Store store(StoreOptions{}, &clock);
  const std::string key = "a key of some length";
  for (bool handle_out : {false, true}) {  // a handle out: the entry gets a new block
    REQUIRE(store.Set(key, "v0", 0));
    std::optional<Value> held = handle_out ? store.Get(key) : std::nullopt;
    REQUIRE(store.Set(key, "v1", 100));  // the same size, now with a ttl
    int64_t left = -1;
    CHECK(ValueOf(store.Get(key, &left)) == "v1");
    CHECK(left == 100);
    held = handle_out ? store.Get(key) : std::nullopt;
    REQUIRE(store.Set(key, "v2", 0));  // and without again
    clock.Advance(100);
    CHECK(ValueOf(store.Get(key, &left)) == "v2");
    CHECK(left == 0);
    CHECK(store.Stats().bytes == ChargeOf(key, 2));
    if (handle_out) CHECK(ValueOf(held) == "v1");
  }
}

TEST_CASE("the store keeps its own copy of a value", "[store]") {
  ManualClock clock;
  Store store(StoreOptions{}, &clock);
  std::string mine = "v1";
  REQUIRE(store.Set("k", mine, 0));
  mine = "v2";
  CHECK(ValueOf(store.Get("k")) == "v1");
}

TEST_CASE(
    "a value handed out stays readable after its entry is replaced, deleted, evicted or cleared",
    "[store]") {
  ManualClock clock;
  Store store(Options(4 * ChargeOf("k0", 2)), &clock);
  for (const char* key : {"a", "b", "c", "d"}) {
    REQUIRE(store.Set(key, std::string(key) + "1", 0));
  }
  const std::optional<Value> a = store.Get("a"), b = store.Get("b"), c = store.Get("c"),
                             d = store.Get("d");
  REQUIRE(store.Set("a", "a2", 0));
  REQUIRE(store.Del("b"));
  for (int i = 0; i < 4; ++i) REQUIRE(store.Set("n" + std::to_string(i), "nn", 0));
  REQUIRE(ValueOf(store.Get("c")) == "<miss>");  // evicted
  store.Clear();
  CHECK(ValueOf(a) == "a1");
  CHECK(ValueOf(b) == "b1");
  CHECK(ValueOf(c) == "c1");
  CHECK(ValueOf(d) == "d1");
  const std::optional<Value> copy = c;
  CHECK(copy->data() == c->data());
}

TEST_CASE("del reports whether a live entry was there", "[store]") {
  ManualClock clock;
  Store store(StoreOptions{}, &clock);
  REQUIRE(store.Set("k", "v", 0));
  CHECK(store.Del("k"));
  CHECK_FALSE(store.Del("k"));
  CHECK_FALSE(store.Get("k").has_value());
  CHECK_FALSE(store.Del("never"));
  const StoreStats st = store.Stats();
  CHECK(st.items == 0);
  CHECK(st.bytes == 0);
  CHECK(st.evictions == 0);  // a del is neither an eviction nor an expiry
  CHECK(st.expired == 0);
}

TEST_CASE("replacing a value adjusts the bytes", "[store]") {
  ManualClock clock;
  Store store(StoreOptions{}, &clock);
  REQUIRE(store.Set("k", "short", 0));
  CHECK(store.Stats().bytes == ChargeOf("k", 5));
  REQUIRE(store.Set("k", std::string(100, 'x'), 0));
  CHECK(store.Stats().bytes == ChargeOf("k", 100));
  CHECK(store.Stats().items == 1);
  CHECK(ValueOf(store.Get("k")) == std::string(100, 'x'));
}

TEST_CASE("the byte budget is never exceeded", "[store]") {
  ManualClock clock;
  const size_t capacity = 20 * ChargeOf("key-00", 50);
  Store store(Options(capacity, 4), &clock);
  std::mt19937 rng(11);
  for (int i = 0; i < 2000; ++i) {
    const std::string key = "key-" + std::to_string(rng() % 100);
    const std::string value(rng() % 1000, 'v');  // some over a share
    if (i % 2 == 0) {
      (void)store.Set(key, value, 0);
    } else {
      (void)store.SetIfNewer(key, value, 0, i);
    }
    REQUIRE(store.Stats().bytes <= store.Stats().limit_bytes);
  }
  CHECK(store.Stats().limit_bytes == capacity);
  CHECK(store.Stats().evictions > 0);
}

TEST_CASE("eviction spares promoted entries and takes the cold ones", "[store]") {
  ManualClock clock;
  Store store(Options(10 * ChargeOf("k0", 1)), &clock);
  for (int i = 0; i < 10; ++i) REQUIRE(store.Set("k" + std::to_string(i), "v", 0));
  clock.Advance(1000);
  for (const char* hot : {"k0", "k5", "k9"}) REQUIRE(store.Get(hot));
  for (int i = 0; i < 10; ++i) REQUIRE(store.Set("n" + std::to_string(i), "v", 0));
  CHECK(store.Stats().evictions == 10);
  for (const char* hot : {"k0", "k5", "k9"}) CHECK(store.Get(hot));
}

TEST_CASE("an entry as large as the whole budget fits and a larger one is refused", "[store]") {
  ManualClock clock;
  Store store(Options(4000, 4), &clock);  // a share of 1000 bytes a shard
  for (int i = 0; i < 20; ++i) REQUIRE(store.Set("s" + std::to_string(i), "v", 0));
  const std::string fits(4000 - ChargeOf("k", 0), 'v');
  CHECK(store.Set("k", fits, 0));
  CHECK(ValueOf(store.Get("k")) == fits);
  CHECK(store.Stats().items == 1);  // every other shard gave up its entries
  CHECK(store.Stats().bytes == 4000);
  CHECK_FALSE(store.Set("k", fits + "v", 0));
  CHECK_FALSE(store.Get("k"));  // the refused set removed the older value
  CHECK(store.Stats().items == 0);
  CHECK(store.Stats().bytes == 0);
}

TEST_CASE("a store holds capacity / charge large values whatever the shard count", "[store]") {
  ManualClock clock;
  const size_t capacity = 64u << 20, value_size = 1u << 20;
  Store store(Options(capacity, 16), &clock);
  const std::string value(value_size, 'v');
  for (int i = 0; i < 300; ++i) {
    REQUIRE(store.Set("big-" + std::to_string(1000 + i), value, 0));
    REQUIRE(store.Stats().bytes <= capacity);
  }
  CHECK(store.Stats().items == capacity / ChargeOf("big-1000", value_size));  // 63
  CHECK(store.Get("big-1299"));                                               // the last one stays
}

// Keys whose entries land in shard `shard` of a store of `shards` shards
// (Store takes the top bits of the key's hash).
std::vector<std::string> KeysInShard(size_t shard, size_t shards, size_t count) {
  unsigned bits = 0;
  while ((size_t{1} << bits) < shards) ++bits;
  std::vector<std::string> keys;
  for (int i = 0; keys.size() < count; ++i) {
    std::string key = "key-" + std::to_string(100000 + i);
    if ((uint64_t{Xxh32(key)} << bits) >> 32 == shard) keys.push_back(std::move(key));
  }
  return keys;
}

TEST_CASE("keys that all land in one shard use the whole budget", "[store]") {
  ManualClock clock;
  const size_t charge = ChargeOf("key-100000", 20), capacity = 500 * charge;
  Store store(Options(capacity, 16), &clock);
  for (const auto& key : KeysInShard(3, 16, 1500)) {
    REQUIRE(store.Set(key, std::string(20, 'v'), 0));
    REQUIRE(store.Stats().bytes <= capacity);
  }
  CHECK(store.Stats().items == 500);
  CHECK(store.Stats().bytes == capacity);
}

TEST_CASE("a shard under its share takes room from the shards over theirs", "[store]") {
  ManualClock clock;
  const size_t charge = ChargeOf("key-100000", 20), capacity = 512 * charge;
  Store store(Options(capacity, 16), &clock);  // a share of 32 entries
  const std::vector<std::string> first = KeysInShard(3, 16, 512);
  for (const auto& key : first) REQUIRE(store.Set(key, std::string(20, 'v'), 0));
  REQUIRE(store.Stats().items == 512);
  const std::vector<std::string> second = KeysInShard(9, 16, 2000);
  for (const auto& key : second) {
    REQUIRE(store.Set(key, std::string(20, 'v'), 0));
    REQUIRE(store.Stats().bytes <= capacity);
  }
  size_t first_left = 0, second_left = 0;
  for (const auto& key : first) first_left += store.Get(key).has_value();
  for (const auto& key : second) second_left += store.Get(key).has_value();
  // Shard 9 grew to its share at shard 3's expense, then evicted its own.
  CHECK(first_left == 512 - 32);
  CHECK(second_left == 32);
}

TEST_CASE("a negative ttl stores nothing and removes the older value", "[store]") {
  ManualClock clock;
  Store store(StoreOptions{}, &clock);
  REQUIRE(store.Set("k", "v", 0));
  CHECK_FALSE(store.Set("k", "v", -1));
  CHECK_FALSE(store.Get("k"));
  CHECK(store.Stats().items == 0);
}

TEST_CASE("the shard count rounds up to a power of two", "[store]") {
  ManualClock clock;
  Store store(Options(1 << 20, 3), &clock);
  CHECK(store.Stats().limit_bytes == 1 << 20);
  for (int i = 0; i < 100; ++i) REQUIRE(store.Set("k" + std::to_string(i), "v", 0));
  // One entry a call: the cursor stops in every shard that holds some.
  Store::ScanCursor cursor;
  std::vector<StoreEntry> out;
  size_t last_shard = 0;
  while (!cursor.done()) {
    last_shard = std::max(last_shard, cursor.shard);
    store.Scan(&cursor, 1, &out);
  }
  CHECK(last_shard == 3);
  CHECK(out.size() == 100);
}

TEST_CASE("a hot set survives a scan that flushes a plain LRU", "[store]") {
  ManualClock clock;
  const size_t value_size = 100;
  const size_t charge = ChargeOf("warm-0000", value_size);
  const size_t capacity = 1000 * charge;
  Store store(Options(capacity, 4), &clock);
  PlainLru plain(capacity);
  auto set = [&](const std::string& key) {
    REQUIRE(store.Set(key, std::string(value_size, 'v'), 0));
    plain.Set(key, ChargeOf(key, value_size));
  };
  auto get = [&](const std::string& key) {
    (void)store.Get(key);
    (void)plain.Get(key);
  };
  for (int i = 0; i < 1000; ++i) set("warm-" + std::to_string(1000 + i));
  std::vector<std::string> hot;
  for (int i = 0; i < 250; ++i) hot.push_back("hot--" + std::to_string(1000 + i));
  for (const auto& key : hot) set(key);
  clock.Advance(1000);
  for (int round = 0; round < 3; ++round) {
    for (const auto& key : hot) get(key);
  }
  // The scan: 10x the budget of keys, each read, filled and read again.
  for (int i = 0; i < 10000; ++i) {
    const std::string key = "cold-" + std::to_string(10000 + i);
    get(key);
    set(key);
    get(key);
    clock.Advance(1);
  }
  size_t in_store = 0, in_plain = 0;
  for (const auto& key : hot) {
    in_plain += plain.Get(key);
    in_store += store.Get(key).has_value();
  }
  CHECK(in_store >= 245);
  CHECK(in_plain == 0);
  CHECK(in_store - in_plain >= 245);
}

// How many of 250 hot keys, read three times after they settled, survive a
// scan of ten times the budget of cold keys (each read, filled, read again).
size_t HotKeysAfterScan(StoreOptions options) {
  ManualClock clock;
  const size_t value_size = 100;
  options.capacity_bytes = 1000 * ChargeOf("warm-0000", value_size);
  Store store(options, &clock);
  const std::string value(value_size, 'v');
  for (int i = 0; i < 1000; ++i) REQUIRE(store.Set("warm-" + std::to_string(1000 + i), value, 0));
  std::vector<std::string> hot;
  for (int i = 0; i < 250; ++i) hot.push_back("hot--" + std::to_string(1000 + i));
  for (const auto& key : hot) REQUIRE(store.Set(key, value, 0));
  clock.Advance(1000);
  for (int round = 0; round < 3; ++round) {
    for (const auto& key : hot) REQUIRE(store.Get(key));
  }
  for (int i = 0; i < 10000; ++i) {
    const std::string key = "cold-" + std::to_string(10000 + i);
    (void)store.Get(key);
    REQUIRE(store.Set(key, value, 0));
    (void)store.Get(key);
    clock.Advance(1);
  }
  size_t survivors = 0;
  for (const auto& key : hot) survivors += store.Get(key).has_value();
  return survivors;
}

TEST_CASE("a scan flushes the hot set from the plain-LRU configuration only", "[store]") {
  StoreOptions midpoint = Options(0, 4);
  StoreOptions plain = midpoint;
  plain.old_ratio = 1.0;
  plain.old_time_ms = 0;
  CHECK(HotKeysAfterScan(midpoint) >= 245);
  CHECK(HotKeysAfterScan(plain) == 0);
}

TEST_CASE("an expired entry is never returned and counts as expired", "[store]") {
  ManualClock clock;
  Store store(StoreOptions{}, &clock);
  REQUIRE(store.Set("a", "1", 100));
  REQUIRE(store.Set("b", "2", 100));
  REQUIRE(store.Set("forever", "3", 0));
  REQUIRE(store.Set("far", "4", INT64_MAX));
  clock.Advance(99);
  CHECK(store.Get("a"));
  clock.Advance(1);
  CHECK_FALSE(store.Get("a"));
  CHECK_FALSE(store.Del("b"));  // was there, but not live
  clock.Advance(int64_t{1} << 40);
  CHECK(ValueOf(store.Get("forever")) == "3");
  CHECK(ValueOf(store.Get("far")) == "4");  // the deadline saturates
  const StoreStats st = store.Stats();
  CHECK(st.expired == 2);
  CHECK(st.evictions == 0);
  CHECK(st.items == 2);
  CHECK(st.bytes == ChargeOf("forever", 1) + ChargeOf("far", 1));
}

TEST_CASE("a hit reports the entry's remaining life, 0 for no expiry", "[store]") {
  ManualClock clock;
  Store store(StoreOptions{}, &clock);
  REQUIRE(store.Set("ttl", "1", 1000));
  REQUIRE(store.Set("forever", "2", 0));
  clock.Advance(300);
  int64_t left = -1;
  REQUIRE(store.Get("ttl", &left));
  CHECK(left == 700);
  REQUIRE(store.Get("forever", &left));
  CHECK(left == 0);
}

TEST_CASE("setting over an expired entry stores a fresh one", "[store]") {
  ManualClock clock;
  Store store(StoreOptions{}, &clock);
  REQUIRE(store.Set("k", "old", 10));
  clock.Advance(10);
  REQUIRE(store.Set("k", "new", 10));
  CHECK(ValueOf(store.Get("k")) == "new");
  CHECK(store.Stats().expired == 1);
  clock.Advance(10);
  CHECK_FALSE(store.Get("k"));
}

TEST_CASE("sweep removes expired entries a few checks at a time across shards", "[store]") {
  ManualClock clock;
  Store store(Options(1 << 20, 4), &clock);
  for (int i = 0; i < 10; ++i) REQUIRE(store.Set("live-" + std::to_string(i), "v", 0));
  for (int i = 0; i < 10; ++i) REQUIRE(store.Set("dead-" + std::to_string(i), "v", 50));
  clock.Advance(50);
  CHECK(store.SweepExpired(0) == 0);
  size_t removed = 0;
  for (int call = 0; call < 20; ++call) {
    const size_t now_removed = store.SweepExpired(1);
    CHECK(now_removed <= 1);
    removed += now_removed;
  }
  // 20 single checks reach all 20 entries only if each call continues the last.
  CHECK(removed == 10);
  CHECK(store.SweepExpired(100) == 0);
  const StoreStats st = store.Stats();
  CHECK(st.items == 10);
  CHECK(st.expired == 10);
  CHECK(st.bytes == 10 * ChargeOf("live-0", 1));
}

TEST_CASE("stats count hits, misses, evictions, items and bytes", "[store]") {
  ManualClock clock;
  const size_t charge = ChargeOf("k0", 2);
  Store store(Options(4 * charge + 1), &clock);
  for (int i = 0; i < 6; ++i) REQUIRE(store.Set("k" + std::to_string(i), "vv", 0));
  (void)store.Get("k5");
  (void)store.Get("zz");
  (void)store.Get("zz");
  StoreStats st = store.Stats();
  CHECK(st.items == 4);
  CHECK(st.bytes == 4 * charge);
  CHECK(st.limit_bytes == 4 * charge + 1);
  CHECK(st.hits == 1);
  CHECK(st.misses == 2);
  CHECK(st.evictions == 2);
  CHECK(st.expired == 0);
  store.Clear();
  st = store.Stats();
  CHECK(st.items == 0);
  CHECK(st.bytes == 0);
  CHECK(st.hits == 1);
  CHECK_FALSE(store.Get("k5"));
}

TEST_CASE("concurrent sets, gets and dels keep the counters consistent", "[store]") {
  ManualClock clock;
  Store store(Options(300 * ChargeOf("key-000", 20), 8), &clock);
  constexpr int kThreads = 4, kOps = 20000, kKeys = 1000;
  std::vector<uint64_t> gets(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&store, &gets, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < kOps; ++i) {
        const std::string key = "key-" + std::to_string(rng() % kKeys);
        const unsigned op = rng() % 4;
        if (op == 0) (void)store.Del(key);
        if (op == 1) (void)store.Set(key, std::string(rng() % 40, 'v'), 0);
        if (op >= 2) {
          (void)store.Get(key);
          ++gets[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  const StoreStats st = store.Stats();
  uint64_t total_gets = 0;
  for (uint64_t g : gets) total_gets += g;
  CHECK(st.hits + st.misses == total_gets);
  CHECK(st.bytes <= st.limit_bytes);
  uint64_t items = 0, bytes = 0;
  for (int k = 0; k < kKeys; ++k) {
    const std::string key = "key-" + std::to_string(k);
    if (auto v = store.Get(key)) {
      ++items;
      bytes += ChargeOf(key, v->size());
    }
  }
  CHECK(items == st.items);
  CHECK(bytes == st.bytes);
}

TEST_CASE("concurrent sets of mixed sizes across shards end within the budget", "[store]") {
  ManualClock clock;
  const size_t capacity = 16 * 1024;
  Store store(Options(capacity, 4), &clock);  // a share of 4 KiB a shard
  constexpr int kThreads = 4, kOps = 20000, kKeys = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&store, t] {
      std::mt19937 rng(100 + t);
      for (int i = 0; i < kOps; ++i) {
        const std::string key = "key-" + std::to_string(rng() % kKeys);
        // Small values, and often one larger than a shard's share, which
        // takes its room from other shards.
        const size_t size = rng() % 4 == 0 ? 4096 + rng() % 8192 : rng() % 200;
        switch (rng() % 4) {
          case 0:
            (void)store.SetIfNewer(key, std::string(size, 'v'), 0, i);
            break;
          case 1:
            (void)store.Del(key);
            break;
          default:
            (void)store.Set(key, std::string(size, 'v'), 0);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  const StoreStats st = store.Stats();
  CHECK(st.bytes <= capacity);
  CHECK(st.evictions > 0);
  uint64_t items = 0, bytes = 0;
  for (int k = 0; k < kKeys; ++k) {
    const std::string key = "key-" + std::to_string(k);
    if (std::optional<uint64_t> version = store.VersionOf(key)) {
      ++items;
      bytes += ChargeOf(key, store.Get(key)->size());
    }
  }
  CHECK(items == st.items);
  CHECK(bytes == st.bytes);
}

TEST_CASE("client flags round-trip with and without a ttl, and cost 4 bytes when set",
          "[store][flags]") {
  ManualClock clock;
  Store store(StoreOptions{}, &clock);
  const std::string key = "flagged key";
  for (int64_t ttl : {int64_t{0}, int64_t{5000}}) {
    INFO("ttl " << ttl);
    for (uint32_t flags : {uint32_t{0}, uint32_t{1}, uint32_t{0xDEADBEEF}, UINT32_MAX}) {
      INFO("flags " << flags);
      REQUIRE(store.Set(key, "value", ttl, 7, flags));
      int64_t left = -1;
      uint64_t version = 0;
      uint32_t got = 12345;
      CHECK(ValueOf(store.Get(key, &left, &version, &got)) == "value");
      CHECK(got == flags);
      CHECK(version == 7);
      CHECK(left == ttl);
      CHECK(store.Stats().bytes == ChargeOf(key, 5) + (flags != 0 ? 4 : 0));
    }
  }
}

TEST_CASE("a replace that adds, changes or drops flags keeps value, ttl and place",
          "[store][flags]") {
  ManualClock clock;
  Store store(StoreOptions{}, &clock);
  const std::string key = "a key of some length";
  for (bool handle_out : {false, true}) {  // a handle out: the entry gets a new block
    INFO("handle out " << handle_out);
    const std::vector<std::pair<uint32_t, int64_t>> writes = {
        {0, 0}, {9, 0}, {10, 300}, {0, 300}, {11, 0}, {11, 400}, {0, 0}};
    for (size_t i = 0; i < writes.size(); ++i) {
      const auto [flags, ttl] = writes[i];
      std::optional<Value> held = handle_out ? store.Get(key) : std::nullopt;
      const std::string value = "v" + std::to_string(i);
      REQUIRE(store.Set(key, value, ttl, i + 1, flags));
      int64_t left = -1;
      uint64_t version = 0;
      uint32_t got = 12345;
      CHECK(ValueOf(store.Get(key, &left, &version, &got)) == value);
      CHECK(got == flags);
      CHECK(left == ttl);
      CHECK(version == i + 1);
      CHECK(store.Stats().items == 1);
      if (handle_out && i > 0) CHECK(ValueOf(held) == "v" + std::to_string(i - 1));
    }
  }
}

TEST_CASE("store Scan and SetIfNewer carry the client flags", "[store][flags]") {
  ManualClock clock;
  Store store(StoreOptions{}, &clock);
  REQUIRE(store.Set("a", "1", 0, 5, 42));
  CHECK_FALSE(store.SetIfNewer("a", "2", 0, 4, 43));  // older: kept
  REQUIRE(store.SetIfNewer("b", "3", 1000, 6, 44));
  Store::ScanCursor cursor;
  std::vector<StoreEntry> entries;
  while (!cursor.done()) store.Scan(&cursor, 10, &entries);
  std::sort(entries.begin(), entries.end(),
            [](const StoreEntry& x, const StoreEntry& y) { return x.key < y.key; });
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].flags == 42);
  CHECK(std::string(entries[0].value.view()) == "1");
  CHECK(entries[1].flags == 44);
  CHECK(entries[1].ttl_left_ms == 1000);
}
