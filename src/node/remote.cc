// Forwards: requests sent on to the key's owner, their replies, and the
// fallbacks when an owner does not answer (next holder, then the loader,
// then `unavailable`).
#include <algorithm>

#include "node/service.h"
#include "protocol/codec.h"

namespace meshcache::node {

using protocol::ReplyStatus;

protocol::Request Service::Wrap(const protocol::Request& inner, bool replica) const {
  protocol::Request outer;
  outer.op = Op::kFwd;
  outer.from = id_;
  outer.replica = replica;
  outer.inner = std::make_shared<const protocol::Request>(inner);
  return outer;
}

void Service::ForwardKeys(uint64_t job, const std::string& target, Op op, std::vector<size_t> slots,
                          std::vector<std::string> keys, std::vector<std::string> tried,
                          bool invalidated) {
  Forward fwd;
  fwd.job = job;
  fwd.slots = std::move(slots);
  fwd.inner.op = op;
  fwd.inner.keys = std::move(keys);
  fwd.tried = std::move(tried);
  fwd.invalidated = invalidated;
  if (!forwarder_.Send(target, fwd, Wrap(fwd.inner, /*replica=*/false))) {
    OnForwardFailed(fwd,
                    Status::Error(Code::kUnavailable, "owner " + target + " cannot be reached"));
  }
}

void Service::ForwardWrite(uint64_t job, const std::string& target, const protocol::Request& req) {
  Forward fwd;
  fwd.job = job;
  fwd.inner = req;
  protocol::Request outer = Wrap(req, /*replica=*/false);
  outer.version = hlc_.Now();  // the write's version: when this node took it
  if (!forwarder_.Send(target, fwd, std::move(outer))) {
    OnForwardFailed(fwd,
                    Status::Error(Code::kUnavailable, "owner " + target + " cannot be reached"));
  }
}

void Service::SendJoin(int64_t now) {
  std::vector<Gossiper::JoinRequest> due;
  for (std::optional<Gossiper::JoinRequest> join :
       {gossiper_.JoinDue(now), gossiper_.SyncDue(now)}) {
    if (join) due.push_back(std::move(*join));
  }
  for (Gossiper::Probe& probe : gossiper_.ProbesDue(now)) due.push_back(std::move(probe));
  for (Gossiper::JoinRequest& r : due) {
    Forward fwd;
    fwd.inner = r.request;
    if (!forwarder_.Send(r.seed, fwd, std::move(r.request)) && options_.log) {
      options_.log(LogLevel::kWarn, std::string(protocol::OpName(fwd.inner.op)) + " to " + r.seed +
                                        ": not a reachable endpoint");
    }
  }
}

void Service::OnPeerMessage(const net::Frames& frames) {
  const zmq::message_t* body = net::DealerBody(frames);
  auto peek = body ? protocol::PeekReply(net::View(*body), limits_)
                   : Result<std::pair<ReplyStatus, uint64_t>>(
                         Status::Error(Code::kBadRequest, "not a reply"));
  if (!peek.ok()) {
    ++counters_.bad_replies;
    return;
  }
  std::optional<Forward> fwd = forwarder_.Match(peek->second);
  if (!fwd) return;  // late: answered by a fallback already
  auto reply = protocol::DecodeReply(net::View(*body), fwd->inner.op, limits_);
  if (!reply.ok()) {
    OnForwardFailed(*fwd, Status::Error(Code::kUnavailable, "bad reply from " + fwd->target + ": " +
                                                                reply.status().message()));
    return;
  }
  OnForwardReply(*fwd, *reply);
  CheckRing();  // a join's answer may have changed it
}

void Service::OnForwardReply(Forward& fwd, const protocol::Reply& reply) {
  if (fwd.inner.op == Op::kHandoff) {
    HandedOff(fwd, /*delivered=*/true);
    return;
  }
  if (fwd.inner.op == Op::kJoin) {
    if (reply.status != ReplyStatus::kOk) {
      if (fwd.inner.members.empty()) JoinFailed(fwd.target, reply.error_message);
      return;
    }
    if (fwd.inner.members.empty()) {
      gossiper_.OnJoined(reply.members, fwd.target);
    } else {
      gossiper_.OnSynced(reply.members, fwd.target);  // a sync: the join carried our table
    }
    return;
  }
  if (fwd.inner.op == Op::kPeek) {
    OnPeeked(fwd, reply);
    return;
  }
  if (fwd.inner.op == Op::kProbe) {
    OnProbed(fwd, &reply);
    return;
  }
  if (fwd.job == 0) return;  // a replica write's acknowledgement
  if (reply.status == ReplyStatus::kErr) {
    jobs_.Fail(fwd.job, Status::Error(CodeFromName(reply.error_code), reply.error_message),
               std::max<size_t>(1, fwd.slots.size()));
    return;
  }
  switch (fwd.inner.op) {
    case Op::kGet:
    case Op::kMget:
      FillFromOwner(fwd, reply);
      return;
    case Op::kDel:
    case Op::kTouch:
      jobs_.Existed(fwd.job, reply.existed);
      return;
    case Op::kGets:
      FillEntries(fwd, reply);
      return;
    case Op::kSetx:
    case Op::kIncr:
      jobs_.Written(fwd.job, reply.outcome, reply.cas, reply.number);
      return;
    default:
      jobs_.Settle(fwd.job, 1);
  }
}

void Service::OnPeeked(Forward& fwd, const protocol::Reply& reply) {
  const std::string& key = fwd.inner.keys[0];
  const bool newer = reply.status == ReplyStatus::kOk && reply.version > fwd.held_version;
  if (!newer || tombstones_.Buries(key, reply.version) || !hlc_.Observe(reply.version)) {
    PeekMissed(fwd);
    return;
  }
  const int64_t ttl = TtlMs(reply.ttl_ms.value_or(0));
  Value value = MakeValue(reply.value);
  // The hand-off would bring it anyway; a newer write here stays. The
  // entry keeps its version and flags, so a gets's cas names it here too.
  if (Holds(key) && !store_.SetIfNewer(key, value.view(), ttl, reply.version, reply.flags) &&
      FillFromStore(fwd.job, fwd.slots[0], key)) {
    return;
  }
  jobs_.Fill(fwd.job, fwd.slots[0], std::move(value), EntryMeta{reply.flags, reply.version, ttl});
}

void Service::PeekMissed(Forward& fwd) {
  // The hand-off and the peek cross: the entry may have landed here since
  // (a checked entry is read again too: a write may have replaced it).
  if (FillFromStore(fwd.job, fwd.slots[0], fwd.inner.keys[0])) return;
  AfterMiss(fwd.job, fwd.slots[0], fwd.inner.keys[0]);
}

void Service::FillFromOwner(Forward& fwd, const protocol::Reply& reply) {
  const bool single = fwd.inner.op == Op::kGet;
  if (!single && reply.values.size() != fwd.slots.size()) {
    jobs_.Fail(fwd.job, Status::Error(Code::kUnavailable, "owner sent a short mget reply"),
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
      if (*reply.ttl_ms > 0) ttl = std::min(ttl, TtlMs(*reply.ttl_ms));
      (void)hot_->Set(fwd.inner.keys[i], v->view(), ttl);
      gossiper_.HearOwner(fwd.target);  // the copy is served while its heartbeats arrive
    }
    jobs_.Fill(fwd.job, fwd.slots[i], std::move(v));
  }
}

void Service::JoinFailed(const std::string& seed, const std::string& refused) {
  ++join_failures_;
  const int64_t now = clock_->NowMs();
  if (gossiper_.joined() || !options_.log || now - join_warned_ms_ < kJoinWarnEveryMs) return;
  const std::string why =
      refused.empty() ? "no answer within " + std::to_string(options_.forward_timeout_ms) + " ms"
      : refused == kJoinedItself ? "it leads to this node itself (" + refused + ")"
                                 : "refused (" + refused + ")";
  options_.log(LogLevel::kWarn, "join via " + seed + ": " + why + " (" +
                                    std::to_string(join_failures_) +
                                    " attempts so far); trying again, serving alone meanwhile");
  join_warned_ms_ = now;
}

void Service::OnForwardFailed(Forward& fwd, const Status& why) {
  if (fwd.inner.op == Op::kHandoff) HandedOff(fwd, /*delivered=*/false);
  if (fwd.inner.op == Op::kProbe) OnProbed(fwd, nullptr);
  if (fwd.inner.op == Op::kJoin && fwd.inner.members.empty()) JoinFailed(fwd.target);
  if (fwd.job == 0) return;
  if (fwd.inner.op == Op::kPeek) {
    PeekMissed(fwd);
    return;
  }  // joins retry on their timer; replica writes are best effort
  if (fwd.inner.op == Op::kGets) {
    for (size_t i = 0; i < fwd.slots.size(); ++i) {
      GetsFallBack(fwd.job, fwd.slots[i], fwd.inner.keys[i], fwd);
    }
    return;
  }
  if (fwd.inner.op == Op::kGet || fwd.inner.op == Op::kMget) {
    for (size_t i = 0; i < fwd.slots.size(); ++i) {
      FallBack(fwd.job, fwd.slots[i], fwd.inner.keys[i], fwd);
    }
    return;
  }
  jobs_.Fail(fwd.job, why, 1);
}

void Service::FallBack(uint64_t job, size_t slot, const std::string& key, const Forward& failed) {
  std::vector<std::string> tried = failed.tried;
  const std::shared_ptr<const Ring> ring = gossiper_.ring();
  for (const std::string* holder : ring->Holders(key)) {
    if (std::find(tried.begin(), tried.end(), *holder) != tried.end()) continue;
    if (*holder == id_) {
      LookupLocal(job, slot, key);
      return;
    }
    tried.push_back(*holder);
    ForwardKeys(job, *holder, Op::kGet, {slot}, {key}, std::move(tried), failed.invalidated);
    return;
  }
  if (loads_.enabled()) {
    StartLoad(job, slot, key);
    return;
  }
  jobs_.Fail(job, Status::Error(Code::kUnavailable, "no holder of the key answered"), 1);
}

}  // namespace meshcache::node
