// What a node tells about itself: stats, the ring, and the table a joining
// node gets.
#include "node/service.h"
#include "protocol/codec.h"
#include "util/version.h"

namespace meshcache::node {

void Service::HandleJoin(net::Frames& envelope, const protocol::Request& req, uint64_t reply_id) {
  if (req.member.id == id_ && req.members.empty()) {
    // This node's own join came back to it: its seed's name or address
    // leads here (a Service name that lists this pod, its own IP). Taken
    // as an answer, it would count itself joined and stay a mesh of one;
    // refused, the joining side tries its next seed.
    ReplyError(envelope, reply_id, Code::kBadRequest, kJoinedItself);
    return;
  }
  ++counters_.joins_served;
  Reply(envelope,
        protocol::EncodeMembers(reply_id, gossiper_.OnJoinRequest(req.member, req.members)));
}

void Service::HandleProbe(net::Frames& envelope, const protocol::Request& req, uint64_t reply_id) {
  const MemberInfo self = gossiper_.OnProbe(req.member);
  if (req.target.empty() || req.target == id_) {
    Reply(envelope, protocol::EncodeMembers(reply_id, {self}));
    return;
  }
  const MemberEntry* target = gossiper_.membership().Find(req.target);
  if (target == nullptr) {
    ReplyError(envelope, reply_id, Code::kUnavailable, "no member " + req.target + " here");
    return;
  }
  Forward fwd;
  fwd.inner.op = Op::kProbe;
  fwd.inner.member = self;
  fwd.relay_to = std::move(envelope);
  fwd.relay_id = reply_id;
  const std::string endpoint = target->info.service;
  if (!forwarder_.Send(endpoint, fwd, fwd.inner)) {
    ReplyError(*fwd.relay_to, reply_id, Code::kUnavailable, req.target + " cannot be reached");
  }
}

void Service::OnProbed(Forward& fwd, const protocol::Reply* reply) {
  const bool answered = reply != nullptr && reply->status == protocol::ReplyStatus::kOk;
  // What was probed: the member asked (its endpoint is its id), or the one
  // the asked member probed for this node.
  const std::string& target = fwd.inner.target.empty() ? fwd.target : fwd.inner.target;
  if (answered) gossiper_.OnProbeAnswer(target, reply->members);
  if (!fwd.relay_to) return;
  if (answered) {
    Reply(*fwd.relay_to, protocol::EncodeMembers(fwd.relay_id, reply->members));
  } else {
    ReplyError(*fwd.relay_to, fwd.relay_id, Code::kUnavailable, "no answer from " + fwd.target);
  }
}

void Service::HandlePeek(net::Frames& envelope, const protocol::Request& req, uint64_t reply_id) {
  int64_t ttl_left = -1;
  uint64_t version = 0;
  uint32_t flags = 0;
  std::optional<Value> v = store_.Get(req.keys[0], &ttl_left, &version, &flags);
  Reply(envelope, v ? protocol::EncodeValue(reply_id, v->view(), static_cast<uint64_t>(ttl_left),
                                            version, flags)
                    : protocol::EncodeMiss(reply_id));
}

std::string Service::RingBody(uint64_t id) const {
  const Ring& ring = *gossiper_.ring();
  protocol::RingInfo info;
  info.epoch = ring.epoch();
  info.vnodes = ring.vnodes();
  info.replicas = ring.replicas();
  info.nodes = ring.members();
  return protocol::EncodeRing(id, info);
}

namespace {

protocol::StatValue Int(uint64_t v) { return protocol::StatValue(static_cast<int64_t>(v)); }

// A histogram as stats: <name>_le_<bound> (how many took at most bound
// microseconds), <name>_count and <name>_sum (microseconds).
void AppendHistogram(protocol::StatList& list, const std::string& name, const LatencyHistogram& h) {
  for (size_t i = 0; i < LatencyHistogram::kBoundsUs.size(); ++i) {
    list.emplace_back(name + "_le_" + std::to_string(LatencyHistogram::kBoundsUs[i]),
                      Int(h.AtMost(i)));
  }
  list.emplace_back(name + "_count", Int(h.count()));
  list.emplace_back(name + "_sum", Int(h.sum_us()));
}

}  // namespace

std::string Service::StatsBody(uint64_t id) const {
  const StoreStats s = store_.Stats();
  const Counters& c = counters_;
  protocol::StatList list = {
      {"node", protocol::StatValue(id_)},
      {"version", protocol::StatValue(std::string(kVersion))},
      {"gets", Int(c.gets)},
      {"hits", Int(c.hits)},
      {"misses", Int(c.misses)},
      {"sets", Int(c.sets)},
      {"dels", Int(c.dels)},
      {"items", Int(s.items)},
      {"bytes", Int(s.bytes)},
      {"limit_bytes", Int(s.limit_bytes)},
      {"evictions", Int(s.evictions)},
      {"expired", Int(s.expired)},
  };
  AppendPartStats(list);
  return protocol::EncodeStats(id, list);
}

// In the order docs/protocol.md lists them, after the store's.
void Service::AppendPartStats(protocol::StatList& list) const {
  const Counters& c = counters_;
  const ForwarderStats& f = forwarder_.stats();
  const GossipStats& g = gossiper_.stats();
  const LoadStats& l = loads_.stats();
  list.insert(list.end(),
              {
                  {"forwards", Int(f.forwards)},
                  {"peer_requests", Int(f.peer_requests)},
                  {"loads", Int(l.loads)},
                  {"load_errors", Int(l.load_errors)},
                  {"load_timeouts", Int(l.load_timeouts)},
                  {"late_loads", Int(l.late_loads)},
                  {"late_replies", Int(f.late_replies + c.bad_replies)},
                  {"forward_timeouts", Int(f.forward_timeouts)},
                  {"bad_requests", Int(c.bad_requests)},
                  {"client_peer_ops", Int(c.client_peer_ops)},
                  {"curve_refused", Int(c.curve_refused)},
                  {"overloaded", Int(c.overloaded)},
                  {"unroutable", Int(c.unroutable)},
                  {"hot_hits", Int(c.hot_hits)},
                  {"hot_items", Int(hot_ ? hot_->Stats().items : 0)},
                  {"hot_invalidations", Int(c.hot_invalidations)},
                  {"replica_writes", Int(c.replica_writes)},
                  {"replica_writes_dropped", Int(f.replica_writes_dropped)},
                  {"gossip_received", Int(g.received)},
                  {"gossip_received_bytes", Int(g.received_bytes)},
                  {"gossip_sent", Int(g.sent)},
                  {"gossip_sent_bytes", Int(g.sent_bytes)},
                  {"gossip_bad", Int(g.bad)},
                  {"gossip_gaps", Int(g.gaps)},
                  {"members_refused", Int(gossiper_.membership().refused())},
                  {"probes", Int(g.probes)},
                  {"ping_reqs", Int(g.ping_reqs)},
                  {"probe_answers", Int(g.probe_answers)},
                  {"joins_served", Int(c.joins_served)},
                  {"handoff_sent", Int(handoff_.stats().entries_sent)},
                  {"handoff_received", Int(c.handoff_received)},
                  {"handoff_dropped", Int(handoff_.stats().entries_dropped)},
                  {"handoff_deletes", Int(handoff_.stats().deletes_sent)},
                  {"handoff_passes", Int(handoff_.stats().passes)},
                  {"stale_loads", Int(c.stale_loads)},
                  {"versions_refused", Int(c.versions_refused)},
                  {"tombstones", Int(tombstones_.size())},
                  {"pending_requests", Int(jobs_.size())},
                  {"loads_in_flight", Int(loads_.in_flight())},
                  {"peers_alive", Int(gossiper_.membership().AlivePeers())},
                  {"ring_epoch", Int(gossiper_.ring()->epoch())},
                  {"uptime_s", Int(static_cast<uint64_t>((clock_->NowMs() - started_ms_) / 1000))},
              });
  AppendHistogram(list, "get_us", c.get_us);
  AppendHistogram(list, "forward_us", f.forward_us);
  AppendHistogram(list, "load_us", l.load_us);
  if (extra_stats_) extra_stats_(list);
}

}  // namespace meshcache::node
