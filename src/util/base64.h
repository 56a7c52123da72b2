// Base64 (RFC 4648, the standard alphabet, '=' padding): the meta
// protocol's binary keys (flag b) and meshcache-cli's --json output. No
// Debian library in this build has it (cpp-httplib's encoder is tools-only
// and has no strict decoder).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace meshcache {

// Decodes text into out, which has room for cap bytes. Returns the decoded
// size, or nullopt when text is not canonical base64: empty, a length that
// is not a multiple of 4, a byte outside the alphabet, '=' anywhere but the
// last one or two places, non-zero bits under the padding, or more than cap
// bytes. (memcached skips stray bytes and ignores the padding bits; being
// strict makes decoding one-to-one, so a key returned with k re-encodes to
// the text the client sent.)
std::optional<size_t> Base64Decode(std::string_view text, char* out, size_t cap);

// Appends the base64 encoding of bytes, padded, with no line breaks.
void AppendBase64(std::string* out, std::string_view bytes);

}  // namespace meshcache
