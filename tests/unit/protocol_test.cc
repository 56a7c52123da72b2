#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <msgpack.hpp>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "protocol/codec.h"
#include "protocol/messages.h"

using namespace meshcache;
using namespace meshcache::protocol;

namespace {

std::string Hex(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

std::vector<char> Bin(std::string_view s) { return std::vector<char>(s.begin(), s.end()); }

// A body as another language's msgpack library would write it: std::string
// and const char* pack as str, std::vector<char> as bin.
template <typename... T>
std::string Body(const T&... items) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, std::make_tuple(items...));
  return std::string(buf.data(), buf.size());
}

Limits Small() {
  Limits l;
  l.max_key_bytes = 8;
  l.max_value_bytes = 16;
  l.max_mget_keys = 3;
  l.max_members = 4;
  return l;
}

MemberInfo Member(std::string id, NodeState state, uint64_t incarnation) {
  return MemberInfo{id, id, id + "1", state, incarnation};
}

Request RoundTrip(const Request& r) {
  DecodedRequest d = DecodeRequest(EncodeRequest(r), Limits{});
  INFO(d.status.ToString());
  REQUIRE(d.status.ok());
  return d.request;
}

Reply DecodeOk(const std::string& body, Op op, const Limits& limits = Limits{}) {
  Result<Reply> r = DecodeReply(body, op, limits);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return r.value();
}

void CheckRejected(const DecodedRequest& d, Code code, uint64_t id) {
  INFO(d.status.ToString());
  CHECK(d.status.code() == code);
  CHECK(d.request.id == id);
}

long MaxRssKb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

}  // namespace

TEST_CASE("op, status and gossip names round-trip", "[protocol]") {
  for (int i = 0; i <= static_cast<int>(kLastOp); ++i) {
    CHECK(OpFromName(OpName(static_cast<Op>(i))) == static_cast<Op>(i));
  }
  CHECK(std::string(OpName(Op::kMget)) == "mget");
  CHECK_FALSE(OpFromName("getx"));
  CHECK(ReplyStatusFromName("miss") == ReplyStatus::kMiss);
  CHECK_FALSE(ReplyStatusFromName("OK"));
  CHECK(GossipKindFromName("inv") == Gossip::Kind::kInvalidate);
  CHECK(std::string(GossipKindName(Gossip::Kind::kHeartbeat)) == "hb");
}

TEST_CASE("every client request survives a round trip", "[protocol]") {
  for (Op op : {Op::kPing, Op::kRing, Op::kStats}) {
    Request r = RoundTrip(Request{.op = op, .id = 42});
    CHECK(r.op == op);
    CHECK(r.id == 42);
  }
  for (Op op : {Op::kGet, Op::kDel, Op::kLoad}) {
    Request r = RoundTrip(Request{.op = op, .id = 1ull << 40, .keys = {std::string("k\0y", 3)}});
    CHECK(r.op == op);
    CHECK(r.id == 1ull << 40);
    CHECK(r.keys == std::vector<std::string>{std::string("k\0y", 3)});
  }
  Request mget = RoundTrip(Request{.op = Op::kMget, .id = 3, .keys = {"a", "", "c"}});
  CHECK(mget.keys == std::vector<std::string>{"a", "", "c"});
  Request set = RoundTrip(Request{.op = Op::kSet, .id = 4, .keys = {"k"}, .value = "v"});
  CHECK(set.keys[0] == "k");
  CHECK(set.value == "v");
  CHECK_FALSE(set.ttl_ms);
  Request set_ttl = RoundTrip(Request{.op = Op::kSet, .id = 5, .keys = {"k"}, .ttl_ms = 0});
  CHECK(set_ttl.ttl_ms == 0u);
}

TEST_CASE("peer requests fwd and join survive a round trip", "[protocol]") {
  auto inner = std::make_shared<Request>(Request{.op = Op::kMget, .id = 9, .keys = {"x", "y"}});
  Request fwd = RoundTrip(Request{.op = Op::kFwd, .id = 8, .from = "tcp://a:1", .inner = inner});
  CHECK(fwd.op == Op::kFwd);
  CHECK(fwd.from == "tcp://a:1");
  REQUIRE(fwd.inner);
  CHECK(fwd.inner->op == Op::kMget);
  CHECK(fwd.inner->id == 9);
  CHECK(fwd.inner->keys == inner->keys);
  CHECK_FALSE(fwd.replica);

  Request copy = RoundTrip(
      Request{.op = Op::kFwd, .id = 11, .from = "tcp://a:1", .inner = inner, .replica = true});
  CHECK(copy.replica);

  MemberInfo m = Member("tcp://b:2", NodeState::kSuspect, 77);
  Request join = RoundTrip(Request{.op = Op::kJoin, .id = 10, .member = m});
  CHECK(join.member == m);
  CHECK(join.members.empty());

  // A sync: a join that pushes the sender's table as a 4th element.
  const std::vector<MemberInfo> table = {m, Member("tcp://c:3", NodeState::kDead, 5)};
  Request sync = RoundTrip(Request{.op = Op::kJoin, .id = 12, .member = m, .members = table});
  CHECK(sync.member == m);
  CHECK(sync.members == table);
}

