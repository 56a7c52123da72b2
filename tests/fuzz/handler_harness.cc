#include "handler_harness.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <utility>

#include "protocol/codec.h"

namespace meshcache::fuzz {
namespace {

using protocol::Op;
using protocol::ReplyStatus;

const std::string kSelf = "tcp://self:7400";
const std::string kSeed = "tcp://seed:7400";
// Routing ids as libzmq makes them (a zero byte and a counter), and the
// checker's, which no record can name.
const std::array<std::string, 4> kClients = {std::string("\0\x80\0\0\x01", 5),
                                             std::string("\0\x80\0\0\x02", 5), "tcp://a:7400",
                                             "tcp://b:7400"};
const std::string kChecker("\0\xff\xff\xff\xff", 5);
// Check's keys; an input that holds this may write them itself.
const std::string kCheckPrefix =
    "\xfe\xfd"
    "check:";
constexpr uint64_t kFirstCheckId = uint64_t{1} << 62;

// Small limits and budgets, so that limits, evictions and queues that are
// full are reachable with small inputs; the rest chosen by the config byte.
NodeOptions Config(uint8_t c) {
  NodeOptions o;
  o.replicas = 1 + (c & 1);
  o.hot_bytes = (c & 2) ? 4096 : 0;
  o.handoff_ms = (c & 4) ? 0 : 1000;
  o.default_ttl_ms = (c & 8) ? 5000 : 0;
  if (c & 16) o.join = {kSeed};
  o.vnodes = 16;  // ring builds stay cheap; the ring's own tests cover 160
  o.max_key_bytes = 64;
  o.max_value_bytes = 512;
  o.memory_bytes = 32u << 10;
  o.max_pending_requests = 32;
  o.max_queued_loads = 4;
  o.load_timeout_ms = 2000;
  o.log = [](LogLevel, const std::string&) {};  // the log lines are built, not printed
  return o;
}

MemberInfo Member(const std::string& id, NodeState state = NodeState::kAlive,
                  uint64_t incarnation = 1) {
  return {id, id, id + "/gossip", state, incarnation};
}

zmq::message_t Frame(std::string_view s) { return net::Frame(s); }

// Splits content at each ',' into exactly n pieces (the last ones empty if
// it has fewer).
std::vector<std::string_view> Pieces(std::string_view content, size_t n) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < n) {
    size_t comma = content.find(',');
    if (comma == std::string_view::npos) break;
    out.push_back(content.substr(0, comma));
    content.remove_prefix(comma + 1);
  }
  out.push_back(content);
  out.resize(std::max<size_t>(n, 1));
  return out;
}

// A peer's answer to what the node sent it: `how` picks the kind (the
// answer the op expects, a miss, an error, or content as the raw body) and
// its details; content gives values, error messages and member names.
std::string MakeAnswer(const FuzzPeers::Sent& s, uint8_t how, std::string_view content,
                       int64_t wall_ms) {
  const protocol::Request& r =
      s.request.op == Op::kFwd && s.request.inner ? *s.request.inner : s.request;
  const uint8_t x = how >> 2;  // 0-63
  switch (how % 4) {
    case 1:
      return protocol::EncodeMiss(s.id);
    case 2:
      return protocol::EncodeError(s.id, static_cast<Code>(1 + x % 6), content);
    case 3:
      return std::string(content);
  }
  switch (r.op) {
    case Op::kGet:
      return protocol::EncodeValue(s.id, content,
                                   (x & 1) ? std::optional<uint64_t>(x * 100) : std::nullopt);
    case Op::kPeek: {
      const uint64_t version = x == 63 ? UINT64_MAX
                                       : static_cast<uint64_t>(wall_ms + x - 32)
                                             << HybridClock::kCounterBits;
      return protocol::EncodeValue(s.id, content, (x & 1) * 1000, version);
    }
    case Op::kMget: {
      // x == 1: one value short, which the node must refuse.
      size_t n = r.keys.size() - (x == 1 && !r.keys.empty() ? 1 : 0);
      std::vector<std::optional<std::string_view>> values;
      for (std::string_view v : Pieces(content, n)) {
        values.push_back(v.empty() ? std::nullopt : std::optional<std::string_view>(v));
      }
      values.resize(n);
      return protocol::EncodeValues(s.id, values);
    }
    case Op::kDel:
      return protocol::EncodeExisted(s.id, x & 1);
    case Op::kJoin:
    case Op::kProbe: {
      const std::string& target = r.target.empty() ? s.endpoint : r.target;
      std::vector<MemberInfo> members = {Member(target, NodeState::kAlive, 1 + (x & 3))};
      if (r.op == Op::kJoin) {
        for (std::string_view name : Pieces(content, 3)) {
          if (!name.empty()) {
            members.push_back(Member("tcp://" + std::string(name) + ":7400",
                                     static_cast<NodeState>(x % 4), x >> 2));
          }
        }
      }
      return protocol::EncodeMembers(s.id, members);
    }
    default:  // set, handoff: acknowledged
      return protocol::EncodeOk(s.id);
  }
}

}  // namespace

