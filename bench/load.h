// meshbench's parts: the settings of a run, the requests a connection makes,
// what it counts, and the run they share. A connection is one thread that
// owns its socket (zmq_load.cc for meshcache and echo, tcp_load.cc for redis
// and memcached); meshbench.cc starts them and reports.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <string>
#include <string_view>
#include <vector>

#include "histogram.h"

namespace zmq {
class context_t;
}

namespace meshbench {

using Clock = std::chrono::steady_clock;

enum class Target { kMeshcache, kEcho, kRedis, kMemcachedText, kMemcachedMeta };
enum class Workload { kGet, kMget, kSet, kMix };
enum class Kind : uint8_t { kGet, kMget, kSet };

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
};

// One request: what was asked and when it was sent. keys are indices for
// KeyOf; one for get and set, `batch` for mget.
struct Request {
  uint64_t id = 0;
  Kind kind = Kind::kGet;
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
// space), and for --fill a set of every key i with i % conns == conn.
class Generator {
 public:
  Generator(const Config& config, int conn);
  void Next(Request* r);
  // False when this connection has set all its keys.
  bool NextFill(Request* r);

 private:
  void Pick(Kind kind, uint32_t n, Request* r);

  const Config& config_;
  Rng rng_;
  uint64_t next_fill_;
};

// What one connection saw. Replies count (ops, keys, misses, latency) only
// when they arrive inside the window; errors count always, fill included.
struct Tally {
  Histogram latency;
  uint64_t ops = 0;
  uint64_t keys = 0;
  uint64_t misses = 0;  // keys, not requests: an mget can miss several
  uint64_t errors = 0;
  Window window;

  void Answered(const Request& r, Clock::time_point now, uint32_t missed) {
    if (!window.Holds(now)) return;
    ++ops;
    keys += r.keys.size();
    misses += missed;
    latency.Add(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - r.sent).count()));
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
  // returns the window.
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
