#include "node/engine.h"

#include <algorithm>
#include <chrono>

#include "protocol/codec.h"

namespace meshcache::node {
namespace {

// Messages taken from one socket per poll round, so one busy socket cannot
// starve the others.
constexpr int kBatch = 256;

protocol::Limits MakeLimits(const NodeOptions& o) {
  protocol::Limits l;
  l.max_key_bytes = o.max_key_bytes;
  l.max_value_bytes = o.max_value_bytes;
  return l;
}

MembershipOptions MakeMembershipOptions(const NodeOptions& o) {
  MembershipOptions m;
  m.dead_ms = o.dead_ms;
  m.suspect_ms = o.suspect_ms > 0 ? o.suspect_ms : 3 * o.heartbeat_ms;
  if (m.suspect_ms >= m.dead_ms) m.suspect_ms = std::max<int64_t>(1, m.dead_ms * 2 / 3);
  return m;
}

StoreOptions MakeStoreOptions(size_t bytes) {
  StoreOptions s;
  s.capacity_bytes = bytes;
  return s;
}

MemberInfo SelfInfo(const std::string& id, const std::string& gossip) {
  using namespace std::chrono;
  MemberInfo m;
  m.id = id;
  m.service = id;
  m.gossip = gossip;
  // Wall-clock milliseconds: a restarted node starts above every incarnation
  // its previous life used, so old gossip about it loses.
  m.incarnation = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  return m;
}

}  // namespace

Engine::Engine(const NodeOptions& options, std::string id, std::string gossip_endpoint,
               Loader loader, zmq::context_t& ctx, BoundSockets sockets, const Clock* clock)
    : options_(options),
      id_(std::move(id)),
      gossip_endpoint_(std::move(gossip_endpoint)),
      limits_(MakeLimits(options)),
      clock_(clock),
      started_ms_(clock->NowMs()),
      ctx_(ctx),
      sockets_(std::move(sockets)),
      sub_(MakeSub(ctx, LimitsFor(limits_))),
      store_(MakeStoreOptions(options.memory_bytes), clock),
      membership_(SelfInfo(id_, gossip_endpoint_), MakeMembershipOptions(options), clock) {
  if (options_.hot_bytes > 0)
    hot_ = std::make_unique<Store>(MakeStoreOptions(options_.hot_bytes), clock);
  if (loader) {
    has_loader_ = true;
    loads_ = std::make_unique<LoadPool>(ctx_, sockets_.wake_endpoint, std::move(loader),
                                        std::max<size_t>(1, options_.load_workers),
                                        options_.max_queued_loads);
  }
  joined_ = options_.join.empty();
  RebuildRing();
}

Engine::~Engine() = default;

void Engine::Log(LogLevel level, const std::string& msg) const {
  if (options_.log) options_.log(level, msg);
}

void Engine::Run() {
  Log(LogLevel::kInfo, "node " + id_ + " up (gossip " + gossip_endpoint_ + ")");
  Publish(protocol::Gossip::Kind::kHeartbeat);
  next_heartbeat_ms_ = clock_->NowMs() + options_.heartbeat_ms;
  while (!(stopping_ && (Drained() || clock_->NowMs() >= drain_deadline_ms_))) {
    try {
      PollOnce();
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) break;
      Log(LogLevel::kError, std::string("event loop: ") + e.what());
    }
  }
  for (auto& [id, job] : jobs_) {
    Reply(job.envelope,
          protocol::EncodeError(job.client_id, Code::kUnavailable, "node is shutting down"));
  }
  jobs_.clear();
  Publish(protocol::Gossip::Kind::kHeartbeat);  // `left`, once more
  Log(LogLevel::kInfo, "node " + id_ + " stopped");
}

bool Engine::Drained() const { return jobs_.empty(); }

void Engine::PollOnce() {
  std::vector<zmq::pollitem_t> items = {
      {sockets_.router.handle(), 0, ZMQ_POLLIN, 0},
      {sub_.handle(), 0, ZMQ_POLLIN, 0},
      {sockets_.wake.handle(), 0, ZMQ_POLLIN, 0},
      {sockets_.ctrl.handle(), 0, ZMQ_POLLIN, 0},
  };
  std::vector<zmq::socket_t*> peers;
  for (auto& [ep, s] : dealers_) {
    items.push_back({s.handle(), 0, ZMQ_POLLIN, 0});
    peers.push_back(&s);
  }
  int64_t now = clock_->NowMs();
  zmq::poll(items, std::chrono::milliseconds(std::max<int64_t>(0, NextWakeMs(now) - now)));

  Frames frames;
  for (int i = 0;
       i < kBatch && (items[0].revents & ZMQ_POLLIN) && RecvFrames(sockets_.router, frames); ++i)
    OnServiceMessage(frames);
  for (int i = 0; i < kBatch && (items[1].revents & ZMQ_POLLIN) && RecvFrames(sub_, frames); ++i)
    OnGossipMessage(frames);
  if (items[2].revents & ZMQ_POLLIN) {
    while (RecvFrames(sockets_.wake, frames)) {
    }
    OnLoadsDone();
  }
  if (items[3].revents & ZMQ_POLLIN) OnControl();
  for (size_t p = 0; p < peers.size(); ++p) {
    if (!(items[4 + p].revents & ZMQ_POLLIN)) continue;
    for (int i = 0; i < kBatch && RecvFrames(*peers[p], frames); ++i) OnPeerMessage(frames);
  }
  FlushInvalidations();
  if (!unsent_.empty()) RetryUnsent();
  OnTimers(clock_->NowMs());
  for (const auto& ep : dealers_to_drop_) dealers_.erase(ep);
  dealers_to_drop_.clear();
}

