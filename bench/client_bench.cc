// client_bench: load on running meshcached nodes through the C++ client
// library (meshcache::Client, smart routing), the client users get, where
// meshbench speaks the protocol on a bare socket.
//
// Each of --threads threads owns one Client and keeps --depth requests in
// flight with SendGet (or SendMGet of --batch keys) and Poll. With --coalesce
// N the clients hold gets and send up to N per node as one mget
// (ClientOptions::coalesce_gets); each get still completes on its own. Keys
// and values follow bench_values.h: every key is set first (unless
// --skip-fill) and every value returned is checked. After --warmup seconds,
// --duration seconds are measured: ops (a get, or an mget of --batch keys),
// keys, latency from Send to its completion (time a get is held included),
// and the CPU time of this process and of --server-pid over that window.
//
// Prints one JSON line on stdout with meshbench's field names (plus
// "coalesce"); problems go to stderr. Exits 1 when it saw any
// error (error completions, timeouts, wrong values) or no replies at all, 2
// on bad flags.
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <latch>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench_values.h"
#include "cpu_time.h"
#include "histogram.h"
#include "meshcache/client.hpp"

namespace {

using meshbench::Histogram;
using meshbench::KeyOf;
using Clock = std::chrono::steady_clock;

struct Config {
  std::vector<std::string> nodes;
  int threads = 4;
  int depth = 16;
  uint32_t keys = 10000;
  size_t value_size = 100;
  std::string op = "get";       // get or mget
  std::string route = "smart";  // smart: ClientOptions::smart_routing; direct: to --node only
  uint32_t batch = 16;          // keys per mget
  size_t coalesce = 0;          // ClientOptions::coalesce_gets
  double duration_s = 5;
  double warmup_s = 1;
  bool skip_fill = false;
  int fill_depth = 64;
  int64_t timeout_ms = 5000;
};

// What one thread saw. Replies count (ops, keys, misses, latency) only inside
// the window; errors count always, fill included.
struct Tally {
  Histogram latency;
  uint64_t ops = 0, keys = 0, misses = 0, errors = 0;
};

// Shared by the threads and main. Thread-safe.
class Run {
 public:
  explicit Run(const Config& c) : config(c), ready_(c.threads + 1) {}
  const Config& config;

  // A thread is connected and filled: waits for the others and for main.
  void Ready() {
    ready_.count_down();
    go_.wait(false);
  }
  // main: once every thread is ready, starts the warmup.
  void Start() {
    ready_.count_down();
    ready_.wait();
    start = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(config.warmup_s));
    end = start + std::chrono::duration_cast<Clock::duration>(
                      std::chrono::duration<double>(config.duration_s));
    go_.store(true);
    go_.notify_all();
  }
  // The first 10 problems on stderr, then a note.
  void Report(int thread, const std::string& what) {
    const int n = reports_.fetch_add(1);
    if (n < 10) std::fprintf(stderr, "client_bench: thread %d: %s\n", thread, what.c_str());
    if (n == 10) std::fprintf(stderr, "client_bench: more problems; see the errors count\n");
  }

  Clock::time_point start, end;  // written before go_, read after it

 private:
  std::latch ready_;
  std::atomic<bool> go_{false};
  std::atomic<int> reports_{0};
};

// xorshift64*: cheap next to a request.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed | 1) {}
  uint32_t Below(uint32_t n) {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return static_cast<uint32_t>((((s_ * 0x2545F4914F6CDD1Dull) >> 32) * n) >> 32);
  }

 private:
  uint64_t s_;
};

struct Pending {
  Clock::time_point sent;
  std::vector<uint32_t> keys;  // indices for KeyOf
};

// The client's checks of one value: nullopt is a miss.
enum class Check { kOk, kMiss, kWrong };
Check CheckValue(uint32_t key, const std::optional<std::string>& value, size_t size) {
  if (!value) return Check::kMiss;
  return meshbench::IsValueOf(KeyOf(key).view(), *value, size) ? Check::kOk : Check::kWrong;
}

class Worker {
 public:
  Worker(Run& run, int index, Tally* tally)
      : run_(run),
        c_(run.config),
        index_(index),
        tally_(tally),
        rng_(0x9E3779B97F4A7C15ull * (index + 1)) {}

  void Main() {
    meshcache::ClientOptions o;
    o.seeds = c_.nodes;
    o.timeout_ms = c_.timeout_ms;
    o.coalesce_gets = c_.coalesce;
    o.smart_routing = c_.route == "smart";
    auto client = meshcache::Client::Connect(o);
    if (!client.ok()) {
      ++tally_->errors;
      run_.Report(index_, "connect: " + client.status().ToString());
      run_.Ready();
      return;
    }
    client_ = client->get();
    if (!c_.skip_fill) Fill();
    run_.Ready();
    Measure();
  }

