// Engine: the node's I/O thread. It owns every socket of a node and runs one
// poll loop that hands each message to the Service (service.h), which holds
// all of the node's logic and state:
//
//   ROUTER  service: client and peer requests in, replies out
//   DEALER  one per peer: forwards and joins out, replies in   (ZmqPeers)
//   PUB/SUB gossip: heartbeats and invalidations              (ZmqPeers)
//   PULL    wake-ups from the load workers                    (LoadPool)
//   PAIR    control: the stop command from Node::Stop
//   REP     ZAP: who may connect, in which role (with CURVE only; net/curve.h)
//   TCP     the memcached door, with --memcache-port (memcache_door.h)
//
// Nothing here blocks: the poll timeout is the Service's next timer.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <zmq.hpp>

#include "meshcache/loader.hpp"
#include "meshcache/options.hpp"
#include "net/curve.h"
#include "net/poller.h"
#include "net/sockets.h"
#include "node/load_pool.h"
#include "node/memcache_door.h"
#include "node/service.h"
#include "node/zmq_peers.h"
#include "util/clock.h"

namespace meshcache::node {

// Sockets bound by Node::Start on the caller's thread (so bind errors come
// back as a Status) and handed to the engine's thread.
struct BoundSockets {
  zmq::socket_t router;
  zmq::socket_t pub;
  zmq::socket_t wake;  // PULL for load workers
  zmq::socket_t ctrl;  // PAIR for the stop command
  std::string wake_endpoint;
  // With CURVE: the ZAP handler's REP (net::kZapEndpoint), bound before the
  // router and PUB, and the policy it answers by. Without: no socket.
  zmq::socket_t zap;
  std::optional<net::ZapPolicy> policy;
  net::CurveKeys curve;
  std::vector<std::string> peer_keys;  // the public keys peers may serve with
  // The memcached door's listening socket (ListenTcp); none when it is off.
  UniqueFd memcache;
};

class Engine {
 public:
  // self: this node's membership entry. loader may be empty (no loader).
  Engine(const NodeOptions& options, MemberInfo self, Loader loader, zmq::context_t& ctx,
         BoundSockets sockets, const Clock* clock);
  ~Engine();
  // Runs until a stop command has been received and in-flight work drained.
  void Run();

 private:
  void PollOnce();
  // Stopping may end: requests drained or out of time, and so the hand-off.
  bool Done(int64_t now) const;
  // Takes up to kBatch requests from the router to the service.
  void ReadRequests();
  void OnControl();
  void Log(LogLevel level, const std::string& msg) const;

  const NodeOptions options_;
  const std::string id_;
  const Clock* clock_;
  zmq::socket_t router_;
  zmq::socket_t wake_;
  zmq::socket_t ctrl_;
  zmq::socket_t zap_;
  std::optional<net::ZapPolicy> policy_;
  ZmqPeers peers_;
  const int64_t idle_link_ms_;       // a DEALER link unused this long closes
  std::unique_ptr<LoadPool> loads_;  // null without a loader
  Service service_;
  std::unique_ptr<MemcacheDoor> door_;  // null without --memcache-port
  bool stopping_ = false;
  int64_t drain_deadline_ms_ = 0;    // requests in flight: drain_ms after the stop
  int64_t handoff_deadline_ms_ = 0;  // a hand-off under way: the larger of the two
  net::Poller poller_;
  // What the poll round asks about, kept from round to round for their
  // capacity; recheck_ as net::Poller takes it.
  std::vector<zmq::pollitem_t> items_;
  std::vector<char> recheck_;
  net::Frames frames_;
  // The router was written to, or left with requests, since it was last
  // read until empty (net::Poller).
  bool router_recheck_ = true;
};

}  // namespace meshcache::node
