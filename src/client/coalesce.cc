// The engine's coalesced gets: held per node, sent as one mget part, and
// taken apart again when that part fails as a whole.
#include <algorithm>
#include <utility>

#include "client/engine.h"
#include "protocol/codec.h"

namespace meshcache::client {

using protocol::Op;
using protocol::ReplyStatus;
using protocol::Request;

namespace {

Request GetRequest(std::string key) {
  Request r;
  r.op = Op::kGet;
  r.keys.push_back(std::move(key));
  return r;
}

}  // namespace

uint64_t Engine::Hold(std::string key) {
  const uint64_t ticket = NewCall(Op::kGet, /*internal=*/false).done.ticket;
  // Routed now, as an uncoalesced get would be, so a batch is one node's.
  std::optional<std::string> node = router_.ForKey(key, Now(), {});
  if (!node) {
    Finish(ticket, Status::Error(Code::kUnavailable, "no reachable node"));
    return ticket;
  }
  Held& held = held_[*node];
  held.tickets.push_back(ticket);
  held.keys.push_back(std::move(key));
  if (held.tickets.size() >= options_.coalesce_gets) Flush(*node);
  return ticket;
}

void Engine::FlushAll() {
  while (!held_.empty()) Flush(held_.begin()->first);
}

void Engine::Flush(std::string node) {
  auto it = held_.find(node);
  if (it == held_.end()) return;
  Held held = std::move(it->second);
  held_.erase(it);  // before any Dispatch below, which flushes again
  Part batch{0, node, false, Request{.op = Op::kMget}, {}, {node}, {}};
  for (size_t i = 0; i < held.tickets.size(); ++i) {
    if (!calls_.count(held.tickets[i])) continue;  // finished while held
    batch.members.push_back(held.tickets[i]);
    batch.request.keys.push_back(std::move(held.keys[i]));
  }
  if (batch.members.empty()) return;
  if (batch.members.size() == 1) {
    Dispatch(Part{
        batch.members[0], {}, false, GetRequest(std::move(batch.request.keys[0])), {}, {}, {}});
    return;
  }
  const uint64_t id = next_wire_id_++;
  batch.request.id = id;
  largest_mget_ = std::max(largest_mget_, batch.request.keys.size());
  std::string body = protocol::EncodeRequest(batch.request);
  for (uint64_t ticket : batch.members) calls_.at(ticket).parts.push_back(id);
  parts_.emplace(id, std::move(batch));
  if (!transport_->Send(node, id, std::move(body))) OnStall(node, {id});
}

void Engine::OnBatchReply(uint64_t wire_id, std::string_view body) {
  auto it = parts_.find(wire_id);
  auto reply = protocol::DecodeReply(body, Op::kMget, LimitsFor(&it->second));
  if (reply.ok() && reply->status == ReplyStatus::kErr) {
    // The error may be one key's (too_large, load_failed): each get asks alone.
    if (CodeFromName(reply->error_code) == Code::kUnavailable) {
      ring_due_ms_ = std::min(ring_due_ms_, Now());
    }
    return Unbatch(wire_id, /*keep_tried=*/false);
  }
  Part batch = std::move(it->second);
  parts_.erase(it);
  Status bad;
  if (!reply.ok()) {
    bad = Status::Error(Code::kInternal,
                        "bad reply from " + batch.node + ": " + reply.status().ToString());
  } else if (reply->values.size() != batch.members.size()) {
    bad = Status::Error(Code::kInternal, batch.node + " sent " +
                                             std::to_string(reply->values.size()) + " values for " +
                                             std::to_string(batch.members.size()) + " keys");
  }
  for (size_t i = 0; i < batch.members.size(); ++i) {
    auto call = calls_.find(batch.members[i]);
    if (call == calls_.end()) continue;
    std::erase(call->second.parts, wire_id);
    if (bad.ok()) {
      std::optional<std::string>& value = reply->values[i];
      call->second.done.reply.status = value ? ReplyStatus::kOk : ReplyStatus::kMiss;
      if (value) call->second.done.reply.value = std::move(*value);
    }
    Finish(call->first, bad);
  }
}

void Engine::Unbatch(uint64_t wire_id, bool keep_tried) {
  auto it = parts_.find(wire_id);
  if (it == parts_.end()) return;
  Part batch = std::move(it->second);
  parts_.erase(it);
  for (size_t i = 0; i < batch.members.size(); ++i) {
    auto call = calls_.find(batch.members[i]);
    if (call == calls_.end()) continue;
    std::erase(call->second.parts, wire_id);
    std::vector<std::string> tried = keep_tried ? batch.tried : std::vector<std::string>{};
    Dispatch(Part{call->first,
                  {},
                  false,
                  GetRequest(std::move(batch.request.keys[i])),
                  {},
                  std::move(tried),
                  {}});
  }
}

void Engine::LeaveBatch(uint64_t wire_id, uint64_t ticket) {
  auto it = parts_.find(wire_id);
  if (it == parts_.end()) return;
  std::vector<uint64_t>& members = it->second.members;
  std::replace(members.begin(), members.end(), ticket, uint64_t{0});
  if (std::any_of(members.begin(), members.end(), [](uint64_t t) { return t != 0; })) return;
  transport_->Cancel(it->second.node, wire_id);
  parts_.erase(it);
}

}  // namespace meshcache::client
