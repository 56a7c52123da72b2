// LoadPool: the worker threads that run the loader, so the I/O thread never
// blocks on a load.
//
// The I/O thread Submits (key, token); a worker runs the loader and appends a
// LoadDone to the results, then wakes the I/O thread with one message on
// `wake_endpoint` (an inproc PULL socket the I/O thread binds before
// constructing the pool). The queue is bounded: Submit returns false when
// full, and the node answers `overloaded`.
// Stopping is bounded: the destructor waits for idle workers (briefly) and
// abandons (detaches) any that is still inside the loader, so a loader that
// never returns cannot hang Node::Stop. What workers touch lives in a shared
// State that an abandoned worker keeps alive, and a worker holds no ZeroMQ
// socket while it runs the loader (its wake socket is made per wake-up), so
// the context can still be closed.
// Thread safety: Submit and TakeResults are for the I/O thread; the rest is
// internal.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "meshcache/loader.hpp"
#include "node/loads.h"
#include "util/thread_annotations.h"

namespace meshcache::node {

class LoadPool final : public LoadRunner {
 public:
  LoadPool(zmq::context_t& ctx, std::string wake_endpoint, Loader loader, size_t workers,
           size_t max_queued);
  // Stops the workers; queued loads are dropped, running ones abandoned.
  ~LoadPool() override;
  LoadPool(const LoadPool&) = delete;
  LoadPool& operator=(const LoadPool&) = delete;

  [[nodiscard]] bool Submit(std::string key, uint64_t token) override;
  std::vector<LoadDone> TakeResults() override;

 private:
  struct State {
    State(zmq::context_t& c, std::string wake, Loader l, size_t max, size_t workers)
        : ctx(c),
          wake_endpoint(std::move(wake)),
          loader(std::move(l)),
          max_queued(max),
          running(workers) {}
    zmq::context_t& ctx;  // REQUIRES: outlives the pool (Node::Stop closes it after)
    const std::string wake_endpoint;
    const Loader loader;
    const size_t max_queued;
    Mutex mu;
    CondVar cv;    // work queued, or stopping
    CondVar idle;  // a worker left Work
    std::deque<std::pair<std::string, uint64_t>> queue GUARDED_BY(mu);
    std::vector<LoadDone> done GUARDED_BY(mu);
    bool stopping GUARDED_BY(mu) = false;
    size_t running GUARDED_BY(mu);  // workers in Work
  };
  static void Work(const std::shared_ptr<State>& state);

  std::shared_ptr<State> state_;
  std::vector<std::thread> threads_;
};

}  // namespace meshcache::node