 private:
  void Fill() {
    std::string value;
    for (uint64_t k = static_cast<uint64_t>(index_); k < c_.keys;
         k += static_cast<uint64_t>(c_.threads)) {
      const auto key = KeyOf(static_cast<uint32_t>(k));
      value.clear();
      meshbench::AppendValue(key.view(), c_.value_size, &value);
      client_->SendSet(key.view(), value, 0);  // 0: no expiry
      while (client_->pending() >= static_cast<size_t>(c_.fill_depth)) FillPoll();
    }
    while (client_->pending() > 0) FillPoll();
  }
  void FillPoll() {
    for (const auto& done : client_->Poll(c_.timeout_ms)) {
      if (done.status.ok()) continue;
      ++tally_->errors;
      run_.Report(index_, "fill: " + done.status.ToString());
    }
  }

  void Send() {
    Pending p;
    const bool mget = c_.op == "mget";
    for (uint32_t i = 0; i < (mget ? c_.batch : 1); ++i) p.keys.push_back(rng_.Below(c_.keys));
    p.sent = Clock::now();
    uint64_t ticket;
    if (mget) {
      names_.clear();
      for (uint32_t k : p.keys) names_.emplace_back(KeyOf(k).view());
      ticket = client_->SendMGet(names_);
    } else {
      ticket = client_->SendGet(KeyOf(p.keys[0]).view());
    }
    pending_.emplace(ticket, std::move(p));
  }

  void Complete(const meshcache::Completion& done, Clock::time_point now) {
    auto it = pending_.find(done.ticket);
    if (it == pending_.end()) {
      ++tally_->errors;
      run_.Report(index_, "a completion for no request: ticket " + std::to_string(done.ticket));
      return;
    }
    const Pending p = std::move(it->second);
    pending_.erase(it);
    if (!done.status.ok()) {
      ++tally_->errors;
      run_.Report(index_, done.status.ToString());
      return;
    }
    uint64_t misses = 0;
    for (size_t i = 0; i < p.keys.size(); ++i) {
      const auto& value = c_.op == "mget" ? done.values.at(i) : done.value;
      switch (CheckValue(p.keys[i], value, c_.value_size)) {
        case Check::kOk:
          break;
        case Check::kMiss:
          ++misses;
          break;
        case Check::kWrong:
          ++tally_->errors;
          run_.Report(index_, "wrong value for " + std::string(KeyOf(p.keys[i]).view()));
          return;
      }
    }
    if (now < run_.start || now >= run_.end) return;
    ++tally_->ops;
    tally_->keys += p.keys.size();
    tally_->misses += misses;
    tally_->latency.Add(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - p.sent).count()));
  }

  void Measure() {
    if (client_ == nullptr) return;
    if (c_.op == "mget" && c_.batch > 0) names_.reserve(c_.batch);
    while (Clock::now() < run_.end) {
      while (pending_.size() < static_cast<size_t>(c_.depth)) Send();
      std::vector<meshcache::Completion> done = client_->Poll(c_.timeout_ms);
      const Clock::time_point now = Clock::now();
      for (const auto& d : done) Complete(d, now);
    }
    // What is still in flight is answered or times out.
    while (client_->pending() > 0) {
      for (const auto& d : client_->Poll(c_.timeout_ms)) Complete(d, Clock::now());
    }
  }

  Run& run_;
  const Config& c_;
  int index_;
  Tally* tally_;
  Rng rng_;
  meshcache::Client* client_ = nullptr;
  std::unordered_map<uint64_t, Pending> pending_;  // by ticket
  std::vector<std::string> names_;                 // an mget's keys
};

using meshbench::ClientCpuUs;
using meshbench::ServerCpuUs;

using meshbench::Number;
using meshbench::PerOp;
using meshbench::PerOpFigures;

struct Measured {
  Tally total;
  double client_cpu_us = 0;
  std::optional<double> server_cpu_us;
};

Measured Measure(Run& run, int server_pid) {
  const Config& c = run.config;
  std::vector<Tally> tallies(static_cast<size_t>(c.threads));
  std::vector<std::thread> threads;
  for (int i = 0; i < c.threads; ++i) {
    threads.emplace_back([&run, &tallies, i] { Worker(run, i, &tallies[i]).Main(); });
  }
  run.Start();
  std::this_thread::sleep_until(run.start);
  const double cpu0 = ClientCpuUs();
  const std::optional<double> server0 = server_pid > 0 ? ServerCpuUs(server_pid) : std::nullopt;
  std::this_thread::sleep_until(run.end);
  Measured m;
  m.client_cpu_us = ClientCpuUs() - cpu0;
  if (server_pid > 0) {
    const std::optional<double> server1 = ServerCpuUs(server_pid);
    if (server0 && server1) {
      m.server_cpu_us = *server1 - *server0;
    } else {
      std::fprintf(stderr, "client_bench: cannot read /proc/%d/stat\n", server_pid);
    }
  }
  for (auto& t : threads) t.join();
  for (const Tally& t : tallies) {
    m.total.latency.Merge(t.latency);
    m.total.ops += t.ops;
    m.total.keys += t.keys;
    m.total.misses += t.misses;
    m.total.errors += t.errors;
  }
  return m;
}

