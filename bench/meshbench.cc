// meshbench: one load generator for meshcache, the bare ZeroMQ echo
// (zmq_echo), redis and memcached (text and meta protocols).
//
// Each of --conns connections is a thread owning one socket and keeping
// --depth requests in flight. Keys are drawn uniformly from --keys; every
// value returned is checked against bench_values.h, so a run against a filled
// server (--fill sets every key first) must see no misses and no errors.
// After --warmup seconds, --duration seconds are measured: ops (requests
// answered; an mget of 16 keys is one op), latency from send to reply, and
// the CPU time of this process and of --server-pid over that window.
//
// Prints one JSON line on stdout; problems go to stderr. Exits 1 when it saw
// any error (error replies, wrong values, timeouts, broken connections) or
// no replies at all, 2 on bad flags.
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "load.h"

using namespace meshbench;

namespace {

const std::map<std::string, Target> kTargets = {
    {"meshcache", Target::kMeshcache},
    {"echo", Target::kEcho},
    {"redis", Target::kRedis},
    {"memcached-text", Target::kMemcachedText},
    {"memcached-meta", Target::kMemcachedMeta},
};
const std::map<std::string, Workload> kWorkloads = {{"get", Workload::kGet},
                                                    {"mget", Workload::kMget},
                                                    {"set", Workload::kSet},
                                                    {"mix", Workload::kMix}};

bool UsesZmq(Target t) { return t == Target::kMeshcache || t == Target::kEcho; }

// User plus system CPU time of this process (all its threads, libzmq's too), in µs.
double ClientCpuUs() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// utime + stime of another process from /proc/PID/stat, in µs (clock-tick
// resolution, 10 ms on most kernels); nullopt when it cannot be read.
std::optional<double> ServerCpuUs(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');  // the command name may hold spaces
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && (fields >> field); ++i) {  // fields 14 and 15 (1-based)
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  if (!fields) return std::nullopt;
  return static_cast<double>(utime + stime) * 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string Number(std::optional<double> v, const char* format = "%.3f") {
  if (!v) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, *v);
  return buf;
}

struct Measured {
  Tally total;
  double client_cpu_us = 0;
  std::optional<double> server_cpu_us;
};

void PrintJson(const Config& c, const std::string& target, const std::string& op,
               const Measured& m) {
  const Tally& t = m.total;
  const double ops = static_cast<double>(t.ops);
  std::optional<double> server_per_op, client_per_op, p50, p99, p999;
  if (t.ops > 0) {
    p50 = t.latency.Quantile(0.5) / 1e3;
    p99 = t.latency.Quantile(0.99) / 1e3;
    p999 = t.latency.Quantile(0.999) / 1e3;
    client_per_op = m.client_cpu_us / ops;
    if (m.server_cpu_us) server_per_op = *m.server_cpu_us / ops;
  }
  const uint32_t batch = c.op == Workload::kMget ? c.batch : 1;
  std::printf(
      "{\"target\":\"%s\",\"op\":\"%s\",\"conns\":%d,\"depth\":%d,\"batch\":%u,"
      "\"value_size\":%zu,\"duration_s\":%s,\"ops\":%llu,\"ops_per_s\":%s,\"keys_per_s\":%s,"
      "\"p50_us\":%s,\"p99_us\":%s,\"p999_us\":%s,\"errors\":%llu,\"misses\":%llu,"
      "\"client_cpu_us_per_op\":%s,\"server_cpu_us_per_op\":%s}\n",
      target.c_str(), op.c_str(), c.conns, c.depth, batch, c.value_size,
      Number(c.duration_s, "%g").c_str(), static_cast<unsigned long long>(t.ops),
      Number(ops / c.duration_s, "%.1f").c_str(),
      Number(static_cast<double>(t.keys) / c.duration_s, "%.1f").c_str(),
      Number(p50, "%.1f").c_str(), Number(p99, "%.1f").c_str(), Number(p999, "%.1f").c_str(),
      static_cast<unsigned long long>(t.errors), static_cast<unsigned long long>(t.misses),
      Number(client_per_op).c_str(), Number(server_per_op).c_str());
  std::fflush(stdout);
}

Measured Measure(Run& run, int server_pid) {
  const Config& c = run.config();
  std::optional<zmq::context_t> context;
  if (UsesZmq(c.target)) context.emplace(c.io_threads);
  std::vector<Tally> tallies(static_cast<size_t>(c.conns));
  std::vector<std::thread> threads;
  for (int i = 0; i < c.conns; ++i) {
    threads.emplace_back([&, i] {
      if (context) {
        RunZmqConnection(run, i, *context, &tallies[i]);
      } else {
        RunTcpConnection(run, i, &tallies[i]);
      }
    });
  }
  const Window window = run.Start();
  std::this_thread::sleep_until(window.start);
  const double cpu0 = ClientCpuUs();
  const std::optional<double> server0 = server_pid > 0 ? ServerCpuUs(server_pid) : std::nullopt;
  std::this_thread::sleep_until(window.end);
  Measured m;
  m.client_cpu_us = ClientCpuUs() - cpu0;
  if (server_pid > 0) {
    const std::optional<double> server1 = ServerCpuUs(server_pid);
    if (server0 && server1) {
      m.server_cpu_us = *server1 - *server0;
    } else {
      std::fprintf(stderr, "meshbench: cannot read /proc/%d/stat\n", server_pid);
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

}  // namespace

int main(int argc, char** argv) {
  Config c;
  std::string target = "meshcache", op = "get";
  int server_pid = 0;
  CLI::App app{"meshbench: load generator for meshcache, zmq_echo, redis and memcached"};
  app.option_defaults()->always_capture_default();
  app.add_option("--target", target, "meshcache, echo, redis, memcached-text, memcached-meta")
      ->check(CLI::IsMember(kTargets));
  app.add_option("--endpoint", c.endpoint, "tcp://HOST:PORT (meshcache, echo) or HOST:PORT")
      ->required();
  app.add_option("--conns", c.conns, "connections, one thread each")->check(CLI::Range(1, 4096));
  app.add_option("--depth", c.depth, "requests in flight per connection")
      ->check(CLI::Range(1, 65535));
  app.add_option("--keys", c.keys, "key space, keys drawn uniformly")
      ->check(CLI::Range(1u, 100'000'000u));
  app.add_option("--value-size", c.value_size, "bytes per value")
      ->check(CLI::Range(size_t{0}, size_t{1} << 28));
  app.add_option("--op", op, "get, mget, set, mix (gets and sets)")
      ->check(CLI::IsMember(kWorkloads));
  app.add_option("--batch", c.batch, "keys per mget")->check(CLI::Range(1u, 4096u));
  app.add_option("--set-ratio", c.set_ratio, "mix: the share of sets")->check(CLI::Range(0.0, 1.0));
  app.add_option("--duration", c.duration_s, "seconds measured")->check(CLI::Range(0.001, 86400.0));
  app.add_option("--warmup", c.warmup_s, "seconds run before measuring")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_flag("--fill", c.fill, "set every key once before the warmup");
  app.add_option("--server-pid", server_pid, "process whose CPU time to report")
      ->check(CLI::PositiveNumber);
  app.add_option("--io-threads", c.io_threads, "libzmq I/O threads (meshcache, echo)")
      ->check(CLI::Range(1, 64));
  app.add_option("--timeout", c.timeout_s, "seconds before an unanswered request is an error")
      ->check(CLI::Range(0.001, 3600.0));
  app.add_option("--fill-depth", c.fill_depth, "requests in flight per connection in --fill")
      ->check(CLI::Range(1, 65535));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  c.target = kTargets.at(target);
  c.op = kWorkloads.at(op);

  Run run(c);
  const Measured m = Measure(run, server_pid);
  PrintJson(c, target, op, m);
  if (m.total.ops == 0) std::fprintf(stderr, "meshbench: no replies in the measured window\n");
  return m.total.errors > 0 || m.total.ops == 0 ? 1 : 0;
}
