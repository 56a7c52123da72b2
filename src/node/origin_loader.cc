#include "node/origin_loader.h"

#include <atomic>

#include "net/sockets.h"
#include "node/call.h"
#include "protocol/codec.h"

namespace meshcache::node {
namespace {

using protocol::Op;
using protocol::ReplyStatus;

Result<std::optional<Loaded>> AskOrigin(zmq::context_t& ctx, const std::string& endpoint,
                                        int64_t timeout_ms, const protocol::Limits& limits,
                                        std::string_view key, uint64_t id) {
  zmq::socket_t s = net::MakeDealer(ctx, net::SocketLimits{limits.max_body_bytes()});
  s.set(zmq::sockopt::immediate, 0);  // a fresh socket: let the request wait for the connect
  s.connect(endpoint);
  protocol::Request req;
  req.op = Op::kLoad;
  req.id = id;
  req.keys.emplace_back(key);
  auto reply = CallOnce(s, req, timeout_ms, limits);
  if (!reply.ok()) {
    switch (reply.status().code()) {
      case Code::kTimeout:
        return Status::Error(Code::kTimeout, "origin did not answer in time");
      case Code::kUnavailable:
        return Status::Error(Code::kLoadFailed, "origin not reachable");
      default:
        return Status::Error(Code::kLoadFailed, "origin: " + reply.status().message());
    }
  }
  if (reply->status == ReplyStatus::kMiss) return std::optional<Loaded>();
  if (reply->status == ReplyStatus::kErr) {
    return Status::Error(Code::kLoadFailed,
                         "origin: " + reply->error_code + ": " + reply->error_message);
  }
  return std::optional<Loaded>(Loaded{std::move(reply->value), reply->ttl_ms.value_or(0)});
}

}  // namespace

Loader MakeOriginLoader(zmq::context_t& ctx, std::string endpoint, int64_t timeout_ms,
                        protocol::Limits limits) {
  auto next_id = std::make_shared<std::atomic<uint64_t>>(1);
  return [&ctx, endpoint = std::move(endpoint), timeout_ms, limits,
          next_id](std::string_view key) -> Result<std::optional<Loaded>> {
    try {
      return AskOrigin(ctx, endpoint, timeout_ms, limits, key, next_id->fetch_add(1));
    } catch (const zmq::error_t& e) {
      return Status::Error(Code::kLoadFailed, std::string("origin socket: ") + e.what());
    }
  };
}

}  // namespace meshcache::node
