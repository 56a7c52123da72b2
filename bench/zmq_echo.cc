// zmq_echo: the transport's limit. A bare ROUTER with one application thread
// (and libzmq's one I/O thread) that answers the cache protocol without a
// cache: get -> ["ok", id, value], mget of n keys -> ["ok", id, [value x n]],
// set -> ["ok", id]; anything else -> ["err", id, "bad_request", ...]. The
// values are bench_values.h's for --value-size, so meshbench checks them as
// it checks a real node's. Nothing is allocated per message beyond libzmq's
// message_t: the msgpack zone and the reply buffer are reused, and strings
// in a request are read in place. So it stands for the most any ZeroMQ node
// can do on this machine.
//
// Usage: zmq_echo --endpoint tcp://127.0.0.1:PORT [--value-size V]
//                 [--wrong-every N] [--relay-to tcp://127.0.0.1:PORT2]
// Runs until SIGTERM or SIGINT; then prints its counts on stderr and exits 0.
// --relay-to makes it a relay instead: libzmq's own proxy (zmq_proxy) from
// its ROUTER to a DEALER connected to another zmq_echo, which answers. That
// is one forwarding hop at the transport's limit, for bench/run's forwarding
// rows: what a mesh node's hop costs beyond it is the node's own.
// --wrong-every N corrupts the value of every key whose number is a multiple
// of N: a check that meshbench's value checks catch wrong values.
#include <CLI/CLI.hpp>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <msgpack.hpp>
#include <string>
#include <zmq.hpp>

#include "bench_values.h"

namespace {

// Set by SIGTERM and SIGINT; the loop checks it after every receive (which
// the signal interrupts, or at most 200 ms, RCVTIMEO, later).
volatile std::sig_atomic_t stop_requested = 0;
void OnSignal(int) { stop_requested = 1; }

struct Sink {
  std::string data;
  void write(const char* bytes, size_t size) { data.append(bytes, size); }
};

bool ReferenceAll(msgpack::type::object_type, std::size_t, void*) { return true; }

bool IsKey(const msgpack::object& o) {
  return o.type == msgpack::type::STR || o.type == msgpack::type::BIN;
}

std::string_view KeyView(const msgpack::object& o) {
  return o.type == msgpack::type::STR ? std::string_view(o.via.str.ptr, o.via.str.size)
                                      : std::string_view(o.via.bin.ptr, o.via.bin.size);
}

class Echo {
 public:
  Echo(size_t value_size, uint32_t wrong_every)
      : value_size_(value_size),
        wrong_every_(wrong_every),
        limit_(1 << 16, 64, 1 << 20, 1 << 28, 0, 8),
        packer_(out_) {}

  // The reply to one request body, valid until the next call.
  const std::string& Answer(std::string_view body) {
    out_.data.clear();
    zone_.clear();
    msgpack::object o;
    try {
      size_t off = 0;
      bool referenced = false;
      o = msgpack::unpack(zone_, body.data(), body.size(), off, referenced, ReferenceAll, nullptr,
                          limit_);
    } catch (const std::exception&) {
      return Error(0, "not msgpack");
    }
    if (o.type != msgpack::type::ARRAY || o.via.array.size < 2 ||
        o.via.array.ptr[0].type != msgpack::type::STR ||
        o.via.array.ptr[1].type != msgpack::type::POSITIVE_INTEGER) {
      return Error(0, "not [op, id, ...]");
    }
    const msgpack::object* a = o.via.array.ptr;
    const uint32_t size = o.via.array.size;
    const std::string_view op(a[0].via.str.ptr, a[0].via.str.size);
    const uint64_t id = a[1].via.u64;
    if (op == "get" && size >= 3 && IsKey(a[2])) {
      Head(id, 1);
      PackValue(KeyView(a[2]));
    } else if (op == "mget" && size >= 3 && AllKeys(a[2])) {
      Head(id, 1);
      packer_.pack_array(a[2].via.array.size);
      for (uint32_t i = 0; i < a[2].via.array.size; ++i) PackValue(KeyView(a[2].via.array.ptr[i]));
    } else if (op == "set" && size >= 4 && IsKey(a[2])) {
      Head(id, 0);
    } else {
      return Error(id, "zmq_echo answers get, mget and set");
    }
    return out_.data;
  }

 private:
  static bool AllKeys(const msgpack::object& o) {
    if (o.type != msgpack::type::ARRAY) return false;
    for (uint32_t i = 0; i < o.via.array.size; ++i) {
      if (!IsKey(o.via.array.ptr[i])) return false;
    }
    return true;
  }

  void PackStr(std::string_view s) {
    packer_.pack_str(static_cast<uint32_t>(s.size()));
    packer_.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
  }

  // ["ok", id, ...results]
  void Head(uint64_t id, uint32_t results) {
    packer_.pack_array(2 + results);
    PackStr("ok");
    packer_.pack(id);
  }

  const std::string& Error(uint64_t id, std::string_view message) {
    out_.data.clear();
    packer_.pack_array(4);
    PackStr("err");
    packer_.pack(id);
    PackStr("bad_request");
    PackStr(message);
    return out_.data;
  }

  void PackValue(std::string_view key) {
    packer_.pack_bin(static_cast<uint32_t>(value_size_));
    const size_t start = out_.data.size();
    meshbench::AppendValue(key, value_size_, &out_.data);
    uint32_t index = 0;
    if (wrong_every_ > 0 && value_size_ > 0 && meshbench::IndexOf(key, &index) &&
        index % wrong_every_ == 0) {
      out_.data[start] ^= 1;
    }
  }

