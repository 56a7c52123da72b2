#include "net/poller.h"

#include <algorithm>
#include <cerrno>

namespace meshcache::net {
namespace {

int FdOf(void* socket) {
  zmq::fd_t fd = -1;
  size_t size = sizeof(fd);
  if (zmq_getsockopt(socket, ZMQ_FD, &fd, &size) != 0) throw zmq::error_t();
  return fd;
}

short EventsOf(void* socket) {
  uint32_t events = 0;
  size_t size = sizeof(events);
  if (zmq_getsockopt(socket, ZMQ_EVENTS, &events, &size) != 0) throw zmq::error_t();
  return static_cast<short>(events);
}

// A plain fd's ZMQ_POLLIN / ZMQ_POLLOUT as poll(2)'s events, and back. A
// hang-up or an error is reported as ZMQ_POLLERR (and as readable, so a
// reader finds the end of its stream).
short PollEvents(short zmq_events) {
  short events = 0;
  if (zmq_events & ZMQ_POLLIN) events |= POLLIN;
  if (zmq_events & ZMQ_POLLOUT) events |= POLLOUT;
  return events;
}

short ZmqEvents(short revents, short asked) {
  short events = 0;
  if (revents & (POLLIN | POLLHUP | POLLERR)) events |= ZMQ_POLLIN;
  if (revents & POLLOUT) events |= ZMQ_POLLOUT;
  events &= asked;
  if (revents & (POLLERR | POLLNVAL)) events |= ZMQ_POLLERR;
  return events;
}

}  // namespace

int Poller::Poll(std::vector<zmq::pollitem_t>& items, const std::vector<char>& recheck,
                 int64_t timeout_ms) {
  fds_.resize(items.size());
  bool marked = false;
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].socket == nullptr) {
      fds_[i] = pollfd{items[i].fd, PollEvents(items[i].events), 0};
      continue;
    }
    fds_[i] = pollfd{FdOf(items[i].socket), POLLIN, 0};
    marked = marked || recheck[i];
  }
  const int wait = marked ? 0 : static_cast<int>(std::clamp<int64_t>(timeout_ms, 0, INT32_MAX));
  const int fired = ::poll(fds_.data(), fds_.size(), wait);
  if (fired < 0 && errno != EINTR) throw zmq::error_t();
  // A wait that ran out (or a signal) asks every socket.
  const bool all = fired <= 0 && !marked;
  int ready = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    items[i].revents = 0;
    if (items[i].socket == nullptr) {
      items[i].revents = ZmqEvents(fds_[i].revents, items[i].events);
      ready += items[i].revents != 0;
      continue;
    }
    if (!all && !recheck[i] && fds_[i].revents == 0) continue;
    items[i].revents = static_cast<short>(EventsOf(items[i].socket) & items[i].events);
    ready += items[i].revents != 0;
  }
  return ready;
}

}  // namespace meshcache::net
