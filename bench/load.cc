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
      rng_(0x9E3779B97F4A7C15ull * static_cast<uint64_t>(conn + 1) + config.seed - 1),
      next_fill_(static_cast<uint64_t>(conn)) {}

void Generator::Pick(Kind kind, uint32_t n, Request* r) {
  r->kind = kind;
  r->keys.clear();
  for (uint32_t i = 0; i < n; ++i) r->keys.push_back(rng_.Below(config_.keys));
}

bool Generator::Next(Request* r) {
  r->phase = Phase::kTimed;
  r->hot = false;
  switch (config_.op) {
    case Workload::kGet:
      Pick(Kind::kGet, 1, r);
      return true;
    case Workload::kMget:
      Pick(Kind::kMget, config_.batch, r);
      return true;
    case Workload::kSet:
      Pick(Kind::kSet, 1, r);
      return true;
    case Workload::kMix:
      Pick(rng_.Unit() < config_.set_ratio ? Kind::kSet : Kind::kGet, 1, r);
      return true;
    case Workload::kScan:
      return NextScan(r);
    case Workload::kFill:
      return NextFill(r);
  }
  return false;
}

void Generator::One(Kind kind, uint32_t key, Phase phase, Request* r) {
  r->kind = kind;
  r->phase = phase;
  r->hot = key < config_.hot_keys;
  r->keys.assign(1, key);
}

void Generator::Missed(const Request& r) {
  if (config_.op == Workload::kScan && r.kind == Kind::kGet) {
    pending_sets_.emplace_back(r.keys[0], r.phase);
  }
}

bool Generator::NextScan(Request* r) {
  if (!pending_sets_.empty()) {
    One(Kind::kSet, pending_sets_.front().first, pending_sets_.front().second, r);
    pending_sets_.pop_front();
    return true;
  }
  const uint32_t hot = config_.hot_keys;
  if (phase_ == Phase::kWarm) {
    if (passes_ == 0 && pos_ == 0) warm_start_ = Clock::now();
    if (pos_ == hot) {
      pos_ = 0;
      ++passes_;
      const std::chrono::duration<double> warmed = Clock::now() - warm_start_;
      if (passes_ >= 2 && warmed.count() >= config_.scan_warm_s) phase_ = Phase::kScan;
    }
    if (phase_ == Phase::kWarm) {
      One(Kind::kGet, pos_++, Phase::kWarm, r);
      return true;
    }
  }
  if (phase_ == Phase::kScan) {
    if (since_hot_ == config_.scan_every && hot > 0) {
      since_hot_ = 0;
      One(Kind::kGet, rng_.Below(hot), Phase::kScan, r);
      return true;
    }
    if (pos_ < config_.scan_keys) {
      ++since_hot_;
      One(Kind::kGet, hot + pos_++, Phase::kScan, r);
      return true;
    }
    phase_ = Phase::kFinal;
    pos_ = 0;
  }
  if (phase_ == Phase::kFinal && pos_ < hot) {
    One(Kind::kGet, pos_++, Phase::kFinal, r);
    return true;
  }
  return false;
}

bool Generator::NextFill(Request* r) {
  if (next_fill_ >= config_.keys) return false;
  r->kind = Kind::kSet;
  r->phase = Phase::kTimed;
  r->hot = false;
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
  if (config_.Finite()) {
    window_.start = Clock::now();
    window_.end = Clock::time_point::max();
  } else {
    window_.start = Clock::now() + warmup;
    window_.end = window_.start + duration;
  }
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
