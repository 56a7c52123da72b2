// SingleFlight: at most one load per key in flight; every waiter that asked
// meanwhile gets its result.
//
// Waiters are opaque values of type W chosen by the caller (the node uses a
// pending-request handle). Pure bookkeeping: no threads, no locks, no I/O.
// Thread safety: none; one thread owns it (the node's I/O thread).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace meshcache {

template <typename W>
class SingleFlight {
 public:
  struct Flight {
    uint64_t token;  // identifies this flight; a late result for an old flight is ignored
    int64_t deadline_ms;
    std::vector<W> waiters;
  };

  // Adds a waiter for key. Returns {token, true} when this starts a new flight
  // (the caller must start the load), {token, false} when one is in flight.
  std::pair<uint64_t, bool> Join(std::string_view key, W waiter, int64_t deadline_ms) {
    auto it = flights_.find(key);
    if (it != flights_.end()) {
      it->second.waiters.push_back(std::move(waiter));
      return {it->second.token, false};
    }
    uint64_t token = ++next_token_;
    Flight f{token, deadline_ms, {}};
    f.waiters.push_back(std::move(waiter));
    flights_.emplace(std::string(key), std::move(f));
    return {token, true};
  }

  // Ends the flight for key if its token matches; returns its waiters (empty
  // when there is no such flight: the result is late and must be dropped).
  std::vector<W> Complete(std::string_view key, uint64_t token) {
    auto it = flights_.find(key);
    if (it == flights_.end() || it->second.token != token) return {};
    std::vector<W> waiters = std::move(it->second.waiters);
    flights_.erase(it);
    return waiters;
  }

  // Ends every flight whose deadline is <= now_ms; returns (key, waiters) of each.
  std::vector<std::pair<std::string, std::vector<W>>> Expire(int64_t now_ms) {
    std::vector<std::pair<std::string, std::vector<W>>> out;
    for (auto it = flights_.begin(); it != flights_.end();) {
      if (it->second.deadline_ms <= now_ms) {
        out.emplace_back(it->first, std::move(it->second.waiters));
        it = flights_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  // The earliest deadline, or INT64_MAX when nothing is in flight.
  int64_t NextDeadline() const {
    int64_t d = INT64_MAX;
    for (const auto& [k, f] : flights_) d = std::min(d, f.deadline_ms);
    return d;
  }

  size_t in_flight() const { return flights_.size(); }

 private:
  std::map<std::string, Flight, std::less<>> flights_;
  uint64_t next_token_ = 0;
};

}  // namespace meshcache
