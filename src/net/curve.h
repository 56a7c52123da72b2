// CurveZMQ for the node and its clients: the options that make a socket a
// CURVE server or client, and the ZAP policy that admits connections to a
// node and gives each its role. Also implements meshcache/curve.hpp (keys).
//
// Roles: a node's ZAP handler (the engine's thread answers ZAP requests on
// inproc://zeromq.zap.01) admits a CURVE connection whose public key is on
// the peer list as "peer" and one on the client list as "client"; libzmq
// then stamps every message from that connection with the role as its
// User-Id (UserId below). The gossip socket admits peers only. Without
// CURVE there is no ZAP exchange and no User-Id: the node trusts its network.
//
// Layer 1 beside protocol: util and cppzmq only.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>
#include <zmq.hpp>

#include "meshcache/curve.hpp"
#include "meshcache/status.hpp"
#include "net/sockets.h"

namespace meshcache::net {

using CurveKeys = CurveKeyPair;

// Before bind: the socket is a CURVE server with this secret key, and its
// connections are checked by the ZAP handler under `domain`.
void MakeCurveServer(zmq::socket_t& socket, const CurveKeys& own, const std::string& domain);
// Before connect: the socket is a CURVE client of the server whose public
// key is server_public, with its own key pair.
void MakeCurveClient(zmq::socket_t& socket, const CurveKeys& own, const std::string& server_public);

// The ZAP domains of a node's two server sockets.
inline constexpr const char* kServiceDomain = "meshcache-service";
inline constexpr const char* kGossipDomain = "meshcache-gossip";
// The User-Id (role) that the ZAP handler gives a connection.
inline constexpr const char* kPeerRole = "peer";
inline constexpr const char* kClientRole = "client";

// Who may connect to a node, and in which role.
class ZapPolicy {
 public:
  // peers and clients: Z85 public keys.
  ZapPolicy(const std::vector<std::string>& peers, const std::vector<std::string>& clients);

  // The role for a connection to `domain` by the holder of client_key (32
  // raw bytes, as ZAP carries it) over `mechanism`; nullopt: refused. The
  // service domain admits peers and clients, the gossip domain peers only.
  std::optional<const char*> Admit(std::string_view domain, std::string_view mechanism,
                                   std::string_view client_key) const;

 private:
  std::set<std::string> peers_;  // raw 32-byte keys
  std::set<std::string> clients_;
};

// Answers one ZAP request (RFC 27) waiting on the handler's REP socket, by
// the policy: whether it admitted the connection, nullopt when no request
// was waiting. A request that is not well formed is answered 500 and
// admits nobody.
std::optional<bool> ServeZap(zmq::socket_t& rep, const ZapPolicy& policy);
// The endpoint libzmq asks ZAP requests of (one handler per context).
inline constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";

// The User-Id libzmq stamped on a received frame ("peer", "client"), or ""
// without CURVE.
std::string_view UserId(const zmq::message_t& frame);

}  // namespace meshcache::net