TEST_CASE("probe: direct, and on another's behalf (ping-req), survive a round trip", "[protocol]") {
  MemberInfo m = Member("tcp://b:2", NodeState::kAlive, 77);
  // ["probe", 3, member]: four elements in all with the target.
  Request direct = RoundTrip(Request{.op = Op::kProbe, .id = 3, .member = m});
  CHECK(direct.op == Op::kProbe);
  CHECK(direct.member == m);
  CHECK(direct.target.empty());
  CHECK(EncodeRequest(Request{.op = Op::kProbe, .id = 3, .member = m})[0] == '\x93');
  Request indirect =
      RoundTrip(Request{.op = Op::kProbe, .id = 4, .member = m, .target = "tcp://c:3"});
  CHECK(indirect.target == "tcp://c:3");
  CHECK(EncodeRequest(indirect)[0] == '\x94');
  // The answer: the probed member's own entry.
  CHECK(DecodeOk(EncodeMembers(5, {m}), Op::kProbe).members == std::vector<MemberInfo>{m});
  // A target that is not a string, a missing member: bad_request.
  const auto member = std::make_tuple("a", "a", "g", "alive", 1);
  REQUIRE(DecodeRequest(Body("probe", 5, member, "b"), Limits{}).status.ok());
  CheckRejected(DecodeRequest(Body("probe", 6, member, 7), Limits{}), Code::kBadRequest, 6);
  CheckRejected(DecodeRequest(Body("probe", 8), Limits{}), Code::kBadRequest, 8);
  // Nor may a fwd carry one.
  auto probe = std::make_shared<Request>(indirect);
  CheckRejected(
      DecodeRequest(EncodeRequest(Request{.op = Op::kFwd, .id = 9, .from = "a", .inner = probe}),
                    Limits{}),
      Code::kBadRequest, 9);
}

TEST_CASE("a hand-written get has the same key as str and as bin", "[protocol]") {
  // ["get", 1, "user"], key as str (fixstr a4) and as bin (c4 04).
  std::string as_str = Hex({0x93, 0xa3, 'g', 'e', 't', 0x01, 0xa4, 'u', 's', 'e', 'r'});
  std::string as_bin = Hex({0x93, 0xa3, 'g', 'e', 't', 0x01, 0xc4, 0x04, 'u', 's', 'e', 'r'});
  for (const std::string& body : {as_str, as_bin, Body("get", 1, Bin("user"))}) {
    DecodedRequest d = DecodeRequest(body, Limits{});
    REQUIRE(d.status.ok());
    CHECK(d.request.op == Op::kGet);
    CHECK(d.request.id == 1);
    CHECK(d.request.keys == std::vector<std::string>{"user"});
  }
  // Our encoder writes keys as bin.
  CHECK(EncodeRequest(Request{.op = Op::kGet, .id = 1, .keys = {"user"}}) == as_bin);
}

TEST_CASE("a hand-written set pins the layout of key, value and ttl", "[protocol]") {
  // ["set", 5, "k", bin "v", 1000]: value as bin, ttl as uint16 (cd 03 e8).
  std::string body =
      Hex({0x95, 0xa3, 's', 'e', 't', 0x05, 0xa1, 'k', 0xc4, 0x01, 'v', 0xcd, 0x03, 0xe8});
  DecodedRequest d = DecodeRequest(body, Limits{});
  REQUIRE(d.status.ok());
  CHECK(d.request.value == "v");
  CHECK(d.request.ttl_ms == 1000u);
  // A str value is accepted as its bytes; nil ttl is the node's default.
  DecodedRequest s = DecodeRequest(Body("set", 6, "k", "text", msgpack::type::nil_t()), Limits{});
  REQUIRE(s.status.ok());
  CHECK(s.request.value == "text");
  CHECK_FALSE(s.request.ttl_ms);
}

TEST_CASE("reply encoders write the documented bytes", "[protocol]") {
  CHECK(EncodeOk(7) == Hex({0x92, 0xa2, 'o', 'k', 0x07}));
  CHECK(EncodeMiss(7) == Hex({0x92, 0xa4, 'm', 'i', 's', 's', 0x07}));
  CHECK(EncodeValue(1, "v") == Hex({0x93, 0xa2, 'o', 'k', 0x01, 0xc4, 0x01, 'v'}));
  // To a peer's fwd: the remaining life rides along as a fourth element.
  CHECK(EncodeValue(1, "v", 300) ==
        Hex({0x94, 0xa2, 'o', 'k', 0x01, 0xc4, 0x01, 'v', 0xcd, 0x01, 0x2c}));
  CHECK(EncodeExisted(2, true) == Hex({0x93, 0xa2, 'o', 'k', 0x02, 0xc3}));
  CHECK(EncodeError(3, Code::kTooLarge, "x") == Body("err", 3, "too_large", "x"));
}

