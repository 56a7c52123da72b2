// LatencyHistogram: how long something took, counted in fixed buckets, as
// Prometheus histograms count (each bucket is "took at most this long";
// the counts are kept per bucket and summed on reading). Fixed bounds keep
// recording to a few compares and an add, cheap enough for every get.
//
// Durations are in microseconds. Not thread-safe: one thread records and
// reads (the node's I/O thread).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace meshcache {

class LatencyHistogram {
 public:
  // Upper bounds in microseconds: 25 us (a hit served from the store) to
  // 5 s (a slow origin). Longer durations land only in the count.
  static constexpr std::array<int64_t, 15> kBoundsUs = {
      25,     50,     100,    250,     500,     1'000,     2'500,    5'000,
      10'000, 25'000, 50'000, 100'000, 250'000, 1'000'000, 5'000'000};

  // A negative duration (a clock that stepped back) counts as 0.
  void Record(int64_t us) {
    if (us < 0) us = 0;
    ++count_;
    sum_us_ += static_cast<uint64_t>(us);
    for (size_t i = 0; i < kBoundsUs.size(); ++i) {
      if (us <= kBoundsUs[i]) {
        ++buckets_[i];
        return;
      }
    }
  }

  // How many took at most kBoundsUs[i] (cumulative, as Prometheus's `le`).
  uint64_t AtMost(size_t i) const {
    uint64_t n = 0;
    for (size_t j = 0; j <= i && j < buckets_.size(); ++j) n += buckets_[j];
    return n;
  }
  uint64_t count() const { return count_; }
  uint64_t sum_us() const { return sum_us_; }

 private:
  std::array<uint64_t, kBoundsUs.size()> buckets_{};
  uint64_t count_ = 0;
  uint64_t sum_us_ = 0;
};

}  // namespace meshcache
