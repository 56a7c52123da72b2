// Peers: requests this node sends on (forwards, replica writes, joins) over
// one DEALER per peer, each with an id and a deadline; replies matched by id.
#include <algorithm>

#include "node/engine.h"
#include "protocol/codec.h"

namespace meshcache::node {

using protocol::Op;
using protocol::ReplyStatus;

zmq::socket_t& Engine::DealerFor(const std::string& endpoint) {
  auto it = dealers_.find(endpoint);
  if (it != dealers_.end()) return it->second;
  zmq::socket_t s = MakeDealer(ctx_, LimitsFor(limits_));
  s.connect(endpoint);  // throws on a malformed endpoint; SendToPeer catches it
  return dealers_.emplace(endpoint, std::move(s)).first->second;
}

void Engine::DropDealer(const std::string& endpoint) {
  // Deferred to the end of the poll round: the round holds pointers to sockets.
  dealers_to_drop_.push_back(endpoint);
}

bool Engine::SendToPeer(const std::string& target, Forward& fwd, protocol::Request outer) {
  outer.id = next_id_++;
  fwd.body = protocol::EncodeRequest(outer);
  Frames frames;
  frames.emplace_back();
  frames.push_back(Frame(fwd.body));
  try {
    fwd.sent = SendFrames(DealerFor(target), frames);
  } catch (const zmq::error_t& e) {
    Log(LogLevel::kWarn, "cannot reach " + target + ": " + e.what());
    return false;
  }
  if (!fwd.sent) unsent_.push_back(outer.id);
  ++counters_.forwards;
  fwd.target = target;
  fwd.deadline_ms = clock_->NowMs() + options_.forward_timeout_ms;
  forward_deadlines_.emplace(fwd.deadline_ms, outer.id);
  forwards_.emplace(outer.id, std::move(fwd));
  return true;
}

protocol::Request Engine::Wrap(const protocol::Request& inner, bool replica) const {
  protocol::Request outer;
  outer.op = Op::kFwd;
  outer.from = id_;
  outer.replica = replica;
  outer.inner = std::make_shared<const protocol::Request>(inner);
  return outer;
}

void Engine::ForwardKeys(uint64_t job, const std::string& target, Op op, std::vector<size_t> slots,
                         std::vector<std::string> keys, std::vector<std::string> tried) {
  Forward fwd;
  fwd.job = job;
  fwd.slots = std::move(slots);
  fwd.inner.op = op;
  fwd.inner.keys = std::move(keys);
  fwd.tried = std::move(tried);
  protocol::Request outer = Wrap(fwd.inner, false);
  std::string key = op == Op::kGet ? fwd.inner.keys[0] : std::string();
  if (!SendToPeer(target, fwd, std::move(outer))) {
    OnForwardFailed(fwd,
                    Status::Error(Code::kUnavailable, "owner " + target + " cannot be reached"));
    return;
  }
  if (op == Op::kGet) ++inflight_gets_[key].count;
}

void Engine::Release(Forward& fwd) {
  if (fwd.inner.op != Op::kGet) return;
  auto it = inflight_gets_.find(fwd.inner.keys[0]);
  if (it == inflight_gets_.end()) return;
  fwd.invalidated = it->second.invalidated;
  if (--it->second.count == 0) inflight_gets_.erase(it);
}

void Engine::MarkInvalidated(const std::string* key) {
  if (key == nullptr) {
    for (auto& [k, f] : inflight_gets_) f.invalidated = true;
    return;
  }
  auto it = inflight_gets_.find(*key);
  if (it != inflight_gets_.end()) it->second.invalidated = true;
}

void Engine::ForwardWrite(uint64_t job, const std::string& target, const protocol::Request& req) {
  Forward fwd;
  fwd.job = job;
  fwd.inner = req;
  if (!SendToPeer(target, fwd, Wrap(req, false))) {
    OnForwardFailed(fwd,
                    Status::Error(Code::kUnavailable, "owner " + target + " cannot be reached"));
  }
}

void Engine::OnPeerMessage(Frames& frames) {
  if (frames.size() != 2 || frames[0].size() != 0) {
    ++counters_.late_replies;
    return;
  }
  auto peek = protocol::PeekReply(View(frames[1]), limits_);
  auto it = peek.ok() ? forwards_.find(peek->second) : forwards_.end();
  if (it == forwards_.end()) {
    ++counters_.late_replies;  // past its deadline, or not ours
    return;
  }
  Forward fwd = std::move(it->second);
  forward_deadlines_.erase({fwd.deadline_ms, it->first});
  forwards_.erase(it);
  Release(fwd);
  auto reply = protocol::DecodeReply(View(frames[1]), fwd.inner.op, limits_);
  if (!reply.ok()) {
    OnForwardFailed(fwd, Status::Error(Code::kUnavailable, "bad reply from " + fwd.target + ": " +
                                                               reply.status().message()));
    return;
  }
  OnPeerReply(fwd, *reply);
}

void Engine::OnPeerReply(Forward& fwd, const protocol::Reply& reply) {
  if (fwd.inner.op == Op::kJoin) {
    if (reply.status == ReplyStatus::kOk) OnJoined(reply, fwd.target);
    return;
  }
  if (fwd.job == 0) return;  // a replica write's acknowledgement
  if (reply.status == ReplyStatus::kErr) {
    Fail(fwd.job, Status::Error(CodeFromName(reply.error_code), reply.error_message),
         std::max<size_t>(1, fwd.slots.size()));
    return;
  }
  switch (fwd.inner.op) {
    case Op::kGet:
    case Op::kMget: {
      bool single = fwd.inner.op == Op::kGet;
      if (!single && reply.values.size() != fwd.slots.size()) {
        Fail(fwd.job, Status::Error(Code::kUnavailable, "owner sent a short mget reply"),
             fwd.slots.size());
        return;
      }
      for (size_t i = 0; i < fwd.slots.size(); ++i) {
        std::optional<Value> v;
        if (single && reply.status == ReplyStatus::kOk) v = MakeValue(reply.value);
        if (!single && reply.values[i]) v = MakeValue(*reply.values[i]);
        // An answer whose key was invalidated meanwhile may predate the write;
        // one without the owner's remaining TTL could outlive the value.
        if (v && hot_ && single && reply.ttl_ms && !fwd.invalidated) {
          int64_t ttl = options_.hot_ttl_ms;
          if (*reply.ttl_ms > 0) ttl = std::min<int64_t>(ttl, static_cast<int64_t>(*reply.ttl_ms));
          (void)hot_->Set(fwd.inner.keys[i], *v, ttl);
        }
        Fill(fwd.job, fwd.slots[i], std::move(v));
      }
      return;
    }
    case Op::kDel: {
      auto it = jobs_.find(fwd.job);
      if (it != jobs_.end()) it->second.existed = reply.existed;
      Settle(fwd.job, 1);
      return;
    }
    default:
      Settle(fwd.job, 1);
  }
}

void Engine::OnForwardFailed(Forward& fwd, const Status& why) {
  if (fwd.job == 0) return;  // joins retry on their timer; replica writes are best effort
  if (fwd.inner.op == Op::kGet || fwd.inner.op == Op::kMget) {
    for (size_t i = 0; i < fwd.slots.size(); ++i) {
      FallBack(fwd.job, fwd.slots[i], fwd.inner.keys[i], fwd.tried);
    }
    return;
  }
  Fail(fwd.job, why, 1);
}

void Engine::FallBack(uint64_t job, size_t slot, const std::string& key,
                      std::vector<std::string> tried) {
  for (const std::string* holder : ring_->Holders(key)) {
    if (std::find(tried.begin(), tried.end(), *holder) != tried.end()) continue;
    if (*holder == id_) {
      LookupLocal(job, slot, key, /*may_load=*/true);
      return;
    }
    tried.push_back(*holder);
    ForwardKeys(job, *holder, Op::kGet, {slot}, {key}, std::move(tried));
    return;
  }
  if (has_loader_) {
    StartLoad(job, slot, key);
    return;
  }
  Fail(job, Status::Error(Code::kUnavailable, "no holder of the key answered"), 1);
}

void Engine::RetryUnsent() {
  std::vector<uint64_t> waiting;
  for (uint64_t id : unsent_) {
    auto it = forwards_.find(id);
    if (it == forwards_.end()) continue;  // expired meanwhile
    Frames frames;
    frames.emplace_back();
    frames.push_back(Frame(it->second.body));
    it->second.sent = SendFrames(DealerFor(it->second.target), frames);
    if (!it->second.sent) waiting.push_back(id);
  }
  unsent_.swap(waiting);
}

void Engine::ExpireForwards(int64_t now) {
  while (!forward_deadlines_.empty() && forward_deadlines_.begin()->first <= now) {
    uint64_t id = forward_deadlines_.begin()->second;
    forward_deadlines_.erase(forward_deadlines_.begin());
    auto it = forwards_.find(id);
    if (it == forwards_.end()) continue;
    Forward fwd = std::move(it->second);
    forwards_.erase(it);
    Release(fwd);
    ++counters_.forward_timeouts;
    OnForwardFailed(
        fwd, Status::Error(Code::kUnavailable, "owner " + fwd.target + " did not answer in time"));
  }
}

}  // namespace meshcache::node
