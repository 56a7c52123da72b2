#include "memcache/command.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cstring>

namespace meshcache::memcache {
namespace {

// Indexed by Op.
constexpr std::array<std::string_view, 25> kOpNames = {
    "get",       "gets",   "gat",  "gats", "set",   "add",     "replace", "append",    "prepend",
    "cas",       "delete", "incr", "decr", "touch", "version", "stats",   "verbosity", "quit",
    "flush_all", "mg",     "ms",   "md",   "ma",    "mn",      "me",
};

std::string_view SkipSpaces(std::string_view s) {
  const size_t start = s.find_first_not_of(' ');
  return start == std::string_view::npos ? std::string_view() : s.substr(start);
}

}  // namespace

std::string_view OpName(Op op) { return kOpNames[static_cast<size_t>(op)]; }

bool IsMeta(Op op) { return op >= Op::kMetaGet; }

KeyList::Iterator::Iterator(std::string_view rest) : rest_(SkipSpaces(rest)) { ++*this; }

KeyList::Iterator& KeyList::Iterator::operator++() {
  const size_t end = std::min(rest_.find(' '), rest_.size());
  key_ = rest_.substr(0, end);
  rest_ = SkipSpaces(rest_.substr(end));
  if (key_.empty()) key_ = std::string_view();  // every end compares equal
  return *this;
}

KeyList::Iterator KeyList::Iterator::operator++(int) {
  Iterator before = *this;
  ++*this;
  return before;
}

std::optional<std::string_view> MetaFlags::Token(char flag) const {
  for (const MetaFlag& f : flags()) {
    if (f.flag == flag) return f.token;
  }
  return std::nullopt;
}

void Command::SetDecodedKey(std::string_view bytes) {
  assert(!bytes.empty() && bytes.size() <= decoded_.size());
  std::memcpy(decoded_.data(), bytes.data(), bytes.size());
  decoded_size_ = bytes.size();
}

}  // namespace meshcache::memcache
