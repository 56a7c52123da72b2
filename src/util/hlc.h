// HybridClock: versions for values, a hybrid logical clock (Kulkarni et al.)
// packed in 64 bits: the wall clock's milliseconds in the top 48 bits and a
// counter in the low 16.
//
// Now() never returns the same or a smaller version twice, even when the
// wall clock steps back; Observe() folds in a version seen from another node
// so that what this node stamps next is larger. Versions order writes to a
// key across nodes: the larger one is the newer write (last writer wins), and
// versions stamped on one node are ordered as they were stamped.
// Versions read from the wire are checked with Plausible before use.
// Thread safety: none; one thread owns a clock.
#pragma once

#include <algorithm>
#include <cstdint>

#include "util/clock.h"

namespace meshcache {

class HybridClock {
 public:
  static constexpr int kCounterBits = 16;

  // REQUIRES: clock outlives this.
  explicit HybridClock(const Clock* clock) : clock_(clock) {}

  uint64_t Now() {
    const uint64_t wall = static_cast<uint64_t>(std::max<int64_t>(clock_->WallMs(), 0))
                          << kCounterBits;
    last_ = std::max(last_ + 1, wall);
    return last_;
  }
  // How far ahead of this node's wall clock a version may be stamped and
  // still be taken: beyond the skew of any sane clock. A version further
  // ahead (a forged or corrupt one) would make every later write lose.
  static constexpr int64_t kMaxAheadMs = 60'000;
  bool Plausible(uint64_t version) const {
    return WallMsOf(version) <= std::max<int64_t>(clock_->WallMs(), 0) + kMaxAheadMs;
  }
  // Folds in a version seen elsewhere; one that is not Plausible is ignored
  // (false).
  bool Observe(uint64_t version) {
    if (!Plausible(version)) return false;
    last_ = std::max(last_, version);
    return true;
  }
  // The wall-clock milliseconds a version was stamped at.
  static int64_t WallMsOf(uint64_t version) {
    return static_cast<int64_t>(version >> kCounterBits);
  }

 private:
  const Clock* clock_;
  uint64_t last_ = 0;
};

}  // namespace meshcache
