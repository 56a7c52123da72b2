// Node: the public face of an engine. Start binds on the caller's thread so
// errors come back as a Status; the engine then runs on its own thread, and
// the embedded API reaches it over inproc like any client.
#include "meshcache/node.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "net/curve.h"
#include "net/sockets.h"
#include "node/call.h"
#include "node/engine.h"
#include "node/origin_loader.h"
#include "protocol/codec.h"
#include "util/thread_annotations.h"

namespace meshcache {

using protocol::Op;
using protocol::ReplyStatus;

struct Node::Impl {
  NodeOptions options;
  std::string id;
  std::string gossip;
  std::string inproc;
  zmq::context_t ctx;
  std::thread thread;
  std::atomic<bool> running{false};
  Mutex stop_mu;
  bool stopped GUARDED_BY(stop_mu) = false;
  std::unique_ptr<zmq::socket_t> ctrl GUARDED_BY(stop_mu);  // PAIR to the engine
  Mutex call_mu;
  std::unique_ptr<zmq::socket_t> caller GUARDED_BY(call_mu);  // DEALER over inproc
  uint64_t next_call GUARDED_BY(call_mu) = 1;

  Result<protocol::Reply> Call(protocol::Request req);
};

namespace {

std::atomic<uint64_t> g_instance{0};

Status Validate(const NodeOptions& o) {
  auto bad = [](const std::string& m) { return Status::Error(Code::kInvalidArgument, m); };
  if (o.port == 0) return bad("port must be 1-65535");
  if (o.bind.empty()) return bad("bind address is empty");
  if (node::BindsEveryAddress(o) && o.advertise.empty())
    return bad("binding " + o.bind + " needs an advertise address peers can reach");
  if (o.vnodes == 0 || o.vnodes > protocol::Limits{}.max_vnodes)
    return bad("vnodes must be 1-10000");
  if (o.replicas == 0 || o.replicas > 16) return bad("replicas must be 1-16");
  if (o.heartbeat_ms <= 0) return bad("heartbeat-ms must be positive");
  if (o.dead_ms <= o.heartbeat_ms) return bad("dead-ms must be larger than heartbeat-ms");
  if (o.suspect_ms > 0 && o.suspect_ms >= o.dead_ms) {
    return bad("suspect-ms (" + std::to_string(o.suspect_ms) + ") must be below dead-ms (" +
               std::to_string(o.dead_ms) + ")");
  }
  if (o.gossip_port == 0 && o.port == 65535) {
    return bad("port 65535 leaves no gossip port (port + 1): set the gossip port");
  }
  if (o.forward_timeout_ms <= 0 || o.load_timeout_ms <= 0) return bad("timeouts must be positive");
  if (o.drain_ms < 0 || o.handoff_ms < 0)
    return bad("drain and hand-off times must not be negative");
  if (o.max_key_bytes == 0 || o.max_value_bytes == 0) return bad("size limits must be positive");
  if (o.memcache_port != 0 && o.memcache_max_conns == 0)
    return bad("memcache-max-conns must be positive");
  if (o.memory_bytes < 64 * 1024) return bad("memory must be at least 64KiB");
  if (o.lru_old_percent < 5 || o.lru_old_percent > 100) return bad("old-blocks-pct must be 5-100");
  if (o.lru_old_time_ms < 0) return bad("old-blocks-time-ms must not be negative");
  return Status::Ok();
}

// ZeroMQ binds an IP address or an interface name, not a host name
// ("localhost" is taken for an interface: "No such device"); a host name
// is resolved here, to its first IPv4 address.
Result<std::string> BindAddress(const std::string& bind) {
  in_addr v4{};
  in6_addr v6{};
  if (bind == "*" || inet_pton(AF_INET, bind.c_str(), &v4) == 1 ||
      inet_pton(AF_INET6, bind.c_str(), &v6) == 1 || if_nametoindex(bind.c_str()) != 0) {
    return bind;
  }
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(bind.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) {
    return Status::Error(
        Code::kInvalidArgument,
        "bind address " + bind +
            " is neither an IP address, an interface nor a host name that resolves");
  }
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(found->ai_addr)->sin_addr, text,
            sizeof text);
  freeaddrinfo(found);
  return std::string(text);
}

bool Loopback(const std::string& bind) {
  in_addr v4{};
  if (inet_pton(AF_INET, bind.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  return bind == "::1" || bind == "lo";
}

// This node's key pair and the keys of its peers (the peer list and its own
// public key), from the options; no keys without CURVE. A node bound to
// more than loopback without CURVE must be allowed to.
Status Security(const NodeOptions& o, net::CurveKeys* keys, std::vector<std::string>* peers) {
  auto bad = [](const std::string& m) { return Status::Error(Code::kInvalidArgument, m); };
  if (o.curve_secret_key.empty()) {
    if (!o.curve_clients.empty() || !o.curve_peers.empty()) {
      return bad("CURVE client or peer keys were given without a CURVE secret key");
    }
    if (!Loopback(o.bind) && !o.allow_plaintext) {
      return bad("binding " + o.bind +
                 " without CURVE lets anyone who reaches it act as a peer: give a CURVE secret "
                 "key, or allow plaintext explicitly");
    }
    return Status::Ok();
  }
  Result<CurveKeyPair> k = CurveKeyPairFromSecret(o.curve_secret_key);
  if (!k.ok()) return bad("CURVE secret key: " + k.status().message());
  for (const auto* list : {&o.curve_clients, &o.curve_peers}) {
    for (const std::string& key : *list) {
      if (!IsCurveKey(key)) return bad("not a Z85 CURVE public key: " + key);
    }
  }
  *keys = *k;
  *peers = o.curve_peers;
  peers->push_back(keys->public_key);
  return Status::Ok();
}

std::string Endpoint(const std::string& host, uint16_t port) {
  return "tcp://" + host + ":" + std::to_string(port);
}

MemberInfo SelfInfo(const std::string& id, const std::string& gossip, const net::CurveKeys& curve) {
  using namespace std::chrono;
  MemberInfo m;
  m.id = id;
  m.service = id;
  m.gossip = gossip;
  m.curve_key = curve.public_key;  // peers learn it through membership
  // Wall-clock milliseconds: a restarted node starts above every incarnation
  // its previous life used, so old gossip about it loses.
  m.incarnation = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  return m;
}

}  // namespace

Result<std::unique_ptr<Node>> Node::Start(const NodeOptions& options, Loader loader) {
  if (Status s = Validate(options); !s.ok()) return s;
  Result<std::string> bind = BindAddress(options.bind);
  if (!bind.ok()) return bind.status();
  NodeOptions bound = options;
  bound.bind = *bind;
  net::CurveKeys curve;
  std::vector<std::string> peer_keys;
  if (Status s = Security(bound, &curve, &peer_keys); !s.ok()) return s;
  if (!curve.on() && !Loopback(bound.bind) && bound.log) {
    bound.log(LogLevel::kWarn, "binding " + bound.bind +
                                   " without CURVE: anyone who reaches the ports can read, "
                                   "write and act as a peer");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = bound;
  const std::string& host = bound.advertise.empty() ? bound.bind : bound.advertise;
  uint16_t gossip_port = bound.gossip_port ? bound.gossip_port : bound.port + 1;
  impl->id = Endpoint(host, bound.port);
  impl->gossip = Endpoint(host, gossip_port);
  std::string tag = std::to_string(::getpid()) + "-" + std::to_string(g_instance++);
  impl->inproc = "inproc://meshcache-service-" + tag;

  const protocol::Limits limits = node::NodeLimits(bound);
  const net::SocketLimits sl = node::NodeSocketLimits(bound);
  node::BoundSockets sockets{net::MakeRouter(impl->ctx, sl), net::MakePub(impl->ctx, sl),
                             net::MakeInproc(impl->ctx, zmq::socket_type::pull),
                             net::MakeInproc(impl->ctx, zmq::socket_type::pair),
                             "inproc://meshcache-wake-" + tag};
  // A connection that names a routing id already taken takes it over, and
  // the old one is dropped with what it queued. Without this libzmq never
  // reads the newcomer, yet keeps everything it sends up to the high-water
  // mark: a client reusing one id on many connections held tens of MiB
  // (test_flood).
  sockets.router.set(zmq::sockopt::router_handover, true);
  if (curve.on()) {
    sockets.zap = net::MakeInproc(impl->ctx, zmq::socket_type::rep);
    if (Status s = net::Bind(sockets.zap, net::kZapEndpoint); !s.ok()) return s;
    sockets.policy.emplace(peer_keys, bound.curve_clients);
    net::MakeCurveServer(sockets.router, curve, net::kServiceDomain);
    net::MakeCurveServer(sockets.pub, curve, net::kGossipDomain);
    sockets.curve = curve;
    sockets.peer_keys = peer_keys;
  }
  for (auto [sock, ep] : {std::pair{&sockets.router, Endpoint(bound.bind, bound.port)},
                          std::pair{&sockets.router, impl->inproc},
                          std::pair{&sockets.pub, Endpoint(bound.bind, gossip_port)},
                          std::pair{&sockets.wake, sockets.wake_endpoint},
                          std::pair{&sockets.ctrl, "inproc://meshcache-ctrl-" + tag}}) {
    if (Status s = net::Bind(*sock, ep); !s.ok()) return s;
  }
  if (bound.memcache_port != 0) {
    Result<std::string> door_host =
        BindAddress(bound.memcache_bind.empty() ? bound.bind : bound.memcache_bind);
    if (!door_host.ok()) return door_host.status();
    if (!Loopback(*door_host) && !bound.allow_plaintext) {
      // memcached's protocols have no authentication, CURVE or not.
      return Status::Error(Code::kInvalidArgument,
                           "the memcache port on " + *door_host +
                               " lets anyone who reaches it read and write: bind it to loopback, "
                               "or allow plaintext explicitly");
    }
    Result<node::UniqueFd> door = node::ListenTcp(*door_host, bound.memcache_port);
    if (!door.ok()) return door.status();
    sockets.memcache = std::move(*door);
  }
  {
    // No other thread has impl yet: the locks cost nothing and let
    // -Wthread-safety check these writes like every other (Stop's order).
    MutexLock stop_lock(&impl->stop_mu);
    MutexLock call_lock(&impl->call_mu);
    impl->ctrl =
        std::make_unique<zmq::socket_t>(net::MakeInproc(impl->ctx, zmq::socket_type::pair));
    impl->ctrl->connect("inproc://meshcache-ctrl-" + tag);
    impl->caller =
        std::make_unique<zmq::socket_t>(net::MakeInproc(impl->ctx, zmq::socket_type::dealer));
    impl->caller->connect(impl->inproc);
  }

  if (!loader && !bound.loader_endpoint.empty()) {
    loader =
        node::MakeOriginLoader(impl->ctx, bound.loader_endpoint, bound.load_timeout_ms, limits);
  }
  auto engine = std::make_unique<node::Engine>(bound, SelfInfo(impl->id, impl->gossip, curve),
                                               std::move(loader), impl->ctx, std::move(sockets),
                                               SystemClock::Get());
  impl->running = true;
  Impl* raw = impl.get();
  impl->thread = std::thread([raw, engine = std::move(engine)]() mutable {
    engine->Run();
    engine.reset();  // closes the engine's sockets on the thread that used them
    raw->running = false;
  });
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Node::~Node() { Stop(); }

void Node::Stop() {
  MutexLock lock(&impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  try {
    (void)impl_->ctrl->send(zmq::str_buffer("stop"), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
  }
  if (impl_->thread.joinable()) impl_->thread.join();
  {
    MutexLock call_lock(&impl_->call_mu);
    impl_->caller.reset();
  }
  impl_->ctrl.reset();
  impl_->ctx.shutdown();  // wakes load workers blocked on an origin
  impl_->ctx.close();
}

bool Node::running() const { return impl_->running; }
const std::string& Node::id() const { return impl_->id; }
const std::string& Node::gossip_endpoint() const { return impl_->gossip; }

Result<protocol::Reply> Node::Impl::Call(protocol::Request req) {
  MutexLock lock(&call_mu);
  if (!caller || !running) return Status::Error(Code::kUnavailable, "node is stopped");
  req.id = next_call++;
  const int64_t timeout_ms = options.forward_timeout_ms * 2 + options.load_timeout_ms + 1000;
  auto reply = node::CallOnce(*caller, req, timeout_ms, node::NodeLimits(options));
  if (!reply.ok()) {
    if (reply.status().code() == Code::kUnavailable) {
      return Status::Error(Code::kUnavailable, "node is busy");
    }
    if (reply.status().code() == Code::kTimeout) {
      return Status::Error(Code::kTimeout, "node did not answer in time");
    }
    return reply.status();
  }
  if (reply->status == ReplyStatus::kErr) {
    return Status::Error(CodeFromName(reply->error_code), reply->error_message);
  }
  return reply;
}

namespace {
protocol::Request KeyRequest(Op op, std::string_view key) {
  protocol::Request r;
  r.op = op;
  r.keys.emplace_back(key);
  return r;
}
}  // namespace

Result<std::optional<std::string>> Node::Get(std::string_view key) {
  auto r = impl_->Call(KeyRequest(Op::kGet, key));
  if (!r.ok()) return r.status();
  if (r->status == ReplyStatus::kMiss) return std::optional<std::string>();
  return std::optional<std::string>(std::move(r->value));
}

Result<std::vector<std::optional<std::string>>> Node::MGet(const std::vector<std::string>& keys) {
  protocol::Request req;
  req.op = Op::kMget;
  req.keys = keys;
  auto r = impl_->Call(std::move(req));
  if (!r.ok()) return r.status();
  return std::move(r->values);
}

Status Node::Set(std::string_view key, std::string_view value, std::optional<uint64_t> ttl_ms) {
  protocol::Request req = KeyRequest(Op::kSet, key);
  req.value = std::string(value);
  req.ttl_ms = ttl_ms;
  return impl_->Call(std::move(req)).status();
}

Result<bool> Node::Del(std::string_view key) {
  auto r = impl_->Call(KeyRequest(Op::kDel, key));
  if (!r.ok()) return r.status();
  return r->existed;
}

Result<std::vector<std::pair<std::string, std::string>>> Node::Stats() {
  protocol::Request req;
  req.op = Op::kStats;
  auto r = impl_->Call(std::move(req));
  if (!r.ok()) return r.status();
  return protocol::StatsAsText(r->stats);
}

Result<std::vector<std::pair<std::string, std::string>>> Node::Members() {
  protocol::Request req;
  req.op = Op::kRing;
  auto r = impl_->Call(std::move(req));
  if (!r.ok()) return r.status();
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& m : r->ring.nodes) out.emplace_back(m.id, NodeStateName(m.state));
  return out;
}

}  // namespace meshcache
