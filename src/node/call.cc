#include "node/call.h"

#include <chrono>

#include "net/sockets.h"
#include "protocol/codec.h"

namespace meshcache::node {

Result<protocol::Reply> CallOnce(zmq::socket_t& socket, const protocol::Request& req,
                                 int64_t timeout_ms, const protocol::Limits& limits) {
  using std::chrono::steady_clock;
  if (!net::SendBody(socket, protocol::EncodeRequest(req))) {
    return Status::Error(Code::kUnavailable, "cannot send the request");
  }
  const auto deadline = steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady_clock::now());
    if (left.count() <= 0) return Status::Error(Code::kTimeout, "no answer in time");
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, left);
    net::Frames in;
    if (!net::RecvFrames(socket, in)) continue;
    const zmq::message_t* body = net::DealerBody(in);
    if (body == nullptr) continue;
    auto reply = protocol::DecodeReply(net::View(*body), req.op, limits);
    if (!reply.ok()) return reply.status();
    if (reply->id != req.id) continue;  // an earlier request's late reply
    return reply;
  }
}

}  // namespace meshcache::node
