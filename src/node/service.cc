// The service socket: requests from clients and peers, and the replies.
#include <algorithm>
#include <array>

#include "node/engine.h"
#include "protocol/codec.h"
#include "util/version.h"

namespace meshcache::node {

using protocol::Op;

namespace {

// Splits [routing ids..., empty, body] into envelope and body. Returns false
// when no empty delimiter follows at least one routing frame (the envelope
// cannot be recovered: the message is dropped).
bool SplitEnvelope(Frames& frames, Frames& envelope, size_t* body_frames) {
  for (size_t i = 1; i < frames.size(); ++i) {
    if (frames[i].size() != 0) continue;
    for (size_t j = 0; j <= i; ++j) envelope.push_back(std::move(frames[j]));
    *body_frames = frames.size() - i - 1;
    return true;
  }
  return false;
}

}  // namespace

void Engine::OnServiceMessage(Frames& frames) {
  Frames envelope;
  size_t body_frames = 0;
  if (!SplitEnvelope(frames, envelope, &body_frames)) {
    ++counters_.bad_requests;
    return;
  }
  if (body_frames != 1) {
    ++counters_.bad_requests;
    Reply(envelope, protocol::EncodeError(0, Code::kBadRequest,
                                          "expected exactly one body frame after the delimiter"));
    return;
  }
  protocol::DecodedRequest d = protocol::DecodeRequest(View(frames.back()), limits_);
  if (!d.status.ok()) {
    ++counters_.bad_requests;
    Reply(envelope, protocol::EncodeError(d.request.id, d.status.code(), d.status.message()));
    return;
  }
  const protocol::Request& req = d.request;
  if (req.op == Op::kFwd) {
    Dispatch(std::move(envelope), *req.inner, req.id, /*forwarded=*/true, req.replica);
  } else {
    Dispatch(std::move(envelope), req, req.id, /*forwarded=*/false, /*replica=*/false);
  }
}

void Engine::Dispatch(Frames envelope, const protocol::Request& req, uint64_t reply_id,
                      bool forwarded, bool replica) {
  switch (req.op) {
    case Op::kPing:
      Reply(envelope, protocol::EncodePing(reply_id, {id_, kVersion, protocol::kProtocolVersion}));
      return;
    case Op::kRing:
      Reply(envelope, RingBody(reply_id));
      return;
    case Op::kStats:
      Reply(envelope, StatsBody(reply_id));
      return;
    case Op::kGet:
    case Op::kMget:
      HandleLookup(std::move(envelope), req, reply_id, forwarded);
      return;
    case Op::kSet:
    case Op::kDel:
      HandleWrite(std::move(envelope), req, reply_id, forwarded, replica);
      return;
    case Op::kJoin:
      HandleJoin(envelope, req, reply_id);
      return;
    case Op::kFwd:  // the codec refuses a fwd inside a fwd
    case Op::kLoad:
      break;
  }
  ++counters_.bad_requests;
  Reply(envelope,
        protocol::EncodeError(reply_id, Code::kBadRequest,
                              std::string("op not served by a node: ") + protocol::OpName(req.op)));
}

void Engine::Reply(Frames& envelope, const std::string& body) {
  envelope.push_back(Frame(body));
  if (!SendFrames(sockets_.router, envelope)) ++counters_.unroutable;
  envelope.clear();
}

void Engine::HandleLookup(Frames envelope, const protocol::Request& req, uint64_t reply_id,
                          bool forwarded) {
  counters_.gets += req.keys.size();
  if (jobs_.size() >= options_.max_pending_requests) {
    ++counters_.overloaded;
    Reply(envelope,
          protocol::EncodeError(reply_id, Code::kOverloaded, "too many pending requests"));
    return;
  }
  uint64_t job = NewJob(std::move(envelope), req.op, reply_id, req.keys.size(), req.keys.size());
  jobs_[job].forwarded = forwarded;
  if (req.keys.empty()) {
    Finish(job);
    return;
  }
  // Keys owned elsewhere, grouped by owner: one forward per owner.
  std::map<std::string, std::pair<std::vector<size_t>, std::vector<std::string>>> remote;
  for (size_t slot = 0; slot < req.keys.size(); ++slot) {
    const std::string& key = req.keys[slot];
    const std::string* owner = forwarded ? nullptr : ring_->Owner(key);
    if (owner == nullptr || *owner == id_) {
      LookupLocal(job, slot, key, /*may_load=*/true);
      continue;
    }
    if (hot_) {
      if (auto v = hot_->Get(key)) {
        ++counters_.hits;
        ++counters_.hot_hits;
        Fill(job, slot, std::move(*v));
        continue;
      }
    }
    auto& group = remote[*owner];
    group.first.push_back(slot);
    group.second.push_back(key);
  }
  const size_t part = MgetPartKeys();
  for (auto& [owner, group] : remote) {
    auto& [slots, keys] = group;
    for (size_t begin = 0; begin < keys.size(); begin += part) {
      size_t end = std::min(keys.size(), begin + part);
      Op op = end - begin == 1 ? Op::kGet : Op::kMget;
      ForwardKeys(job, owner, op, {slots.begin() + begin, slots.begin() + end},
                  {keys.begin() + begin, keys.begin() + end}, {owner});
    }
  }
}

size_t Engine::MgetPartKeys() const {
  // A part's reply must fit the peer socket's message limit (the largest
  // request the node accepts), so a part asks for no more values than fit
  // in it, with room for framing; the parts to one owner run in parallel.
  constexpr size_t kSlack = 64 * 1024;
  const size_t per_value = options_.max_value_bytes + 16;
  return std::clamp<size_t>((limits_.max_body_bytes() - kSlack) / per_value, 1,
                            limits_.max_mget_keys);
}

void Engine::LookupLocal(uint64_t job, size_t slot, const std::string& key, bool may_load) {
  int64_t ttl_left = -1;
  if (auto v = store_.Get(key, &ttl_left)) {
    ++counters_.hits;
    Fill(job, slot, std::move(*v), ttl_left);
    return;
  }
  ++counters_.misses;
  if (may_load && has_loader_) {
    StartLoad(job, slot, key);
  } else {
    Fill(job, slot, std::nullopt);
  }
}

void Engine::HandleWrite(Frames envelope, const protocol::Request& req, uint64_t reply_id,
                         bool forwarded, bool replica) {
  const bool is_set = req.op == Op::kSet;
  ++(is_set ? counters_.sets : counters_.dels);
  const std::string& key = req.keys[0];
  const std::string* owner = ring_->Owner(key);
  if (forwarded || owner == nullptr || *owner == id_) {
    bool existed = false;
    if (!WriteLocal(req, &existed)) {
      Reply(envelope, protocol::EncodeError(reply_id, Code::kTooLarge,
                                            "entry larger than the store can hold"));
      return;
    }
    if (replica) {
      ++counters_.replica_writes;
    } else {
      Invalidate(key);
      Replicate(req);
    }
    Reply(envelope,
          is_set ? protocol::EncodeOk(reply_id) : protocol::EncodeExisted(reply_id, existed));
    return;
  }
  if (hot_) (void)hot_->Del(key);
  if (jobs_.size() >= options_.max_pending_requests) {
    ++counters_.overloaded;
    Reply(envelope,
          protocol::EncodeError(reply_id, Code::kOverloaded, "too many pending requests"));
    return;
  }
  uint64_t job = NewJob(std::move(envelope), req.op, reply_id, 0, 1);
  ForwardWrite(job, *owner, req);
}

bool Engine::WriteLocal(const protocol::Request& req, bool* existed) {
  const std::string& key = req.keys[0];
  if (req.op == Op::kDel) {
    *existed = store_.Del(key);
    return true;
  }
  uint64_t ttl = req.ttl_ms.value_or(options_.default_ttl_ms);
  return store_.Set(key, MakeValue(req.value), static_cast<int64_t>(ttl));
}

void Engine::Replicate(const protocol::Request& req) {
  if (ring_->replicas() <= 1) return;
  for (const std::string* holder : ring_->Holders(req.keys[0])) {
    if (*holder == id_) continue;
    Forward fwd;
    fwd.inner = req;
    (void)SendToPeer(*holder, fwd, Wrap(req, /*replica=*/true));
  }
}

void Engine::HandleJoin(Frames& envelope, const protocol::Request& req, uint64_t reply_id) {
  ++counters_.joins_served;
  ApplyChanges(membership_.HeardFrom(req.member));
  Reply(envelope, protocol::EncodeMembers(reply_id, membership_.Snapshot()));
}

std::string Engine::RingBody(uint64_t id) const {
  protocol::RingInfo info;
  info.epoch = ring_->epoch();
  info.vnodes = ring_->vnodes();
  info.replicas = ring_->replicas();
  info.nodes = ring_->members();
  return protocol::EncodeRing(id, info);
}

std::string Engine::StatsBody(uint64_t id) const {
  StoreStats s = store_.Stats();
  const Counters& c = counters_;
  auto i = [](uint64_t v) { return protocol::StatValue(static_cast<int64_t>(v)); };
  protocol::StatList list = {
      {"node", protocol::StatValue(id_)},
      {"version", protocol::StatValue(std::string(kVersion))},
      {"gets", i(c.gets)},
      {"hits", i(c.hits)},
      {"misses", i(c.misses)},
      {"sets", i(c.sets)},
      {"dels", i(c.dels)},
      {"items", i(s.items)},
      {"bytes", i(s.bytes)},
      {"limit_bytes", i(s.limit_bytes)},
      {"evictions", i(s.evictions)},
      {"expired", i(s.expired)},
      {"forwards", i(c.forwards)},
      {"loads", i(c.loads)},
      {"load_errors", i(c.load_errors)},
      {"load_timeouts", i(c.load_timeouts)},
      {"late_loads", i(c.late_loads)},
      {"late_replies", i(c.late_replies)},
      {"forward_timeouts", i(c.forward_timeouts)},
      {"bad_requests", i(c.bad_requests)},
      {"overloaded", i(c.overloaded)},
      {"unroutable", i(c.unroutable)},
      {"hot_hits", i(c.hot_hits)},
      {"hot_items", i(hot_ ? hot_->Stats().items : 0)},
      {"hot_invalidations", i(c.hot_invalidations)},
      {"replica_writes", i(c.replica_writes)},
      {"gossip_received", i(c.gossip_received)},
      {"gossip_bad", i(c.gossip_bad)},
      {"gossip_gaps", i(c.gossip_gaps)},
      {"joins_served", i(c.joins_served)},
      {"pending_requests", i(jobs_.size())},
      {"loads_in_flight", i(flights_.in_flight())},
      {"peers_alive", i(membership_.AlivePeers())},
      {"ring_epoch", i(ring_->epoch())},
      {"uptime_s", i(static_cast<uint64_t>((clock_->NowMs() - started_ms_) / 1000))},
  };
  return protocol::EncodeStats(id, list);
}

}  // namespace meshcache::node
