// store_bench: Store get/set throughput on 1 and 2 threads, and the real
// memory an entry costs beyond its key and value bytes.
//
// Usage: store_bench [ops_per_thread [entries]]   (defaults 500000 and
// 1000000; the run takes a few seconds and about 1.3 GB at its peak).
// Throughput counts every thread's ops over the wall time of the slowest;
// each thread draws keys uniformly from one shared key space. The overhead
// is the growth of the resident set while `entries` entries are stored,
// measured in a child process per value size (and for 100-byte values with
// a ttl) so that no run inherits another's freed heap.
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
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
    const double sets = OpsPerSecond(
        threads, ops, [&](size_t k) { (void)store.Set(fx.keys[k], fx.values[k].view(), 0); });
    const double gets = OpsPerSecond(threads, ops, [&](size_t k) { (void)store.Get(fx.keys[k]); });
    std::printf("%-8d %14.0f %14.0f\n", threads, sets, gets);
  }
}

size_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// Bytes per entry beyond key + value, as the resident set and the heap in use
// grow while `entries` entries go in: the store's entry block (header, key
// and value bytes, malloc's chunk header and rounding) and its hash buckets.
// Keys are made one at a time and the one source value is shared, so neither
// is part of the figure. With ttl_ms > 0 every entry expires (an hour on),
// which costs it 8 more bytes of header. Runs in the calling process; see main.
void Overhead(size_t entries, size_t value_size, int64_t ttl_ms) {
  const Value value = MakeValue(std::string(value_size, 'v'));
  StoreOptions options;
  options.capacity_bytes = size_t{1} << 40;  // nothing is evicted
  Store store(options, SystemClock::Get());
  const size_t rss_before = ResidentBytes(), heap_before = HeapInUse();
  for (size_t i = 0; i < entries; ++i) (void)store.Set(KeyOf(i), value.view(), ttl_ms);
  const size_t rss_after = ResidentBytes(), heap_after = HeapInUse();
  const double payload = static_cast<double>(KeyOf(0).size() + value_size);
  const double n = static_cast<double>(entries);
  const StoreStats st = store.Stats();
  const std::string label = std::to_string(value_size) + (ttl_ms > 0 ? " ttl" : "");
  std::printf("%10s %10zu %10.1f %10.1f %10.1f\n", label.c_str(), static_cast<size_t>(st.items),
              static_cast<double>(rss_after - rss_before) / n - payload,
              static_cast<double>(heap_after - heap_before) / n - payload,
              static_cast<double>(st.bytes) / n - payload);
}

// Overhead in a fresh child, so that its heap starts as empty as it can.
void OverheadInChild(size_t entries, size_t value_size, int64_t ttl_ms) {
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    Overhead(entries, value_size, ttl_ms);
    std::fflush(stdout);
    _exit(0);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0) {
    std::printf("%10zu (the measuring child failed)\n", value_size);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const size_t ops = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 500'000;
  const size_t entries = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1'000'000;
  std::printf("overhead per entry beyond key and value, bytes (%zu entries, %zu-byte keys)\n",
              entries, KeyOf(0).size());
  std::printf("%10s %10s %10s %10s %10s\n", "value", "items", "rss", "heap", "charged");
  for (size_t value_size : {10, 100, 1000}) OverheadInChild(entries, value_size, 0);
  OverheadInChild(entries, 100, 3'600'000);
  std::printf(
      "(rss: resident set growth; heap: malloc's bytes in use; charged:\n"
      "Store::kEntryOverhead = %zu, which must cover rss)\n",
      Store::kEntryOverhead);
  std::printf("\n%zu ops per thread, %zu keys, %zu-byte values\n", ops, kKeys, kValueSize);
  const Fixture fx(kValueSize);
  Throughput(fx, ops);
  return 0;
}
