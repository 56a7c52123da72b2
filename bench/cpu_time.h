// The CPU time a benchmark reports, and its JSON numbers: shared by
// meshbench and client_bench so both measure the same way.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>

#include "histogram.h"

namespace meshbench {

// User plus system CPU time of this process (all its threads, libzmq's too), in µs.
inline double ClientCpuUs() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// utime + stime of another process from /proc/PID/stat, in µs (clock-tick
// resolution, 10 ms on most kernels); nullopt when it cannot be read.
inline std::optional<double> ServerCpuUs(int pid) {
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

// A JSON number, or null.
inline std::string Number(std::optional<double> v, const char* format = "%.3f") {
  if (!v) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, *v);
  return buf;
}

// The per-op figures every load generator prints: latency quantiles in µs
// and CPU µs per op, each absent when no op was answered (or, for the
// server, its CPU could not be read).
struct PerOp {
  std::optional<double> p50, p99, p999, client_cpu, server_cpu;
};
inline PerOp PerOpFigures(const Histogram& latency, uint64_t ops, double client_cpu_us,
                          std::optional<double> server_cpu_us) {
  PerOp f;
  if (ops == 0) return f;
  const double n = static_cast<double>(ops);
  f.p50 = latency.Quantile(0.5) / 1e3;
  f.p99 = latency.Quantile(0.99) / 1e3;
  f.p999 = latency.Quantile(0.999) / 1e3;
  f.client_cpu = client_cpu_us / n;
  if (server_cpu_us) f.server_cpu = *server_cpu_us / n;
  return f;
}

}  // namespace meshbench
