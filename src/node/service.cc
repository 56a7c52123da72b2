// The service's lifecycle, its message entry points and its timers.
#include "node/service.h"

#include <algorithm>
#include <set>

#include "net/curve.h"
#include "protocol/codec.h"
#include "util/version.h"

namespace meshcache::node {
namespace {

MembershipOptions MakeMembershipOptions(const NodeOptions& o) {
  MembershipOptions m;
  m.dead_ms = o.dead_ms;
  m.suspect_ms = o.suspect_ms > 0 ? o.suspect_ms : 3 * o.heartbeat_ms;
  if (m.suspect_ms >= m.dead_ms) m.suspect_ms = std::max<int64_t>(1, m.dead_ms * 2 / 3);
  m.max_members = NodeLimits(o).max_members;  // what a join snapshot carries
  return m;
}

GossipOptions MakeGossipOptions(const NodeOptions& o) {
  GossipOptions g;
  g.heartbeat_ms = o.heartbeat_ms;
  g.membership = MakeMembershipOptions(o);
  g.ring.vnodes = o.vnodes;
  g.ring.replicas = o.replicas;
  g.join = o.join;
  g.limits = NodeLimits(o);
  return g;
}

StoreOptions MakeStoreOptions(size_t bytes, const NodeOptions& o) {
  StoreOptions s;
  s.capacity_bytes = bytes;
  s.old_ratio = o.lru_old_percent / 100.0;
  s.old_time_ms = o.lru_old_time_ms;
  return s;
}

// Splits [routing ids..., empty, body] into envelope and body. Returns false
// when no empty delimiter follows at least one routing frame (the envelope
// cannot be recovered: the message is dropped).
bool SplitEnvelope(net::Frames& frames, net::Frames& envelope, size_t* body_frames) {
  for (size_t i = 1; i < frames.size(); ++i) {
    if (!frames[i].empty()) continue;
    for (size_t j = 0; j <= i; ++j) envelope.push_back(std::move(frames[j]));
    *body_frames = frames.size() - i - 1;
    return true;
  }
  return false;
}

// Hand-off: a batch's bounds.
constexpr size_t kHandOffBatchEntries = 256;
constexpr size_t kHandOffBatchBytes = 1u << 20;
// Tombstones: how long and how many deletes are remembered.
constexpr int64_t kTombstoneMs = 60'000;
constexpr size_t kMaxTombstones = 1u << 16;

}  // namespace

protocol::Limits NodeLimits(const NodeOptions& o) {
  protocol::Limits l;
  l.max_key_bytes = o.max_key_bytes;
  l.max_value_bytes = o.max_value_bytes;
  return l;
}

net::SocketLimits NodeSocketLimits(const NodeOptions& o) {
  net::SocketLimits l{NodeLimits(o).max_body_bytes()};
  l.reconnect_max_ms = static_cast<int>(std::clamp<int64_t>(o.heartbeat_ms, 100, 2000));
  // Loopback and LAN connects take well under a millisecond, WAN links a
  // round trip: two heartbeats leave room for either.
  l.connect_timeout_ms = static_cast<int>(std::clamp<int64_t>(2 * o.heartbeat_ms, 200, 2000));
  // A link quiet for the dead timeout is given up and connected afresh (a
  // peer is declared dead after as long a silence anyway). Shorter, a lossy
  // link whose TCP retransmissions back off would be cut needlessly (seen:
  // false deaths at 10 % loss with half the dead timeout).
  // A third of it between pings (the DEALERs' only; see net/sockets.cc).
  l.heartbeat_ivl_ms = static_cast<int>(std::clamp<int64_t>(o.dead_ms / 3, 100, 1000));
  l.heartbeat_timeout_ms = static_cast<int>(std::clamp<int64_t>(o.dead_ms, 300, 3000));
  return l;
}

bool BindsEveryAddress(const NodeOptions& o) { return o.bind == "0.0.0.0" || o.bind == "*"; }

Service::Service(const NodeOptions& options, MemberInfo self, Peers& peers, LoadRunner* loader,
                 const Clock* clock, ReplyFn reply)
    : options_(options),
      id_(self.id),
      limits_(NodeLimits(options)),
      clock_(clock),
      started_ms_(clock->NowMs()),
      reply_(std::move(reply)),
      store_(MakeStoreOptions(options.memory_bytes, options), clock),
      jobs_([this](net::Frames& envelope, const std::string& body) { Reply(envelope, body); },
            clock, &counters_.get_us),
      forwarder_(peers, clock, options.forward_timeout_ms),
      gossiper_(std::move(self), MakeGossipOptions(options), peers, clock, options.log),
      loads_(loader, clock, options.load_timeout_ms),
      hlc_(clock),
      tombstones_(clock, kTombstoneMs, kMaxTombstones),
      handoff_(id_, kHandOffBatchEntries, kHandOffBatchBytes),
      lease_ms_(MakeMembershipOptions(options).suspect_ms) {
  if (options_.hot_bytes > 0) {
    hot_ = std::make_unique<Store>(MakeStoreOptions(options_.hot_bytes, options_), clock);
  }
  CheckRing();
}

void Service::Start() { gossiper_.Announce(); }

void Service::Leave() {
  if (leaving_) return;
  leaving_ = true;
  gossiper_.Leave();
  CheckRing();  // off the ring: the hand-off pass gives every entry away
}

void Service::Shutdown() {
  jobs_.FailAll(Status::Error(Code::kUnavailable, "node is shutting down"));
  gossiper_.Announce();  // `left`, once more
}

void Service::Reply(net::Frames& envelope, const std::string& body) {
  if (!reply_(envelope, body)) ++counters_.unroutable;
  envelope.clear();
}

void Service::ReplyError(net::Frames& envelope, uint64_t id, Code code,
                         const std::string& message) {
  Reply(envelope, protocol::EncodeError(id, code, message));
}

bool Service::Overloaded(net::Frames& envelope, uint64_t reply_id) {
  if (jobs_.size() < options_.max_pending_requests) return false;
  ++counters_.overloaded;
  ReplyError(envelope, reply_id, Code::kOverloaded, "too many pending requests");
  return true;
}

void Service::OnRequest(net::Frames& frames) {
  if (OneBodyFrame(frames) &&
      (AnswerQuickGet(frames) || AnswerQuickMget(frames) || AnswerQuickWrite(frames))) {
    return;
  }
  net::Frames envelope;
  size_t body_frames = 0;
  if (!SplitEnvelope(frames, envelope, &body_frames)) {
    ++counters_.bad_requests;
    return;
  }
  if (body_frames != 1) {
    ++counters_.bad_requests;
    ReplyError(envelope, 0, Code::kBadRequest,
               "expected exactly one body frame after the delimiter");
    return;
  }
  protocol::DecodedRequest d = protocol::DecodeRequest(net::View(frames.back()), limits_);
  if (!d.status.ok()) {
    ++counters_.bad_requests;
    ReplyError(envelope, d.request.id, d.status.code(), d.status.message());
    return;
  }
  const protocol::Request& req = d.request;
  // With CURVE, libzmq stamps each message with the role its key was
  // admitted in (net/curve.h); without, there is none and all are trusted.
  if (protocol::PeerOnly(req.op) && net::UserId(frames.back()) == net::kClientRole) {
    ++counters_.bad_requests;
    ++counters_.client_peer_ops;
    ReplyError(envelope, req.id, Code::kBadRequest,
               std::string("a client key may not send ") + protocol::OpName(req.op));
    return;
  }
  if (req.op == Op::kFwd) {
    Dispatch(std::move(envelope), *req.inner, req.id, /*forwarded=*/true, req.replica, req.version);
  } else {
    Dispatch(std::move(envelope), req, req.id, /*forwarded=*/false, /*replica=*/false, 0);
  }
  CheckRing();  // a join may have changed it
}

void Service::Dispatch(net::Frames envelope, const protocol::Request& req, uint64_t reply_id,
                       bool forwarded, bool replica, uint64_t version) {
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
      HandleWrite(std::move(envelope), req, reply_id, forwarded, replica, version);
      return;
    case Op::kJoin:
      HandleJoin(envelope, req, reply_id);
      return;
    case Op::kHandoff:
      HandleHandoff(envelope, req, reply_id);
      return;
    case Op::kPeek:
      HandlePeek(envelope, req, reply_id);
      return;
    case Op::kProbe:
      HandleProbe(envelope, req, reply_id);
      return;
    case Op::kGets:
      HandleGets(std::move(envelope), req, reply_id, forwarded);
      return;
    case Op::kSetx:
    case Op::kIncr:
    case Op::kTouch:
      HandleMemcacheWrite(std::move(envelope), req, reply_id, forwarded, replica, version);
      return;
    case Op::kFwd:  // the codec refuses a fwd inside a fwd
    case Op::kLoad:
      break;
  }
  ++counters_.bad_requests;
  ReplyError(envelope, reply_id, Code::kBadRequest,
             std::string("op not served by a node: ") + protocol::OpName(req.op));
}

