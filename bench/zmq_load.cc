// meshcache and echo: one DEALER per connection sending [empty][body], with
// replies matched by id, since a node may answer pipelined requests out of
// order. Requests are packed and replies parsed with msgpack-c directly, into
// buffers and a zone reused across requests, rather than through
// src/protocol's codec: its Request and Reply structs copy every key and
// value into strings, which would make the client, not the server, the thing
// measured. The checks are no weaker: a reply must be one msgpack array with
// the shape docs/protocol.md gives for the op, and every value is compared.
//
// With Config::routes (meshbench --route smart) a connection holds one
// DEALER per node of the mesh and sends each request to the owner of its key
// on Config::ring (src/ring, the same ring the nodes build), as a smart
// client does; its depth is the connection's total across the nodes.
#include <algorithm>
#include <chrono>
#include <memory>
#include <msgpack.hpp>
#include <stdexcept>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "bench_values.h"
#include "load.h"
#include "ring/ring.h"

namespace meshbench {
namespace {

using namespace std::chrono_literals;

// A request id is (sequence << kSlotBits) | slot, so a reply finds its slot
// at once and a late reply to a reused slot is told apart by its sequence.
constexpr int kSlotBits = 16;
constexpr uint64_t kSlotMask = (uint64_t{1} << kSlotBits) - 1;

struct Sink {
  std::string data;
  void write(const char* bytes, size_t size) { data.append(bytes, size); }
};
using Packer = msgpack::packer<Sink>;

// Strings and bins point into the reply instead of being copied.
bool ReferenceAll(msgpack::type::object_type, std::size_t, void*) { return true; }

void PackStr(Packer& p, std::string_view s) {
  p.pack_str(static_cast<uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

void PackKey(Packer& p, uint32_t index) {
  const KeyName key = KeyOf(index);
  p.pack_bin(static_cast<uint32_t>(key.size));
  p.pack_bin_body(key.bytes, static_cast<uint32_t>(key.size));
}

// ["get", id, key], ["mget", id, [key, ...]], ["set", id, key, value, 0]
// (0: no expiry, so filled keys stay).
void Encode(const Request& r, size_t value_size, Sink* out) {
  out->data.clear();
  Packer p(*out);
  switch (r.kind) {
    case Kind::kGet:
      p.pack_array(3);
      PackStr(p, "get");
      p.pack(r.id);
      PackKey(p, r.keys[0]);
      break;
    case Kind::kMget:
      p.pack_array(3);
      PackStr(p, "mget");
      p.pack(r.id);
      p.pack_array(static_cast<uint32_t>(r.keys.size()));
      for (uint32_t k : r.keys) PackKey(p, k);
      break;
    case Kind::kSet:
      p.pack_array(5);
      PackStr(p, "set");
      p.pack(r.id);
      PackKey(p, r.keys[0]);
      p.pack_bin(static_cast<uint32_t>(value_size));
      AppendValue(KeyOf(r.keys[0]).view(), value_size, &out->data);
      p.pack(uint64_t{0});
      break;
  }
}

std::string_view View(const msgpack::object& o) {
  return o.type == msgpack::type::STR   ? std::string_view(o.via.str.ptr, o.via.str.size)
         : o.type == msgpack::type::BIN ? std::string_view(o.via.bin.ptr, o.via.bin.size)
                                        : std::string_view();
}

class Connection {
 public:
  Connection(Run& run, int conn, zmq::context_t& context, Tally* tally)
      : run_(run),
        config_(run.config()),
        conn_(conn),
        tally_(tally),
        generator_(config_, conn),
        limit_(1 << 16, 64, 1 << 20, std::max<size_t>(config_.value_size, 1 << 20), 0, 8) {
    const size_t slots = static_cast<size_t>(std::max(config_.depth, config_.fill_depth));
    slots_.resize(slots);
    for (size_t i = slots; i-- > 0;) free_.push_back(static_cast<uint32_t>(i));
    const int hwm = static_cast<int>(std::max<size_t>(1000, 2 * slots));
    std::vector<std::string> endpoints = config_.routes;
    if (endpoints.empty()) endpoints.push_back(config_.endpoint);
    for (const std::string& endpoint : endpoints) {
      zmq::socket_t& s = sockets_.emplace_back(context, zmq::socket_type::dealer);
      s.set(zmq::sockopt::linger, 0);
      s.set(zmq::sockopt::sndhwm, hwm);
      s.set(zmq::sockopt::rcvhwm, hwm);
      s.set(zmq::sockopt::rcvtimeo, 100);
      s.connect(endpoint);
      polls_.push_back(zmq::pollitem_t{s.handle(), 0, ZMQ_POLLIN, 0});
    }
    if (!config_.routes.empty()) {
      // Owner() names a member by a pointer into the ring's members: the
      // socket of route i is the one for the member whose service it is.
      for (const std::string& route : config_.routes) {
        const meshcache::MemberInfo* m = config_.ring->Find(route);
        if (m == nullptr) throw std::runtime_error("route " + route + " is not on the ring");
        owners_.push_back(&m->id);
      }
    }
  }

  void Fill() {
    Pump(static_cast<size_t>(config_.fill_depth), Clock::time_point::max(),
         [this](Request* r) { return generator_.NextFill(r); });
  }

  void Measure(const Window& window) {
    tally_->window = window;
    Pump(static_cast<size_t>(config_.depth), window.end,
         [this](Request* r) { return generator_.Next(r); });
  }

  void Error(std::string_view what) {
    ++tally_->errors;
    run_.Report(conn_, what);
  }

 private:
  struct Slot {
    Request request;
    bool busy = false;
  };

  // Keeps up to `depth` requests from next() in flight until `until`, or
  // until next() has no more and every request is answered or timed out.
  // next() is asked again after replies, which may give it more (a
  // cache-aside set after a miss).
  template <typename Next>
  void Pump(size_t depth, Clock::time_point until, Next next) {
    Clock::time_point next_expiry = Clock::now() + 100ms;
    for (;;) {
      bool more = true;
      while (in_flight_ < depth && (more = SendOne(next))) {
      }
      if (!more && in_flight_ == 0) return;
      // Every reply that has arrived, before sending again: sending in
      // bursts wakes libzmq's I/O thread less often than one by one.
      if (sockets_.size() == 1) {
        for (bool wait = true; ReceiveOne(sockets_[0], wait); wait = false) {
        }
      } else if (zmq::poll(polls_, 100ms) > 0) {
        for (size_t i = 0; i < sockets_.size(); ++i) {
          if (polls_[i].revents & ZMQ_POLLIN) {
            while (ReceiveOne(sockets_[i], false)) {
            }
          }
        }
      }
      const Clock::time_point now = Clock::now();
      if (now >= until) return;
      if (now >= next_expiry) {
        Expire(now);
        next_expiry = now + 100ms;
      }
    }
  }

  template <typename Next>
  bool SendOne(Next& next) {
    const uint32_t slot = free_.back();
    Request& r = slots_[slot].request;
    if (!next(&r)) return false;
    free_.pop_back();
    r.id = (++sequence_ << kSlotBits) | slot;
    Encode(r, config_.value_size, &out_);
    zmq::socket_t& socket = sockets_[Route(r)];
    r.sent = Clock::now();
    socket.send(zmq::message_t(), zmq::send_flags::sndmore);
    socket.send(zmq::buffer(out_.data), zmq::send_flags::none);
    slots_[slot].busy = true;
    ++in_flight_;
    return true;
  }

  // The socket for the request: its key's owner's with routes, else the one.
  size_t Route(const Request& r) const {
    if (owners_.empty()) return 0;
    const std::string* owner = config_.ring->Owner(KeyOf(r.keys[0]).view());
    for (size_t i = 0; i < owners_.size(); ++i) {
      if (owners_[i] == owner) return i;
    }
    throw std::runtime_error("the ring names an owner that is no route");
  }

  void Release(uint64_t slot) {
    slots_[slot].busy = false;
    free_.push_back(static_cast<uint32_t>(slot));
    --in_flight_;
  }

  // Takes one reply, waiting up to 100 ms (the socket's RCVTIMEO) for it
  // when `wait`; false when none came.
  bool ReceiveOne(zmq::socket_t& socket, bool wait) {
    if (!socket.recv(delimiter_, wait ? zmq::recv_flags::none : zmq::recv_flags::dontwait)) {
      return false;
    }
    zmq::message_t* last = &delimiter_;
    bool framed = delimiter_.size() == 0 && delimiter_.more();
    if (framed) {
      (void)socket.recv(body_);  // the rest of a multipart message is already here
      last = &body_;
      framed = !body_.more();
    }
    if (!framed) {
      while (last->more()) (void)socket.recv(*last);
      Error("a reply not framed [empty][body]");
      return true;
    }
    OnReply(std::string_view(static_cast<const char*>(body_.data()), body_.size()), Clock::now());
    return true;
  }

  void OnReply(std::string_view body, Clock::time_point now) {
    zone_.clear();
    msgpack::object o;
    try {
      size_t off = 0;
      bool referenced = false;
      o = msgpack::unpack(zone_, body.data(), body.size(), off, referenced, ReferenceAll, nullptr,
                          limit_);
      if (off != body.size()) return Error("bytes after the reply's array");
    } catch (const std::exception& e) {
      return Error(std::string("a reply that is not msgpack: ") + e.what());
    }
    if (o.type != msgpack::type::ARRAY || o.via.array.size < 2 ||
        o.via.array.ptr[0].type != msgpack::type::STR ||
        o.via.array.ptr[1].type != msgpack::type::POSITIVE_INTEGER) {
      return Error("a reply without a [status, id] head");
    }
    const uint64_t id = o.via.array.ptr[1].via.u64;
    const uint64_t slot = id & kSlotMask;
    if (slot >= slots_.size() || !slots_[slot].busy || slots_[slot].request.id != id) {
      const uint64_t sequence = id >> kSlotBits;
      if (sequence == 0 || sequence > sequence_) Error("a reply to an id never sent");
      return;  // else a late reply to a request that timed out, already an error
    }
    uint32_t misses = 0;
    if (Check(slots_[slot].request, o.via.array, &misses)) {
      tally_->Answered(slots_[slot].request, now, misses);
      if (misses > 0) generator_.Missed(slots_[slot].request);
    }
    Release(slot);
  }

  // True when the reply is right for the request; else counts errors.
  bool Check(const Request& r, const msgpack::object_array& a, uint32_t* misses) {
    const std::string_view status = View(a.ptr[0]);
    if (status == "err") {
      std::string what = "err";
      for (uint32_t i = 2; i < a.size; ++i) what.append(" ").append(View(a.ptr[i]));
      Error(what);
      return false;
    }
    if (status == "miss" && r.kind == Kind::kGet) {
      *misses = 1;
      return true;
    }
    if (status != "ok") {
      Error("status " + std::string(status));
      return false;
    }
    if (r.kind == Kind::kSet) return true;
    if (a.size < 3) {
      Error("an ok reply without a value");
      return false;
    }
    if (r.kind == Kind::kGet) return CheckValue(r.keys[0], a.ptr[2]);
    return CheckValues(r, a.ptr[2], misses);
  }

  bool CheckValues(const Request& r, const msgpack::object& o, uint32_t* misses) {
    if (o.type != msgpack::type::ARRAY || o.via.array.size != r.keys.size()) {
      Error("an mget reply whose values are not an array of " + std::to_string(r.keys.size()));
      return false;
    }
    bool right = true;
    for (size_t i = 0; i < r.keys.size(); ++i) {
      const msgpack::object& v = o.via.array.ptr[i];
      if (v.type == msgpack::type::NIL) {
        ++*misses;
      } else {
        right = CheckValue(r.keys[i], v) && right;
      }
    }
    return right;
  }

  bool CheckValue(uint32_t index, const msgpack::object& v) {
    const KeyName key = KeyOf(index);
    if (v.type != msgpack::type::BIN) {
      Error("the value of " + std::string(key.view()) + " is not bin");
      return false;
    }
    if (!IsValueOf(key.view(), View(v), config_.value_size)) {
      Error("a wrong value for " + std::string(key.view()) + " (" + std::to_string(v.via.bin.size) +
            " bytes)");
      return false;
    }
    return true;
  }

  void Expire(Clock::time_point now) {
    const auto limit = std::chrono::duration<double>(config_.timeout_s);
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].busy && now - slots_[i].request.sent > limit) {
        Error("no reply within " + Seconds(config_.timeout_s));
        Release(i);
      }
    }
  }

  Run& run_;
  const Config& config_;
  const int conn_;
  Tally* tally_;
  std::vector<zmq::socket_t> sockets_;      // one, or one per route
  std::vector<zmq::pollitem_t> polls_;      // of sockets_
  std::vector<const std::string*> owners_;  // the ring's member id of each route
  Generator generator_;
  msgpack::unpack_limit limit_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  uint64_t sequence_ = 0;
  size_t in_flight_ = 0;
  Sink out_;
  msgpack::zone zone_;
  zmq::message_t delimiter_, body_;
};

}  // namespace

void RunZmqConnection(Run& run, int conn, zmq::context_t& context, Tally* tally) {
  std::unique_ptr<Connection> c;
  bool ok = true;
  try {
    c = std::make_unique<Connection>(run, conn, context, tally);
    if (run.config().fill) c->Fill();
  } catch (const std::exception& e) {
    ok = false;
    ++tally->errors;
    run.Report(conn, e.what());
  }
  const Window window = run.Ready();
  if (!ok) return;
  try {
    c->Measure(window);
  } catch (const std::exception& e) {
    c->Error(e.what());
  }
}

}  // namespace meshbench
