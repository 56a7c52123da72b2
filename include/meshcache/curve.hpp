// CurveZMQ keys for nodes and clients: Z85 text (40 characters for 32
// bytes), as `meshcached keygen` prints them and key files hold them.
// docs/security.md says how a mesh uses them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "meshcache/status.hpp"

namespace meshcache {

struct CurveKeyPair {
  std::string public_key;
  std::string secret_key;  // empty: no CURVE
  bool on() const { return !secret_key.empty(); }
};

// Whether text is a Z85 key (40 characters that decode to 32 bytes).
bool IsCurveKey(std::string_view text);
// A fresh key pair.
CurveKeyPair NewCurveKeyPair();
// The pair of a secret key; an error for text that is not one.
Result<CurveKeyPair> CurveKeyPairFromSecret(std::string_view secret);
// The keys in a key file's text: one a line; blank lines and lines that
// start with '#' are skipped, spaces around a key too. The error names the
// first line that is not a key.
Result<std::vector<std::string>> ParseCurveKeys(std::string_view text);
// ParseCurveKeys of a file's contents; the error names the file.
Result<std::vector<std::string>> ReadCurveKeyFile(const std::string& path);
// The key pair of a secret key file (as `meshcached keygen --out` writes):
// exactly one key, a secret one. The error names the file.
Result<CurveKeyPair> ReadCurveSecretFile(const std::string& path);

}  // namespace meshcache
