// meshbench's parts: the settings of a run, the requests a connection makes,
// what it counts, and the run they share. A connection is one thread that
// owns its socket (zmq_load.cc for meshcache and echo, tcp_load.cc for redis
// and memcached); meshbench.cc starts them and reports.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <latch>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "histogram.h"

namespace zmq {
class context_t;
}
namespace meshcache {
class Ring;
}

namespace meshbench {

using Clock = std::chrono::steady_clock;

enum class Target { kMeshcache, kEcho, kRedis, kMemcachedText, kMemcachedMeta };
// kScan and kFill are finite: the run is their sequence of requests, start
// to end, with no warmup and no fixed duration (Config::Finite).
enum class Workload { kGet, kMget, kSet, kMix, kScan, kFill };
enum class Kind : uint8_t { kGet, kMget, kSet };
// Where a scan-workload request stands in the sequence (Generator says).
enum class Phase : uint8_t { kTimed, kWarm, kScan, kFinal };

struct Config {
  Target target = Target::kMeshcache;
  std::string endpoint;  // tcp://HOST:PORT (meshcache, echo) or HOST:PORT
  int conns = 1;
  int depth = 1;  // requests in flight per connection
  uint32_t keys = 10000;
  size_t value_size = 100;
  Workload op = Workload::kGet;
  uint32_t batch = 16;     // keys per mget
  double set_ratio = 0.1;  // mix: the share of requests that are sets
  double duration_s = 5;
  double warmup_s = 1;
  bool fill = false;
  int io_threads = 1;    // libzmq I/O threads of the client
  double timeout_s = 5;  // a request unanswered this long is an error
  int fill_depth = 64;   // requests in flight per connection during --fill

  // --route smart (meshcache only): one DEALER per node of `ring` (their
  // service endpoints in `routes`, in the ring's member order), each key
  // sent to its owner. Empty routes: every request goes to `endpoint`.
  std::vector<std::string> routes;
  std::shared_ptr<const meshcache::Ring> ring;

  // --op scan: keys [0, hot_keys) are the hot set, [hot_keys, hot_keys +
  // scan_keys) the scan; see Generator.
  uint32_t hot_keys = 1800;
  uint32_t scan_keys = 20000;
  uint32_t scan_every = 10;  // scan gets per hot get during the scan
  double scan_warm_s = 1.5;  // the hot set is warmed at least this long
  uint64_t seed = 1;

  bool Finite() const { return op == Workload::kScan || op == Workload::kFill; }
};

// One request: what was asked and when it was sent. keys are indices for
// KeyOf; one for get and set, `batch` for mget.
struct Request {
  uint64_t id = 0;
  Kind kind = Kind::kGet;
  Phase phase = Phase::kTimed;
  bool hot = false;  // scan workload: a key of the hot set
  Clock::time_point sent;
  std::vector<uint32_t> keys;
};

// "1.5 s"
std::string Seconds(double s);

struct Window {
  Clock::time_point start, end;  // empty until the run starts measuring
  bool Holds(Clock::time_point t) const { return t >= start && t < end; }
};

// xorshift64*: cheap next to a request.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed | 1) {}
  uint64_t Next() {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 0x2545F4914F6CDD1Dull;
  }
  uint32_t Below(uint32_t n) { return static_cast<uint32_t>(((Next() >> 32) * n) >> 32); }
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t s_;
};

// The requests of one connection: the workload's (keys uniform over the key
// space), and for --fill (and --op fill) a set of every key i with
// i % conns == conn.
//
// --op scan (one connection) is cache-aside over a hot set and a scan, every
// get that misses followed by a set of its key (Missed), in three phases:
//   warm:  passes over the hot keys in order, until at least scan_warm_s has
//          passed since the first and at least two passes are done (so every
//          hot key is hit again after the midpoint LRU's old-blocks time);
//   scan:  the scan keys in order, each once, with one get of a hot key
//          (drawn uniformly, seeded) after every scan_every of them;
//   final: one pass over the hot keys in order: how much of the hot set the
//          scan left in the cache.
// The same seed gives the same sequence of keys; only the warm phase's
// number of passes depends on the speed.
class Generator {
 public:
  Generator(const Config& config, int conn);
  // The next request of the workload; false when a finite workload has
  // nothing more to send now (its sequence is done and no set is pending).
  bool Next(Request* r);
  // False when this connection has set all its keys.
  bool NextFill(Request* r);
  // A get of `r` missed: cache-aside sets the key next (scan workload).
  void Missed(const Request& r);

