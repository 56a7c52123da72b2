#include "node/loads.h"

namespace meshcache::node {

Loads::Loads(LoadRunner* runner, const Clock* clock, int64_t timeout_ms)
    : runner_(runner), clock_(clock), timeout_ms_(timeout_ms) {}

std::vector<Waiter> Loads::Start(const std::string& key, Waiter waiter) {
  auto [token, first] = flights_.Join(key, waiter, clock_->NowMs() + timeout_ms_);
  if (!first) return {};
  if (!runner_->Submit(key, token)) {
    return flights_.Complete(key, token);
  }
  ++stats_.loads;
  return {};
}

std::vector<LoadOutcome> Loads::TakeDone() {
  std::vector<LoadOutcome> out;
  for (LoadDone& done : runner_->TakeResults()) {
    std::vector<Waiter> waiters = flights_.Complete(done.key, done.token);
    if (waiters.empty()) {
      ++stats_.late_loads;  // answered `timeout` already
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
    out.push_back({std::move(done.key), std::move(waiters), std::move(done.result)});
  }
  return out;
}

std::vector<LoadOutcome> Loads::Expire(int64_t now) {
  std::vector<LoadOutcome> out;
  if (flights_.NextDeadline() > now) return out;
  for (auto& [key, waiters] : flights_.Expire(now)) {
    ++stats_.load_timeouts;
    out.push_back({std::move(key), std::move(waiters),
                   Status::Error(Code::kTimeout, "load of the key took longer than " +
                                                     std::to_string(timeout_ms_) + " ms")});
  }
  return out;
}

}  // namespace meshcache::node
