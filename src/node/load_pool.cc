#include "node/load_pool.h"

#include <chrono>
#include <exception>

#include "net/sockets.h"

namespace meshcache::node {

namespace {

// How long the destructor waits for workers to leave: enough for idle ones
// to wake; a worker still in the loader after it is abandoned.
constexpr auto kStopGrace = std::chrono::milliseconds(100);

}  // namespace

LoadPool::LoadPool(zmq::context_t& ctx, std::string wake_endpoint, Loader loader, size_t workers,
                   size_t max_queued)
    : state_(
          std::make_shared<State>(ctx, std::move(wake_endpoint), std::move(loader), max_queued)) {
  state_->running = workers;
  for (size_t i = 0; i < workers; ++i) threads_.emplace_back([s = state_] { Work(s); });
}

LoadPool::~LoadPool() {
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->stopping = true;
  state_->cv.notify_all();
  const bool all_left =
      state_->idle.wait_for(lock, kStopGrace, [this] { return state_->running == 0; });
  lock.unlock();
  for (auto& t : threads_) {
    if (all_left) {
      t.join();
    } else {
      t.detach();  // one is inside the loader: it finishes on its own, into state_
    }
  }
}

bool LoadPool::Submit(std::string key, uint64_t token) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->queue.size() >= state_->max_queued) return false;
    state_->queue.emplace_back(std::move(key), token);
  }
  state_->cv.notify_one();
  return true;
}

std::vector<LoadDone> LoadPool::TakeResults() {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<LoadDone> out;
  out.swap(state_->done);
  return out;
}

void LoadPool::Work(const std::shared_ptr<State>& state) {
  for (;;) {
    std::pair<std::string, uint64_t> job;
    {
      std::unique_lock<std::mutex> lock(state->mu);
      state->cv.wait(lock, [&] { return state->stopping || !state->queue.empty(); });
      if (state->stopping) break;
      job = std::move(state->queue.front());
      state->queue.pop_front();
    }
    Result<std::optional<Loaded>> result = Status::Error(Code::kLoadFailed, "no loader");
    try {
      result = state->loader(job.first);
    } catch (const std::exception& e) {
      result = Status::Error(Code::kLoadFailed, std::string("loader threw: ") + e.what());
    } catch (...) {
      result = Status::Error(Code::kLoadFailed, "loader threw");
    }
    {
      std::lock_guard<std::mutex> lock(state->mu);
      if (state->stopping) break;  // nobody takes it any more
      state->done.push_back(LoadDone{std::move(job.first), job.second, std::move(result)});
    }
    try {
      // A socket per wake-up, so none is open while the loader runs. A full
      // wake queue means the I/O thread has wake-ups pending anyway.
      zmq::socket_t wake = net::MakeInproc(state->ctx, zmq::socket_type::push);
      wake.connect(state->wake_endpoint);
      (void)wake.send(zmq::const_buffer("", 0), zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
      break;  // the context is shutting down
    }
  }
  std::lock_guard<std::mutex> lock(state->mu);
  --state->running;
  state->idle.notify_all();
}

}  // namespace meshcache::node
