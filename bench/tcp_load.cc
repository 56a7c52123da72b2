// redis and memcached: one non-blocking TCP socket per connection
// (TCP_NODELAY), requests written back to back, replies read in order (both
// servers answer a connection's requests in order) and parsed by
// text_codecs.cc.
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "load.h"
#include "text_codecs.h"

namespace meshbench {
namespace {

using namespace std::chrono_literals;

class Connection {
 public:
  Connection(Run& run, int conn, Tally* tally)
      : run_(run),
        config_(run.config()),
        conn_(conn),
        tally_(tally),
        codec_(CodecFor(config_.target)),
        generator_(config_, conn),
        ring_(static_cast<size_t>(std::max(config_.depth, config_.fill_depth))),
        in_(64 * 1024) {}
  ~Connection() {
    if (fd_ >= 0) ::close(fd_);
  }

  // Connects to HOST:PORT (a tcp:// prefix is allowed).
  bool Open() {
    std::string_view endpoint = config_.endpoint;
    if (endpoint.substr(0, 6) == "tcp://") endpoint.remove_prefix(6);
    const size_t colon = endpoint.rfind(':');
    if (colon == std::string_view::npos) return Fail("an endpoint that is not HOST:PORT");
    const std::string host(endpoint.substr(0, colon)), port(endpoint.substr(colon + 1));
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
      return Fail(std::string("resolve ") + host + ": " + ::gai_strerror(rc));
    }
    for (addrinfo* a = found; a != nullptr && fd_ < 0; a = a->ai_next) {
      fd_ = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
      if (fd_ >= 0 && ::connect(fd_, a->ai_addr, a->ai_addrlen) != 0) {
        ::close(fd_);
        fd_ = -1;
      }
    }
    const int connect_errno = errno;
    ::freeaddrinfo(found);
    if (fd_ < 0) return Fail("connect " + config_.endpoint + ": " + std::strerror(connect_errno));
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    return true;
  }

  bool Fill() {
    return Pump(static_cast<size_t>(config_.fill_depth), Clock::time_point::max(),
                [this](Request* r) { return generator_.NextFill(r); });
  }

  void Measure(const Window& window) {
    tally_->window = window;
    Pump(static_cast<size_t>(config_.depth), window.end,
         [this](Request* r) { return generator_.Next(r); });
  }

 private:
  bool Fail(std::string_view what) {
    ++tally_->errors;
    run_.Report(conn_, what);
    return false;
  }

  // Keeps up to `depth` requests from next() in flight until `until`, or
  // until next() has no more and every request is answered. False when the
  // connection broke (closed, unparsable bytes, a reply overdue). next() is
  // asked again after replies, which may give it more (a cache-aside set
  // after a miss).
  template <typename Next>
  bool Pump(size_t depth, Clock::time_point until, Next next) {
    for (;;) {
      bool more = true;
      while (count_ < depth) {
        Request& r = ring_[(head_ + count_) % ring_.size()];
        if (!(more = next(&r))) break;
        codec_.encode(r, config_.value_size, &out_);
        r.sent = Clock::now();
        ++count_;
      }
      if (!more && count_ == 0) return true;
      if (!Flush()) return false;
      const int got = Read();
      if (got < 0) return false;
      if (got == 0 && !Wait()) return false;
      const Clock::time_point now = Clock::now();
      if (got > 0 && !ParseReplies(now)) return false;
      if (now >= until) return true;
      if (count_ > 0 &&
          now - ring_[head_].sent > std::chrono::duration<double>(config_.timeout_s)) {
        tally_->errors += count_ - 1;
        return Fail(std::to_string(count_) + " requests without a reply within " +
                    Seconds(config_.timeout_s));
      }
    }
  }

  // Writes what the socket takes now.
  bool Flush() {
    while (out_pos_ < out_.size()) {
      const ssize_t n = ::send(fd_, out_.data() + out_pos_, out_.size() - out_pos_, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
      if (n < 0) return Fail(std::string("send: ") + std::strerror(errno));
      out_pos_ += static_cast<size_t>(n);
    }
    if (out_pos_ == out_.size()) {
      out_.clear();
      out_pos_ = 0;
    }
    return true;
  }

  // Reads what has arrived: >0 bytes read, 0 nothing yet, <0 the connection ended.
  int Read() {
    if (in_len_ == in_.size()) {
      if (in_pos_ > 0) {
        std::memmove(in_.data(), in_.data() + in_pos_, in_len_ - in_pos_);
        in_len_ -= in_pos_;
        in_pos_ = 0;
      } else {
        in_.resize(2 * in_.size());
      }
    }
    const ssize_t n = ::recv(fd_, in_.data() + in_len_, in_.size() - in_len_, 0);
    if (n > 0) {
      in_len_ += static_cast<size_t>(n);
      return 1;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    Fail(n == 0 ? std::string("the server closed the connection")
                : std::string("recv: ") + std::strerror(errno));
    return -1;
  }

  // Waits up to 100 ms until the socket is readable, or writable while
  // requests wait to be written.
  bool Wait() {
    pollfd p{fd_, static_cast<short>(POLLIN | (out_pos_ < out_.size() ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, 100) < 0 && errno != EINTR) {
      return Fail(std::string("poll: ") + std::strerror(errno));
    }
    return true;
  }

  bool ParseReplies(Clock::time_point now) {
    while (count_ > 0) {
      const Request& r = ring_[head_];
      Parsed p = codec_.parse(std::string_view(in_.data() + in_pos_, in_len_ - in_pos_), r,
                              config_.value_size);
      if (p.broken) return Fail(p.problem);
      if (p.consumed == 0) break;
      in_pos_ += p.consumed;
      if (p.errors > 0) {
        tally_->errors += p.errors - 1;
        Fail(p.problem);
      } else {
        tally_->Answered(r, now, p.misses);
        if (p.misses > 0) generator_.Missed(r);
      }
      head_ = (head_ + 1) % ring_.size();
      --count_;
    }
    if (in_pos_ == in_len_) in_pos_ = in_len_ = 0;
    if (count_ == 0 && in_len_ > 0) return Fail("bytes that answer no request");
    return true;
  }

  Run& run_;
  const Config& config_;
  const int conn_;
  Tally* tally_;
  const TextCodec& codec_;
  Generator generator_;
  int fd_ = -1;
  std::vector<Request> ring_;  // requests in flight, oldest at head_
  size_t head_ = 0;
  size_t count_ = 0;
  std::string out_;  // requests not yet written from out_pos_ on
  size_t out_pos_ = 0;
  std::vector<char> in_;  // replies received: unparsed from in_pos_ to in_len_
  size_t in_pos_ = 0;
  size_t in_len_ = 0;
};

}  // namespace

void RunTcpConnection(Run& run, int conn, Tally* tally) {
  Connection c(run, conn, tally);
  const bool ok = c.Open() && (!run.config().fill || c.Fill());
  const Window window = run.Ready();
  if (ok) c.Measure(window);
}

}  // namespace meshbench
