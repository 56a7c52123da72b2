// The service's own counters: one plain struct, written only by the I/O
// thread. The parts count their own (ForwarderStats, GossipStats,
// LoadStats); `stats` replies carry all of them (docs/protocol.md lists the
// names).
#pragma once

#include <cstdint>

#include "util/histogram.h"

namespace meshcache::node {

struct Counters {
  uint64_t gets = 0;    // get requests received, plus one per key of an mget
  uint64_t hits = 0;    // lookups answered by this node's store or hot copies
  uint64_t misses = 0;  // lookups this node's store could not answer
  uint64_t sets = 0;
  uint64_t dels = 0;
  uint64_t bad_requests = 0;     // malformed frames or bodies (answered or dropped)
  uint64_t client_peer_ops = 0;  // of those: peer ops from a CURVE client key
  uint64_t bad_replies = 0;      // peer messages that are not a reply, dropped
  uint64_t overloaded = 0;       // requests shed with `overloaded`
  uint64_t unroutable = 0;       // replies the ROUTER could not deliver
  uint64_t hot_hits = 0;
  uint64_t hot_invalidations = 0;  // hot copies dropped by owners' invalidations
  uint64_t replica_writes = 0;     // writes received as a replica
  uint64_t joins_served = 0;
  uint64_t handoff_received = 0;  // handed-off entries taken (newer than what was here)
  uint64_t stale_loads = 0;       // loads a newer write overtook: not stored
  uint64_t versions_refused = 0;  // writes and entries stamped implausibly far ahead
  uint64_t curve_refused = 0;     // connections the ZAP handler refused (key not listed)
  // gets and mgets answered by this node: from the request to the reply
  // (a forward's or a load's wait included).
  LatencyHistogram get_us;
};

}  // namespace meshcache::node
