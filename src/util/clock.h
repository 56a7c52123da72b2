// Clock: the one way layer-1 modules learn the time, so tests can drive it.
//
// NowMs() is monotonic milliseconds from an arbitrary origin, for timers;
// NowUs() the same clock in microseconds, for measuring how long things take.
// WallMs() is milliseconds since the Unix epoch, comparable between
// machines (as far as their clocks agree), for versions; it may jump.
// SystemClock reads std::chrono::steady_clock and system_clock; ManualClock
// only moves when told, and its wall time is its NowMs plus a settable skew.
// Thread safety: both are safe to read from many threads.
#pragma once

#include <atomic>
#include <cstdint>

namespace meshcache {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMs() const = 0;
  virtual int64_t WallMs() const = 0;
  virtual int64_t NowUs() const { return NowMs() * 1000; }
};

class SystemClock final : public Clock {
 public:
  int64_t NowMs() const override;
  int64_t WallMs() const override;
  int64_t NowUs() const override;
  // A process-wide instance; it has no state, so sharing it is harmless.
  static SystemClock* Get();
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ms = 1'000'000) : now_(start_ms) {}
  int64_t NowMs() const override { return now_.load(std::memory_order_relaxed); }
  int64_t WallMs() const override { return NowMs() + skew_.load(std::memory_order_relaxed); }
  void Advance(int64_t ms) { now_.fetch_add(ms, std::memory_order_relaxed); }
  void Set(int64_t ms) { now_.store(ms, std::memory_order_relaxed); }
  // Wall time runs this far ahead of NowMs (negative: behind).
  void SetSkew(int64_t ms) { skew_.store(ms, std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> now_;
  std::atomic<int64_t> skew_{0};
};

}  // namespace meshcache
