#include "node/loads.h"

namespace meshcache::node {

Loads::Loads(LoadRunner* runner, const Clock* clock, int64_t timeout_ms)
    : runner_(runner), clock_(clock), timeout_ms_(timeout_ms) {}

std::vector<Waiter> Loads::Start(const std::string& key, Waiter waiter, uint64_t version) {
  auto [token, first] = flights_.Join(key, waiter, clock_->NowMs() + timeout_ms_);
  if (!first) return {};
  versions_[key] = version;
  if (running_.count(key)) {
    // A flight that timed out left its loader call running: the loader is
    // never called twice at once for a key, so this one waits for it.
    deferred_[key] = token;
    return {};
  }
  std::vector<Waiter> refused = Submit(key, token);
  if (!refused.empty()) versions_.erase(key);
  return refused;
}

uint64_t Loads::TakeVersion(const std::string& key) {
  auto it = versions_.find(key);
  if (it == versions_.end()) return 0;
  const uint64_t version = it->second;
  versions_.erase(it);
  return version;
}

std::vector<Waiter> Loads::Submit(const std::string& key, uint64_t token) {
  if (!runner_->Submit(key, token)) return flights_.Complete(key, token);
  running_.emplace(key, clock_->NowUs());
  ++stats_.loads;
  return {};
}

void Loads::StartDeferred(const std::string& key, std::vector<LoadOutcome>& out) {
  auto it = deferred_.find(key);
  if (it == deferred_.end()) return;
  const uint64_t token = it->second;
  deferred_.erase(it);
  std::vector<Waiter> refused = Submit(key, token);
  if (!refused.empty()) {
    out.push_back({key, std::move(refused), Status::Error(Code::kOverloaded, "load queue full"),
                   TakeVersion(key)});
  }
}

std::vector<LoadOutcome> Loads::TakeDone() {
  std::vector<LoadOutcome> out;
  for (LoadDone& done : runner_->TakeResults()) {
    if (auto run = running_.find(done.key); run != running_.end()) {
      stats_.load_us.Record(clock_->NowUs() - run->second);
      running_.erase(run);
    }
    std::vector<Waiter> waiters = flights_.Complete(done.key, done.token);
    if (waiters.empty()) {
      ++stats_.late_loads;  // answered `timeout` already
      StartDeferred(done.key, out);
      continue;
    }
    if (!done.result.ok()) {
      // An origin that did not answer within the load deadline is a timeout;
      // every other loader failure is load_failed.
      bool timed_out = done.result.status().code() == Code::kTimeout;
      ++(timed_out ? stats_.load_timeouts : stats_.load_errors);
      done.result = Status::Error(timed_out ? Code::kTimeout : Code::kLoadFailed,
                                  done.result.status().message());
    }
    const uint64_t version = TakeVersion(done.key);
    out.push_back({std::move(done.key), std::move(waiters), std::move(done.result), version});
  }
  return out;
}

std::vector<LoadOutcome> Loads::Expire(int64_t now) {
  std::vector<LoadOutcome> out;
  if (flights_.NextDeadline() > now) return out;
  for (auto& [key, waiters] : flights_.Expire(now)) {
    ++stats_.load_timeouts;
    deferred_.erase(key);  // a deferred flight ends here; its call never started
    const uint64_t version = TakeVersion(key);
    out.push_back({std::move(key), std::move(waiters),
                   Status::Error(Code::kTimeout, "load of the key took longer than " +
                                                     std::to_string(timeout_ms_) + " ms"),
                   version});
  }
  return out;
}

}  // namespace meshcache::node
