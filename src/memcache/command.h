// Command: one request of memcached's text or meta protocol, as Parse
// (memcache/parser.h) reads it from a connection's buffer.
//
// Zero-copy: every std::string_view in a Command (key, keys, data, args, the
// meta flags' tokens) points into the buffer that was parsed. They stay
// valid until the caller drops or moves those bytes, so a caller handles the
// command before it discards the consumed bytes. The one exception is
// DecodedKey() under the meta flag b: its bytes live inside the Command.
//
// Thread safety: values; copy freely (a copy's views still point into the
// same buffer).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string_view>

namespace meshcache::memcache {

enum class Op : uint8_t {
  // memcached's text protocol
  kGet,  // get <key>+
  kGets,
  kGat,  // gat <exptime> <key>*
  kGats,
  kSet,  // set <key> <flags> <exptime> <bytes> [noreply]\r\n<data>\r\n
  kAdd,
  kReplace,
  kAppend,
  kPrepend,
  kCas,     // cas <key> <flags> <exptime> <bytes> <cas unique> [noreply]
  kDelete,  // delete <key> [0] [noreply]
  kIncr,    // incr <key> <delta> [noreply]
  kDecr,
  kTouch,  // touch <key> <exptime> [noreply]
  kVersion,
  kStats,      // stats [args]
  kVerbosity,  // verbosity <level> [noreply]
  kQuit,
  kFlushAll,  // flush_all [delay] [noreply]
  // the meta protocol
  kMetaGet,         // mg <key> <flag>*
  kMetaSet,         // ms <key> <datalen> <flag>*\r\n<data>\r\n
  kMetaDelete,      // md <key> <flag>*
  kMetaArithmetic,  // ma <key> <flag>*
  kMetaNoop,        // mn
  kMetaDebug,       // me <key> [b]
};

// The command word of op ("get", "mg", ...).
std::string_view OpName(Op op);
// kMetaGet ... kMetaDebug.
bool IsMeta(Op op);

// The keys of a get, gets, gat or gats line: views into the parsed buffer,
// separated by one or more spaces. Iterating allocates nothing.
class KeyList {
 public:
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using pointer = const std::string_view*;
    using reference = const std::string_view&;

    Iterator() = default;
    explicit Iterator(std::string_view rest);  // at the first key of rest
    reference operator*() const { return key_; }
    pointer operator->() const { return &key_; }
    Iterator& operator++();
    Iterator operator++(int);
    bool operator==(const Iterator& other) const { return key_.data() == other.key_.data(); }

   private:
    std::string_view key_;   // the current key; empty at the end
    std::string_view rest_;  // what follows it
  };

  KeyList() = default;
  // text: keys separated by spaces; count: how many there are.
  KeyList(std::string_view text, size_t count) : text_(text), count_(count) {}

  Iterator begin() const { return Iterator(text_); }
  Iterator end() const { return Iterator(); }
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  // The keys as sent, with their separating spaces.
  std::string_view text() const { return text_; }

 private:
  std::string_view text_;
  size_t count_ = 0;
};

// One flag of a meta command: the flag character and what follows it in the
// same token ("30" for T30, "" for v).
struct MetaFlag {
  char flag = 0;
  std::string_view token;
};

// A meta line holds at most 19 tokens (memcached's MFLAG_MAX_OPT_LENGTH,
// which counts a terminal token): mg, md and ma take 17 flags, ms 16.
inline constexpr size_t kMaxMetaFlags = 17;

// The flags of an mg, ms, md or ma command, in the order sent, with the
// numeric tokens already checked and read. The parser accepts the flags
// memcached 1.6.18 accepts (b c f h k l O P L q s t u v N R T F C M J D I),
// each at most once; which of them change the command is the node's choice.
// A flag that takes no token keeps whatever follows it ("vx" is v), which
// memcached ignores too.
struct MetaFlags {
  std::array<MetaFlag, kMaxMetaFlags> list{};
  size_t count = 0;
  uint64_t seen = 0;  // bit (flag - 'A') for each flag present

  std::optional<int32_t> ttl;            // T: new TTL, as an exptime (expiry.h)
  std::optional<int32_t> vivify_ttl;     // N: create on a miss, with this exptime
  std::optional<int32_t> recache_ttl;    // R: win the recache below this TTL
  std::optional<uint32_t> client_flags;  // F
  std::optional<uint64_t> compare_cas;   // C: act only if the item's CAS is this
  std::optional<uint64_t> delta;         // D (ma): memcached's default is 1
  std::optional<uint64_t> initial;       // J (ma): value on an N-created item, default 0
  // M: ms: E (add) A (append) P (prepend) R (replace) S (set);
  // ma: I or + (incr), D or - (decr). 0 when absent.
  char mode = 0;

  std::span<const MetaFlag> flags() const { return {list.data(), count}; }
  bool Has(char flag) const {
    return flag >= 'A' && flag <= 'z' && ((seen >> (flag - 'A')) & 1) != 0;
  }
  // The token after flag (e.g. O's opaque), or nullopt when it is absent.
  std::optional<std::string_view> Token(char flag) const;
  bool quiet() const { return Has('q'); }
  bool base64_key() const { return Has('b'); }
};

// The longest key a base64 b key decodes to (250 base64 bytes).
inline constexpr size_t kMaxDecodedKey = 187;

// One request. Which fields matter depends on op (the others are zero):
//   get, gets:      keys (at least one)
//   gat, gats:      exptime, keys (memcached lets gat have none: answer END)
//   set ... prepend: key, client_flags, exptime, data, noreply
//   cas:            the same and cas
//   delete:         key, noreply
//   incr, decr:     key, delta, noreply
//   touch:          key, exptime, noreply
//   verbosity:      verbosity, noreply
//   flush_all:      exptime (its delay, 0 when absent), noreply
//   stats:          args
//   quit:           nothing: close the connection, no reply
//   version, mn:    nothing
//   mg, md, ma:     key, meta
//   ms:             key, data, meta
//   me:             key, meta (only b is read)
// An exptime is memcached's: read it with TtlFromExptime (expiry.h).
// noreply (text commands) means memcached sends no reply at all.
struct Command {
  Op op = Op::kMetaNoop;
  std::string_view key;   // as sent: under the meta flag b, the base64 text
  KeyList keys;           // get, gets, gat, gats
  std::string_view data;  // set ... cas, ms: the value, without its \r\n
  uint32_t client_flags = 0;
  int32_t exptime = 0;
  uint64_t cas = 0;
  uint64_t delta = 0;
  uint32_t verbosity = 0;
  bool noreply = false;
  std::string_view args;  // stats: what follows "stats", without outer spaces
  MetaFlags meta;

  // The key the cache sees: key itself, or its base64 decoding when the meta
  // flag b was given. The decoded bytes live in this Command (and its
  // copies each have their own).
  std::string_view DecodedKey() const {
    return decoded_size_ == 0 ? key : std::string_view(decoded_.data(), decoded_size_);
  }
  // For the parser: the decoding of key (non-empty: a key is never empty).
  void SetDecodedKey(std::string_view bytes);

 private:
  std::array<char, kMaxDecodedKey> decoded_{};
  size_t decoded_size_ = 0;
};

}  // namespace meshcache::memcache
