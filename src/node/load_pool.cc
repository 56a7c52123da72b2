#include "node/load_pool.h"

#include <exception>

#include "net/sockets.h"

namespace meshcache::node {

LoadPool::LoadPool(zmq::context_t& ctx, std::string wake_endpoint, Loader loader, size_t workers,
                   size_t max_queued)
    : ctx_(ctx),
      wake_endpoint_(std::move(wake_endpoint)),
      loader_(std::move(loader)),
      max_queued_(max_queued) {
  for (size_t i = 0; i < workers; ++i) threads_.emplace_back([this] { Work(); });
}

LoadPool::~LoadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

bool LoadPool::Submit(std::string key, uint64_t token) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= max_queued_) return false;
    queue_.emplace_back(std::move(key), token);
  }
  cv_.notify_one();
  return true;
}

std::vector<LoadDone> LoadPool::TakeResults() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<LoadDone> out;
  out.swap(done_);
  return out;
}

void LoadPool::Work() {
  // Each worker owns its wake socket: ZeroMQ sockets are not shared.
  zmq::socket_t wake = net::MakeInproc(ctx_, zmq::socket_type::push);
  wake.connect(wake_endpoint_);
  for (;;) {
    std::pair<std::string, uint64_t> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    Result<std::optional<Loaded>> result = Status::Error(Code::kLoadFailed, "no loader");
    try {
      result = loader_(job.first);
    } catch (const std::exception& e) {
      result = Status::Error(Code::kLoadFailed, std::string("loader threw: ") + e.what());
    } catch (...) {
      result = Status::Error(Code::kLoadFailed, "loader threw");
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_.push_back(LoadDone{std::move(job.first), job.second, std::move(result)});
    }
    try {
      // A full wake queue means the I/O thread has wake-ups pending anyway.
      (void)wake.send(zmq::const_buffer("", 0), zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
      return;  // the context is shutting down
    }
  }
}

}  // namespace meshcache::node
