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
    : state_(std::make_shared<State>(ctx, std::move(wake_endpoint), std::move(loader), max_queued,
                                     workers)) {
  for (size_t i = 0; i < workers; ++i) threads_.emplace_back([s = state_] { Work(s); });
}

LoadPool::~LoadPool() {
  State& s = *state_;
  bool all_left;
  {
    MutexLock lock(&s.mu);
    s.stopping = true;
    s.cv.SignalAll();
    const auto deadline = std::chrono::steady_clock::now() + kStopGrace;
    while (s.running > 0) {
      if (!s.idle.WaitUntil(&s.mu, deadline)) break;  // one is still inside the loader
    }
    all_left = s.running == 0;
  }
  for (auto& t : threads_) {
    if (all_left) {
      t.join();
    } else {
      t.detach();  // one is inside the loader: it finishes on its own, into state_
    }
  }
}

bool LoadPool::Submit(std::string key, uint64_t token) {
  State& s = *state_;
  {
    MutexLock lock(&s.mu);
    if (s.queue.size() >= s.max_queued) return false;
    s.queue.emplace_back(std::move(key), token);
  }
  s.cv.Signal();
  return true;
}

std::vector<LoadDone> LoadPool::TakeResults() {
  State& s = *state_;
  MutexLock lock(&s.mu);
  std::vector<LoadDone> out;
  out.swap(s.done);
  return out;
}

void LoadPool::Work(const std::shared_ptr<State>& state) {
  State& s = *state;
  for (;;) {
    std::pair<std::string, uint64_t> job;
    {
      MutexLock lock(&s.mu);
      while (!s.stopping && s.queue.empty()) s.cv.Wait(&s.mu);
      if (s.stopping) break;
      job = std::move(s.queue.front());
      s.queue.pop_front();
    }
    Result<std::optional<Loaded>> result = Status::Error(Code::kLoadFailed, "no loader");
    try {
      result = s.loader(job.first);
    } catch (const std::exception& e) {
      result = Status::Error(Code::kLoadFailed, std::string("loader threw: ") + e.what());
    } catch (...) {
      result = Status::Error(Code::kLoadFailed, "loader threw");
    }
    {
      MutexLock lock(&s.mu);
      if (s.stopping) break;  // nobody takes it any more
      s.done.push_back(LoadDone{std::move(job.first), job.second, std::move(result)});
    }
    try {
      // A socket per wake-up, so none is open while the loader runs. A full
      // wake queue means the I/O thread has wake-ups pending anyway.
      zmq::socket_t wake = net::MakeInproc(s.ctx, zmq::socket_type::push);
      wake.connect(s.wake_endpoint);
      (void)wake.send(zmq::const_buffer("", 0), zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
      break;  // the context is shutting down
    }
  }
  MutexLock lock(&s.mu);
  --s.running;
  s.idle.SignalAll();
}

}  // namespace meshcache::node