TEST_CASE("every reply survives a round trip", "[protocol]") {
  CHECK(DecodeOk(EncodeOk(5), Op::kSet).id == 5);
  CHECK(DecodeOk(EncodeMiss(6), Op::kGet).status == ReplyStatus::kMiss);
  CHECK(DecodeOk(EncodeMiss(6), Op::kLoad).status == ReplyStatus::kMiss);
  Reply err = DecodeOk(EncodeError(7, Code::kUnavailable, "owner down"), Op::kGet);
  CHECK(err.status == ReplyStatus::kErr);
  CHECK(err.error_code == "unavailable");
  CHECK(err.error_message == "owner down");
  CHECK(DecodeOk(EncodeValue(8, "v", 250), Op::kGet).ttl_ms == 250u);
  CHECK_FALSE(DecodeOk(EncodeValue(8, "v"), Op::kGet).ttl_ms.has_value());
  CHECK(DecodeOk(EncodeValue(8, std::string("\0\xff", 2)), Op::kGet).value ==
        std::string("\0\xff", 2));
  std::string a = "a";
  Reply mget = DecodeOk(EncodeValues(9, {&a, nullptr}), Op::kMget);
  CHECK(mget.values == std::vector<std::optional<std::string>>{"a", std::nullopt});
  CHECK(DecodeOk(EncodeExisted(10, true), Op::kDel).existed);
  CHECK_FALSE(DecodeOk(EncodeExisted(10, false), Op::kDel).existed);
  Reply ping = DecodeOk(EncodePing(11, PingInfo{"tcp://n:1", "0.1.0", 1}), Op::kPing);
  CHECK(ping.ping.node == "tcp://n:1");
  CHECK(ping.ping.version == "0.1.0");
  CHECK(ping.ping.proto == 1);
  Reply loaded = DecodeOk(EncodeLoaded(12, "val", 3000), Op::kLoad);
  CHECK(loaded.value == "val");
  CHECK(loaded.ttl_ms == 3000u);
  std::vector<MemberInfo> members = {Member("tcp://a:1", NodeState::kAlive, 1),
                                     Member("tcp://b:1", NodeState::kLeft, 9)};
  CHECK(DecodeOk(EncodeMembers(13, members), Op::kJoin).members == members);
}

TEST_CASE("ring and stats replies survive a round trip", "[protocol]") {
  RingInfo ring{.epoch = 12,
                .vnodes = 160,
                .replicas = 2,
                .nodes = {Member("tcp://a:1", NodeState::kAlive, 0),
                          Member("tcp://b:1", NodeState::kDead, 0)}};
  Reply r = DecodeOk(EncodeRing(1, ring), Op::kRing);
  CHECK(r.ring.epoch == 12);
  CHECK(r.ring.hash == "xxh32");
  CHECK(r.ring.vnodes == 160);
  CHECK(r.ring.replicas == 2);
  CHECK(r.ring.nodes == ring.nodes);  // incarnation 0: it is not on the wire

  StatList stats = {{"gets", int64_t{5}}, {"delta", int64_t{-3}}, {"node", std::string("x")}};
  CHECK(DecodeOk(EncodeStats(2, stats), Op::kStats).stats == stats);
  using Text = std::vector<std::pair<std::string, std::string>>;
  CHECK(StatsAsText(stats) == Text{{"gets", "5"}, {"delta", "-3"}, {"node", "x"}});
}

TEST_CASE(
    "a ring reply a client would choke on is refused: vnodes 0 or past 10000, too many points",
    "[protocol]") {
  auto decode = [](RingInfo ring, Limits l = Limits{}) {
    return DecodeReply(EncodeRing(1, ring), Op::kRing, l);
  };
  RingInfo ring{
      .vnodes = 10000, .replicas = 1, .nodes = {Member("tcp://a:1", NodeState::kAlive, 0)}};
  CHECK(decode(ring).ok());
  for (const uint32_t vnodes : {0u, 10001u, UINT32_MAX}) {
    ring.vnodes = vnodes;
    CHECK(decode(ring).status().code() == Code::kBadRequest);
  }
  Limits small;
  small.max_ring_points = 100;
  ring.vnodes = 50;
  ring.nodes.push_back(Member("tcp://b:1", NodeState::kAlive, 0));
  CHECK(decode(ring, small).ok());  // 2 x 50 points
  ring.nodes.push_back(Member("tcp://c:1", NodeState::kAlive, 0));
  CHECK(decode(ring, small).status().code() == Code::kTooLarge);
}

TEST_CASE("ring nodes are maps of id, service, gossip and state", "[protocol]") {
  RingInfo ring{.nodes = {Member("tcp://a:1", NodeState::kSuspect, 4)}};
  std::string body = EncodeRing(1, ring);
  msgpack::object_handle h = msgpack::unpack(body.data(), body.size());
  auto reply = h.get().as<std::tuple<std::string, uint64_t, msgpack::object>>();
  auto map = std::get<2>(reply).as<std::map<std::string, msgpack::object>>();
  CHECK(map.size() == 5);
  CHECK(map.at("hash").as<std::string>() == "xxh32");
  auto nodes = map.at("nodes").as<std::vector<std::map<std::string, std::string>>>();
  REQUIRE(nodes.size() == 1);
  CHECK(nodes[0] == std::map<std::string, std::string>{{"id", "tcp://a:1"},
                                                       {"service", "tcp://a:1"},
                                                       {"gossip", "tcp://a:11"},
                                                       {"state", "suspect"}});
}

TEST_CASE("a member's CURVE key travels as the member array's 6th element and the ring's key",
          "[protocol]") {
  const std::string key(40, 'k');  // Z85's length; the node checks the characters
  MemberInfo m = Member("tcp://b:2", NodeState::kAlive, 3);
  m.curve_key = key;
  Request join = RoundTrip(Request{.op = Op::kJoin, .id = 1, .member = m});
  CHECK(join.member.curve_key == key);
  CHECK(join.member == m);
  // Without a key the array keeps its 5 elements, as before CURVE.
  MemberInfo plain = Member("tcp://c:2", NodeState::kAlive, 3);
  CHECK(RoundTrip(Request{.op = Op::kJoin, .id = 2, .member = plain}).member == plain);
  // A key that is not 40 characters is refused, with the member.
  m.curve_key = "short";
  CHECK(DecodeRequest(EncodeRequest(Request{.op = Op::kJoin, .id = 3, .member = m}), Limits{})
            .status.code() == Code::kBadRequest);

  m.curve_key = key;
  Reply r =
      DecodeOk(EncodeRing(4, RingInfo{.vnodes = 1, .replicas = 1, .nodes = {m, plain}}), Op::kRing);
  REQUIRE(r.ring.nodes.size() == 2);
  CHECK(r.ring.nodes[0].curve_key == key);
  CHECK(r.ring.nodes[1].curve_key.empty());
}

