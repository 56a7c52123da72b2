// A latency histogram in log-linear buckets: exact below 128 ns, then 64
// buckets per power of two (each under 1.6% wide), up to 2^64 ns. Adding a
// sample is an increment, so every reply can be recorded. Not thread-safe:
// one per connection, merged at the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace meshbench {

class Histogram {
 public:
  Histogram() : counts_(kBuckets, 0) {}

  void Add(uint64_t ns) {
    ++counts_[Index(ns)];
    ++count_;
  }
  void Merge(const Histogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
  }
  uint64_t count() const { return count_; }

  // The q-quantile in ns (0 < q <= 1): the middle of the bucket that holds
  // the ceil(q * count)-th smallest sample; 0 when there are no samples.
  double Quantile(double q) const {
    if (count_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(count_) + 0.999999);
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return Middle(i);
    }
    return Middle(kBuckets - 1);
  }

 private:
  static constexpr int kSubBits = 6;  // 64 buckets per power of two
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;
  static constexpr size_t kBuckets = (64 - kSubBits) * kSub + 2 * kSub;

  // Below 2*kSub a bucket per value; above, value v with highest bit m goes
  // to (m - kSubBits) * kSub + (v >> (m - kSubBits)), whose second term is
  // in [kSub, 2*kSub).
  static size_t Index(uint64_t v) {
    if (v < 2 * kSub) return static_cast<size_t>(v);
    const int shift = 63 - __builtin_clzll(v) - kSubBits;
    return static_cast<size_t>(shift) * kSub + static_cast<size_t>(v >> shift);
  }
  static double Middle(size_t i) {
    if (i < 2 * kSub) return static_cast<double>(i);
    const int shift = static_cast<int>(i / kSub) - 1;
    const uint64_t low = (kSub + i % kSub) << shift;
    return static_cast<double>(low) + static_cast<double>(uint64_t{1} << shift) / 2;
  }

  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
};

}  // namespace meshbench
