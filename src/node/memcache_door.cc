// The door's sockets: accepting, reading, parsing into requests, writing.
// memcache_door_replies.cc maps commands onto native requests and formats
// the native replies as memcached's.
#include "node/memcache_door.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "node/memcache_door_internal.h"
#include "protocol/codec.h"
#include "util/version.h"

namespace meshcache::node {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
// Bytes read from one connection per poll round, so one busy client cannot
// starve the others.
constexpr size_t kReadBudget = 1024 * 1024;

void PutBig(char* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

uint64_t GetBig(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

bool WouldBlock(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    Reset();
    fd_ = other.Release();
  }
  return *this;
}

int UniqueFd::Release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

void UniqueFd::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<UniqueFd> ListenTcp(const std::string& host, uint16_t port) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  const std::string where = host + ":" + std::to_string(port);
  if (host == "*" || host == "0.0.0.0" || inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    if (host == "*") v4->sin_addr.s_addr = htonl(INADDR_ANY);
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
  } else {
    return Status::Error(Code::kInvalidArgument,
                         "memcache bind address " + host + " is not an IP address");
  }
  UniqueFd fd(::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Status::Error(Code::kInternal, "socket: " + std::string(strerror(errno)));
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(fd.get(), 128) != 0) {
    return Status::Error(Code::kInvalidArgument,
                         "memcache port " + where + ": " + std::string(strerror(errno)));
  }
  return fd;
}

DoorOptions MakeDoorOptions(const NodeOptions& o) {
  DoorOptions d;
  d.limits.max_key = std::min<size_t>(d.limits.max_key, o.max_key_bytes);
  d.limits.max_value = o.max_value_bytes;
  d.max_connections = o.memcache_max_conns;
  // memcached's clients read the version as memcached's own, and some
  // (libmemcached) refuse a major version of 0: the door answers as the
  // memcached whose protocol it speaks, with meshcache's version after it.
  d.version = std::string("1.6.18-meshcache-") + kVersion;
  return d;
}

bool IsDoorId(const zmq::message_t& frame) {
  const auto* p = static_cast<const char*>(frame.data());
  return frame.size() == kDoorIdBytes && p[0] == '\0' && p[1] == 'M';
}

MemcacheDoor::MemcacheDoor(UniqueFd listener, DoorOptions options, Submit submit, ReadNow read_now,
                           const Clock* clock)
    : listener_(std::move(listener)),
      options_(std::move(options)),
      submit_(std::move(submit)),
      read_now_(std::move(read_now)),
      clock_(clock) {
  reply_limits_.max_key_bytes = options_.limits.max_key;
  reply_limits_.max_value_bytes = options_.limits.max_value;
  reply_limits_.max_mget_keys = options_.limits.max_keys;
  io_.resize(kReadChunk);
}

MemcacheDoor::~MemcacheDoor() = default;

void MemcacheDoor::AddPollItems(std::vector<zmq::pollitem_t>& items, std::vector<char>& recheck) {
  polled_listener_ = listening_ && listener_;
  if (polled_listener_) {
    items.push_back({nullptr, listener_.get(), ZMQ_POLLIN, 0});
    recheck.push_back(0);
  }
  polled_.clear();
  for (const auto& [id, c] : conns_) {
    short events = 0;
    if (listening_ && CanTakeMore(*c)) events |= ZMQ_POLLIN;
    if (c->out.size() > c->sent) events |= ZMQ_POLLOUT;
    if (events == 0) continue;
    items.push_back({nullptr, c->fd.get(), events, 0});
    recheck.push_back(0);
    polled_.push_back(id);
  }
}

void MemcacheDoor::Dispatch(const zmq::pollitem_t* items) {
  if (polled_listener_) {
    if (items->revents != 0) Accept();
    ++items;
  }
  for (size_t i = 0; i < polled_.size(); ++i) {
    const short revents = items[i].revents;
    if (revents == 0) continue;
    auto it = conns_.find(polled_[i]);
    if (it == conns_.end()) continue;
    Conn& c = *it->second;
    if (revents & ZMQ_POLLERR) {
      Close(c.id);
      continue;
    }
    if ((revents & ZMQ_POLLOUT) && !Pump(c)) continue;
    if (revents & ZMQ_POLLIN) OnReadable(c);
  }
}

void MemcacheDoor::Accept() {
  for (;;) {
    UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;  // EAGAIN, or an error the next round sees again
    if (conns_.size() >= options_.max_connections) {
      ++stats_.refused;
      continue;  // closed: memcached's answer past its -c too
    }
    const int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_unique<Conn>();
    c->id = next_conn_++;
    c->fd = std::move(fd);
    conns_.emplace(c->id, std::move(c));
    ++stats_.connections;
    stats_.curr_connections = conns_.size();
  }
}

void MemcacheDoor::OnReadable(Conn& c) {
  const uint64_t id = c.id;
  size_t budget = kReadBudget;
  while (budget > 0 && CanTakeMore(c)) {
    const size_t held = c.in.size() - c.pos;
    const size_t room =
        options_.limits.max_request() - std::min(held, options_.limits.max_request());
    if (room == 0) {
      // The parser never waits for more than max_request(): a broken promise.
      ++stats_.protocol_errors;
      Close(id);
      return;
    }
    const ssize_t n = ::recv(c.fd.get(), io_.data(), std::min({room, io_.size(), budget}), 0);
    if (n < 0 && WouldBlock(errno)) break;
    if (n <= 0) {
      c.read_eof = true;  // or a reset: either way nothing more comes
      c.closing = true;
      break;
    }
    budget -= static_cast<size_t>(n);
    size_t skip = std::min(c.swallow, static_cast<size_t>(n));
    c.swallow -= skip;
    c.in.append(io_.data() + skip, static_cast<size_t>(n) - skip);
    Handle(c);
  }
  (void)Pump(c);
}

bool MemcacheDoor::CanTakeMore(const Conn& c) const {
  return !c.closing && c.queue.size() < kMaxPendingReplies &&
         c.out.size() - c.sent < options_.max_output_bytes;
}

bool MemcacheDoor::Pump(Conn& c) {
  for (;;) {
    if (!FlushConn(c)) return false;
    const size_t left = c.in.size() - c.pos;
    if (left == 0 || !CanTakeMore(c)) return true;
    Handle(c);
    if (c.in.size() - c.pos == left) return true;  // what is left needs more bytes
  }
}

void MemcacheDoor::Handle(Conn& c) {
  while (c.pos < c.in.size() && CanTakeMore(c)) {
    const std::string_view rest = c.Unparsed();
    memcache::ParseResult r = memcache::Parse(rest, options_.limits);
    if (r.kind == memcache::ParseResult::kNeedMore) break;
    if (r.kind == memcache::ParseResult::kError) {
      ++stats_.protocol_errors;
      Slot& slot = NewSlot(c);
      slot.ready = true;
      slot.text = std::move(r.reply);
      slot.close_after = r.close;
      c.closing = r.close;
      c.pos += r.consumed;
      const size_t drop = std::min(r.swallow, c.in.size() - c.pos);
      c.pos += drop;
      c.swallow = r.swallow - drop;
      continue;
    }
    ++stats_.commands;
    c.line_base = rest.data();
    HandleCommand(c, r.command);
    c.pos += r.consumed;
  }
  if (c.pos == c.in.size()) {
    c.in.clear();
    c.pos = 0;
  } else if (c.pos > 0 && c.pos >= c.in.size() / 2) {
    c.in.erase(0, c.pos);
    c.pos = 0;
  }
}

MemcacheDoor::Slot& MemcacheDoor::NewSlot(Conn& c) {
  Slot& slot = c.queue.emplace_back();
  slot.seq = c.next_seq++;
  return slot;
}

void MemcacheDoor::SubmitNative(Conn& c, Slot& slot, protocol::Request req) {
  slot.native = req.op;
  req.id = slot.seq;
  net::Frames frames;
  std::string id(kDoorIdBytes, '\0');
  id[1] = 'M';
  PutBig(id.data() + 2, c.id);
  PutBig(id.data() + 10, slot.seq);
  frames.push_back(net::Frame(id));
  frames.push_back(zmq::message_t());
  frames.push_back(net::Frame(protocol::EncodeRequest(req)));
  submit_(frames);  // may answer at once, through OnReply
}

void MemcacheDoor::OnReply(const zmq::message_t& id, const std::string& body) {
  const auto* p = static_cast<const char*>(id.data());
  auto it = conns_.find(GetBig(p + 2));
  if (it == conns_.end()) return;  // the client left before its answer
  Conn& c = *it->second;
  const uint64_t seq = GetBig(p + 10);
  if (c.queue.empty() || seq < c.queue.front().seq) return;
  const uint64_t index = seq - c.queue.front().seq;
  if (index >= c.queue.size()) return;
  Slot& slot = c.queue[index];
  if (slot.ready) return;
  FormatReply(slot, body, &slot.text);
  slot.ready = true;
  if (!c.dirty) {
    c.dirty = true;
    dirty_.push_back(c.id);
  }
}

void MemcacheDoor::Flush() {
  CloseStuck();
  std::vector<uint64_t> dirty;
  dirty.swap(dirty_);
  for (uint64_t id : dirty) {
    auto it = conns_.find(id);
    if (it == conns_.end()) continue;
    Conn& c = *it->second;
    c.dirty = false;
    (void)Pump(c);
  }
}

void MemcacheDoor::CloseStuck() {
  const int64_t now = clock_->NowMs();
  std::vector<uint64_t> stuck;
  for (const auto& [id, c] : conns_) {
    if (c->stuck_since_ms >= 0 && now - c->stuck_since_ms >= kStuckMs) stuck.push_back(id);
  }
  for (uint64_t id : stuck) {
    ++stats_.overflow_closed;
    Close(id);
  }
}

bool MemcacheDoor::FlushConn(Conn& c) {
  while (!c.queue.empty() && c.queue.front().ready) {
    Slot& slot = c.queue.front();
    c.out.append(slot.text);
    const bool close = slot.close_after;
    c.queue.pop_front();
    if (close) {
      c.queue.clear();  // nothing after a close is answered
      break;
    }
  }
  while (c.sent < c.out.size()) {
    const ssize_t n = ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && WouldBlock(errno)) break;
    if (n <= 0) {
      Close(c.id);
      return false;
    }
    c.sent += static_cast<size_t>(n);
  }
  // Still max_output_bytes behind after the socket took what it could:
  // reading stops at the bound, so the output holds little more than it;
  // Flush cuts the client off if it stays so for kStuckMs.
  if (c.out.size() - c.sent < options_.max_output_bytes) {
    c.stuck_since_ms = -1;
  } else if (c.stuck_since_ms < 0) {
    c.stuck_since_ms = clock_->NowMs();
  }
  if (c.sent == c.out.size()) {
    c.out.clear();
    c.sent = 0;
  } else if (c.sent >= c.out.size() / 2) {
    c.out.erase(0, c.sent);
    c.sent = 0;
  }
  if (c.closing && c.queue.empty() && c.out.empty()) {
    Close(c.id);
    return false;
  }
  return true;
}

void MemcacheDoor::Close(uint64_t id) {
  conns_.erase(id);
  stats_.curr_connections = conns_.size();
}

void MemcacheDoor::StopListening() {
  listening_ = false;
  listener_.Reset();
  for (auto it = conns_.begin(); it != conns_.end();) {
    Conn& c = *it->second;
    c.closing = true;  // read no more; write what is pending
    ++it;
    if (c.queue.empty() && c.out.size() == c.sent) Close(c.id);
  }
}

void MemcacheDoor::AppendNativeStats(protocol::StatList& list) const {
  auto add = [&list](const char* name, uint64_t v) {
    list.emplace_back(name, protocol::StatValue(static_cast<int64_t>(v)));
  };
  add("memcache_connections", stats_.connections);
  add("memcache_curr_connections", stats_.curr_connections);
  add("memcache_refused", stats_.refused);
  add("memcache_overflow_closed", stats_.overflow_closed);
  add("memcache_protocol_errors", stats_.protocol_errors);
  add("memcache_commands", stats_.commands);
}

bool MemcacheDoor::Drained() const {
  for (const auto& [id, c] : conns_) {
    if (!c->queue.empty() || c->out.size() > c->sent) return false;
  }
  return true;
}

}  // namespace meshcache::node