TEST_CASE("a reply whose shape does not fit the op is bad_request", "[protocol]") {
  auto code = [](const std::string& body, Op op) {
    return DecodeReply(body, op, Limits{}).status().code();
  };
  CHECK(code(EncodeMiss(1), Op::kSet) == Code::kBadRequest);
  CHECK(code(EncodeMiss(1), Op::kMget) == Code::kBadRequest);
  CHECK(code(EncodeOk(1), Op::kGet) == Code::kBadRequest);
  CHECK(code(EncodeValue(1, "v"), Op::kDel) == Code::kBadRequest);
  CHECK(code(EncodeExisted(1, true), Op::kPing) == Code::kBadRequest);
  CHECK(code(EncodeValue(1, "v"), Op::kRing) == Code::kBadRequest);
  CHECK(code(Body("ok", 1, std::map<std::string, int>{{"node", 1}}), Op::kPing) ==
        Code::kBadRequest);
  CHECK(code(Body("yes", 1), Op::kSet) == Code::kBadRequest);
  CHECK(code(Body("ok", -1), Op::kSet) == Code::kBadRequest);
  CHECK(code(Body("err", 1, "timeout"), Op::kGet) == Code::kBadRequest);
  CHECK(code(EncodeRequest(Request{.op = Op::kGet, .id = 1, .keys = {"k"}}), Op::kGet) ==
        Code::kBadRequest);
}

TEST_CASE("a loaded reply without ttl (or with nil) leaves ttl to the node", "[protocol]") {
  Reply r = DecodeOk(Body("ok", 3, Bin("v")), Op::kLoad);
  CHECK(r.value == "v");
  CHECK_FALSE(r.ttl_ms);
  CHECK_FALSE(DecodeOk(Body("ok", 4, Bin("v"), msgpack::type::nil_t()), Op::kLoad).ttl_ms);
  CHECK_FALSE(DecodeReply(Body("ok", 5, Bin("v"), "soon"), Op::kLoad, Limits{}).ok());
}

TEST_CASE("a peek's value reply carries the entry's flags after its version", "[protocol]") {
  Reply r = DecodeOk(EncodeValue(3, "v", 1500, 77, 42), Op::kPeek);
  CHECK(r.value == "v");
  CHECK(r.ttl_ms == 1500);
  CHECK(r.version == 77);
  CHECK(r.flags == 42);
  // No flags: none sent, read as 0; an origin's trailing element that is no
  // 32-bit flag is ignored.
  CHECK(EncodeValue(3, "v", 1500, 77) == EncodeValue(3, "v", 1500, 77, 0));
  CHECK(DecodeOk(EncodeValue(3, "v", 1500, 77), Op::kPeek).flags == 0);
  CHECK(DecodeOk(Body("ok", 4, Bin("v"), 10, 5, "extra"), Op::kLoad).flags == 0);
  CHECK(DecodeOk(Body("ok", 4, Bin("v"), 10, 5, uint64_t{1} << 40), Op::kLoad).flags == 0);
}

TEST_CASE("peek reads status and id", "[protocol]") {
  std::string a = "alpha";
  std::string body = EncodeValues(3, {&a, nullptr});
  auto peek = PeekReply(body, Limits{});
  REQUIRE(peek.ok());
  CHECK(peek->first == ReplyStatus::kOk);
  CHECK(peek->second == 3);
  CHECK(PeekReply(EncodeError(9, Code::kTimeout, "slow"), Limits{})->first == ReplyStatus::kErr);
  CHECK_FALSE(PeekReply(Body("get", 1, "k"), Limits{}).ok());
  CHECK_FALSE(PeekReply(Hex({0x92, 0xa2, 'o', 'k'}), Limits{}).ok());
}

TEST_CASE("gossip heartbeat and invalidation survive a round trip", "[protocol]") {
  Gossip hb{.kind = Gossip::Kind::kHeartbeat,
            .from = "tcp://a:1",
            .seq = 99,
            .members = {Member("tcp://a:1", NodeState::kAlive, 3)},
            .invals = {"k1", "k2"}};
  Result<Gossip> g = DecodeGossip(EncodeGossip(hb), Limits{});
  REQUIRE(g.ok());
  CHECK(g->kind == Gossip::Kind::kHeartbeat);
  CHECK(g->from == "tcp://a:1");
  CHECK(g->seq == 99);
  CHECK(g->members == hb.members);
  CHECK(g->invals == hb.invals);
  CHECK_FALSE(g->invals_overflow);
  CHECK_FALSE(g->digest);  // five elements: no digest

  hb.digest = 0xdeadbeef;
  Result<Gossip> with_digest = DecodeGossip(EncodeGossip(hb), Limits{});
  REQUIRE(with_digest.ok());
  CHECK(with_digest->digest == 0xdeadbeefu);
  CHECK(with_digest->members == hb.members);

  Gossip inv{
      .kind = Gossip::Kind::kInvalidate, .from = "tcp://b:1", .seq = 1, .invals_overflow = true};
  Result<Gossip> i = DecodeGossip(EncodeGossip(inv), Limits{});
  REQUIRE(i.ok());
  CHECK(i->kind == Gossip::Kind::kInvalidate);
  CHECK(i->invals_overflow);
  CHECK(i->invals.empty());
  CHECK(EncodeGossip(inv) == Body("inv", "tcp://b:1", 1, msgpack::type::nil_t()));
}

