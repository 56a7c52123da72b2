// Link: a DEALER to one node with a queue of its own for the requests that
// could not leave yet. The DEALER sets ZMQ_IMMEDIATE (sockets.h), so libzmq
// queues nothing for a node that is not connected; a request waits here
// instead, where Cancel can still take it back once its deadline has passed,
// so nothing is ever delivered late. Whoever polls the socket calls Flush
// when it polls writable (events() asks for that while anything waits).
//
// Both the node (its peers) and the C++ client (its nodes) keep one Link per
// endpoint. Not thread-safe: the socket's thread owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>
#include <zmq.hpp>

namespace meshcache::net {

class Link {
 public:
  explicit Link(zmq::socket_t socket) : socket_(std::move(socket)) {}

  // Sends [empty][body] now, or queues it behind the requests already
  // waiting. True when it left now.
  bool Send(uint64_t id, std::string body);
  // Takes back a request that is still queued; true when it was.
  bool Cancel(uint64_t id);
  // Sends queued requests while the socket takes them; true when any left.
  bool Flush();
  // Empties the queue, unsent; returns the ids of what was in it.
  std::vector<uint64_t> Discard();

  bool queued() const { return !outbox_.empty(); }
  // What to poll the socket for: replies, and room while anything waits.
  short events() const { return queued() ? ZMQ_POLLIN | ZMQ_POLLOUT : ZMQ_POLLIN; }
  zmq::socket_t& socket() { return socket_; }

 private:
  zmq::socket_t socket_;
  std::deque<std::pair<uint64_t, std::string>> outbox_;  // (id, body)
};

}  // namespace meshcache::net
