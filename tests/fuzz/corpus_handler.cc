// handler_fuzz's seeds for make_corpus: a config byte, then records
// (handler_records.h): clients' requests of each kind and framing, a mesh
// forming, forwards and their answers, peers' requests, loads, time.
#include <string>
#include <vector>

#include "corpus.h"
#include "handler_records.h"

namespace meshcache::fuzz::corpus {
namespace {

using meshcache::fuzz::Record;
using meshcache::fuzz::Writer;

// --- handler_fuzz: a config byte, then handler_records.h records
struct HandlerInput {
  explicit HandlerInput(uint8_t config) { w.Byte(config); }
  // A client's (or, from 2, a peer's) request: [routing id][empty][body].
  HandlerInput& Req(const protocol::Request& r, uint8_t client = 0) {
    return Raw({"", EncodeRequest(r)}, client);
  }
  // The frames after the routing id, as the client sent them.
  HandlerInput& Raw(std::vector<std::string> frames, uint8_t client = 0) {
    frames_.push_back(std::move(frames));
    Record rec{.kind = fuzz::kRequest, .a = client};
    for (const auto& f : frames_.back()) rec.frames.push_back(f);
    fuzz::WriteRecord(rec, w);
    return *this;
  }
  HandlerInput& Gossip(const std::string& body) {
    fuzz::WriteRecord(Record{.kind = fuzz::kGossip, .frames = {body}}, w);
    return *this;
  }
  HandlerInput& PeerReply(const std::string& body) {
    fuzz::WriteRecord(Record{.kind = fuzz::kPeerReply, .frames = {"", body}}, w);
    return *this;
  }
  HandlerInput& Tick(uint8_t b) {
    fuzz::WriteRecord(Record{.kind = fuzz::kTick, .a = b}, w);
    return *this;
  }
  HandlerInput& Answer(uint8_t which, uint8_t how, const std::string& content) {
    fuzz::WriteRecord(Record{.kind = fuzz::kAnswer, .a = which, .b = how, .frames = {content}}, w);
    return *this;
  }
  HandlerInput& Load(uint8_t which, uint8_t how, const std::string& content) {
    fuzz::WriteRecord(Record{.kind = fuzz::kLoadDone, .a = which, .b = how, .frames = {content}},
                      w);
    return *this;
  }
  HandlerInput& Check() {
    fuzz::WriteRecord(Record{.kind = fuzz::kCheck}, w);
    return *this;
  }
  // Peers a and b join through their heartbeats.
  HandlerInput& Mesh() {
    return Gossip(Heartbeat(kA, 1, {Member(kA)})).Gossip(Heartbeat(kB, 1, {Member(kB)})).Tick(40);
  }
  std::string Done() { return std::move(w.data); }