void Service::OnGossipMessage(const net::Frames& frames) {
  ApplyGossip(gossiper_.OnMessage(frames));
  CheckRing();
}

void Service::ApplyGossip(const Gossiper::Received& received) {
  if (received.drop_all) {
    forwarder_.MarkInvalidated(nullptr);
    DropHotCopies();
  }
  for (const auto& key : received.invalidated) {
    forwarder_.MarkInvalidated(&key);
    if (hot_ && hot_->Del(key)) ++counters_.hot_invalidations;
  }
}

void Service::DropHotCopies() {
  if (!hot_) return;
  counters_.hot_invalidations += hot_->Stats().items;
  hot_->Clear();
}

void Service::OnConnectionRefused() {
  if (++counters_.curve_refused == 1 && options_.log) {
    options_.log(LogLevel::kWarn,
                 "refused a CURVE connection whose key is on no list (counted in curve_refused)");
  }
}

void Service::OnLoadsDone() {
  if (!loads_.enabled()) return;
  for (const LoadOutcome& outcome : loads_.TakeDone()) FinishLoad(outcome);
}

void Service::FinishLoad(const LoadOutcome& outcome) {
  if (!outcome.result.ok()) {
    if (outcome.result.status().code() == Code::kOverloaded) {
      counters_.overloaded += outcome.waiters.size();
    }
    for (const Waiter& w : outcome.waiters) jobs_.Fail(w.job, outcome.result.status(), 1);
    return;
  }
  if (Overtaken(outcome.key, outcome.version)) {
    // The origin's answer may predate that write: it never lands, and the
    // waiters get what the write left (its value, or a miss after a del).
    ++counters_.stale_loads;
    EntryMeta meta;
    std::optional<Value> now =
        store_.Get(outcome.key, &meta.ttl_left_ms, &meta.version, &meta.flags);
    for (const Waiter& w : outcome.waiters) jobs_.Fill(w.job, w.slot, now, meta);
    return;
  }
  std::optional<Value> value;
  uint64_t ttl = 0;
  if (outcome.result->has_value()) {
    const Loaded& loaded = **outcome.result;
    ttl = loaded.ttl_ms ? loaded.ttl_ms : options_.default_ttl_ms;
    value = MakeValue(loaded.value);
    // A fallback load for a key held elsewhere answers its waiters only: a
    // copy kept here would be stale the next time this node owns the key.
    if (Holds(outcome.key)) {
      (void)store_.SetIfNewer(outcome.key, value->view(), TtlMs(ttl), outcome.version);
    }
  }
  // A loaded value has no flags, and its cas is the version it is stored with.
  const EntryMeta meta{0, outcome.version, TtlMs(ttl)};
  for (const Waiter& w : outcome.waiters) jobs_.Fill(w.job, w.slot, value, meta);
}