void PrintJson(const Config& c, const Measured& m) {
  const Tally& t = m.total;
  const double ops = static_cast<double>(t.ops);
  const PerOp f = PerOpFigures(t.latency, t.ops, m.client_cpu_us, m.server_cpu_us);
  const uint32_t batch = c.op == "mget" ? c.batch : 1;
  std::printf(
      "{\"target\":\"meshcache-client\",\"op\":\"%s\",\"conns\":%d,\"depth\":%d,\"batch\":%u,"
      "\"value_size\":%zu,\"duration_s\":%s,\"ops\":%llu,\"ops_per_s\":%s,\"keys_per_s\":%s,"
      "\"p50_us\":%s,\"p99_us\":%s,\"p999_us\":%s,\"errors\":%llu,\"misses\":%llu,"
      "\"client_cpu_us_per_op\":%s,\"server_cpu_us_per_op\":%s,\"route\":\"%s\",\"nodes\":%zu,"
      "\"keys\":%u,\"coalesce\":%zu}\n",
      c.op.c_str(), c.threads, c.depth, batch, c.value_size, Number(c.duration_s, "%g").c_str(),
      static_cast<unsigned long long>(t.ops), Number(ops / c.duration_s, "%.1f").c_str(),
      Number(static_cast<double>(t.keys) / c.duration_s, "%.1f").c_str(),
      Number(f.p50, "%.1f").c_str(), Number(f.p99, "%.1f").c_str(), Number(f.p999, "%.1f").c_str(),
      static_cast<unsigned long long>(t.errors), static_cast<unsigned long long>(t.misses),
      Number(f.client_cpu).c_str(), Number(f.server_cpu).c_str(), c.route.c_str(), c.nodes.size(),
      c.keys, c.coalesce);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  int server_pid = 0;
  CLI::App app{"client_bench: load on meshcached through the C++ client library"};
  app.option_defaults()->always_capture_default();
  app.add_option("--node", c.nodes, "service endpoint tcp://HOST:PORT of a node; repeatable")
      ->required();
  app.add_option("--threads,--conns", c.threads, "threads, each with its own Client")
      ->check(CLI::Range(1, 4096));
  app.add_option("--depth", c.depth, "requests in flight per thread")->check(CLI::Range(1, 65535));
  app.add_option("--keys", c.keys, "key space, keys drawn uniformly")
      ->check(CLI::Range(1u, 100'000'000u));
  app.add_option("--value-size", c.value_size, "bytes per value")
      ->check(CLI::Range(size_t{0}, size_t{1} << 20));
  app.add_option("--op", c.op, "get (SendGet) or mget (SendMGet of --batch keys)")
      ->check(CLI::IsMember({"get", "mget"}));
  app.add_option("--route", c.route,
                 "smart (each key to its owner) or direct (to the first --node)")
      ->check(CLI::IsMember({"smart", "direct"}));
  app.add_option("--batch", c.batch, "keys per mget")->check(CLI::Range(1u, 4096u));
  app.add_option("--coalesce", c.coalesce, "ClientOptions::coalesce_gets (0: off)")
      ->check(CLI::Range(size_t{0}, size_t{4096}));
  app.add_option("--duration", c.duration_s, "seconds measured")->check(CLI::Range(0.001, 86400.0));
  app.add_option("--warmup", c.warmup_s, "seconds run before measuring")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_flag("--skip-fill", c.skip_fill, "do not set every key first");
  app.add_option("--fill-depth", c.fill_depth, "sets in flight per thread while filling")
      ->check(CLI::Range(1, 65535));
  app.add_option("--timeout", c.timeout_ms, "ClientOptions::timeout_ms")
      ->check(CLI::Range(int64_t{1}, int64_t{3'600'000}));
  app.add_option("--server-pid", server_pid, "process whose CPU time to report")
      ->check(CLI::PositiveNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  Run run(c);
  const Measured m = Measure(run, server_pid);
  PrintJson(c, m);
  if (m.total.ops == 0) std::fprintf(stderr, "client_bench: no replies in the measured window\n");
  return m.total.errors > 0 || m.total.ops == 0 ? 1 : 0;
}
