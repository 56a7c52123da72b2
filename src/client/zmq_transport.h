// ZmqTransport: the client's Transport on ZeroMQ, one DEALER socket per node.
//
// Sockets set ZMQ_IMMEDIATE, so nothing is queued inside libzmq for a node
// that is not connected: a request that cannot be sent at once waits in the
// node's net::Link, where Cancel can still take it back.
// When a link's queue has made no progress for connect_timeout_ms its requests
// are reported stalled and discarded, never sent late. A socket monitor
// reports a connection that breaks (a node killed), so the engine need not
// wait for the deadline of what was in flight there. LINGER is 0 and
// MAXMSGSIZE bounds every reply (max_reply_bytes), per ../shared/ZEROMQ.md.
//
// Owns its own context (one I/O thread). Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "client/transport.h"
#include "meshcache/curve.hpp"
#include "net/link.h"
#include "util/clock.h"

namespace meshcache::client {

class ZmqTransport final : public Transport {
 public:
  // With CURVE: the client's key pair and the nodes' (the mesh's) public key.
  struct Curve {
    CurveKeyPair own;
    std::string server_key;
  };
  ZmqTransport(const Clock* clock, int64_t connect_timeout_ms, size_t max_reply_bytes,
               Curve curve = {});
  ~ZmqTransport() override;

  bool Send(const std::string& node, uint64_t wire_id, std::string body) override;
  void Cancel(const std::string& node, uint64_t wire_id) override;
  void Wait(int64_t timeout_ms, TransportEvents* events) override;
  void Retain(const std::set<std::string>& keep) override;
  // A connection made with another key than a node's new one is closed
  // (what it still held is lost: the node restarted with a new pair).
  void SetServerKeys(const std::map<std::string, std::string>& keys) override;

 private:
  struct Conn {
    net::Link link;
    zmq::socket_t monitor;   // PAIR receiving the socket's disconnect events
    int64_t stuck_since_ms;  // when the link's queue last made progress
    std::string server_key;  // the key it was made with (CURVE)
  };

  Conn* Open(const std::string& node);  // nullptr for an endpoint zmq refuses
  const std::string& ServerKey(const std::string& node) const;
  void Drain(const std::string& node, Conn& conn, TransportEvents* events);
  // True when the monitor reported a broken connection.
  bool Disconnected(Conn& conn);
  void Stall(const std::string& node, Conn& conn, TransportEvents* events);
  void ReportStalls(TransportEvents* events);

  const Clock* clock_;
  int64_t connect_timeout_ms_;
  size_t max_reply_bytes_;
  Curve curve_;
  std::map<std::string, std::string> server_keys_;  // by node, from the ring
  zmq::context_t ctx_;
  uint64_t monitors_ = 0;              // names each monitor's inproc endpoint
  std::map<std::string, Conn> conns_;  // declared after ctx_: closed before it
};

}  // namespace meshcache::client