TEST_CASE("bad gossip is rejected", "[protocol]") {
  auto code = [](const std::string& body) { return DecodeGossip(body, Small()).status().code(); };
  CHECK(code(Body("hx", "a", 1, std::vector<int>{})) == Code::kBadRequest);
  CHECK(code(Body("inv", "", 1, std::vector<int>{})) == Code::kBadRequest);
  CHECK(code(Body("inv", "a", -1, std::vector<int>{})) == Code::kBadRequest);
  CHECK(code(Body("inv", "a", 1)) == Code::kBadRequest);
  CHECK(code(Body("hb", "a", 1, std::vector<int>{})) == Code::kBadRequest);  // no invals
  CHECK(code(Body("hb", "a", 1, std::vector<int>{1}, std::vector<int>{})) == Code::kBadRequest);
  const std::vector<int> none;
  CHECK(code(Body("hb", "a", 1, none, none, "d")) == Code::kBadRequest);         // digest: str
  CHECK(code(Body("hb", "a", 1, none, none, 1ull << 32)) == Code::kBadRequest);  // over 32 bits
  CHECK(DecodeGossip(Body("hb", "a", 1, none, none, 7u), Small()).ok());
  CHECK(code(Body("inv", "a", 1, std::vector<std::string>(4, "k"))) == Code::kTooLarge);
  std::vector<std::tuple<std::string, std::string, std::string, std::string, int>> members(
      5, {"a", "a", "g", "alive", 0});
  CHECK(code(Body("hb", "a", 1, members, std::vector<int>{})) == Code::kTooLarge);
  members.resize(1);
  std::get<3>(members[0]) = "zombie";
  CHECK(code(Body("hb", "a", 1, members, std::vector<int>{})) == Code::kBadRequest);
}

TEST_CASE("keys and values at their limits are accepted, one byte over is too_large",
          "[protocol]") {
  Limits l = Small();
  CHECK(DecodeRequest(Body("get", 1, std::string(8, 'k')), l).status.ok());
  CheckRejected(DecodeRequest(Body("get", 2, std::string(9, 'k')), l), Code::kTooLarge, 2);
  CHECK(DecodeRequest(Body("set", 3, "k", Bin(std::string(16, 'v'))), l).status.ok());
  CheckRejected(DecodeRequest(Body("set", 4, "k", Bin(std::string(17, 'v'))), l), Code::kTooLarge,
                4);
  CheckRejected(DecodeRequest(Body("set", 5, std::string(9, 'k'), "v"), l), Code::kTooLarge, 5);

  Limits d;  // the defaults: 1 KiB keys, 1 MiB values
  CHECK(DecodeRequest(Body("get", 6, std::string(1024, 'k')), d).status.ok());
  CheckRejected(DecodeRequest(Body("get", 7, std::string(1025, 'k')), d), Code::kTooLarge, 7);
  CHECK(DecodeRequest(Body("set", 8, "k", Bin(std::string(1 << 20, 'v'))), d).status.ok());
  CheckRejected(DecodeRequest(Body("set", 9, "k", Bin(std::string((1 << 20) + 1, 'v'))), d),
                Code::kTooLarge, 9);
}

TEST_CASE("mget over the key count limit is too_large", "[protocol]") {
  Limits l = Small();
  CHECK(DecodeRequest(Body("mget", 1, std::vector<std::string>(3, "k")), l).status.ok());
  CheckRejected(DecodeRequest(Body("mget", 2, std::vector<std::string>(4, "k")), l),
                Code::kTooLarge, 2);
  // Past the parser's array limit too: refused before any key is read.
  CheckRejected(DecodeRequest(Body("mget", 3, std::vector<std::string>(100, "k")), l),
                Code::kTooLarge, 3);
  CheckRejected(
      DecodeRequest(Body("mget", 4, std::vector<std::string>{"ok", std::string(9, 'k')}), l),
      Code::kTooLarge, 4);
}

TEST_CASE("a body over the size limit is too_large before parsing", "[protocol]") {
  Limits l = Small();
  std::string body = Body("get", 5, "k") + std::string(l.max_body_bytes(), '\0');
  CheckRejected(DecodeRequest(body, l), Code::kTooLarge, 5);
}

