// ZmqPeers on real ZeroMQ sockets over loopback TCP. The test plays the
// peers: it binds ROUTERs (a peer's service) and PUBs (a peer's gossip) on
// 127.0.0.1 with ports the kernel picks, and runs the engine's loop
// (AddPollItems, zmq::poll, Dispatch) until what it waits for has happened,
// for at most 5 s.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "net/poller.h"
#include "node/zmq_peers.h"
#include "protocol/codec.h"

using namespace meshcache;

namespace {

using Strings = std::vector<std::string>;
constexpr auto kPatience = std::chrono::seconds(5);

std::string BindAny(zmq::socket_t& s) {
  s.bind("tcp://127.0.0.1:*");
  return s.get(zmq::sockopt::last_endpoint);
}

// A loopback endpoint nobody listens on yet: a port the kernel hands out,
// released at once.
std::string FreeEndpoint() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return "tcp://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
}

Strings Texts(const net::Frames& frames) {
  Strings out;
  for (const auto& f : frames) out.emplace_back(net::View(f));
  return out;
}

// Receives one whole message without blocking.
bool Recv(zmq::socket_t& s, Strings& out) {
  net::Frames frames;
  if (!net::RecvFrames(s, frames)) return false;
  out = Texts(frames);
  return true;
}

bool SendTexts(zmq::socket_t& s, const Strings& texts) {
  net::Frames frames;
  for (const auto& t : texts) frames.push_back(net::Frame(t));
  return net::SendFrames(s, frames);
}

// A node's ZmqPeers with its PUB bound, and what its loop has dispatched.
struct Mesh {
  Mesh() = default;
  explicit Mesh(std::string from) : source(std::move(from)) {}
  Mesh(net::CurveKeys own, Strings keys) : curve(std::move(own)), peer_keys(std::move(keys)) {}
  zmq::context_t ctx;
  net::SocketLimits limits{1 << 20};
  std::string pub_endpoint;
  std::string source;  // set before peers: the address connections leave from
  net::CurveKeys curve;
  Strings peer_keys;
  node::ZmqPeers peers{ctx, limits, BoundPub(), source, curve, peer_keys};
  std::vector<Strings> gossip;   // frames handed to on_gossip
  std::vector<Strings> replies;  // frames handed to on_reply

  zmq::socket_t BoundPub() {
    zmq::socket_t pub = net::MakePub(ctx, limits);
    pub_endpoint = BindAny(pub);
    return pub;
  }
  net::Poller poller;
  // One round of the engine's loop, waiting up to 10 ms for an event.
  void Round() {
    std::vector<zmq::pollitem_t> items;
    std::vector<char> recheck;
    peers.AddPollItems(items, recheck);
    poller.Poll(items, recheck, 10);
    peers.Dispatch(
        items.data(), 64, [this](const net::Frames& f) { gossip.push_back(Texts(f)); },
        [this](const net::Frames& f) { replies.push_back(Texts(f)); });
  }
  // Runs rounds until done() holds (it is asked after every round) or the
  // patience runs out; returns whether it holds.
  template <typename Done>
  bool RunUntil(Done done) {
    const auto end = std::chrono::steady_clock::now() + kPatience;
    while (std::chrono::steady_clock::now() < end) {
      Round();
      if (done()) return true;
    }
    return false;
  }
  // A ROUTER playing a peer's service, bound at endpoint.
  zmq::socket_t Service(const std::string& endpoint) {
    zmq::socket_t router = net::MakeRouter(ctx, limits);
    router.bind(endpoint);
    return router;
  }
};

MemberInfo Member(const std::string& service, const std::string& gossip) {
  return {service, service, gossip, NodeState::kAlive, 1};
}

// A member the node follows, played by the test: its service's ROUTER and
// its gossip PUB, both bound on loopback.
struct Followed {
  explicit Followed(Mesh& m)
      : router(net::MakeRouter(m.ctx, m.limits)),
        pub(net::MakePub(m.ctx, m.limits)),
        member(Member(BindAny(router), BindAny(pub))) {}
  zmq::socket_t router;
  zmq::socket_t pub;
  MemberInfo member;
  const std::string& service() const { return member.service; }
};

// Sends "hi" to the followed member and returns the routing id its ROUTER
// saw it come from (the connection).
std::string FirstRequest(Mesh& m, Followed& f) {
  REQUIRE(m.peers.Send(f.service(), 1, "hi"));
  Strings got;
  REQUIRE(m.RunUntil([&] { return Recv(f.router, got); }));
  return got[0];
}

}  // namespace