int64_t Engine::NextWakeMs(int64_t now) const {
  int64_t next = next_heartbeat_ms_;
  if (!forward_deadlines_.empty()) next = std::min(next, forward_deadlines_.begin()->first);
  next = std::min(next, flights_.NextDeadline());
  if (!joined_) next = std::min(next, next_join_ms_);
  if (stopping_) next = std::min(next, drain_deadline_ms_);
  // A connection comes up within milliseconds on a LAN; poll for it briefly.
  if (!unsent_.empty()) next = std::min(next, now + 2);
  return std::clamp(next, now, now + options_.heartbeat_ms);
}

void Engine::OnTimers(int64_t now) {
  ExpireForwards(now);
  ExpireLoads(now);
  if (!joined_ && !stopping_ && now >= next_join_ms_) TryJoin(now);
  if (now >= next_heartbeat_ms_) {
    Heartbeat();
    next_heartbeat_ms_ = now + options_.heartbeat_ms;
  }
}

void Engine::OnControl() {
  Frames frames;
  while (RecvFrames(sockets_.ctrl, frames)) {
    if (stopping_) continue;
    stopping_ = true;
    drain_deadline_ms_ = clock_->NowMs() + options_.drain_ms;
    ApplyChanges(membership_.Leave());
    Publish(protocol::Gossip::Kind::kHeartbeat);
    Log(LogLevel::kInfo, "node " + id_ + " leaving: announced `left`, draining");
  }
}

// --- jobs ---------------------------------------------------------------------

uint64_t Engine::NewJob(Frames envelope, Op op, uint64_t client_id, size_t slots,
                        size_t outstanding) {
  uint64_t id = next_id_++;
  Job& job = jobs_[id];
  job.envelope = std::move(envelope);
  job.op = op;
  job.client_id = client_id;
  job.slots.resize(slots);
  job.outstanding = outstanding;
  return id;
}

void Engine::Fill(uint64_t job_id, size_t slot, std::optional<Value> value, int64_t ttl_left_ms) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;
  if (slot < it->second.slots.size()) it->second.slots[slot] = std::move(value);
  if (slot == 0) it->second.ttl_left_ms = ttl_left_ms;
  Settle(job_id, 1);
}

void Engine::Fail(uint64_t job_id, Status status, size_t count) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;
  if (it->second.error.ok()) it->second.error = std::move(status);
  Settle(job_id, count);
}

void Engine::Settle(uint64_t job_id, size_t count) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;
  Job& job = it->second;
  job.outstanding -= std::min(job.outstanding, count);
  if (job.outstanding == 0) Finish(job_id);
}

void Engine::Finish(uint64_t job_id) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;
  Job& job = it->second;
  std::string body;
  if (!job.error.ok()) {
    body = protocol::EncodeError(job.client_id, job.error.code(), job.error.message());
  } else if (job.op == Op::kGet) {
    std::optional<uint64_t> ttl;
    if (job.forwarded && job.ttl_left_ms >= 0) ttl = static_cast<uint64_t>(job.ttl_left_ms);
    body = job.slots[0] ? protocol::EncodeValue(job.client_id, job.slots[0]->view(), ttl)
                        : protocol::EncodeMiss(job.client_id);
  } else if (job.op == Op::kMget) {
    std::vector<std::optional<std::string_view>> values;
    for (auto& v : job.slots) {
      values.push_back(v ? std::optional<std::string_view>(v->view()) : std::nullopt);
    }
    body = protocol::EncodeValues(job.client_id, values);
  } else if (job.op == Op::kDel) {
    body = protocol::EncodeExisted(job.client_id, job.existed);
  } else {
    body = protocol::EncodeOk(job.client_id);
  }
  Reply(job.envelope, body);
  jobs_.erase(it);
}

}  // namespace meshcache::node