  Writer w;
  std::vector<std::vector<std::string>> frames_;
};

protocol::Request Get(const std::string& key) { return {.op = Op::kGet, .id = 1, .keys = {key}}; }
protocol::Request Set(const std::string& key, const std::string& value,
                      std::optional<uint64_t> ttl = std::nullopt) {
  return {.op = Op::kSet, .id = 2, .keys = {key}, .value = value, .ttl_ms = ttl};
}
protocol::Request Mget(int n) {
  protocol::Request r{.op = Op::kMget, .id = 3};
  for (int i = 0; i < n; ++i) r.keys.push_back("k" + std::to_string(i));
  return r;
}
protocol::Request Fwd(protocol::Request inner, bool replica = false, uint64_t version = 0) {
  return {.op = Op::kFwd,
          .id = 4,
          .from = kA,
          .inner = Inner(std::move(inner)),
          .replica = replica,
          .version = version};
}

}  // namespace

Seeds HandlerSeeds() {
  const std::string big(600, 'v');
  return {
      {"client_get_set", HandlerInput(0).Req(Get("k")).Req(Set("k", "v")).Req(Get("k")).Done()},
      {"client_ops", HandlerInput(0)
                         .Req({.op = Op::kPing, .id = 5})
                         .Req({.op = Op::kStats, .id = 6})
                         .Req({.op = Op::kRing, .id = 7})
                         .Req(Mget(3))
                         .Req({.op = Op::kDel, .id = 8, .keys = {"k0"}})
                         .Done()},
      {"client_framing", HandlerInput(0)
                             .Raw({EncodeRequest(Get("k"))})
                             .Raw({"", EncodeRequest(Get("k")), EncodeRequest(Get("k"))})
                             .Raw({""})
                             .Raw({"x", "", EncodeRequest(Get("k"))}, 1)
                             .Raw({"", ""})
                             .Done()},
      {"client_limits", HandlerInput(0)
                            .Req(Set(std::string(65, 'k'), "v"))
                            .Req(Set("k", big))
                            .Req(Set("k", "v", UINT64_MAX))
                            .Req(Set("k", "v", uint64_t{1} << 63))
                            .Req(Mget(40))
                            .Raw({"", std::string("\xdd\xff\xff\xff\xff", 5)})
                            .Done()},
      {"client_ttl", HandlerInput(8).Req(Set("k", "v", 10)).Tick(1).Tick(5).Req(Get("k")).Done()},
      {"mesh_forward", HandlerInput(0)
                           .Mesh()
                           .Req(Mget(8))
                           .Req(Get("k1"))
                           .Req(Set("k2", "v"))
                           .Req({.op = Op::kDel, .id = 9, .keys = {"k3"}})
                           .Answer(0, 0, "a,b,c,d")
                           .Answer(0, 0, "x")
                           .Answer(0, 1, "")
                           .Answer(0, 2, "busy")
                           .Check()
                           .Done()},
      {"mesh_timeout",
       HandlerInput(0).Mesh().Req(Mget(8)).Tick(16).Tick(16).Tick(255).Check().Done()},
      {"mesh_hot_copies", HandlerInput(2)
                              .Mesh()
                              .Req(Get("k1"))
                              .Req(Get("k2"))
                              .Answer(0, 4, "hot")
                              .Answer(0, 4, "hot")
                              .Req(Get("k1"))
                              .Gossip(Invalidation(kA, 1, {"k1"}))
                              .Req(Get("k1"))
                              .Done()},
      {"mesh_replicas", HandlerInput(1)
                            .Mesh()
                            .Req(Set("k1", "v"))
                            .Req(Set("k2", "v"))
                            .Answer(0, 0, "")
                            .Answer(0, 0, "")
                            .Done()},
      {"mesh_peer_dies", HandlerInput(0)
                             .Mesh()
                             .Req(Set("k1", "v"))
                             .Req(Set("k2", "v"))
                             .Req(Set("k3", "v"))
                             .Gossip(Heartbeat(kA, 2, {Member(kA), Member(kB, NodeState::kDead)}))
                             .Tick(10)
                             .Answer(0, 0, "")
                             .Req(Get("k1"))
                             .Done()},
      {"peer_fwd", HandlerInput(0)
                       .Mesh()
                       .Req(Fwd(Get("k")), 2)
                       .Req(Fwd(Set("k", "v")), 2)
                       .Req(Fwd(Set("k", "w"), true, 77), 2)
                       .Req(Fwd(Set("k", "w"), true, UINT64_MAX), 2)
                       .Req(Get("k"))
                       .Done()},
      {"peer_handoff",
       HandlerInput(0)
           .Mesh()
           .Req({.op = Op::kHandoff,
                 .id = 10,
                 .from = kA,
                 .entries = {{"k", "v", 0, 5}, {"k1", "v", 100, 6}, {"k2", "", 0, 7, true}}},
                2)
           .Req(Get("k"))
           .Done()},
      {"peer_join",
       HandlerInput(0)
           .Req({.op = Op::kJoin, .id = 11, .member = Member(kA)}, 2)
           .Req({.op = Op::kJoin,
                 .id = 12,
                 .member = Member(kB),
                 .members = {Member(kB), Member(kC), Member(kSelf, NodeState::kSuspect, 1)}},
                3)
           .Tick(40)
           .Done()},
      {"peer_probe",
       HandlerInput(0)
           .Mesh()
           .Req({.op = Op::kProbe, .id = 13, .member = Member(kA)}, 2)
           .Req({.op = Op::kProbe, .id = 14, .member = Member(kA), .target = kB}, 2)
           .Answer(0, 0, "")
           .Req({.op = Op::kProbe, .id = 15, .member = Member(kA), .target = "tcp://x:1"}, 2)
           .Done()},
      {"peer_peek", HandlerInput(0)
                        .Req(Set("k", "v"))
                        .Req({.op = Op::kPeek, .id = 16, .keys = {"k"}}, 2)
                        .Req({.op = Op::kPeek, .id = 17, .keys = {"nope"}}, 2)
                        .Done()},
      {"peer_replies", HandlerInput(0)
                           .PeerReply(EncodeOk(1))
                           .PeerReply(EncodeValue(2, "v", 10))
                           .PeerReply("junk")
                           .Done()},
      {"peers_silent", HandlerInput(0)
                           .Mesh()
                           .Tick(20)
                           .Tick(25)
                           .Tick(30)
                           .Answer(0, 0, "")
                           .Tick(40)
                           .Tick(255)
                           .Check()
                           .Done()},
      {"self_accused",
       HandlerInput(0)
           .Gossip(Heartbeat(kA, 1, {Member(kA), Member(kSelf, NodeState::kDead, 1)}))
           .Req(Get("k"))
           .Check()
           .Done()},
      {"joining", HandlerInput(16)
                      .Tick(10)
                      .Answer(0, 0, "a,b")
                      .Tick(10)
                      .Req(Get("k"))
                      .Answer(0, 0, "")
                      .Done()},
      {"loader", HandlerInput(32)
                     .Req(Get("k"))
                     .Req(Get("k"))
                     .Req(Get("k2"))
                     .Load(0, 3, "loaded")
                     .Load(0, 2, "failed")
                     .Req(Mget(3))
                     .Load(0, 1, "")
                     .Tick(50)
                     .Check()
                     .Done()},
      {"loader_overload",
       HandlerInput(32).Req(Mget(12)).Req(Get("a")).Req(Get("b")).Tick(40).Done()},
      {"handoff_on_join", HandlerInput(0)
                              .Req(Set("k1", "v"))
                              .Req(Set("k2", "v"))
                              .Req(Set("k3", "v"))
                              .Req(Set("k4", "v"))
                              .Mesh()
                              .Tick(5)
                              .Answer(0, 0, "")
                              .Answer(0, 2, "")
                              .Tick(30)
                              .Done()},
      {"drain_loader", HandlerInput(32)
                           .Req(Get("k"))
                           .Req(Mget(5))
                           .Tick(40)
                           .Tick(40)
                           .Tick(40)
                           .Tick(40)
                           .Tick(40)
                           .Done()},
      {"drain_mesh", HandlerInput(35)
                         .Mesh()
                         .Req(Mget(8))
                         .Req(Set("k1", "v"))
                         .Req(Get("k2"))
                         .Tick(40)
                         .Tick(40)
                         .Tick(40)
                         .Tick(40)
                         .Tick(40)
                         .Done()},
      {"no_handoff", HandlerInput(4).Req(Set("k1", "v")).Mesh().Req(Get("k1")).Done()},
  };
}

}  // namespace meshcache::fuzz::corpus