HandlerHarness::HandlerHarness(uint8_t config)
    : options_(Config(config)),
      limits_(node::NodeLimits(options_)),
      peers_(limits_),
      service_(options_, Member(kSelf), peers_, (config & 32) ? &loader_ : nullptr, &clock_,
               [this](net::Frames& envelope, const std::string& body) {
                 return OnReply(envelope, body);
               }) {
  trace_ = std::getenv("MESHCACHE_FUZZ_TRACE") != nullptr;
  peers_.trace = trace_;
  service_.Start();
}

bool HandlerHarness::OnReply(net::Frames& envelope, const std::string& body) {
  // What the engine would send back on the ROUTER: the envelope as it came,
  // through its delimiter, then the body.
  if (envelope.size() < 2 || envelope[0].size() == 0 || envelope.back().size() != 0) {
    Fail("node replied with an envelope a ROUTER cannot route");
  }
  auto head = protocol::PeekReply(body, limits_);
  if (!head.ok()) Fail("node sent a reply its own decoder refuses: " + head.status().message());
  if (trace_) {
    std::fprintf(stderr, "  reply to %s: %s\n", Escape(net::View(envelope[0])).c_str(),
                 Escape(body).c_str());
  }
  if (checking_ && net::View(envelope[0]) == kChecker) {
    replies_.push_back({std::string(net::View(envelope[0])), body});
  }
  return true;
}

void HandlerHarness::SawInput(std::string_view input) {
  if (input.find(kCheckPrefix) != std::string_view::npos) check_keys_seen_ = true;
}

void HandlerHarness::Run(const Record& rec) {
  if (trace_) {
    static const char* const kNames[] = {"request", "",       "peer reply", "gossip",
                                         "tick",    "answer", "load done",  "check"};
    std::fprintf(stderr, "%s a=%d b=%d at %lld ms\n", kNames[rec.kind], rec.a, rec.b,
                 static_cast<long long>(clock_.NowMs()));
    for (std::string_view f : rec.frames) std::fprintf(stderr, "  [%s]\n", Escape(f).c_str());
  }
  net::Frames frames;
  switch (rec.kind) {
    case kRequest:
      frames.push_back(Frame(kClients[rec.a % kClients.size()]));
      for (std::string_view f : rec.frames) frames.push_back(Frame(f));
      service_.OnRequest(frames);
      break;
    case kPeerReply:
      for (std::string_view f : rec.frames) frames.push_back(Frame(f));
      service_.OnPeerMessage(frames);
      break;
    case kGossip:
      for (std::string_view f : rec.frames) frames.push_back(Frame(f));
      service_.OnGossipMessage(frames);
      break;
    case kTick:
      clock_.Advance(2 * int64_t{rec.a} * rec.a);
      break;
    case kAnswer:
      Answer(rec);
      break;
    case kLoadDone:
      FinishLoad(rec);
      break;
    case kCheck:
      Check();
      break;
  }
  // The engine runs the timers after every poll round.
  service_.OnTimers(clock_.NowMs());
  CheckDrained(rec);
}

void HandlerHarness::CheckDrained(const Record& rec) {
  // A get may go to its owner, then to the next holder, then to the loader;
  // a peek to the previous owner first: each step ends by its deadline.
  constexpr int kSteps = 5;
  const int64_t longest = std::max(options_.forward_timeout_ms, options_.load_timeout_ms);
  if (rec.kind != kTick || 2 * int64_t{rec.a} * rec.a <= longest) {
    quiet_ticks_ = 0;
    return;
  }
  if (++quiet_ticks_ >= kSteps && !service_.Drained()) {
    Fail("a request still waits for its answer after every deadline passed " +
         std::to_string(kSteps) + " times");
  }
}