  const size_t value_size_;
  const uint32_t wrong_every_;
  const msgpack::unpack_limit limit_;
  msgpack::zone zone_;
  Sink out_;
  msgpack::packer<Sink> packer_;
};

// Receives one message into frames[0..n); false when none came (timeout, a
// signal). Frames past the array's end are received into `spill` and make n
// larger than frames.size().
template <size_t N>
bool Receive(zmq::socket_t& router, std::array<zmq::message_t, N>& frames, zmq::message_t& spill,
             size_t* n) {
  try {
    if (!router.recv(frames[0])) return false;
    *n = 1;
    for (bool more = frames[0].more(); more; ++*n) {
      zmq::message_t& m = *n < N ? frames[*n] : spill;
      (void)router.recv(m);  // the rest of a multipart message is already here
      more = m.more();
    }
    return true;
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return false;
    throw;
  }
}

// The index of the body: the frame after the first empty one, when it is
// the last; 0 when the message is not [envelope..][empty][body].
template <size_t N>
size_t BodyIndex(const std::array<zmq::message_t, N>& frames, size_t n) {
  if (n > N) return 0;
  for (size_t i = 1; i + 1 < n; ++i) {
    if (frames[i].size() == 0) return i + 2 == n ? i + 1 : 0;
  }
  return 0;
}

int Serve(const std::string& endpoint, size_t value_size, uint32_t wrong_every) {
  zmq::context_t context(1);
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.set(zmq::sockopt::rcvtimeo, 200);
  router.set(zmq::sockopt::maxmsgsize, int64_t{1} << 29);
  router.set(zmq::sockopt::sndhwm, 100000);
  router.set(zmq::sockopt::rcvhwm, 100000);
  router.bind(endpoint);
  std::fprintf(stderr, "zmq_echo: serving %s, values of %zu bytes\n", endpoint.c_str(), value_size);

  Echo echo(value_size, wrong_every);
  std::array<zmq::message_t, 8> frames;  // routing ids, the delimiter, the body
  zmq::message_t spill;
  uint64_t answered = 0, dropped = 0;
  size_t n = 0;
  while (!stop_requested) {
    if (!Receive(router, frames, spill, &n)) continue;
    const size_t body = BodyIndex(frames, n);
    if (body == 0) {
      ++dropped;
      continue;
    }
    const std::string& reply = echo.Answer(
        std::string_view(static_cast<const char*>(frames[body].data()), frames[body].size()));
    for (size_t i = 0; i < body; ++i) router.send(frames[i], zmq::send_flags::sndmore);
    router.send(zmq::buffer(reply), zmq::send_flags::none);
    ++answered;
  }
  std::fprintf(stderr, "zmq_echo: answered %llu, dropped %llu badly framed\n",
               static_cast<unsigned long long>(answered), static_cast<unsigned long long>(dropped));
  return 0;
}

// Relays every message from the ROUTER at `endpoint` to the zmq_echo at
// `backend` and its answers back, with zmq_proxy (one application thread,
// one I/O thread, as Serve). The envelope travels with the message: the
// backend sees [relay's id][client's id][empty][body] and answers along it.
int Relay(const std::string& endpoint, const std::string& backend) {
  zmq::context_t context(1);
  zmq::socket_t router(context, zmq::socket_type::router);
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  for (zmq::socket_t* s : {&router, &dealer}) {
    s->set(zmq::sockopt::linger, 0);
    s->set(zmq::sockopt::maxmsgsize, int64_t{1} << 29);
    s->set(zmq::sockopt::sndhwm, 100000);
    s->set(zmq::sockopt::rcvhwm, 100000);
  }
  router.bind(endpoint);
  dealer.connect(backend);
  std::fprintf(stderr, "zmq_echo: relaying %s to %s\n", endpoint.c_str(), backend.c_str());
  try {
    zmq::proxy(router, dealer);
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) throw;  // SIGTERM or SIGINT interrupts the proxy's poll
  }
  std::fprintf(stderr, "zmq_echo: relay stopped\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string endpoint;
  size_t value_size = 100;
  uint32_t wrong_every = 0;
  std::string relay_to;
  CLI::App app{"zmq_echo: a bare ZeroMQ ROUTER answering get, mget and set"};
  app.option_defaults()->always_capture_default();
  app.add_option("--endpoint", endpoint, "where to bind, e.g. tcp://127.0.0.1:7500")->required();
  app.add_option("--value-size", value_size, "bytes per value")
      ->check(CLI::Range(size_t{0}, size_t{1} << 28));
  app.add_option("--wrong-every", wrong_every,
                 "corrupt the values of keys whose number is a multiple of N (checks meshbench)");
  app.add_option("--relay-to", relay_to,
                 "relay every request to the zmq_echo at this endpoint (zmq_proxy) instead of "
                 "answering: one forwarding hop");
  CLI11_PARSE(app, argc, argv);

  struct sigaction action {};
  action.sa_handler = OnSignal;  // no SA_RESTART: a blocked receive returns EINTR
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  try {
    return relay_to.empty() ? Serve(endpoint, value_size, wrong_every) : Relay(endpoint, relay_to);
  } catch (const zmq::error_t& e) {
    std::fprintf(stderr, "zmq_echo: %s\n", e.what());
    return 1;
  }
}