TEST_CASE("malformed requests are bad_request, echoing the id when it can be read", "[protocol]") {
  Limits l;
  CheckRejected(DecodeRequest("", l), Code::kBadRequest, 0);
  CheckRejected(DecodeRequest(Hex({0xc1}), l), Code::kBadRequest, 0);  // never used in msgpack
  CheckRejected(DecodeRequest(Body("get"), l), Code::kBadRequest, 0);
  CheckRejected(DecodeRequest(Hex({0x90}), l), Code::kBadRequest, 0);
  CheckRejected(DecodeRequest(Hex({0x05}), l), Code::kBadRequest, 0);
  CheckRejected(DecodeRequest(Body(std::map<std::string, int>{{"op", 1}}).substr(1), l),
                Code::kBadRequest, 0);  // a bare map
  CheckRejected(DecodeRequest(Body(5, 11, "k"), l), Code::kBadRequest, 11);
  CheckRejected(DecodeRequest(Body("gett", 12, "k"), l), Code::kBadRequest, 12);
  CheckRejected(DecodeRequest(Body("get", -13, "k"), l), Code::kBadRequest, 0);
  CheckRejected(DecodeRequest(Body("get", 1.5, "k"), l), Code::kBadRequest, 0);
  CheckRejected(DecodeRequest(Body("get", 14), l), Code::kBadRequest, 14);
  CheckRejected(DecodeRequest(Body("get", 15, 42), l), Code::kBadRequest, 15);
  CheckRejected(DecodeRequest(Body("set", 16, "k"), l), Code::kBadRequest, 16);
  CheckRejected(DecodeRequest(Body("set", 17, "k", "v", -1), l), Code::kBadRequest, 17);
  CheckRejected(DecodeRequest(Body("mget", 18, "k"), l), Code::kBadRequest, 18);
  CheckRejected(DecodeRequest(Body("join", 19, std::vector<std::string>{"", "s", "g", "alive"}), l),
                Code::kBadRequest, 19);
  CheckRejected(DecodeRequest(Body("get", 20, "k") + "x", l), Code::kBadRequest, 20);
  CheckRejected(DecodeRequest(Hex({0x93, 0xa3, 'g', 'e', 't', 0x15, 0xd4, 0x01, 0x00}), l),
                Code::kBadRequest, 21);  // an ext key
}

TEST_CASE("error messages name the problem", "[protocol]") {
  CHECK(DecodeRequest(Body("gett", 1), Limits{}).status.message() == "unknown op \"gett\"");
  CHECK(DecodeRequest(Body("get", 1), Limits{}).status.message() == "missing key");
  CHECK(DecodeRequest(Body("get", 1, 2), Limits{}).status.message() ==
        "key is neither str nor bin");
  CHECK(DecodeRequest(Body("get", -1), Limits{}).status.message() ==
        "id is not an unsigned integer");
  CHECK(DecodeRequest(Body(std::string("\x01\xff", 2), 1), Limits{}).status.message() ==
        "unknown op \"??\"");
}

TEST_CASE("a fwd may carry neither a fwd nor a join", "[protocol]") {
  auto get = std::make_shared<Request>(Request{.op = Op::kGet, .id = 2, .keys = {"k"}});
  auto fwd = std::make_shared<Request>(Request{.op = Op::kFwd, .id = 3, .from = "b", .inner = get});
  std::string body = EncodeRequest(Request{.op = Op::kFwd, .id = 4, .from = "a", .inner = fwd});
  DecodedRequest d = DecodeRequest(body, Limits{});
  CheckRejected(d, Code::kBadRequest, 4);
  CHECK(d.status.message() == "inner request: a fwd cannot carry a fwd");
  auto join = std::make_shared<Request>(
      Request{.op = Op::kJoin, .id = 5, .member = Member("m", NodeState::kAlive, 0)});
  CheckRejected(
      DecodeRequest(EncodeRequest(Request{.op = Op::kFwd, .id = 6, .from = "a", .inner = join}),
                    Limits{}),
      Code::kBadRequest, 6);
  CheckRejected(DecodeRequest(Body("fwd", 7, "a"), Limits{}), Code::kBadRequest, 7);
  CheckRejected(
      DecodeRequest(Body("fwd", 8, "a", std::make_tuple("get", 1, std::string(2000, 'k'))),
                    Limits{}),
      Code::kTooLarge, 8);
}

TEST_CASE("a fwd's replica flag is a trailing bool", "[protocol]") {
  auto inner = std::make_shared<Request>(Request{.op = Op::kGet, .id = 1, .keys = {"k"}});
  // ["fwd", 2, "a", ["get", 1, bin "k"], true]
  CHECK(EncodeRequest(
            Request{.op = Op::kFwd, .id = 2, .from = "a", .inner = inner, .replica = true}) ==
        Hex({0x95, 0xa3, 'f', 'w', 'd', 0x02, 0xa1, 'a', 0x93, 0xa3, 'g', 'e', 't', 0x01, 0xc4,
             0x01, 'k', 0xc3}));
  auto get = std::make_tuple("get", 1, "k");
  CHECK(DecodeRequest(Body("fwd", 3, "a", get, true), Limits{}).request.replica);
  CHECK_FALSE(DecodeRequest(Body("fwd", 4, "a", get), Limits{}).request.replica);
  CheckRejected(DecodeRequest(Body("fwd", 5, "a", get, 1), Limits{}), Code::kBadRequest, 5);
}

TEST_CASE("trailing unknown elements are ignored", "[protocol]") {
  DecodedRequest d = DecodeRequest(Body("get", 1, "k", "future", 5), Limits{});
  REQUIRE(d.status.ok());
  CHECK(d.request.keys == std::vector<std::string>{"k"});
  CHECK(DecodeRequest(Body("ping", 2, std::map<int, int>{{1, 2}}), Limits{}).status.ok());
  CHECK(DecodeOk(Body("ok", 3, true, "more"), Op::kDel).existed);
  CHECK(DecodeGossip(Body("inv", "a", 1, std::vector<int>{}, "x"), Limits{}).ok());
}

