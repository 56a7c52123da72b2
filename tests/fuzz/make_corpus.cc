// Writes the seed corpora of the fuzz targets: make_corpus DIR writes
// DIR/decode (bodies: valid ones of each message kind and a few invalid
// ones), DIR/gossip, DIR/join and DIR/handler (record sequences, frames.h
// and handler_records.h: a mesh forming, requests of each kind, answers,
// timeouts, and the edges of numbers). Run once by hand (make_corpus
// tests/fuzz/corpus); the files are committed, so the corpus does not depend
// on this build.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "corpus.h"
#include "frames.h"

using namespace meshcache;
using namespace meshcache::fuzz::corpus;
using meshcache::fuzz::Writer;

namespace {

Seeds DecodeSeeds() {
  auto get = std::make_shared<Request>(Request{.op = Op::kGet, .id = 2, .keys = {"user"}});
  std::string a = "alpha";
  return {
      {"req_get", EncodeRequest(*get)},
      {"req_mget", EncodeRequest(Request{.op = Op::kMget, .id = 3, .keys = {"a", "b"}})},
      {"req_set_ttl",
       EncodeRequest(Request{.op = Op::kSet, .id = 4, .keys = {"k"}, .value = "v", .ttl_ms = 500})},
      {"req_fwd",
       EncodeRequest(Request{.op = Op::kFwd, .id = 5, .from = "tcp://a:1", .inner = get})},
      {"req_join",
       EncodeRequest(
           Request{.op = Op::kJoin, .id = 6, .member = Member("tcp://b:1", NodeState::kAlive)})},
      {"req_fwd_replica", EncodeRequest(Request{.op = Op::kFwd,
                                                .id = 12,
                                                .from = "tcp://a:1",
                                                .inner = get,
                                                .replica = true,
                                                .version = 77})},
      {"req_handoff", EncodeRequest(Request{.op = Op::kHandoff,
                                            .id = 13,
                                            .from = "tcp://a:1",
                                            .entries = {{"k", "v", 1000, 5}, {"k2", "", 0, 6}}})},
      {"req_get_str_key", std::string("\x93\xa3get\x01\xa4user", 11)},
      {"reply_values", EncodeValues(7, {&a, nullptr})},
      {"reply_ring",
       EncodeRing(8, RingInfo{.epoch = 2, .nodes = {Member("tcp://a:1", NodeState::kAlive)}})},
      {"reply_stats", EncodeStats(9, {{"gets", int64_t{1}}, {"node", std::string("a")}})},
      {"reply_err", EncodeError(10, Code::kTimeout, "slow")},
      {"reply_loaded", EncodeLoaded(11, "v", 1000)},
      {"gossip_hb", EncodeGossip(Gossip{.from = "tcp://a:1",
                                        .seq = 1,
                                        .members = {Member("tcp://a:1", NodeState::kSuspect)},
                                        .invals = {"k"}})},
      {"gossip_inv_overflow",
       EncodeGossip(Gossip{
           .kind = Gossip::Kind::kInvalidate, .from = "tcp://a:1", .invals_overflow = true})},
      {"bad_array_bomb", std::string("\xdd\xff\xff\xff\xff", 5)},
      {"bad_deep", std::string(64, '\x91')},
      {"bad_truncated", std::string("\x93\xa3get\x01\xa4us", 9)},
  };
}

// --- gossip_fuzz: 0 gossip [n][frames], 2 a DEALER reply [n][frames], 3 tick [b]
struct GossipInput {
  GossipInput& Hb(const std::string& body) {
    w.Byte(0), w.Byte(0), w.Frame(body);
    return *this;
  }
  GossipInput& Reply(const std::string& body) {
    w.Byte(2), w.Byte(1), w.Frame(""), w.Frame(body);
    return *this;
  }
  GossipInput& Tick(uint8_t b) {
    w.Byte(3), w.Byte(b);
    return *this;
  }
  std::string Done() { return std::move(w.data); }
  Writer w;
};

Seeds GossipSeeds() {
  const auto a = Member(kA);
  Seeds s = {
      {"hb_one", GossipInput().Hb(Heartbeat(kA, 1, {a})).Done()},
      {"hb_two_peers", GossipInput()
                           .Hb(Heartbeat(kA, 1, {a}))
                           .Hb(Heartbeat(kB, 1, {Member(kB)}))
                           .Tick(10)
                           .Hb(Heartbeat(kA, 2, {a}))
                           .Done()},
      {"hb_piggyback",
       GossipInput()
           .Hb(Heartbeat(kA, 1,
                         {a, Member(kB, NodeState::kSuspect), Member(kC, NodeState::kDead),
                          Member(kSelf, NodeState::kAlive, 1)}))
           .Done()},
      {"hb_accuse_self",
       GossipInput().Hb(Heartbeat(kA, 1, {a, Member(kSelf, NodeState::kSuspect, 1)})).Done()},
      {"hb_self_dead_max",
       GossipInput().Hb(Heartbeat(kA, 1, {a, Member(kSelf, NodeState::kDead, UINT64_MAX)})).Done()},
      {"hb_self_left",
       GossipInput().Hb(Heartbeat(kA, 1, {a, Member(kSelf, NodeState::kLeft, 5)})).Done()},
      {"hb_gap", GossipInput().Hb(Heartbeat(kA, 1, {a})).Hb(Heartbeat(kA, 5, {a})).Done()},
      {"hb_from_self", GossipInput().Hb(Heartbeat(kSelf, 1, {Member(kSelf)})).Done()},
      {"hb_digest_differs",
       GossipInput().Hb(Heartbeat(kA, 1, {a}, 12345)).Tick(20).Tick(20).Done()},
      {"hb_silence", GossipInput()
                         .Hb(Heartbeat(kA, 1, {a}))
                         .Tick(20)
                         .Tick(25)
                         .Tick(30)
                         .Tick(40)
                         .Tick(255)
                         .Done()},
      {"hb_revive", GossipInput()
                        .Hb(Heartbeat(kA, 1, {a, Member(kB, NodeState::kAlive, 3)}))
                        .Hb(Heartbeat(kA, 2, {a, Member(kB, NodeState::kDead, 3)}))
                        .Hb(Heartbeat(kB, 1, {Member(kB, NodeState::kAlive, 4)}))
                        .Done()},
      {"hb_moved",
       GossipInput()
           .Hb(Heartbeat(kA, 1, {a}))
           .Hb(Heartbeat(kA, 2, {MemberInfo{kA, kA, "tcp://a:9", NodeState::kAlive, 4}}))
           .Done()},
      {"inv_keys",
       GossipInput().Hb(Heartbeat(kA, 1, {a})).Hb(Invalidation(kA, 1, {"k", "k2"})).Done()},
      {"inv_overflow",
       GossipInput()
           .Hb(EncodeGossip(
               Gossip{.kind = Gossip::Kind::kInvalidate, .from = kA, .invals_overflow = true}))
           .Done()},
      {"reply_value", GossipInput().Reply(EncodeValue(1, "v", 100, 5)).Done()},
      {"reply_values",
       GossipInput()
           .Reply(EncodeValues(2, std::vector<std::optional<std::string_view>>{"v", std::nullopt}))
           .Done()},
      {"reply_ok_existed", GossipInput().Reply(EncodeOk(3)).Reply(EncodeExisted(4, true)).Done()},
      {"reply_ring", GossipInput().Reply(EncodeRing(5, RingInfo{.epoch = 3, .nodes = {a}})).Done()},
      {"reply_stats",
       GossipInput()
           .Reply(EncodeStats(6, {{"gets", int64_t{-1}}, {"node", std::string("a")}}))
           .Done()},
      {"reply_members", GossipInput().Reply(EncodeMembers(7, {a, Member(kB)})).Done()},
      {"reply_err_miss",
       GossipInput().Reply(EncodeError(8, Code::kOverloaded, "busy")).Reply(EncodeMiss(9)).Done()},
      {"reply_ping", GossipInput().Reply(EncodePing(10, {kA, "0.1.0", 1})).Done()},
      {"reply_loaded", GossipInput().Reply(EncodeLoaded(11, "v", 0)).Done()},
  };
  GossipInput no_delimiter;
  no_delimiter.w.Byte(2), no_delimiter.w.Byte(0), no_delimiter.w.Frame(EncodeOk(1));
  s.emplace_back("reply_no_delimiter", no_delimiter.Done());
  GossipInput two_frames;
  two_frames.w.Byte(0), two_frames.w.Byte(1), two_frames.w.Frame(Heartbeat(kA, 1, {a}));
  two_frames.w.Frame("x");
  s.emplace_back("hb_two_frames", two_frames.Done());
  return s;
}

// --- join_fuzz: 0 request [frame], 1 join answer [which][frame], 2 probe answer [which][frame], 3
// tick [b]
struct JoinInput {
  JoinInput& Request(const protocol::Request& r) {
    w.Byte(0), w.Frame(EncodeRequest(r));
    return *this;
  }
  JoinInput& JoinAnswer(uint8_t which, const std::string& body) {
    w.Byte(1), w.Byte(which), w.Frame(body);
    return *this;
  }
  JoinInput& ProbeAnswer(uint8_t which, const std::string& body) {
    w.Byte(2), w.Byte(which), w.Frame(body);
    return *this;
  }
  JoinInput& Tick(uint8_t b) {
    w.Byte(3), w.Byte(b);
    return *this;
  }
  std::string Done() { return std::move(w.data); }
  Writer w;
};

protocol::Request Join(const MemberInfo& m, std::vector<MemberInfo> pushed = {}) {
  return protocol::Request{.op = Op::kJoin, .id = 1, .member = m, .members = std::move(pushed)};
}

Seeds JoinSeeds() {
  const auto a = Member(kA);
  const auto seed = Member(kSeed);
  return {
      {"join_plain", JoinInput().Request(Join(a)).Tick(10).Done()},
      {"join_sync",
       JoinInput().Request(Join(a, {a, Member(kB), Member(kC, NodeState::kSuspect)})).Done()},
      {"join_sync_accuse_self",
       JoinInput().Request(Join(a, {a, Member(kSelf, NodeState::kDead, 9)})).Done()},
      {"join_sync_self_max",
       JoinInput().Request(Join(a, {a, Member(kSelf, NodeState::kSuspect, UINT64_MAX)})).Done()},
      {"join_left", JoinInput().Request(Join(Member(kA, NodeState::kLeft))).Done()},
      {"probe_direct", JoinInput().Request({.op = Op::kProbe, .id = 2, .member = a}).Done()},
      {"probe_indirect",
       JoinInput().Request({.op = Op::kProbe, .id = 3, .member = a, .target = kB}).Done()},
      {"handoff", JoinInput()
                      .Request({.op = Op::kHandoff,
                                .id = 4,
                                .from = kA,
                                .entries = {{"k", "v", 10, 5}, {"gone", "", 0, 6, true}},
                                .relayed = true})
                      .Done()},
      {"joined", JoinInput().Tick(1).JoinAnswer(0, EncodeMembers(1, {seed, a})).Tick(5).Done()},
      {"joined_then_synced", JoinInput()
                                 .JoinAnswer(0, EncodeMembers(1, {seed, a}))
                                 .JoinAnswer(1, EncodeMembers(2, {seed, a, Member(kB)}))
                                 .Done()},
      {"joined_self_dead",
       JoinInput()
           .JoinAnswer(0, EncodeMembers(1, {seed, Member(kSelf, NodeState::kDead, 4)}))
           .Done()},
      {"join_answer_err",
       JoinInput().JoinAnswer(0, EncodeError(1, Code::kUnavailable, "no")).Done()},
      {"join_answer_miss", JoinInput().JoinAnswer(0, EncodeMiss(1)).Done()},
      {"probe_answer", JoinInput()
                           .JoinAnswer(0, EncodeMembers(1, {seed, a}))
                           .ProbeAnswer(0, EncodeMembers(2, {a}))
                           .Done()},
      {"probe_answer_other", JoinInput()
                                 .JoinAnswer(0, EncodeMembers(1, {seed, a}))
                                 .ProbeAnswer(1, EncodeMembers(2, {Member(kB), a}))
                                 .Done()},
      {"join_retries", JoinInput().Tick(10).Tick(20).Tick(30).Tick(60).Done()},
      {"joined_silence", JoinInput()
                             .JoinAnswer(0, EncodeMembers(1, {seed, a}))
                             .Tick(20)
                             .Tick(25)
                             .Tick(30)
                             .Tick(255)
                             .Done()},
      {"many_members",
       JoinInput()
           .Request(Join(a, {a, Member("tcp://d:1"), Member("tcp://e:1"), Member("tcp://f:1"),
                             Member("tcp://g:1"), Member("tcp://h:1")}))
           .Done()},
      {"bad_array_bomb", JoinInput().JoinAnswer(0, std::string("\xdd\xff\xff\xff\xff", 5)).Done()},
  };
}

bool WriteAll(const std::filesystem::path& dir, const Seeds& seeds) {
  std::filesystem::create_directories(dir);
  for (const auto& [name, body] : seeds) {
    std::ofstream out(dir / name, std::ios::binary);
    out << body;
    if (!out) {
      std::cerr << "make_corpus: cannot write " << (dir / name) << "\n";
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_corpus DIR\n";
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const bool ok = WriteAll(dir / "decode", DecodeSeeds()) &&
                  WriteAll(dir / "gossip", GossipSeeds()) && WriteAll(dir / "join", JoinSeeds()) &&
                  WriteAll(dir / "handler", HandlerSeeds());
  return ok ? 0 : 1;
}
