// Client: the public face of an Engine over a ZmqTransport on the system
// clock. Synchronous calls are a Start and a Wait for that ticket.
#include "meshcache/client.hpp"

#include <algorithm>
#include <utility>
#include <variant>

#include "client/engine.h"
#include "client/zmq_transport.h"
#include "meshcache/curve.hpp"

namespace meshcache {

using protocol::Op;
using protocol::ReplyStatus;

Status ValidateClientOptions(const ClientOptions& o) {
  auto bad = [](const std::string& m) { return Status::Error(Code::kInvalidArgument, m); };
  if (o.seeds.empty()) return bad("no seed endpoints");
  for (const std::string& seed : o.seeds) {
    if (seed.rfind("tcp://", 0) != 0 && seed.rfind("ipc://", 0) != 0) {
      return bad("not an endpoint like tcp://HOST:PORT: " + seed);
    }
  }
  if (o.timeout_ms <= 0) return bad("timeout_ms must be positive");
  if (o.connect_timeout_ms <= 0) return bad("connect_timeout_ms must be positive");
  if (o.ring_refresh_ms <= 0) return bad("ring_refresh_ms must be positive");
  if (o.node_retry_ms < 0) return bad("node_retry_ms must not be negative");
  if (o.max_reply_bytes < 1024) return bad("max_reply_bytes must be at least 1024");
  if (o.coalesce_gets > protocol::Limits{}.max_mget_keys) {
    return bad("coalesce_gets must be at most " + std::to_string(protocol::Limits{}.max_mget_keys));
  }
  const int curve_keys =
      !o.curve_server_key.empty() + !o.curve_public_key.empty() + !o.curve_secret_key.empty();
  if (curve_keys != 0 && curve_keys != 3) {
    return bad("CURVE needs the server key and the client's public and secret keys");
  }
  for (const std::string* key : {&o.curve_server_key, &o.curve_public_key, &o.curve_secret_key}) {
    if (!key->empty() && !IsCurveKey(*key)) return bad("not a Z85 CURVE key: " + *key);
  }
  return Status::Ok();
}

struct Client::Impl {
  explicit Impl(const ClientOptions& o)
      : transport(SystemClock::Get(), std::min(o.connect_timeout_ms, o.timeout_ms),
                  o.max_reply_bytes,
                  {{o.curve_public_key, o.curve_secret_key}, o.curve_server_key}),
        engine(o, &transport, SystemClock::Get()) {}

  // The reply of an ok or miss; an error reply or a failure as a Status.
  Result<protocol::Reply> Call(protocol::Request request, std::string_view node = {}) {
    client::Done done = engine.Wait(engine.Start(std::move(request), std::string(node)));
    if (!done.status.ok()) return done.status;
    return std::move(done.reply);
  }

  client::ZmqTransport transport;
  client::Engine engine;
};

namespace {

protocol::Request MakeRequest(Op op, std::string_view key = {}) {
  protocol::Request r;
  r.op = op;
  if (op == Op::kGet || op == Op::kDel || op == Op::kSet) r.keys.emplace_back(key);
  return r;
}

protocol::Request SetRequest(std::string_view key, std::string_view value,
                             std::optional<uint64_t> ttl_ms) {
  protocol::Request r = MakeRequest(Op::kSet, key);
  r.value = std::string(value);
  r.ttl_ms = ttl_ms;
  return r;
}

protocol::Request MGetRequest(const std::vector<std::string>& keys) {
  protocol::Request r = MakeRequest(Op::kMget);
  r.keys = keys;
  return r;
}

Completion ToCompletion(client::Done done) {
  Completion c;
  c.ticket = done.ticket;
  c.status = std::move(done.status);
  if (!c.status.ok()) return c;
  if (done.op == Op::kGet && done.reply.status == ReplyStatus::kOk) {
    c.value = std::move(done.reply.value);
  }
  c.values = std::move(done.reply.values);
  c.existed = done.reply.existed;
  return c;
}

MeshRing ToMeshRing(const protocol::RingInfo& info) {
  MeshRing ring{info.epoch, info.hash, info.vnodes, info.replicas, {}};
  for (const MemberInfo& m : info.nodes) {
    ring.members.push_back({m.id, m.service, m.gossip, NodeStateName(m.state)});
  }
  return ring;
}

}  // namespace

Result<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  if (Status s = ValidateClientOptions(options); !s.ok()) return s;
  auto impl = std::make_unique<Impl>(options);
  // A failed first fetch is not fatal: requests go to the seeds meanwhile.
  (void)impl->engine.SyncRing();
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::optional<std::string>> Client::Get(std::string_view key) {
  auto r = impl_->Call(MakeRequest(Op::kGet, key));
  if (!r.ok()) return r.status();
  if (r->status == ReplyStatus::kMiss) return std::optional<std::string>();
  return std::optional<std::string>(std::move(r->value));
}

Status Client::Set(std::string_view key, std::string_view value, std::optional<uint64_t> ttl_ms) {
  return impl_->Call(SetRequest(key, value, ttl_ms)).status();
}

Result<bool> Client::Del(std::string_view key) {
  auto r = impl_->Call(MakeRequest(Op::kDel, key));
  if (!r.ok()) return r.status();
  return r->existed;
}

Result<std::vector<std::optional<std::string>>> Client::MGet(const std::vector<std::string>& keys) {
  auto r = impl_->Call(MGetRequest(keys));
  if (!r.ok()) return r.status();
  return std::move(r->values);
}

Result<PingInfo> Client::Ping(std::string_view node) {
  auto r = impl_->Call(MakeRequest(Op::kPing), node);
  if (!r.ok()) return r.status();
  return PingInfo{r->ping.node, r->ping.version, r->ping.proto};
}

Result<std::vector<std::pair<std::string, Client::StatValue>>> Client::Stats(
    std::string_view node) {
  auto r = impl_->Call(MakeRequest(Op::kStats), node);
  if (!r.ok()) return r.status();
  return std::move(r->stats);
}

Result<MeshRing> Client::RingInfo(std::string_view node) {
  auto r = impl_->Call(MakeRequest(Op::kRing), node);
  if (!r.ok()) return r.status();
  return ToMeshRing(r->ring);
}

uint64_t Client::SendGet(std::string_view key) {
  return impl_->engine.Start(MakeRequest(Op::kGet, key), {}, /*coalesce=*/true);
}

uint64_t Client::SendSet(std::string_view key, std::string_view value,
                         std::optional<uint64_t> ttl_ms) {
  return impl_->engine.Start(SetRequest(key, value, ttl_ms));
}

uint64_t Client::SendDel(std::string_view key) {
  return impl_->engine.Start(MakeRequest(Op::kDel, key));
}

uint64_t Client::SendMGet(const std::vector<std::string>& keys) {
  return impl_->engine.Start(MGetRequest(keys));
}

std::vector<Completion> Client::Poll(int64_t timeout_ms) {
  std::vector<Completion> out;
  for (client::Done& done : impl_->engine.Poll(timeout_ms)) {
    out.push_back(ToCompletion(std::move(done)));
  }
  return out;
}

size_t Client::pending() const { return impl_->engine.pending(); }

}  // namespace meshcache