TEST_CASE("memory bombs are refused without allocating what they claim", "[protocol]") {
  const long before_kb = MaxRssKb();
  const std::vector<std::string> bombs = {
      Hex({0xdd, 0xff, 0xff, 0xff, 0xff}),  // array of 4 billion
      Hex({0xdc, 0xff, 0xff}),              // array of 65535
      Hex({0xdf, 0xff, 0xff, 0xff, 0xff}),  // map of 4 billion
      Hex({0xde, 0xff, 0xff}),              // map of 65535
      Hex({0xdb, 0xff, 0xff, 0xff, 0xff}),  // str of 4 GiB
      Hex({0xc6, 0xff, 0xff, 0xff, 0xff}),  // bin of 4 GiB
      Hex({0x93, 0xa3, 'g', 'e', 't', 0x07, 0xdd, 0xff, 0xff, 0xff, 0xff}),
  };
  for (const std::string& bomb : bombs) {
    DecodedRequest d = DecodeRequest(bomb, Limits{});
    CHECK_FALSE(d.status.ok());
    CHECK(d.status.message().find("memory") == std::string::npos);  // refused, not failed
    CHECK_FALSE(DecodeReply(bomb, Op::kMget, Limits{}).ok());
    CHECK_FALSE(DecodeGossip(bomb, Limits{}).ok());
  }
  // A few bytes that declare more than they hold are not msgpack: the
  // contract's code for that is bad_request (a whole body over a limit is
  // too_large, as the mget case above shows).
  CheckRejected(DecodeRequest(bombs[0], Limits{}), Code::kBadRequest, 0);
  CheckRejected(DecodeRequest(bombs[4], Limits{}), Code::kBadRequest, 0);
  CheckRejected(DecodeRequest(bombs.back(), Limits{}), Code::kBadRequest, 7);
  CHECK(MaxRssKb() - before_kb < 64 * 1024);
}

TEST_CASE("deep nesting is refused at the depth limit", "[protocol]") {
  const long before_kb = MaxRssKb();
  for (uint8_t container : {0x91, 0x81}) {  // [[[...]]] and {{{...}}}
    std::string body(100000, static_cast<char>(container));
    DecodedRequest d = DecodeRequest(body, Limits{});
    CheckRejected(d, Code::kBadRequest, 0);
    CHECK(d.status.message() == "body nests deeper than 8 levels");
    CHECK_FALSE(DecodeGossip(body, Limits{}).ok());
  }
  CHECK(MaxRssKb() - before_kb < 64 * 1024);
}

TEST_CASE("every truncation of a valid body is rejected", "[protocol]") {
  auto inner = std::make_shared<Request>(
      Request{.op = Op::kSet, .id = 2, .keys = {"key"}, .value = "value", .ttl_ms = 70000});
  std::string body =
      EncodeRequest(Request{.op = Op::kFwd, .id = 300, .from = "tcp://a:1", .inner = inner});
  REQUIRE(DecodeRequest(body, Limits{}).status.ok());
  for (size_t n = 0; n < body.size(); ++n) {
    DecodedRequest d = DecodeRequest(body.substr(0, n), Limits{});
    CHECK(d.status.code() == Code::kBadRequest);
    CHECK((d.request.id == 0 || d.request.id == 300));
  }
  std::string reply = EncodeRing(1, RingInfo{.nodes = {Member("a", NodeState::kAlive, 0)}});
  for (size_t n = 0; n < reply.size(); ++n) {
    CHECK_FALSE(DecodeReply(reply.substr(0, n), Op::kRing, Limits{}).ok());
  }
}

TEST_CASE("random bytes and mutated bodies never throw", "[protocol]") {
  std::mt19937 rng(20240601);
  const std::vector<std::string> seeds = {
      EncodeRequest(Request{.op = Op::kSet, .id = 1, .keys = {"k"}, .value = "v", .ttl_ms = 5}),
      EncodeRing(2, RingInfo{.nodes = {Member("a", NodeState::kAlive, 0)}}),
      EncodeGossip(Gossip{.from = "a", .members = {Member("a", NodeState::kAlive, 1)}}),
  };
  Limits l = Small();
  for (int i = 0; i < 20000; ++i) {
    std::string body;
    if (i % 2 == 0) {
      body.resize(rng() % 48);
      for (char& c : body) c = static_cast<char>(rng());
    } else {
      body = seeds[rng() % seeds.size()];
      body[rng() % body.size()] = static_cast<char>(rng());
    }
    REQUIRE_NOTHROW(DecodeRequest(body, l));
    REQUIRE_NOTHROW(PeekReply(body, l));
    REQUIRE_NOTHROW(DecodeGossip(body, l));
    for (int op = 0; op <= static_cast<int>(kLastOp); ++op) {
      REQUIRE_NOTHROW(DecodeReply(body, static_cast<Op>(op), l));
    }
  }
}

