#include "client/engine.h"

#include <algorithm>
#include <utility>

#include "protocol/codec.h"

namespace meshcache::client {

using protocol::Op;
using protocol::ReplyStatus;
using protocol::Request;

namespace {

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

bool ReadOnly(Op op) {
  return op == Op::kGet || op == Op::kMget || op == Op::kPing || op == Op::kRing ||
         op == Op::kStats;
}

}  // namespace

Engine::Engine(const ClientOptions& options, Transport* transport, const Clock* clock)
    : options_(options),
      transport_(transport),
      clock_(clock),
      router_(options.seeds, options.smart_routing, options.node_retry_ms) {}

uint64_t Engine::Start(Request request, const std::string& node, bool coalesce) {
  MaybeFetchRing();
  if (coalesce && options_.coalesce_gets > 1 && request.op == Op::kGet && node.empty()) {
    return Hold(std::move(request.keys[0]));
  }
  return StartCall(std::move(request), node, /*internal=*/false);
}

Engine::Call& Engine::NewCall(Op op, bool internal) {
  const uint64_t ticket = next_ticket_++;
  Call& call = calls_[ticket];
  call.op = op;
  call.deadline_ms = Now() + options_.timeout_ms;
  call.internal = internal;
  call.done.ticket = ticket;
  call.done.op = op;
  if (internal) ring_call_ = ticket;
  return call;
}

uint64_t Engine::StartCall(Request request, const std::string& node, bool internal) {
  const uint64_t ticket = NewCall(request.op, internal).done.ticket;
  StartParts(ticket, std::move(request), node);
  return ticket;
}

void Engine::StartParts(uint64_t ticket, Request request, const std::string& node) {
  if (request.op != Op::kMget) {
    Dispatch(Part{ticket, node, !node.empty(), std::move(request), {}, {}});
    return;
  }
  largest_mget_ = std::max(largest_mget_, request.keys.size());
  calls_.at(ticket).done.reply.values.assign(request.keys.size(), std::nullopt);
  std::vector<size_t> unrouted;
  std::vector<KeyGroup> groups = router_.Split(request.keys, Now(), &unrouted);
  if (!unrouted.empty())
    return Finish(ticket, Status::Error(Code::kUnavailable, "no reachable node"));
  if (groups.empty()) return Finish(ticket, Status::Ok());  // no keys
  for (KeyGroup& group : groups) {
    if (!calls_.count(ticket)) return;  // an earlier part already failed the call
    Request sub;
    sub.op = Op::kMget;
    for (size_t slot : group.slots) sub.keys.push_back(request.keys[slot]);
    Dispatch(Part{ticket, group.node, false, std::move(sub), std::move(group.slots), {}});
  }
}

void Engine::Dispatch(Part part) {
  auto call = calls_.find(part.ticket);
  if (call == calls_.end()) return;
  std::optional<std::string> node;
  if (part.pinned) {
    if (part.tried.empty()) node = part.node;
  } else if (!part.request.keys.empty()) {
    node = router_.ForKey(part.request.keys[0], Now(), part.tried);
  } else {
    node = router_.AnyNode(Now(), part.tried);
  }
  if (!node) {
    std::string why = part.pinned ? "cannot reach " + part.node : "no reachable node";
    if (!part.pinned && !part.tried.empty()) why += " (tried " + Join(part.tried) + ")";
    return Finish(part.ticket, Status::Error(Code::kUnavailable, why));
  }
  // Gets held for the node leave first: requests arrive in start order.
  if (!held_.empty()) Flush(*node);
  part.node = *node;
  part.tried.push_back(*node);
  uint64_t id = next_wire_id_++;
  part.request.id = id;
  std::string body = protocol::EncodeRequest(part.request);
  call->second.parts.push_back(id);
  parts_.emplace(id, std::move(part));
  if (!transport_->Send(*node, id, std::move(body))) OnStall(*node, {id});
}

std::vector<Done> Engine::Poll(int64_t timeout_ms) {
  const int64_t end = Now() + std::max<int64_t>(timeout_ms, 0);
  for (;;) {
    const int64_t left = std::max<int64_t>(end - Now(), 0);
    // With nothing of the caller's in flight there is nothing to wait for.
    const bool waiting = calls_.size() > (ring_call_ != 0 ? 1u : 0u);
    Step(ready_.empty() && waiting ? left : 0);
    if (!ready_.empty() || left == 0 || !waiting) break;
  }
  std::vector<Done> out(std::make_move_iterator(ready_.begin()),
                        std::make_move_iterator(ready_.end()));
  ready_.clear();
  return out;
}

Done Engine::Wait(uint64_t ticket) {
  for (;;) {
    auto it = std::find_if(ready_.begin(), ready_.end(),
                           [ticket](const Done& d) { return d.ticket == ticket; });
    if (it != ready_.end()) {
      Done done = std::move(*it);
      ready_.erase(it);
      return done;
    }
    auto call = calls_.find(ticket);
    if (call == calls_.end()) {
      return Done{ticket, Op::kPing, Status::Error(Code::kInternal, "unknown ticket"), {}};
    }
    Step(call->second.deadline_ms - Now());
  }
}

Status Engine::SyncRing() {
  if (!router_.smart()) return Status::Ok();
  ring_due_ms_ = Now();
  MaybeFetchRing();
  const uint64_t ticket = ring_call_;
  while (ticket != 0 && ring_call_ == ticket) Step(calls_.at(ticket).deadline_ms - Now());
  return ring_status_;
}

void Engine::Step(int64_t max_wait_ms) {
  FlushAll();
  MaybeFetchRing();
  int64_t wait = std::max<int64_t>(max_wait_ms, 0);
  for (const auto& [ticket, call] : calls_) {
    wait = std::min(wait, std::max<int64_t>(call.deadline_ms - Now(), 0));
  }
  TransportEvents events;
  transport_->Wait(wait, &events);
  for (const auto& [node, body] : events.replies) OnReply(node, body);
  for (const auto& [node, ids] : events.stalled) OnStall(node, ids);
  for (const auto& node : events.disconnected) OnDisconnect(node);
  Expire();
}

void Engine::OnReply(const std::string& node, std::string_view body) {
  protocol::Limits peek = LimitsFor(nullptr);
  auto head = protocol::PeekReply(body, peek);
  if (!head.ok()) return;  // not a reply at all: nothing to match it to
  auto it = parts_.find(head->second);
  if (it == parts_.end() || it->second.node != node) return;  // late or stray
  if (it->second.batch()) return OnBatchReply(it->first, body);
  const uint64_t id = it->first;
  const uint64_t ticket = it->second.ticket;
  Call& call = calls_.at(ticket);
  auto reply = protocol::DecodeReply(body, call.op, LimitsFor(&it->second));
  if (!reply.ok()) {
    return Finish(ticket, Status::Error(Code::kInternal, "bad reply from " + node + ": " +
                                                             reply.status().ToString()));
  }
  if (reply->status == ReplyStatus::kErr) {
    Code code = CodeFromName(reply->error_code);
    if (code == Code::kUnavailable) ring_due_ms_ = std::min(ring_due_ms_, Now());
    return Finish(ticket, Status::Error(code, reply->error_message));
  }
  if (Status s = Merge(call, it->second, *reply); !s.ok()) return Finish(ticket, s);
  ClosePart(id);
  if (call.parts.empty()) Finish(ticket, Status::Ok());
}

Status Engine::Merge(Call& call, const Part& part, protocol::Reply& reply) {
  if (call.op != Op::kMget) {
    call.done.reply = std::move(reply);
    return Status::Ok();
  }
  if (reply.values.size() != part.slots.size()) {
    return Status::Error(Code::kInternal, part.node + " sent " +
                                              std::to_string(reply.values.size()) + " values for " +
                                              std::to_string(part.slots.size()) + " keys");
  }
  for (size_t i = 0; i < part.slots.size(); ++i) {
    call.done.reply.values[part.slots[i]] = std::move(reply.values[i]);
  }
  return Status::Ok();
}

void Engine::OnStall(const std::string& node, const std::vector<uint64_t>& wire_ids) {
  NodeFailed(node);
  for (uint64_t id : wire_ids) {
    auto it = parts_.find(id);
    if (it == parts_.end()) continue;
    if (it->second.batch()) {
      Unbatch(id, /*keep_tried=*/true);
      continue;
    }
    Part part = std::move(it->second);
    ClosePart(id);
    Dispatch(std::move(part));  // to the next candidate; a pinned part fails
  }
}

void Engine::OnDisconnect(const std::string& node) {
  NodeFailed(node);
  std::vector<uint64_t> lost;
  for (const auto& [id, part] : parts_) {
    if (part.node == node) lost.push_back(id);
  }
  for (uint64_t id : lost) {
    auto it = parts_.find(id);
    if (it == parts_.end()) continue;  // its call failed with an earlier part
    if (it->second.batch()) {
      Unbatch(id, /*keep_tried=*/true);
      continue;
    }
    if (!it->second.pinned && ReadOnly(it->second.request.op)) {
      Part part = std::move(it->second);
      ClosePart(id);
      Dispatch(std::move(part));
      continue;
    }
    // A write may or may not have been applied: only the caller can decide
    // whether to repeat it.
    Finish(it->second.ticket,
           Status::Error(Code::kUnavailable, "connection to " + node + " broke in flight"));
  }
}

void Engine::ClosePart(uint64_t wire_id) {
  auto it = parts_.find(wire_id);
  if (it == parts_.end()) return;
  auto call = calls_.find(it->second.ticket);
  if (call != calls_.end()) std::erase(call->second.parts, wire_id);
  parts_.erase(it);
}

void Engine::Finish(uint64_t ticket, Status status) {
  auto it = calls_.find(ticket);
  if (it == calls_.end()) return;
  for (uint64_t id : it->second.parts) {
    auto part = parts_.find(id);
    if (part == parts_.end()) continue;
    if (part->second.batch()) {
      LeaveBatch(id, ticket);
      continue;
    }
    transport_->Cancel(part->second.node, id);
    parts_.erase(part);
  }
  Done done = std::move(it->second.done);
  done.status = std::move(status);
  const bool internal = it->second.internal;
  calls_.erase(it);
  if (done.op == Op::kRing) {
    ring_status_ = done.status;
    if (done.status.ok()) AdoptRing(done.reply.ring);
  }
  if (!internal) {
    ready_.push_back(std::move(done));
    return;
  }
  ring_call_ = 0;
  if (!done.status.ok()) {
    ring_due_ms_ = Now() + std::min(options_.node_retry_ms, options_.ring_refresh_ms);
  }
}

void Engine::Expire() {
  const int64_t now = Now();
  std::vector<uint64_t> expired;
  for (const auto& [ticket, call] : calls_) {
    if (call.deadline_ms <= now) expired.push_back(ticket);
  }
  for (uint64_t ticket : expired) {
    std::vector<std::string> silent;
    for (uint64_t id : calls_.at(ticket).parts) silent.push_back(parts_.at(id).node);
    for (const std::string& node : silent) NodeFailed(node);
    std::string why = "no reply within " + std::to_string(options_.timeout_ms) + " ms";
    if (!silent.empty()) why += " from " + Join(silent);
    Finish(ticket, Status::Error(Code::kTimeout, why));
  }
}

void Engine::NodeFailed(const std::string& node) {
  router_.MarkDown(node, Now());
  ring_due_ms_ = std::min(ring_due_ms_, Now());
}

void Engine::MaybeFetchRing() {
  if (!router_.smart() || ring_call_ != 0 || Now() < ring_due_ms_) return;
  Request request;
  request.op = Op::kRing;
  StartCall(std::move(request), {}, /*internal=*/true);
}

void Engine::AdoptRing(const protocol::RingInfo& info) {
  if (info.hash != protocol::kHashName) {
    ring_status_ = Status::Error(Code::kInternal, "the mesh hashes with " + info.hash);
    return;
  }
  router_.SetRing(Ring::Build(info.nodes, RingParams{info.vnodes, info.replicas, info.epoch}));
  ring_due_ms_ = Now() + options_.ring_refresh_ms;
  std::set<std::string> keep = router_.Known();
  for (const auto& [id, part] : parts_) keep.insert(part.node);
  transport_->Retain(keep);
  std::map<std::string, std::string> keys;
  for (const MemberInfo& node : info.nodes) {
    if (!node.curve_key.empty()) keys[node.service] = node.curve_key;
  }
  transport_->SetServerKeys(keys);
}

protocol::Limits Engine::LimitsFor(const Part* part) const {
  protocol::Limits limits;
  // Replies carry no keys, only values (and short strings in ping and ring).
  limits.max_key_bytes = 64 * 1024;
  limits.max_value_bytes = options_.max_reply_bytes;
  limits.max_mget_keys =
      part ? std::max<size_t>(part->request.keys.size(), 1) : std::max<size_t>(largest_mget_, 4096);
  return limits;
}

}  // namespace meshcache::client
