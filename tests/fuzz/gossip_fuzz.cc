// libFuzzer target: what a node reads from its peers' PUB and DEALER
// sockets. Gossip (heartbeats and invalidations, as the SUB hands them over)
// goes through the gossip decoder into a node's Gossiper, whose table must
// stay sound (GossipNode::Check); replies to forwards (as a DEALER hands them
// over) go through the reply decoders for every op. Whatever decodes must
// re-encode to a body that decodes the same.
//
// Input: records in the frames.h format, a fresh node per input (so a crash
// reproduces from its input alone):
//   tag % 4  0, 1: gossip      n (byte), 1 + n % 2 frames
//            2:    a reply     n (byte), 1 + n % 3 frames
//            3:    time passes b (byte): the clock moves 2*b*b ms, timers run
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "frames.h"
#include "gossip_harness.h"
#include "net/sockets.h"

using namespace meshcache;
using namespace meshcache::fuzz;
using protocol::Op;
using protocol::ReplyStatus;

namespace {

void CheckGossipDecoder(std::string_view body, const protocol::Limits& limits) {
  auto gossip = protocol::DecodeGossip(body, limits);
  if (gossip.ok()) CheckGossipRoundTrip(*gossip, limits);
}

// The body the node's peers would send for this decoded reply; nullopt for
// an error code that has no name of its own.
std::optional<std::string> Encode(const protocol::Reply& r, Op op) {
  if (r.status == ReplyStatus::kMiss) return protocol::EncodeMiss(r.id);
  if (r.status == ReplyStatus::kErr) {
    const Code code = CodeFromName(r.error_code);
    if (r.error_code != CodeName(code)) return std::nullopt;
    return protocol::EncodeError(r.id, code, r.error_message);
  }
  switch (op) {
    case Op::kPing:
      return protocol::EncodePing(r.id, r.ping);
    case Op::kGet:
    case Op::kLoad:
    case Op::kPeek:
      return protocol::EncodeValue(r.id, r.value, r.ttl_ms,
                                   r.version ? std::optional<uint64_t>(r.version) : std::nullopt);
    case Op::kMget: {
      std::vector<std::optional<std::string_view>> values;
      for (const auto& v : r.values) {
        values.push_back(v ? std::optional<std::string_view>(*v) : std::nullopt);
      }
      return protocol::EncodeValues(r.id, values);
    }
    case Op::kDel:
      return protocol::EncodeExisted(r.id, r.existed);
    case Op::kRing:
      return protocol::EncodeRing(r.id, r.ring);
    case Op::kStats:
      return protocol::EncodeStats(r.id, r.stats);
    case Op::kJoin:
    case Op::kProbe:
      return protocol::EncodeMembers(r.id, r.members);
    case Op::kSet:
    case Op::kFwd:
    case Op::kHandoff:
      return protocol::EncodeOk(r.id);
  }
  return std::nullopt;
}

void CheckReplyRoundTrip(const protocol::Reply& reply, Op op, const protocol::Limits& limits) {
  std::optional<std::string> once = Encode(reply, op);
  if (!once) return;
  auto again = protocol::DecodeReply(*once, op, limits);
  if (!again.ok()) {
    Fail(std::string("a decoded reply to ") + protocol::OpName(op) +
         " re-encodes to a refused body: " + again.status().message());
  }
  if (Encode(*again, op) != once) {
    Fail(std::string("a reply to ") + protocol::OpName(op) + " does not round-trip");
  }
}

// As Service::OnPeerMessage reads a DEALER's message, for every op a node
// may have asked.
void CheckReplyDecoders(const net::Frames& frames, const protocol::Limits& limits) {
  const zmq::message_t* body = net::DealerBody(frames);
  if (body == nullptr) return;
  const std::string_view view = net::View(*body);
  auto head = protocol::PeekReply(view, limits);
  for (int op = 0; op <= static_cast<int>(protocol::kLastOp); ++op) {
    auto reply = protocol::DecodeReply(view, static_cast<Op>(op), limits);
    if (!reply.ok()) continue;
    if (!head.ok() || head->first != reply->status || head->second != reply->id) {
      Fail("PeekReply and DecodeReply disagree on a reply's head");
    }
    CheckReplyRoundTrip(*reply, static_cast<Op>(op), limits);
  }
}

net::Frames ReadFrames(Reader& in, size_t count) {
  net::Frames frames;
  for (size_t i = 0; i < count; ++i) frames.push_back(net::Frame(in.Frame()));
  return frames;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const protocol::Limits kSmall = SmallLimits();
  GossipNode node(/*joining=*/false);
  Reader in(data, size);
  while (!in.done()) {
    switch (in.Byte() % 4) {
      case 0:
      case 1: {
        const net::Frames frames = ReadFrames(in, 1 + in.Byte() % 2);
        for (const zmq::message_t& f : frames) {
          CheckGossipDecoder(net::View(f), kSmall);
          CheckGossipDecoder(net::View(f), node.limits());
        }
        (void)node.gossiper().OnMessage(frames);
        break;
      }
      case 2: {
        const net::Frames frames = ReadFrames(in, 1 + in.Byte() % 3);
        CheckReplyDecoders(frames, kSmall);
        CheckReplyDecoders(frames, node.limits());
        break;
      }
      case 3: {
        const int64_t b = in.Byte();
        node.Tick(2 * b * b);
        break;
      }
    }
    node.Check();
  }
  return 0;
}