TEST_CASE("a set's flags travel as a 6th element, absent when 0", "[protocol][extensions]") {
  Request set{.op = Op::kSet, .id = 4, .keys = {"k"}, .value = "v"};
  set.flags = 0xDEADBEEF;
  Request back = RoundTrip(set);
  CHECK(back.flags == 0xDEADBEEF);
  CHECK_FALSE(back.ttl_ms);  // nil before the flags: the node's default
  CHECK(EncodeRequest(set) ==
        Body("set", 4, Bin("k"), Bin("v"), msgpack::type::nil_t(), 0xDEADBEEFu));
  set.flags = 0;
  set.ttl_ms = 5;
  CHECK(EncodeRequest(set) == Body("set", 4, Bin("k"), Bin("v"), 5));
  // What is not a 32-bit unsigned integer there is a trailing element the
  // node does not know: ignored, as the contract says.
  for (const std::string& body :
       {Body("set", 4, "k", "v", 5, uint64_t{1} << 32), Body("set", 4, "k", "v", 5, "future", 1)}) {
    DecodedRequest d = DecodeRequest(body, Limits{});
    REQUIRE(d.status.ok());
    CHECK(d.request.flags == 0);
    CHECK(d.request.value == "v");
  }
}

TEST_CASE("gets, setx, incr and touch survive a round trip", "[protocol][extensions]") {
  Request gets{.op = Op::kGets, .id = 1, .keys = {"a", "b"}};
  CHECK(RoundTrip(gets).keys == gets.keys);
  CHECK_FALSE(RoundTrip(gets).ttl_ms);
  gets.ttl_ms = 9000;  // gat: each hit's new ttl
  CHECK(RoundTrip(gets).ttl_ms == 9000u);

  for (WriteMode mode : {WriteMode::kSet, WriteMode::kAdd, WriteMode::kReplace, WriteMode::kAppend,
                         WriteMode::kPrepend}) {
    Request setx{.op = Op::kSetx, .id = 2, .keys = {"k"}, .value = "v"};
    setx.mode = mode;
    setx.flags = 7;
    setx.cas = 123456789;
    setx.ttl_ms = 60000;
    Request back = RoundTrip(setx);
    CHECK(back.mode == mode);
    CHECK(back.flags == 7);
    CHECK(back.cas == 123456789u);
    CHECK(back.ttl_ms == 60000u);
    CHECK(back.value == "v");
  }

  Request incr{.op = Op::kIncr, .id = 3, .keys = {"n"}};
  incr.delta = UINT64_MAX;
  incr.decr = true;
  Request back = RoundTrip(incr);
  CHECK((back.delta == UINT64_MAX && back.decr && !back.initial && !back.ttl_ms));
  incr.initial = 10;
  incr.ttl_ms = 0;
  back = RoundTrip(incr);
  CHECK((back.initial == 10u && back.ttl_ms == 0u));

  Request touch{.op = Op::kTouch, .id = 5, .keys = {"t"}};
  touch.ttl_ms = 1500;
  CHECK(RoundTrip(touch).ttl_ms == 1500u);
}

TEST_CASE("the extension ops refuse what is not theirs", "[protocol][extensions]") {
  auto code = [](const std::string& body) { return DecodeRequest(body, Limits{}).status.code(); };
  CHECK(code(Body("setx", 1, "k", "v", 0, 0, "upsert", 0)) == Code::kBadRequest);  // mode
  CHECK(code(Body("setx", 1, "k", "v", 0, 0, "add")) == Code::kBadRequest);        // no cas
  CHECK(code(Body("setx", 1, "k", "v", 0, -1, "add", 0)) == Code::kBadRequest);    // flags
  CHECK(code(Body("incr", 1, "k", -1, false)) == Code::kBadRequest);               // delta
  CHECK(code(Body("incr", 1, "k", 1)) == Code::kBadRequest);                       // no decr
  CHECK(code(Body("touch", 1, "k")) == Code::kBadRequest);                         // no ttl
  CHECK(code(Body("gets", 1, std::vector<std::string>{"a", "b", "c", "d"})) == Code::kOk);
  Limits small = Small();
  CHECK(DecodeRequest(Body("gets", 1, std::vector<std::string>{"a", "b", "c", "d"}), small)
            .status.code() == Code::kTooLarge);
  CHECK_FALSE(PeerOnly(Op::kGets));
  CHECK_FALSE(PeerOnly(Op::kSetx));
}

TEST_CASE("gets entries and write outcomes survive a round trip", "[protocol][extensions]") {
  const std::vector<std::optional<ValueMeta>> entries = {ValueMeta{"value", 42, 77, 1000},
                                                         std::nullopt, ValueMeta{"", 0, 1, 0}};
  CHECK(DecodeOk(EncodeEntries(9, entries), Op::kGets).entries == entries);
  for (WriteOutcome o : {WriteOutcome::kStored, WriteOutcome::kNotStored, WriteOutcome::kExists,
                         WriteOutcome::kNotFound, WriteOutcome::kNonNumeric}) {
    Reply r = DecodeOk(EncodeWritten(9, o, 55), Op::kSetx);
    CHECK((r.outcome == o && r.cas == 55u));
    r = DecodeOk(EncodeWritten(9, o, 56, 1234), Op::kIncr);
    CHECK((r.outcome == o && r.cas == 56u && r.number == 1234u));
  }
  CHECK(EncodeWritten(9, WriteOutcome::kExists, 0) == Body("ok", 9, "exists", 0));
  CHECK_FALSE(DecodeReply(Body("ok", 9, "maybe", 0), Op::kSetx, Limits{}).ok());
  CHECK_FALSE(DecodeReply(Body("ok", 9, std::vector<int>{1}), Op::kGets, Limits{}).ok());
  CHECK(DecodeOk(EncodeExisted(9, true), Op::kTouch).existed);
}