TEST_CASE("zmq peers deliver a Send to the ROUTER as [routing id][empty][body]",
          "[node][peers][zmq]") {
  Mesh m;
  zmq::socket_t router = net::MakeRouter(m.ctx, m.limits);
  const std::string ep = BindAny(router);
  REQUIRE(m.peers.Send(ep, 1, "hello"));
  Strings got;
  REQUIRE(m.RunUntil([&] { return Recv(router, got); }));
  REQUIRE(got.size() == 3);
  CHECK_FALSE(got[0].empty());  // the DEALER's routing id
  CHECK(got[1].empty());
  CHECK(got[2] == "hello");
}

TEST_CASE("zmq peers hold a Send until the peer is up, then deliver it in order",
          "[node][peers][zmq]") {
  Mesh m;
  const std::string ep = FreeEndpoint();
  REQUIRE(m.peers.Send(ep, 1, "one"));
  REQUIRE(m.peers.Send(ep, 2, "two"));
  for (int i = 0; i < 3; ++i) m.Round();  // nobody there: it stays held

  zmq::socket_t router = m.Service(ep);
  Strings got;
  REQUIRE(m.RunUntil([&] { return Recv(router, got); }));
  CHECK(got.back() == "one");
  REQUIRE(m.RunUntil([&] { return Recv(router, got); }));
  CHECK(got.back() == "two");
}

TEST_CASE("zmq peers Cancel takes a held request back", "[node][peers][zmq]") {
  Mesh m;
  const std::string ep = FreeEndpoint();
  REQUIRE(m.peers.Send(ep, 1, "cancelled"));
  REQUIRE(m.peers.Send(ep, 2, "kept"));
  m.peers.Cancel(ep, 1);
  m.peers.Cancel("tcp://127.0.0.1:1", 2);  // never sent to: nothing to take back

  zmq::socket_t router = m.Service(ep);
  Strings got;
  REQUIRE(m.RunUntil([&] { return Recv(router, got); }));
  CHECK(got.back() == "kept");  // one link, in order: "cancelled" would come first
  REQUIRE(m.peers.Send(ep, 3, "marker"));
  REQUIRE(m.RunUntil([&] { return Recv(router, got); }));
  CHECK(got.back() == "marker");  // and nothing between
}

TEST_CASE("zmq peers Publish reaches a connected SUB", "[node][peers][zmq]") {
  Mesh m;
  zmq::socket_t sub = net::MakeSub(m.ctx, m.limits);
  sub.connect(m.pub_endpoint);
  Strings got;
  // A SUB misses what is published before it has connected: repeat.
  const auto end = std::chrono::steady_clock::now() + kPatience;
  bool arrived = false;
  while (!arrived && std::chrono::steady_clock::now() < end) {
    m.peers.Publish("gossip body");
    zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(10));
    arrived = Recv(sub, got);
  }
  REQUIRE(arrived);
  CHECK(got == Strings{"gossip body"});
}

std::string GossipBody(protocol::Gossip::Kind kind, const std::string& from, uint64_t seq) {
  protocol::Gossip g;
  g.kind = kind;
  g.from = from;
  g.seq = seq;
  g.members = {Member(from, from + "/g")};
  g.digest = 1;
  return protocol::EncodeGossip(g);
}

TEST_CASE("zmq peers hear a followed member's invalidations, and its heartbeats once listened to",
          "[node][peers][zmq]") {
  Mesh m;
  zmq::socket_t member_pub = net::MakePub(m.ctx, m.limits);
  const std::string gossip_ep = BindAny(member_pub);
  zmq::socket_t router = net::MakeRouter(m.ctx, m.limits);
  const std::string service_ep = BindAny(router);
  m.peers.Follow({Member(service_ep, gossip_ep)});
  using Kind = protocol::Gossip::Kind;
  const std::string hb = GossipBody(Kind::kHeartbeat, service_ep, 1);
  const std::string inv = GossipBody(Kind::kInvalidate, service_ep, 1);
  // Not listened to: each round publishes a heartbeat, then an invalidation
  // behind it on the same connection; only invalidations arrive.
  REQUIRE(m.RunUntil([&] {
    (void)SendTexts(member_pub, {hb});
    (void)SendTexts(member_pub, {inv});
    return !m.gossip.empty();
  }));
  for (const Strings& got : m.gossip) CHECK(got == Strings{inv});
  CHECK(m.replies.empty());

  m.peers.Listen({service_ep});
  m.gossip.clear();
  // Invalidations of the rounds above may still come in; then the heartbeat.
  CHECK(m.RunUntil([&] {
    (void)SendTexts(member_pub, {hb});
    return std::find(m.gossip.begin(), m.gossip.end(), Strings{hb}) != m.gossip.end();
  }));

  // Let go again: an invalidation arrives with no heartbeat before it.
  m.peers.Listen({});
  REQUIRE(m.RunUntil([&] {  // the unsubscription reaches the PUB asynchronously
    m.gossip.clear();
    (void)SendTexts(member_pub, {hb});
    (void)SendTexts(member_pub, {inv});
    const bool got_inv =
        m.RunUntil([&] { return !m.gossip.empty() && m.gossip.back() == Strings{inv}; });
    return got_inv && m.gossip.size() == 1;
  }));
}

