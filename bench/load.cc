#include "load.h"

#include <chrono>
#include <cstdio>

namespace meshbench {

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

Generator::Generator(const Config& config, int conn)
    : config_(config),
      rng_(0x9E3779B97F4A7C15ull * static_cast<uint64_t>(conn + 1)),
      next_fill_(static_cast<uint64_t>(conn)) {}

void Generator::Pick(Kind kind, uint32_t n, Request* r) {
  r->kind = kind;
  r->keys.clear();
  for (uint32_t i = 0; i < n; ++i) r->keys.push_back(rng_.Below(config_.keys));
}

void Generator::Next(Request* r) {
  switch (config_.op) {
    case Workload::kGet:
      return Pick(Kind::kGet, 1, r);
    case Workload::kMget:
      return Pick(Kind::kMget, config_.batch, r);
    case Workload::kSet:
      return Pick(Kind::kSet, 1, r);
    case Workload::kMix:
      return Pick(rng_.Unit() < config_.set_ratio ? Kind::kSet : Kind::kGet, 1, r);
  }
}

bool Generator::NextFill(Request* r) {
  if (next_fill_ >= config_.keys) return false;
  r->kind = Kind::kSet;
  r->keys.assign(1, static_cast<uint32_t>(next_fill_));
  next_fill_ += static_cast<uint64_t>(config_.conns);
  return true;
}

Window Run::Ready() {
  ready_.count_down();
  go_.wait(false, std::memory_order_acquire);
  return window_;
}

Window Run::Start() {
  ready_.count_down();
  ready_.wait();
  const auto warmup =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(config_.warmup_s));
  const auto duration = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(config_.duration_s));
  window_.start = Clock::now() + warmup;
  window_.end = window_.start + duration;
  go_.store(true, std::memory_order_release);
  go_.notify_all();
  return window_;
}

void Run::Report(int conn, std::string_view what) {
  constexpr int kMaxReports = 10;
  const int n = reports_.fetch_add(1, std::memory_order_relaxed);
  if (n < kMaxReports) {
    std::fprintf(stderr, "meshbench: conn %d: %.*s\n", conn, static_cast<int>(what.size()),
                 what.data());
  } else if (n == kMaxReports) {
    std::fprintf(stderr, "meshbench: more problems; see the errors count\n");
  }
}

}  // namespace meshbench