 private:
  void Pick(Kind kind, uint32_t n, Request* r);
  bool NextScan(Request* r);
  void One(Kind kind, uint32_t key, Phase phase, Request* r);

  const Config& config_;
  Rng rng_;
  uint64_t next_fill_;
  // scan workload
  std::deque<std::pair<uint32_t, Phase>> pending_sets_;
  Phase phase_ = Phase::kWarm;
  uint32_t pos_ = 0;     // in the current pass or the scan
  uint32_t passes_ = 0;  // warm passes done
  uint32_t since_hot_ = 0;
  Clock::time_point warm_start_{};
};

// What one connection saw. Replies count (ops, keys, misses, latency) only
// when they arrive inside the window; errors count always, fill included.
// The gets of the scan workload's measured phases, by kind of key.
struct ScanCounts {
  uint64_t hot_gets = 0, hot_hits = 0;      // hot keys during the scan
  uint64_t cold_gets = 0, cold_hits = 0;    // scan keys
  uint64_t final_gets = 0, final_hits = 0;  // the pass over the hot set after it
  uint64_t sets = 0;                        // cache-aside sets after misses, all phases

  void Add(const ScanCounts& o) {
    hot_gets += o.hot_gets, hot_hits += o.hot_hits, cold_gets += o.cold_gets;
    cold_hits += o.cold_hits, final_gets += o.final_gets, final_hits += o.final_hits;
    sets += o.sets;
  }
};

struct Tally {
  Histogram latency;
  uint64_t ops = 0;
  uint64_t keys = 0;
  uint64_t misses = 0;  // keys, not requests: an mget can miss several
  uint64_t errors = 0;
  ScanCounts scan;
  Window window;

  void Answered(const Request& r, Clock::time_point now, uint32_t missed) {
    if (r.phase != Phase::kTimed) Scanned(r, missed);
    if (!window.Holds(now)) return;
    ++ops;
    keys += r.keys.size();
    misses += missed;
    latency.Add(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - r.sent).count()));
  }

 private:
  void Scanned(const Request& r, uint32_t missed) {
    if (r.kind == Kind::kSet) {
      ++scan.sets;
      return;
    }
    const bool hit = missed == 0;
    if (r.phase == Phase::kScan && r.hot) {
      ++scan.hot_gets, scan.hot_hits += hit;
    } else if (r.phase == Phase::kScan) {
      ++scan.cold_gets, scan.cold_hits += hit;
    } else if (r.phase == Phase::kFinal) {
      ++scan.final_gets, scan.final_hits += hit;
    }
  }
};

// Shared by the connections and main. Thread-safe.
class Run {
 public:
  explicit Run(const Config& config) : config_(config), ready_(config.conns + 1) {}
  const Config& config() const { return config_; }

  // A connection is connected (and filled): waits until every connection
  // is, then returns the window to measure.
  Window Ready();
  // main: waits until every connection is ready, starts the warmup and
  // returns the window. A finite workload's window starts at once and has
  // no end: its whole sequence is measured.
  Window Start();

  // Prints a problem on stderr: the first 10 of the run, then a count.
  void Report(int conn, std::string_view what);

 private:
  const Config& config_;
  std::latch ready_;
  std::atomic<bool> go_{false};
  std::atomic<int> reports_{0};
  Window window_;  // written before go_, read after it
};

// The body of one connection's thread: connects, fills, measures, and adds
// what it saw to *tally. Always passes Run::Ready once, even on failure.
void RunZmqConnection(Run& run, int conn, zmq::context_t& context, Tally* tally);
void RunTcpConnection(Run& run, int conn, Tally* tally);

}  // namespace meshbench
