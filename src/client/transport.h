// Transport: how the client engine reaches nodes. ZmqTransport is the real
// one (one DEALER per node); tests drive the engine through a fake.
//
// A node is named by its service endpoint. Bodies are whole protocol bodies;
// framing ([empty][body]) is the transport's business.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace meshcache::client {

struct TransportEvents {
  // (node, reply body) in arrival order.
  std::vector<std::pair<std::string, std::string>> replies;
  // Nodes that could not take a request within the connect timeout, with the
  // wire ids of the requests that were never sent to them (now discarded).
  std::vector<std::pair<std::string, std::vector<uint64_t>>> stalled;
  // Nodes whose connection broke. Requests sent to them before the break may
  // or may not have arrived, and their replies are lost; requests still
  // queued for them are reported in `stalled` in the same batch.
  std::vector<std::string> disconnected;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Sends the body to the node, or queues it until the node is connected.
  // Never blocks. False when the node can never be reached (a malformed
  // endpoint); nothing is queued then.
  virtual bool Send(const std::string& node, uint64_t wire_id, std::string body) = 0;
  // Discards the request if it is still queued (it never reaches the node).
  virtual void Cancel(const std::string& node, uint64_t wire_id) = 0;
  // Waits up to timeout_ms (0: not at all) for replies or stalls, sends what
  // became sendable, and appends what happened to *events.
  virtual void Wait(int64_t timeout_ms, TransportEvents* events) = 0;
  // Closes the connections to nodes outside `keep` that have nothing queued.
  virtual void Retain(const std::set<std::string>& keep) = 0;
  // The CURVE public key each node serves with, from the ring (nodes that
  // hold key pairs of their own); a node absent here is reached with the
  // configured server key. A transport without CURVE ignores it.
  virtual void SetServerKeys(const std::map<std::string, std::string>& keys) { (void)keys; }
};

}  // namespace meshcache::client
