#include "node/engine.h"

#include <algorithm>
#include <chrono>

namespace meshcache::node {
namespace {

// Messages taken from one socket per poll round, so one busy socket cannot
// starve the others.
constexpr int kBatch = 256;

std::unique_ptr<LoadPool> MakePool(zmq::context_t& ctx, const std::string& wake, Loader loader,
                                   const NodeOptions& o) {
  if (!loader) return nullptr;
  return std::make_unique<LoadPool>(ctx, wake, std::move(loader),
                                    std::max<size_t>(1, o.load_workers), o.max_queued_loads);
}

// Connections to peers leave from the address the node binds, unless it
// binds every address.
std::string SourceAddress(const NodeOptions& o) {
  return BindsEveryAddress(o) ? std::string() : o.bind;
}

}  // namespace

Engine::Engine(const NodeOptions& options, MemberInfo self, Loader loader, zmq::context_t& ctx,
               BoundSockets sockets, const Clock* clock)
    : options_(options),
      id_(self.id),
      clock_(clock),
      router_(std::move(sockets.router)),
      wake_(std::move(sockets.wake)),
      ctrl_(std::move(sockets.ctrl)),
      zap_(std::move(sockets.zap)),
      policy_(std::move(sockets.policy)),
      peers_(ctx, NodeSocketLimits(options), std::move(sockets.pub), SourceAddress(options),
             std::move(sockets.curve), std::move(sockets.peer_keys)),
      // Far above the forward timeout, so no awaited reply is cut off.
      idle_link_ms_(std::max<int64_t>(30'000, 20 * options.forward_timeout_ms)),
      loads_(MakePool(ctx, sockets.wake_endpoint, std::move(loader), options)),
      service_(options, std::move(self), peers_, loads_.get(), clock,
               [this](net::Frames& envelope, const std::string& body) {
                 if (door_ && !envelope.empty() && IsDoorId(envelope.front())) {
                   door_->OnReply(envelope.front(), body);
                   return true;
                 }
                 envelope.push_back(net::Frame(body));
                 router_recheck_ = true;  // a send may take the command that wakes its fd
                 return net::SendFrames(router_, envelope);
               }) {
  if (sockets.memcache) {
    door_ = std::make_unique<MemcacheDoor>(
        std::move(sockets.memcache), MakeDoorOptions(options),
        [this](net::Frames& frames) { service_.OnRequest(frames); },
        [this](std::span<const std::string_view> keys, std::vector<std::optional<HeldEntry>>* out) {
          return service_.ReadOwnedNow(keys, out);
        },
        clock);
    service_.SetExtraStats([this](protocol::StatList& list) { door_->AppendNativeStats(list); });
  }
}

Engine::~Engine() = default;

void Engine::Log(LogLevel level, const std::string& msg) const {
  if (options_.log) options_.log(level, msg);
}

void Engine::Run() {
  Log(LogLevel::kInfo,
      "node " + id_ + " up (gossip " + service_.gossiper().membership().self().gossip + ")");
  service_.Start();
  while (!(stopping_ && Done(clock_->NowMs()))) {
    try {
      PollOnce();
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) break;
      Log(LogLevel::kError, std::string("event loop: ") + e.what());
    }
  }
  service_.Shutdown();
  if (door_) door_->Flush();  // the `unavailable` answers Shutdown gave
  Log(LogLevel::kInfo, "node " + id_ + " stopped");
}

bool Engine::Done(int64_t now) const {
  // Requests get drain_ms (a load that hangs is answered `unavailable`
  // then); a hand-off under way may take up to handoff_ms.
  const bool requests_done =
      (service_.Drained() && (!door_ || door_->Drained())) || now >= drain_deadline_ms_;
  const bool handoff_done = !service_.HandingOff() || now >= handoff_deadline_ms_;
  return requests_done && handoff_done;
}

void Engine::PollOnce() {
  items_.assign({
      {router_.handle(), 0, ZMQ_POLLIN, 0},
      {wake_.handle(), 0, ZMQ_POLLIN, 0},
      {ctrl_.handle(), 0, ZMQ_POLLIN, 0},
  });
  // The wake and control sockets are always read until empty and never
  // written: only the router and the peers' sockets need a recheck.
  recheck_.assign({router_recheck_, false, false});
  // ZAP requests are read until empty too: a handshake waits for the answer.
  if (zap_) {
    items_.push_back({zap_.handle(), 0, ZMQ_POLLIN, 0});
    recheck_.push_back(false);
  }
  const size_t peer_items = items_.size();
  const int64_t now = clock_->NowMs();
  peers_.CloseIdle(now, idle_link_ms_);
  peers_.AddPollItems(items_, recheck_);
  const size_t door_items = items_.size();
  if (door_) door_->AddPollItems(items_, recheck_);
  int64_t wake_at = service_.NextWakeMs(now);
  if (stopping_) {
    wake_at =
        std::min(wake_at, now < drain_deadline_ms_ ? drain_deadline_ms_ : handoff_deadline_ms_);
  }
  poller_.Poll(items_, recheck_, std::max<int64_t>(0, wake_at - now));
  router_recheck_ = false;  // asked just now, or its fd would have fired

  if (items_[0].revents & ZMQ_POLLIN) ReadRequests();
  if (items_[1].revents & ZMQ_POLLIN) {
    net::Frames frames;
    while (net::RecvFrames(wake_, frames)) {
    }
    service_.OnLoadsDone();
  }
  if (items_[2].revents & ZMQ_POLLIN) OnControl();
  if (zap_ && (items_[3].revents & ZMQ_POLLIN)) {
    while (std::optional<bool> admitted = net::ServeZap(zap_, *policy_)) {
      if (!*admitted) service_.OnConnectionRefused();
    }
  }
  peers_.Dispatch(
      &items_[peer_items], kBatch, [this](const net::Frames& f) { service_.OnGossipMessage(f); },
      [this](const net::Frames& f) { service_.OnPeerMessage(f); });
  if (door_) door_->Dispatch(items_.data() + door_items);
  service_.OnTimers(clock_->NowMs());
  if (door_) door_->Flush();  // one write per connection for this round's replies
}

void Engine::ReadRequests() {
  for (int i = 0; i < kBatch; ++i) {
    if (!net::RecvFrames(router_, frames_)) {
      // Read until empty after the last send: the next request wakes the fd.
      router_recheck_ = false;
      return;
    }
    service_.OnRequest(frames_);
  }
  router_recheck_ = true;  // more may be waiting, and they arrive without waking the fd
}

void Engine::OnControl() {
  net::Frames frames;
  while (net::RecvFrames(ctrl_, frames)) {
    if (stopping_) continue;
    stopping_ = true;
    drain_deadline_ms_ = clock_->NowMs() + options_.drain_ms;
    handoff_deadline_ms_ = clock_->NowMs() + std::max(options_.drain_ms, options_.handoff_ms);
    if (door_) door_->StopListening();  // first: no new memcache clients while draining
    service_.Leave();
    Log(LogLevel::kInfo, "node " + id_ + " leaving: announced `left`, draining and handing off");
  }
}

}  // namespace meshcache::node