TEST_CASE("zmq peers hand a reply from the peer's ROUTER to on_reply", "[node][peers][zmq]") {
  Mesh m;
  zmq::socket_t router = net::MakeRouter(m.ctx, m.limits);
  const std::string service_ep = BindAny(router);
  zmq::socket_t member_pub = net::MakePub(m.ctx, m.limits);
  m.peers.Follow({Member(service_ep, BindAny(member_pub))});
  REQUIRE(m.peers.Send(service_ep, 7, "request 7"));
  Strings request;
  REQUIRE(m.RunUntil([&] { return Recv(router, request); }));
  REQUIRE(request.size() == 3);
  CHECK(request[2] == "request 7");

  REQUIRE(SendTexts(router, {request[0], "", "reply 7"}));
  REQUIRE(m.RunUntil([&] { return !m.replies.empty(); }));
  CHECK(m.replies[0] == Strings{"", "reply 7"});
  CHECK(m.gossip.empty());
}

TEST_CASE("zmq peers close the link to a member Follow lets go of", "[node][peers][zmq]") {
  Mesh m;
  Followed f(m);
  m.peers.Follow({f.member});
  const std::string routing_id = FirstRequest(m, f);

  m.peers.Follow({});
  // The ROUTER (router_mandatory) refuses to send once the DEALER is gone.
  CHECK(m.RunUntil([&] { return !SendTexts(f.router, {routing_id, "", "still there?"}); }));
}

TEST_CASE("zmq peers keep the link to a member followed again before the next round",
          "[node][peers][zmq]") {
  Mesh m;
  Followed f(m);
  m.peers.Follow({f.member});
  const std::string routing_id = FirstRequest(m, f);

  m.peers.Follow({});
  m.peers.Follow({f.member});  // back before the round that would close the link
  m.Round();
  REQUIRE(m.peers.Send(f.service(), 2, "again"));
  Strings got;
  REQUIRE(m.RunUntil([&] { return Recv(f.router, got); }));
  CHECK(got[0] == routing_id);  // the same connection
  CHECK(got[2] == "again");
}

TEST_CASE("zmq peers close a link unused for idle_ms, and open it again on the next Send",
          "[node][peers][zmq]") {
  Mesh m;
  Followed f(m);
  m.peers.Follow({f.member});
  m.peers.CloseIdle(1000, 30000);
  const std::string routing_id = FirstRequest(m, f);  // sent at 1000

  m.peers.CloseIdle(30999, 30000);
  m.Round();
  CHECK(m.peers.links() == 1);  // 29,999 ms: not yet
  m.peers.CloseIdle(32000, 30000);
  m.Round();
  CHECK(m.peers.links() == 0);
  // The ROUTER (router_mandatory) refuses to send once the DEALER is gone.
  CHECK(m.RunUntil([&] { return !SendTexts(f.router, {routing_id, "", "still there?"}); }));

  REQUIRE(m.peers.Send(f.service(), 2, "again"));
  Strings got;
  REQUIRE(m.RunUntil([&] { return Recv(f.router, got); }));
  CHECK(got[0] != routing_id);  // a new connection
  CHECK(got[2] == "again");
  CHECK(m.peers.links() == 1);
}

TEST_CASE("zmq peers keep an idle link that still holds a request", "[node][peers][zmq]") {
  Mesh m;
  const std::string nobody = FreeEndpoint();
  m.peers.CloseIdle(0, 30000);
  REQUIRE(m.peers.Send(nobody, 1, "held"));  // nobody listens: it waits in the outbox
  m.Round();
  m.peers.CloseIdle(100000, 30000);
  m.Round();
  CHECK(m.peers.links() == 1);
  // Taken back (its deadline passed): now it goes.
  m.peers.Cancel(nobody, 1);
  m.peers.CloseIdle(200000, 30000);
  m.Round();
  CHECK(m.peers.links() == 0);
}