bool Service::Overtaken(const std::string& key, uint64_t version) {
  if (tombstones_.Buries(key, version)) return true;
  std::optional<uint64_t> held = store_.VersionOf(key);
  return held && *held >= version;
}

bool Service::Holds(const std::string& key) const {
  for (const std::string* holder : gossiper_.ring()->Holders(key)) {
    if (*holder == id_) return true;
  }
  return false;
}

bool Service::HotCopyFresh(const std::string& owner) const {
  const MemberEntry* e = gossiper_.membership().Find(owner);
  return e != nullptr && clock_->NowMs() - e->last_direct_ms < lease_ms_;
}

void Service::CheckRing() {
  if (gossiper_.membership().deaths_refuted() != deaths_seen_) {
    deaths_seen_ = gossiper_.membership().deaths_refuted();
    if (options_.handoff_ms > 0) verify_until_ms_ = clock_->NowMs() + options_.handoff_ms;
  }
  const std::shared_ptr<const Ring>& ring = gossiper_.ring();
  if (ring == ring_seen_) return;
  const bool first = ring_seen_ == nullptr;
  prev_ring_ = std::move(ring_seen_);
  ring_seen_ = ring;
  if (!first) {
    // A hot copy's lease ends with the ring it was taken under, and so does
    // that of an answer still on its way.
    DropHotCopies();
    forwarder_.MarkInvalidated(nullptr);
  }
  if (options_.handoff_ms > 0) {
    handoff_.OnRing(ring);
    if (!first) warm_until_ms_ = clock_->NowMs() + options_.handoff_ms;
  }
  std::vector<MemberInfo> others;
  for (const MemberInfo& m : ring->members()) {
    if (m.id != id_) others.push_back(m);
  }
  others_ = Ring::Build(std::move(others), {ring->vnodes(), ring->replicas(), ring->epoch()});
}

void Service::OnTimers(int64_t now) {
  gossiper_.FlushInvalidations();
  for (Forward& fwd : forwarder_.Expire(now)) {
    OnForwardFailed(
        fwd, Status::Error(Code::kUnavailable, "owner " + fwd.target + " did not answer in time"));
  }
  if (loads_.enabled()) {
    for (const LoadOutcome& outcome : loads_.Expire(now)) FinishLoad(outcome);
  }
  if (!leaving_) SendJoin(now);
  if (gossiper_.OnTimer(now)) Sweep();
  CheckRing();
  StepHandOff();
}

void Service::Sweep() {
  (void)store_.SweepExpired(256);
  if (hot_) (void)hot_->SweepExpired(256);
}

int64_t Service::NextWakeMs(int64_t now) const {
  int64_t next =
      std::min({gossiper_.NextWakeMs(), forwarder_.NextDeadline(), loads_.NextDeadline()});
  if (handoff_.active()) next = now;  // one step per poll round until the pass is done
  return std::clamp(next, now, now + options_.heartbeat_ms);
}

}  // namespace meshcache::node
