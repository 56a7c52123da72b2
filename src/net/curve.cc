#include "net/curve.h"

#include <array>
#include <fstream>
#include <sstream>

namespace meshcache {
namespace net {
namespace {

constexpr size_t kZ85KeyChars = 40;
constexpr size_t kRawKeyBytes = 32;

// The 32 raw bytes of a Z85 key; nullopt for anything else.
std::optional<std::string> Raw(std::string_view z85) {
  if (z85.size() != kZ85KeyChars) return std::nullopt;
  const std::string text(z85);  // zmq_z85_decode reads a C string
  std::array<uint8_t, kRawKeyBytes> raw{};
  if (zmq_z85_decode(raw.data(), text.c_str()) == nullptr) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(raw.data()), raw.size());
}

std::string_view Trim(std::string_view s) {
  const size_t first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const size_t last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

std::set<std::string> RawSet(const std::vector<std::string>& keys) {
  std::set<std::string> out;
  for (const std::string& k : keys) {
    if (std::optional<std::string> raw = Raw(k)) out.insert(std::move(*raw));
  }
  return out;
}

}  // namespace

}  // namespace net

bool IsCurveKey(std::string_view text) { return net::Raw(text).has_value(); }

CurveKeyPair NewCurveKeyPair() {
  std::array<char, net::kZ85KeyChars + 1> pub{};
  std::array<char, net::kZ85KeyChars + 1> sec{};
  if (zmq_curve_keypair(pub.data(), sec.data()) != 0) throw zmq::error_t();
  return {pub.data(), sec.data()};
}

Result<CurveKeyPair> CurveKeyPairFromSecret(std::string_view secret_z85) {
  const std::string secret(net::Trim(secret_z85));
  if (!IsCurveKey(secret)) {
    return Status::Error(
        Code::kBadRequest,
        "a CURVE secret key is 40 characters of Z85 (meshcached keygen makes one)");
  }
  std::array<char, net::kZ85KeyChars + 1> pub{};
  if (zmq_curve_public(pub.data(), secret.c_str()) != 0) {
    return Status::Error(Code::kBadRequest,
                         "this libzmq cannot derive a CURVE public key (built without CURVE?)");
  }
  return CurveKeyPair{pub.data(), secret};
}

Result<std::vector<std::string>> ParseCurveKeys(std::string_view text) {
  std::vector<std::string> keys;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    const std::string_view line = net::Trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    if (!IsCurveKey(line)) {
      return Status::Error(Code::kBadRequest,
                           "line " + std::to_string(line_no) + " is not a Z85 key (40 characters)");
    }
    keys.emplace_back(line);
  }
  return keys;
}

Result<std::vector<std::string>> ReadCurveKeyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Error(Code::kInvalidArgument, "cannot read key file " + path);
  std::stringstream text;
  text << in.rdbuf();
  Result<std::vector<std::string>> keys = ParseCurveKeys(text.str());
  if (!keys.ok())
    return Status::Error(Code::kInvalidArgument, path + ": " + keys.status().message());
  return keys;
}

Result<CurveKeyPair> ReadCurveSecretFile(const std::string& path) {
  Result<std::vector<std::string>> keys = ReadCurveKeyFile(path);
  if (!keys.ok()) return keys.status();
  if (keys->size() != 1) {
    return Status::Error(Code::kInvalidArgument, path + ": holds " + std::to_string(keys->size()) +
                                                     " keys; a secret key file holds one");
  }
  Result<CurveKeyPair> pair = CurveKeyPairFromSecret(keys->front());
  if (!pair.ok())
    return Status::Error(Code::kInvalidArgument, path + ": " + pair.status().message());
  return pair;
}

namespace net {

void MakeCurveServer(zmq::socket_t& socket, const CurveKeys& own, const std::string& domain) {
  socket.set(zmq::sockopt::curve_server, 1);
  socket.set(zmq::sockopt::curve_secretkey, own.secret_key);
  socket.set(zmq::sockopt::zap_domain, domain);
}

void MakeCurveClient(zmq::socket_t& socket, const CurveKeys& own,
                     const std::string& server_public) {
  socket.set(zmq::sockopt::curve_serverkey, server_public);
  socket.set(zmq::sockopt::curve_publickey, own.public_key);
  socket.set(zmq::sockopt::curve_secretkey, own.secret_key);
}

ZapPolicy::ZapPolicy(const std::vector<std::string>& peers, const std::vector<std::string>& clients)
    : peers_(RawSet(peers)), clients_(RawSet(clients)) {}

std::optional<const char*> ZapPolicy::Admit(std::string_view domain, std::string_view mechanism,
                                            std::string_view client_key) const {
  if (mechanism != "CURVE" || client_key.size() != kRawKeyBytes) return std::nullopt;
  const std::string key(client_key);
  if (peers_.count(key)) return kPeerRole;
  if (domain == kServiceDomain && clients_.count(key)) return kClientRole;
  return std::nullopt;
}

std::optional<bool> ServeZap(zmq::socket_t& rep, const ZapPolicy& policy) {
  Frames request;
  if (!RecvFrames(rep, request)) return std::nullopt;
  // version, request id, domain, address, routing id, mechanism, credentials
  const bool well_formed = request.size() >= 6 && View(request[0]) == "1.0";
  std::optional<const char*> role;
  if (well_formed) {
    const std::string_view key = request.size() > 6 ? View(request[6]) : std::string_view{};
    role = policy.Admit(View(request[2]), View(request[5]), key);
  }
  Frames reply;
  reply.push_back(Frame("1.0"));
  reply.push_back(request.size() > 1 ? zmq::message_t(request[1].data(), request[1].size())
                                     : zmq::message_t());
  reply.push_back(Frame(!well_formed ? "500" : role ? "200" : "400"));
  reply.push_back(Frame(!well_formed ? "malformed ZAP request" : role ? "OK" : "key not allowed"));
  reply.push_back(Frame(role ? *role : ""));
  reply.push_back(zmq::message_t());  // no metadata
  (void)SendFrames(rep, reply);
  return role.has_value();
}

std::string_view UserId(const zmq::message_t& frame) {
  const char* id = zmq_msg_gets(frame.handle(), "User-Id");
  return id ? std::string_view(id) : std::string_view{};
}

}  // namespace net
}  // namespace meshcache