TEST_CASE("zmq peers connect from the node's own address", "[node][peers][zmq]") {
  Mesh m("127.0.0.2");  // loopback holds all of 127.0.0.0/8
  zmq::socket_t router = net::MakeRouter(m.ctx, m.limits);
  const std::string ep = BindAny(router);  // on 127.0.0.1
  REQUIRE(m.peers.Send(ep, 1, "hi"));
  net::Frames frames;
  REQUIRE(m.RunUntil([&] { return net::RecvFrames(router, frames); }));
  CHECK(std::string(frames.back().gets("Peer-Address")) == "127.0.0.2");
}

// A socket that serves CURVE with this key pair (no ZAP handler here: libzmq
// then admits every client key).
zmq::socket_t CurveServer(Mesh& m, zmq::socket_type type, const CurveKeyPair& keys) {
  zmq::socket_t s = type == zmq::socket_type::pub ? net::MakePub(m.ctx, m.limits)
                                                  : net::MakeRouter(m.ctx, m.limits);
  s.set(zmq::sockopt::curve_server, true);
  s.set(zmq::sockopt::curve_secretkey, keys.secret_key);
  return s;
}

TEST_CASE("zmq peers try a seed with every peer key, then keep the key membership gives",
          "[node][peers][zmq][curve]") {
  const CurveKeyPair own = NewCurveKeyPair(), a = NewCurveKeyPair(), b = NewCurveKeyPair();
  Mesh m(own, {a.public_key, b.public_key});
  zmq::socket_t router = CurveServer(m, zmq::socket_type::router, a);
  zmq::socket_t pub = CurveServer(m, zmq::socket_type::pub, a);
  MemberInfo seed = Member(BindAny(router), BindAny(pub));

  // Not yet a member: one link per key a peer may serve with, and the
  // request on each; only the link with a's key gets through.
  REQUIRE(m.peers.Send(seed.service, 1, "join"));
  CHECK(m.peers.LinkKeys(seed.service).size() == 3);
  Strings got;
  REQUIRE(m.RunUntil([&] { return Recv(router, got); }));
  CHECK(got[2] == "join");
  const std::string routing_id = got[0];

  // Membership names its key: the other links close, the right one stays.
  seed.curve_key = a.public_key;
  m.peers.Follow({seed});
  m.Round();
  CHECK(m.peers.LinkKeys(seed.service) == Strings{a.public_key});
  REQUIRE(m.peers.Send(seed.service, 2, "sync"));
  REQUIRE(m.RunUntil([&] { return Recv(router, got); }));
  CHECK(got[0] == routing_id);
  CHECK(got[2] == "sync");
  CHECK_FALSE(Recv(router, got));  // the join came once: no other key got through

  // Its gossip is read with its key too.
  const std::string inv = GossipBody(protocol::Gossip::Kind::kInvalidate, seed.service, 1);
  CHECK(m.RunUntil([&] {
    (void)SendTexts(pub, {inv});
    return !m.gossip.empty();
  }));

  // Restarted with another key pair on the list: the old link goes.
  seed.curve_key = b.public_key;
  seed.incarnation++;
  m.peers.Follow({seed});
  m.Round();
  CHECK(m.peers.LinkKeys(seed.service).empty());
  REQUIRE(m.peers.Send(seed.service, 3, "again"));
  CHECK(m.peers.LinkKeys(seed.service) == Strings{b.public_key});
}

TEST_CASE("zmq peers do not believe a member's key that is off the peer list",
          "[node][peers][zmq][curve]") {
  const CurveKeyPair own = NewCurveKeyPair(), a = NewCurveKeyPair(), stranger = NewCurveKeyPair();
  Mesh m(own, {a.public_key});
  MemberInfo member = Member(FreeEndpoint(), FreeEndpoint());
  member.curve_key = stranger.public_key;
  m.peers.Follow({member});
  REQUIRE(m.peers.Send(member.service, 1, "hi"));
  Strings keys = m.peers.LinkKeys(member.service);
  std::sort(keys.begin(), keys.end());
  Strings listed = {own.public_key, a.public_key};
  std::sort(listed.begin(), listed.end());
  CHECK(keys == listed);
}
