// Poller: zmq::poll's answer for an event loop that knows which sockets it
// has touched, with fewer system calls.
//
// zmq::poll asks every socket for ZMQ_EVENTS after its poll(2), and each
// such question is a poll(2) (and a getpid) inside libzmq: six or more
// system calls a round for a node's five sockets, where the echo server
// that stands for ZeroMQ's limit makes one. ZeroMQ signals a socket's
// ZMQ_FD only when a command reaches the socket's mailbox, so this asks
// ZMQ_EVENTS only of the sockets whose fd fired and of those the caller
// marks for a recheck, after one poll(2) over every fd.
//
// The caller must mark a socket for a recheck when anything other than a
// receive that came back empty happened to it since it was last asked: a
// send, a connect or disconnect (each may take the command that would have
// woken the fd), or a receive loop that stopped with messages left (they
// arrive without commands). Then nothing waits: a marked socket makes the
// poll return at once. As a net under any socket the caller forgot, every
// socket is asked when a wait runs out.
//
// Not thread-safe: one per event loop.
#pragma once

#include <poll.h>

#include <cstdint>
#include <vector>
#include <zmq.hpp>

namespace meshcache::net {

class Poller {
 public:
  // Sets items[i].revents as zmq::poll would (ZMQ_POLLIN, ZMQ_POLLOUT, as
  // asked in items[i].events) and returns how many items have any. Waits
  // up to timeout_ms (0: not at all) unless a recheck[i] is set.
  // An item whose socket is null is a plain fd (a TCP connection): poll(2)
  // alone answers it, its recheck is ignored, and a hang-up or error sets
  // ZMQ_POLLERR (and ZMQ_POLLIN when asked, so a reader sees the end).
  // REQUIRES: recheck.size() == items.size().
  // Throws zmq::error_t as zmq::poll does.
  int Poll(std::vector<zmq::pollitem_t>& items, const std::vector<char>& recheck,
           int64_t timeout_ms);

 private:
  std::vector<pollfd> fds_;  // its capacity reused from round to round
};

}  // namespace meshcache::net
