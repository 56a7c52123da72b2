// store_bench: Store get/set throughput on 1 and 2 threads, and the real
// memory an entry costs beyond its key and value bytes.
//
// Usage: store_bench [ops_per_thread]   (default 500000; the run takes a few
// seconds). Throughput counts every thread's ops over the wall time of the
// slowest; each thread draws keys uniformly from one shared key space.
#include <malloc.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"
#include "util/clock.h"

using namespace meshcache;

namespace {

constexpr size_t kKeys = 100'000;
constexpr size_t kValueSize = 100;  // for the throughput runs

std::string KeyOf(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "key:%08zu", i);
  return buf;
}

// Small blocks plus mmapped ones (large vectors land there).
size_t HeapInUse() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

// xorshift64: cheap enough not to show in the numbers.
struct Rng {
  uint64_t s;
  size_t Next(size_t n) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return static_cast<size_t>(s % n);
  }
};

struct Fixture {
  std::vector<std::string> keys;
  std::vector<Value> values;
  explicit Fixture(size_t value_size) {
    keys.reserve(kKeys);
    values.reserve(kKeys);
    for (size_t i = 0; i < kKeys; ++i) {
      keys.push_back(KeyOf(i));
      values.push_back(MakeValue(std::string(value_size, 'v')));
    }
  }
};

template <typename Op>
double OpsPerSecond(int threads, size_t ops, Op op) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&op, t, ops] {
      Rng rng{0x9E3779B97F4A7C15ull * static_cast<uint64_t>(t + 1)};
      for (size_t i = 0; i < ops; ++i) op(rng.Next(kKeys));
    });
  }
  for (auto& th : pool) th.join();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  return static_cast<double>(ops) * threads / took.count();
}

void Throughput(const Fixture& fx, size_t ops) {
  std::printf("%-8s %14s %14s\n", "threads", "set ops/s", "get ops/s");
  for (int threads : {1, 2}) {
    Store store(StoreOptions{}, SystemClock::Get());  // 64 MiB: all keys fit
    const double sets =
        OpsPerSecond(threads, ops, [&](size_t k) { (void)store.Set(fx.keys[k], fx.values[k], 0); });
    const double gets = OpsPerSecond(threads, ops, [&](size_t k) { (void)store.Get(fx.keys[k]); });
    std::printf("%-8d %14.0f %14.0f\n", threads, sets, gets);
  }
}

// Heap bytes per entry beyond key + value: the store's entry block (header,
// key and value bytes, malloc rounding) and its hash buckets. The store copies
// the value into its entry, so the caller's Value is not part of the entry;
// its own cost (MakeValue's header + malloc rounding) is shown alongside.
void Overhead(size_t value_size) {
  const size_t before_values = HeapInUse();
  Fixture fx(value_size);  // keys are short enough to live inside their std::string
  const size_t before_store = HeapInUse();
  const double standalone = static_cast<double>(before_store - before_values) / kKeys -
                            static_cast<double>(value_size + sizeof(std::string) + sizeof(Value));
  StoreOptions options;
  options.capacity_bytes = size_t{1} << 34;  // nothing is evicted
  Store store(options, SystemClock::Get());
  for (size_t i = 0; i < kKeys; ++i) (void)store.Set(fx.keys[i], fx.values[i], 0);
  const double entry = static_cast<double>(HeapInUse() - before_store) / kKeys -
                       static_cast<double>(fx.keys[0].size() + value_size);
  std::printf("%10zu %10.1f %12.1f\n", value_size, entry, standalone);
}

}  // namespace

int main(int argc, char** argv) {
  const size_t ops = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 500'000;
  std::printf("overhead per entry beyond key and value, bytes (%zu entries, %zu-byte keys;\n",
              kKeys, KeyOf(0).size());
  std::printf("charged: Store::kEntryOverhead = %zu)\n", Store::kEntryOverhead);
  std::printf("%10s %10s %12s\n", "value", "entry", "(MakeValue)");
  for (size_t value_size : {10, 100, 1000}) Overhead(value_size);
  std::printf(
      "(entry: the store's block holding header, key and value, plus buckets;\n"
      "MakeValue: a caller's standalone Value, not kept by the store)\n");
  std::printf("\n%zu ops per thread, %zu keys, %zu-byte values\n", ops, kKeys, kValueSize);
  const Fixture fx(kValueSize);
  Throughput(fx, ops);
  return 0;
}