void HandlerHarness::Answer(const Record& rec) {
  FuzzPeers::Sent s;
  if (!peers_.Take(rec.a, &s)) return;
  net::Frames frames;
  frames.push_back(Frame(""));
  frames.push_back(Frame(MakeAnswer(s, rec.b, rec.frames[0], clock_.WallMs())));
  service_.OnPeerMessage(frames);
}

void HandlerHarness::FinishLoad(const Record& rec) {
  Result<std::optional<Loaded>> result = std::optional<Loaded>();
  switch (rec.b % 3) {
    case 0:
      result = std::optional<Loaded>(Loaded{std::string(rec.frames[0]), uint64_t{rec.b} * 100u});
      break;
    case 2:
      result = Status::Error(Code::kLoadFailed, std::string(rec.frames[0]));
      break;
  }
  if (loader_.Finish(rec.a, std::move(result))) service_.OnLoadsDone();
}

std::optional<protocol::Reply> HandlerHarness::Ask(protocol::Request r) {
  r.id = kFirstCheckId + ++checks_;
  net::Frames frames;
  frames.push_back(Frame(kChecker));
  frames.push_back(Frame(""));
  frames.push_back(Frame(protocol::EncodeRequest(r)));
  replies_.clear();
  service_.OnRequest(frames);
  for (const Reply& reply : replies_) {
    auto decoded = protocol::DecodeReply(reply.body, r.op, limits_);
    if (!decoded.ok()) {
      Fail(std::string("node's reply to a ") + protocol::OpName(r.op) +
           " does not decode: " + decoded.status().message());
    }
    if (decoded->id == r.id) return std::move(*decoded);
  }
  return std::nullopt;
}

std::optional<std::string> HandlerHarness::OwnedKey() const {
  const Ring& ring = *service_.gossiper().ring();
  for (int i = 0; i < 1024; ++i) {
    std::string key = kCheckPrefix + std::to_string(i);
    const std::string* owner = ring.Owner(key);
    if (owner != nullptr && *owner == kSelf) return key;
  }
  return std::nullopt;
}

void HandlerHarness::Check() {
  const MemberInfo& self = service_.gossiper().membership().self();
  if (self.state != NodeState::kAlive) {
    Fail(std::string("node is ") + NodeStateName(self.state) + " in its own table");
  }
  const MemberInfo* on_ring = service_.gossiper().ring()->Find(kSelf);
  if (on_ring == nullptr || !OnRing(on_ring->state)) Fail("node is not on its own ring");
  checking_ = true;
  std::optional<protocol::Reply> r = Ask({.op = Op::kPing});
  if (!r || r->status != ReplyStatus::kOk) Fail("no answer to a ping");
  // A stats reply is large: decoded now and then.
  if (checks_ % 16 == 1 && !Ask({.op = Op::kStats})) Fail("no answer to stats");
  if (std::optional<std::string> key = OwnedKey()) {
    const std::string value = "value " + std::to_string(checks_);
    r = Ask({.op = Op::kSet, .keys = {*key}, .value = value});
    if (!r) Fail("no answer to a set of a key the node owns");
    if (r->status != ReplyStatus::kOk) {
      Fail("a set of a key the node owns got " + r->error_code + ": " + r->error_message);
    }
    const uint64_t sends = peers_.sends;
    r = Ask({.op = Op::kGet, .keys = {*key}});
    if (!r) {
      // Only a hit that must be checked with a stand-in waits.
      const bool peeked = peers_.sends > sends && peers_.sent.back().request.op == Op::kPeek &&
                          peers_.sent.back().request.keys == std::vector<std::string>{*key};
      if (!peeked) Fail("no answer to a get of a key the node owns, and no peek for it");
    } else if (r->status == ReplyStatus::kErr) {
      if (r->error_code != "overloaded") {
        Fail("a get of a key the node owns got " + r->error_code + ": " + r->error_message);
      }
    } else if (!check_keys_seen_ && (r->status != ReplyStatus::kOk || r->value != value)) {
      Fail("a get of a key the node owns did not return the value just set (acknowledged ok)");
    }
  }
  checking_ = false;
  replies_.clear();
}

}  // namespace meshcache::fuzz
