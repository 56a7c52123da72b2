#include "net/link.h"

#include <algorithm>

#include "net/sockets.h"

namespace meshcache::net {

bool Link::Send(uint64_t id, std::string body) {
  if (outbox_.empty() && SendBody(socket_, body)) return true;
  outbox_.emplace_back(id, std::move(body));
  return false;
}

bool Link::Cancel(uint64_t id) {
  return std::erase_if(outbox_, [id](const auto& queued) { return queued.first == id; }) > 0;
}

bool Link::Flush() {
  bool progressed = false;
  while (!outbox_.empty() && SendBody(socket_, outbox_.front().second)) {
    outbox_.pop_front();
    progressed = true;
  }
  return progressed;
}

std::vector<uint64_t> Link::Discard() {
  std::vector<uint64_t> ids;
  for (const auto& queued : outbox_) ids.push_back(queued.first);
  outbox_.clear();
  return ids;
}

}  // namespace meshcache::net
