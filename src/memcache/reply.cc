#include "memcache/reply.h"

#include <array>
#include <charconv>

#include "util/base64.h"

namespace meshcache::memcache {
namespace {

constexpr std::string_view kCrlf = "\r\n";

// Indexed by Reply.
constexpr std::array<std::string_view, 10> kReplies = {
    "END\r\n",     "STORED\r\n",  "NOT_STORED\r\n", "EXISTS\r\n", "NOT_FOUND\r\n",
    "DELETED\r\n", "TOUCHED\r\n", "OK\r\n",         "ERROR\r\n",  "MN\r\n",
};

// Indexed by MetaStatus.
constexpr std::array<std::string_view, 6> kMetaCodes = {"VA", "HD", "EN", "NF", "NS", "EX"};

template <typename T>
void AppendDecimal(std::string* out, T number) {
  std::array<char, 24> digits{};
  const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), number);
  out->append(digits.data(), end);
}

void AppendLine(std::string* out, std::string_view prefix, std::string_view text) {
  out->append(prefix);
  out->append(text);
  out->append(kCrlf);
}

// The return flags op gives with this status, as memcached's process_m*
// functions write them.
std::string_view Returned(Op op, MetaStatus status) {
  const bool success = status == MetaStatus::kValue || status == MetaStatus::kHeader;
  switch (op) {
    case Op::kMetaGet:
      return success ? "stcfkO" : "kO";
    case Op::kMetaArithmetic:
      return success ? "ctkO" : "kO";
    case Op::kMetaSet:
      return "ckOs";
    default:
      return "kO";
  }
}

// memcached's quiet mode hides the nominal reply only.
bool Hidden(Op op, MetaStatus status, const MetaFlags& asked) {
  if (!asked.quiet()) return false;
  switch (op) {
    case Op::kMetaGet:
      return status == MetaStatus::kMiss;
    case Op::kMetaArithmetic:
      return status == MetaStatus::kHeader || status == MetaStatus::kValue;
    default:
      return status == MetaStatus::kHeader;
  }
}

void AppendKey(std::string* out, const MetaItem& item, bool base64) {
  out->append(" k");
  if (!base64) {
    out->append(item.key);
    return;
  }
  AppendBase64(out, item.key);
  out->append(" b");
}

template <typename T>
void AppendFlag(std::string* out, char flag, const std::optional<T>& value) {
  if (!value) return;
  out->push_back(' ');
  out->push_back(flag);
  AppendDecimal(out, *value);
}

void AppendReturnFlag(std::string* out, const MetaFlag& asked, const MetaItem& item, bool base64) {
  switch (asked.flag) {
    case 's':
      return AppendFlag(out, 's', item.size);
    case 't':
      return AppendFlag(out, 't', item.ttl);
    case 'c':
      return AppendFlag(out, 'c', item.cas);
    case 'f':
      return AppendFlag(out, 'f', item.client_flags);
    case 'k':
      if (!item.key.empty()) AppendKey(out, item, base64);
      return;
    case 'O':
      out->append(" O");
      out->append(asked.token);
      return;
    default:
      return;
  }
}

}  // namespace

void AppendReply(std::string* out, Reply reply) {
  out->append(kReplies[static_cast<size_t>(reply)]);
}

void AppendValue(std::string* out, std::string_view key, uint32_t client_flags,
                 std::string_view data, std::optional<uint64_t> cas) {
  out->append("VALUE ");
  out->append(key);
  out->push_back(' ');
  AppendDecimal(out, client_flags);
  out->push_back(' ');
  AppendDecimal(out, data.size());
  if (cas) {
    out->push_back(' ');
    AppendDecimal(out, *cas);
  }
  out->append(kCrlf);
  out->append(data);
  out->append(kCrlf);
}

void AppendNumber(std::string* out, uint64_t number) {
  AppendDecimal(out, number);
  out->append(kCrlf);
}

void AppendVersion(std::string* out, std::string_view version) {
  AppendLine(out, "VERSION ", version);
}

void AppendStat(std::string* out, std::string_view name, std::string_view value) {
  out->append("STAT ");
  out->append(name);
  AppendLine(out, " ", value);
}

void AppendStat(std::string* out, std::string_view name, uint64_t value) {
  std::array<char, 24> digits{};
  const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  AppendStat(out, name, std::string_view(digits.data(), end - digits.data()));
}

void AppendClientError(std::string* out, std::string_view message) {
  AppendLine(out, "CLIENT_ERROR ", message);
}

void AppendServerError(std::string* out, std::string_view message) {
  AppendLine(out, "SERVER_ERROR ", message);
}

void AppendMeta(std::string* out, Op op, MetaStatus status, const MetaFlags& asked,
                const MetaItem& item, std::string_view data) {
  if (Hidden(op, status, asked)) return;
  out->append(kMetaCodes[static_cast<size_t>(status)]);
  if (status == MetaStatus::kValue) {
    out->push_back(' ');
    AppendDecimal(out, data.size());
  }
  const std::string_view returned = Returned(op, status);
  for (const MetaFlag& flag : asked.flags()) {
    if (returned.find(flag.flag) != std::string_view::npos) {
      AppendReturnFlag(out, flag, item, asked.base64_key());
    }
  }
  out->append(kCrlf);
  if (status == MetaStatus::kValue) {
    out->append(data);
    out->append(kCrlf);
  }
}

}  // namespace meshcache::memcache
