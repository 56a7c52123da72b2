// Loads: misses at the owner go to the loader on the worker pool; concurrent
// misses for one key share one flight (singleflight).
#include "node/engine.h"
#include "protocol/codec.h"

namespace meshcache::node {

void Engine::StartLoad(uint64_t job, size_t slot, const std::string& key) {
  int64_t deadline = clock_->NowMs() + options_.load_timeout_ms;
  auto [token, first] = flights_.Join(key, Waiter{job, slot}, deadline);
  if (!first) return;
  if (!loads_->Submit(key, token)) {
    ++counters_.overloaded;
    for (const Waiter& w : flights_.Complete(key, token)) {
      Fail(w.job, Status::Error(Code::kOverloaded, "load queue full"), 1);
    }
    return;
  }
  ++counters_.loads;
}

void Engine::OnLoadsDone() {
  for (LoadDone& done : loads_->TakeResults()) {
    std::vector<Waiter> waiters = flights_.Complete(done.key, done.token);
    if (waiters.empty()) {
      ++counters_.late_loads;  // answered `timeout` already
      continue;
    }
    if (!done.result.ok()) {
      bool timed_out = done.result.status().code() == Code::kTimeout;
      ++(timed_out ? counters_.load_timeouts : counters_.load_errors);
      // An origin that did not answer within the load deadline is a timeout;
      // every other loader failure is load_failed.
      Code code = timed_out ? Code::kTimeout : Code::kLoadFailed;
      Status why = Status::Error(code, done.result.status().message());
      for (const Waiter& w : waiters) Fail(w.job, why, 1);
      continue;
    }
    std::optional<Value> value;
    uint64_t ttl = 0;
    if (done.result->has_value()) {
      Loaded& loaded = **done.result;
      ttl = loaded.ttl_ms ? loaded.ttl_ms : options_.default_ttl_ms;
      value = MakeValue(loaded.value);
      (void)store_.Set(done.key, *value, static_cast<int64_t>(ttl));
    }
    for (const Waiter& w : waiters) Fill(w.job, w.slot, value, static_cast<int64_t>(ttl));
  }
}

void Engine::ExpireLoads(int64_t now) {
  if (flights_.NextDeadline() > now) return;
  for (auto& [key, waiters] : flights_.Expire(now)) {
    ++counters_.load_timeouts;
    Status why =
        Status::Error(Code::kTimeout, "load of the key took longer than " +
                                          std::to_string(options_.load_timeout_ms) + " ms");
    for (const Waiter& w : waiters) Fail(w.job, why, 1);
  }
}

}  // namespace meshcache::node
