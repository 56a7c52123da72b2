// What a node tells about itself: stats, the ring, and the table a joining
// node gets.
#include "node/service.h"
#include "protocol/codec.h"
#include "util/version.h"

namespace meshcache::node {

void Service::HandleJoin(net::Frames& envelope, const protocol::Request& req, uint64_t reply_id) {
  ++counters_.joins_served;
  Reply(envelope, protocol::EncodeMembers(reply_id, gossiper_.OnJoinRequest(req.member)));
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

std::string Service::StatsBody(uint64_t id) const {
  const StoreStats s = store_.Stats();
  const Counters& c = counters_;
  const ForwarderStats& f = forwarder_.stats();
  const GossipStats& g = gossiper_.stats();
  const LoadStats& l = loads_.stats();
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
      {"forwards", i(f.forwards)},
      {"loads", i(l.loads)},
      {"load_errors", i(l.load_errors)},
      {"load_timeouts", i(l.load_timeouts)},
      {"late_loads", i(l.late_loads)},
      {"late_replies", i(f.late_replies + c.bad_replies)},
      {"forward_timeouts", i(f.forward_timeouts)},
      {"bad_requests", i(c.bad_requests)},
      {"overloaded", i(c.overloaded)},
      {"unroutable", i(c.unroutable)},
      {"hot_hits", i(c.hot_hits)},
      {"hot_items", i(hot_ ? hot_->Stats().items : 0)},
      {"hot_invalidations", i(c.hot_invalidations)},
      {"replica_writes", i(c.replica_writes)},
      {"gossip_received", i(g.received)},
      {"gossip_bad", i(g.bad)},
      {"gossip_gaps", i(g.gaps)},
      {"joins_served", i(c.joins_served)},
      {"pending_requests", i(jobs_.size())},
      {"loads_in_flight", i(loads_.in_flight())},
      {"peers_alive", i(gossiper_.membership().AlivePeers())},
      {"ring_epoch", i(gossiper_.ring()->epoch())},
      {"uptime_s", i(static_cast<uint64_t>((clock_->NowMs() - started_ms_) / 1000))},
  };
  return protocol::EncodeStats(id, list);
}

}  // namespace meshcache::node
