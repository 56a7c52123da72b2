// libFuzzer target: how nodes exchange their tables. Join and sync requests
// and probes (peer requests on the service socket, read by the request
// decoder as Service::OnRequest reads them; hand-offs too, decoded only: the
// handler target takes them further) go into a joining node's Gossiper as
// Service::HandleJoin and HandleProbe pass them; join answers (the member
// table) and probe answers go through the reply decoder into it as
// Service::OnForwardReply passes them. The table must stay sound after each
// (GossipNode::Check), the table it answers with must decode, and whatever
// decodes must re-encode to a body that decodes the same.
//
// Input: records in the frames.h format, a fresh node per input:
//   tag % 4  0: a request       a frame: the body
//            1: a join answer   which (byte), a frame: the body; which & 1: a
//                               sync's answer, else the join's
//            2: a probe answer  which (byte), a frame: the body; which picks
//                               the probed member (not the node) from the table
//            3: time passes     b (byte): the clock moves 2*b*b ms, timers run
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "frames.h"
#include "gossip_harness.h"

using namespace meshcache;
using namespace meshcache::fuzz;
using protocol::Op;
using protocol::ReplyStatus;

namespace {

void Request(GossipNode& node, std::string_view body) {
  static const protocol::Limits kSmall = SmallLimits();
  protocol::DecodedRequest small = protocol::DecodeRequest(body, kSmall);
  if (small.status.ok()) CheckRequestRoundTrip(small.request, kSmall);
  protocol::DecodedRequest d = protocol::DecodeRequest(body, node.limits());
  if (!d.status.ok()) return;
  CheckRequestRoundTrip(d.request, node.limits());
  const protocol::Request& req = d.request;
  if (req.op == Op::kJoin) {
    const std::vector<MemberInfo> table = node.gossiper().OnJoinRequest(req.member, req.members);
    auto answer =
        protocol::DecodeReply(protocol::EncodeMembers(req.id, table), Op::kJoin, node.limits());
    if (!answer.ok() || answer->members != table) Fail("a join's answer does not decode as sent");
  } else if (req.op == Op::kProbe) {
    const MemberInfo self = node.gossiper().OnProbe(req.member);
    if (!(self == node.gossiper().membership().self())) Fail("a probe's answer is not the node");
  }
}

// A member other than the node itself, picked by which: whom a node syncs
// with or probes (never itself); the seed when it knows no other.
std::string Other(GossipNode& node, uint8_t which) {
  std::vector<std::string> others;
  for (const MemberInfo& m : node.gossiper().membership().Snapshot()) {
    if (m.id != kGossipSelf) others.push_back(m.id);
  }
  return others.empty() ? kGossipSeed : others[which % others.size()];
}

void JoinAnswer(GossipNode& node, uint8_t which, std::string_view body) {
  auto reply = protocol::DecodeReply(body, Op::kJoin, node.limits());
  if (!reply.ok() || reply->status != ReplyStatus::kOk) return;
  if (which & 1) {
    node.gossiper().OnSynced(reply->members, Other(node, which >> 1));
  } else {
    node.gossiper().OnJoined(reply->members, kGossipSeed);
  }
}

void ProbeAnswer(GossipNode& node, uint8_t which, std::string_view body) {
  auto reply = protocol::DecodeReply(body, Op::kProbe, node.limits());
  if (!reply.ok() || reply->status != ReplyStatus::kOk) return;
  node.gossiper().OnProbeAnswer(Other(node, which), reply->members);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  GossipNode node(/*joining=*/true);
  Reader in(data, size);
  while (!in.done()) {
    switch (in.Byte() % 4) {
      case 0:
        Request(node, in.Frame());
        break;
      case 1: {
        const uint8_t which = in.Byte();
        JoinAnswer(node, which, in.Frame());
        break;
      }
      case 2: {
        const uint8_t which = in.Byte();
        ProbeAnswer(node, which, in.Frame());
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
