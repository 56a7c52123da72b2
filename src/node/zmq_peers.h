// ZmqPeers: Peers on ZeroMQ. One DEALER per peer service endpoint (requests
// out, replies in), the node's PUB (gossip out) and one SUB connected to
// every followed member's PUB (gossip in).
//
// DEALERs set ZMQ_IMMEDIATE, so libzmq queues nothing for a peer that is not
// connected: a request that cannot leave at once waits in this class's own
// outbox for that peer, is sent as soon as the socket polls writable, and
// can be taken back by Cancel when its deadline passes (never sent late).
//
// With CURVE, every DEALER and the SUB's connections are CURVE clients with
// the node's key pair, and each needs the public key its peer serves with.
// Membership carries each member's key (MemberInfo::curve_key), and a key on
// the peer list is believed. A seed not yet known (a join) is tried with
// every peer key at once, one DEALER each: only the right one completes
// the handshake, and the others close when Follow names the seed's key, or
// when idle. Without a peer list every node serves with the mesh's one key.
//
// The engine polls these sockets with its own: AddPollItems appends them,
// Dispatch reads what the poll found. A socket let go by Follow, or idle
// for long (CloseIdle), is closed at the next AddPollItems, since the round
// that found it may still hold it.
// Not thread-safe: the engine's I/O thread owns it.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "net/curve.h"
#include "net/link.h"
#include "net/sockets.h"
#include "node/peers.h"

namespace meshcache::node {

class ZmqPeers final : public Peers {
 public:
  using Handler = std::function<void(const net::Frames&)>;

  // pub is the node's bound PUB socket. source: the address connections to
  // peers leave from (the node's bind address), empty for the kernel's
  // choice; so firewalls, and a test's packet filters, see each node's
  // own address. curve: this node's key pair; with it, the DEALERs and the
  // SUB are CURVE clients. peer_keys: the public keys peers may serve with
  // (the peer list and curve's own); empty: curve's own alone.
  ZmqPeers(zmq::context_t& ctx, const net::SocketLimits& limits, zmq::socket_t pub,
           std::string source = {}, net::CurveKeys curve = {},
           std::vector<std::string> peer_keys = {});

  bool Send(const std::string& endpoint, uint64_t id, std::string body) override;
  void Cancel(const std::string& endpoint, uint64_t id) override;
  void Publish(std::string_view body) override;
  void Follow(const std::vector<MemberInfo>& members) override;
  // Subscribes the SUB socket to these members' heartbeats (their topics,
  // protocol::HeartbeatTopic); PUB filters at the sender, so the others'
  // heartbeats never reach this node.
  void Listen(const std::vector<std::string>& ids) override;
  void Refresh(const std::string& id) override;

  // Every poll round, with the time: a link that has sent nothing for
  // idle_ms and holds nothing is closed (a Send opens it again). Syncs in
  // turn reach every member in time, and each open link pings its peer
  // every dead_ms / 3 (ZMTP), so without this an idle mesh would end up
  // with a pinging link from every node to every other. REQUIRES: idle_ms
  // well above the longest a reply may take (the forward timeout), so no
  // awaited reply is cut off.
  void CloseIdle(int64_t now, int64_t idle_ms);
  size_t links() const { return links_.size(); }
  // The server key each open link to endpoint uses ("" without CURVE).
  std::vector<std::string> LinkKeys(const std::string& endpoint) const;

  // Appends the sockets to poll, and to recheck whether each must be asked
  // for its events whatever its fd says (net::Poller): after any send,
  // connect or disconnect on them, or a read that left messages, since the
  // last round.
  void AddPollItems(std::vector<zmq::pollitem_t>& items, std::vector<char>& recheck);
  // items points at what AddPollItems appended, after the poll. Takes up to
  // `batch` messages per socket: gossip to on_gossip, replies to on_reply.
  void Dispatch(const zmq::pollitem_t* items, int batch, const Handler& on_gossip,
                const Handler& on_reply);

 private:
  // A DEALER to one peer and when a request last went out on it (CloseIdle).
  struct PeerLink {
    net::Link link;
    int64_t sent_ms = 0;
  };
  // A link: the peer's service endpoint and the key it is expected to
  // serve with ("" without CURVE).
  using LinkId = std::pair<std::string, std::string>;
  PeerLink* Open(const LinkId& id);  // nullptr for an endpoint zmq refuses
  // The server keys to reach endpoint with: {""} without CURVE; the key
  // Follow gave it when that key is on the peer list; else every peer key.
  std::vector<std::string> KeysFor(const std::string& endpoint) const;
  // Connects the SUB to a member's gossip endpoint, with its key.
  void Subscribe(const std::string& gossip, const std::string& key);
  void Close(const LinkId& id);  // at the next AddPollItems
  // Hands up to `batch` messages of socket to handler.
  void ReadAll(zmq::socket_t& socket, int batch, const Handler& handler);
  // endpoint as connect takes it: with the source address when there is one.
  std::string FromSource(const std::string& endpoint) const;

  zmq::context_t& ctx_;
  const net::SocketLimits limits_;
  const std::string source_;
  const net::CurveKeys curve_;
  const std::set<std::string> peer_keys_;
  zmq::socket_t pub_;
  zmq::socket_t sub_;
  std::map<LinkId, PeerLink> links_;
  std::map<std::string, std::string> key_of_;  // endpoint (service, gossip) -> believed key
  int64_t now_ms_ = 0;                         // the time of the last CloseIdle
  int64_t next_idle_check_ms_ = 0;
  std::vector<net::Link*> polled_;  // links in the order of the last AddPollItems
  std::vector<LinkId> to_close_;
  std::map<std::string, std::string> subscribed_;  // gossip endpoint -> the key connected with
  std::set<std::string> listened_;                 // members whose heartbeats the SUB takes
  std::map<std::string, std::string> gossip_of_;   // member id -> gossip endpoint
  std::set<std::string> followed_;                 // service endpoints
  bool touched_ = true;                            // see AddPollItems
};

}  // namespace meshcache::node
