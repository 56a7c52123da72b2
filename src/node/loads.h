// Loads: misses at the owner go to the loader, off the I/O thread;
// concurrent misses for one key share one flight (singleflight), and a
// flight that outlives its deadline is answered `timeout` (its late result is
// dropped and counted). The loader is never called twice at once for a key:
// a flight that starts while a timed-out flight's call is still running
// calls the loader when that call returns.
//
// The loader runs behind LoadRunner: LoadPool's worker threads in a node, a
// fake that completes on demand in tests. Not thread-safe: the I/O thread
// owns it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "meshcache/loader.hpp"
#include "singleflight/singleflight.h"
#include "util/clock.h"
#include "util/histogram.h"

namespace meshcache::node {

struct LoadDone {
  std::string key;
  uint64_t token;
  Result<std::optional<Loaded>> result;
};

class LoadRunner {
 public:
  virtual ~LoadRunner() = default;
  // Queues a loader call for key; false when the queue is full.
  [[nodiscard]] virtual bool Submit(std::string key, uint64_t token) = 0;
  // The calls finished since the last TakeResults.
  virtual std::vector<LoadDone> TakeResults() = 0;
};

// Who waits for a load: a job's slot.
struct Waiter {
  uint64_t job;
  size_t slot;
};

struct LoadStats {
  uint64_t loads = 0;  // loader calls started
  uint64_t load_errors = 0;
  uint64_t load_timeouts = 0;  // loader timeouts and flights past their deadline
  uint64_t late_loads = 0;     // results after their deadline, dropped
  LatencyHistogram load_us;    // loader calls: from queueing to the result (late ones too)
};

// A finished flight: its waiters and what they get. A failed result has
// code `timeout` when the loader timed out, `overloaded` for a deferred
// flight that the loader's queue refused, and `load_failed` otherwise.
struct LoadOutcome {
  std::string key;
  std::vector<Waiter> waiters;
  Result<std::optional<Loaded>> result;
  uint64_t version = 0;  // the version given to the Start that began the flight
};

class Loads {
 public:
  // runner may be null: the node has no loader (enabled() is false).
  // REQUIRES: runner and clock outlive this.
  Loads(LoadRunner* runner, const Clock* clock, int64_t timeout_ms);

  bool enabled() const { return runner_ != nullptr; }
  // Adds waiter to key's flight, starting one if none is in flight (then
  // `version`, the write version of the load's start, goes with it: a write
  // newer than that overtakes the load). When the
  // loader's queue is full, returns the flight's waiters (this one included),
  // to be answered `overloaded`; otherwise nothing.
  // REQUIRES: enabled().
  std::vector<Waiter> Start(const std::string& key, Waiter waiter, uint64_t version = 0);
  // Flights whose loader call finished (late results dropped and counted),
  // and deferred flights that the loader's queue refused (`overloaded`).
  std::vector<LoadOutcome> TakeDone();
  // Flights past their deadline, each with result `timeout`.
  std::vector<LoadOutcome> Expire(int64_t now);
  int64_t NextDeadline() const { return flights_.NextDeadline(); }
  size_t in_flight() const { return flights_.in_flight(); }
  int64_t timeout_ms() const { return timeout_ms_; }
  const LoadStats& stats() const { return stats_; }

 private:
  std::vector<Waiter> Submit(const std::string& key, uint64_t token);
  void StartDeferred(const std::string& key, std::vector<LoadOutcome>& out);
  uint64_t TakeVersion(const std::string& key);

  LoadRunner* runner_;
  const Clock* clock_;
  const int64_t timeout_ms_;
  SingleFlight<Waiter> flights_;
  std::map<std::string, int64_t> running_;    // keys with a loader call running: since (us)
  std::map<std::string, uint64_t> deferred_;  // flights waiting for that call, by key
  std::map<std::string, uint64_t> versions_;  // each flight's start version, by key
  LoadStats stats_;
};

}  // namespace meshcache::node
