// LoadPool: the worker threads that run the loader, so the I/O thread never
// blocks on a load.
//
// The I/O thread Submits (key, token); a worker runs the loader and appends a
// LoadDone to the results, then wakes the I/O thread with one message on
// `wake_endpoint` (an inproc PULL socket the I/O thread binds before
// constructing the pool). The queue is bounded: Submit returns false when
// full, and the node answers `overloaded`.
// Thread safety: Submit and TakeResults are for the I/O thread; the rest is
// internal.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "meshcache/loader.hpp"
#include "node/loads.h"

namespace meshcache::node {

class LoadPool final : public LoadRunner {
 public:
  LoadPool(zmq::context_t& ctx, std::string wake_endpoint, Loader loader, size_t workers,
           size_t max_queued);
  ~LoadPool() override;  // stops and joins the workers; queued loads are dropped
  LoadPool(const LoadPool&) = delete;
  LoadPool& operator=(const LoadPool&) = delete;

  [[nodiscard]] bool Submit(std::string key, uint64_t token) override;
  std::vector<LoadDone> TakeResults() override;

 private:
  void Work();

  zmq::context_t& ctx_;
  const std::string wake_endpoint_;
  const Loader loader_;
  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::string, uint64_t>> queue_;  // guarded by mu_
  std::vector<LoadDone> done_;                          // guarded by mu_
  bool stopping_ = false;                               // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace meshcache::node
