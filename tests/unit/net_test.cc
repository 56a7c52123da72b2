// net::Poller: zmq::poll's answer with fewer system calls, on real inproc
// sockets. A wait that should end at once is given 10 s and must end in
// under 5: long enough that a broken poller fails, not a timing goal. And the
// CURVE key files (meshcache/curve.hpp, in net), on real files.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <vector>

#include "meshcache/curve.hpp"
#include "net/poller.h"
#include "net/sockets.h"

using namespace meshcache;

namespace {

struct Pair {
  zmq::context_t ctx;
  zmq::socket_t a = net::MakeInproc(ctx, zmq::socket_type::pair);
  zmq::socket_t b = net::MakeInproc(ctx, zmq::socket_type::pair);
  Pair() {
    a.bind("inproc://poller-test");
    b.connect("inproc://poller-test");
  }
  void Send(const char* body) { REQUIRE(b.send(zmq::buffer(std::string_view(body)))); }
};

constexpr int64_t kLong = 10'000;

// Polls a's POLLIN; returns revents and how long the call took.
std::pair<short, double> PollA(net::Poller& poller, Pair& p, bool recheck, int64_t timeout_ms) {
  std::vector<zmq::pollitem_t> items = {{p.a.handle(), 0, ZMQ_POLLIN, 0}};
  const auto start = std::chrono::steady_clock::now();
  poller.Poll(items, {recheck}, timeout_ms);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  return {items[0].revents, took.count()};
}

// Leaves one message waiting at a whose arrival the fd no longer tells of:
// the poll takes the wake-up, a receive takes the first of two messages.
void LeaveOneUntold(net::Poller& poller, Pair& p) {
  p.Send("1");
  p.Send("2");
  REQUIRE(PollA(poller, p, false, kLong).first == ZMQ_POLLIN);
  net::Frames frames;
  REQUIRE(net::RecvFrames(p.a, frames));
}

// A poll of kLong finds a's message in well under that.
void ExpectReadyAtOnce(net::Poller& poller, Pair& p, bool recheck) {
  auto [revents, took] = PollA(poller, p, recheck, kLong);
  CHECK(revents == ZMQ_POLLIN);
  CHECK(took < 5.0);
}

}  // namespace

TEST_CASE("a message for an idle socket ends the poller's wait", "[net]") {
  Pair p;
  net::Poller poller;
  net::Frames frames;
  CHECK_FALSE(net::RecvFrames(p.a, frames));  // read until empty: the next message wakes the fd
  p.Send("x");
  ExpectReadyAtOnce(poller, p, /*recheck=*/false);
}

TEST_CASE("a socket marked for a recheck is asked at once though its fd is quiet", "[net]") {
  Pair p;
  net::Poller poller;
  LeaveOneUntold(poller, p);
  ExpectReadyAtOnce(poller, p, /*recheck=*/true);
}

TEST_CASE("a wait that runs out asks every socket, marked or not", "[net]") {
  Pair p;
  net::Poller poller;
  LeaveOneUntold(poller, p);
  // Unmarked with a quiet fd: found when the 50 ms wait runs out.
  CHECK(PollA(poller, p, /*recheck=*/false, 50).first == ZMQ_POLLIN);
  net::Frames frames;
  REQUIRE(net::RecvFrames(p.a, frames));
  CHECK(net::View(frames.back()) == "2");
  CHECK(PollA(poller, p, false, 0).first == 0);  // nothing left
}

TEST_CASE("the poller answers plain fds beside sockets from poll alone", "[net]") {
  Pair p;
  net::Poller poller;
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  // A quiet fd beside a quiet socket: nothing, after the wait.
  std::vector<zmq::pollitem_t> items = {{p.a.handle(), 0, ZMQ_POLLIN, 0},
                                        {nullptr, fds[0], ZMQ_POLLIN, 0},
                                        {nullptr, fds[1], ZMQ_POLLOUT, 0}};
  CHECK(poller.Poll(items, {false, false, false}, 10) == 1);
  CHECK(items[1].revents == 0);
  CHECK(items[2].revents == ZMQ_POLLOUT);  // a pipe with room is writable
  // Bytes on the fd end a long wait at once, with the socket still quiet.
  items[2].events = 0;
  REQUIRE(::write(fds[1], "x", 1) == 1);
  const auto start = std::chrono::steady_clock::now();
  CHECK(poller.Poll(items, {false, false, false}, kLong) == 1);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  CHECK(items[0].revents == 0);
  CHECK(items[1].revents == ZMQ_POLLIN);
  // A closed writer reads as the end of the stream.
  ::close(fds[1]);
  char byte;
  REQUIRE(::read(fds[0], &byte, 1) == 1);
  items.resize(2);
  CHECK(poller.Poll(items, {false, false}, kLong) == 1);
  CHECK((items[1].revents & ZMQ_POLLIN) != 0);
  ::close(fds[0]);
}

TEST_CASE("the poller reports only the events asked for", "[net]") {
  Pair p;
  net::Poller poller;
  p.Send("x");
  std::vector<zmq::pollitem_t> items = {{p.a.handle(), 0, ZMQ_POLLIN, 0},
                                        {p.b.handle(), 0, ZMQ_POLLOUT, 0}};
  CHECK(poller.Poll(items, {true, true}, 0) == 2);
  CHECK(items[0].revents == ZMQ_POLLIN);   // a could also write: not asked
  CHECK(items[1].revents == ZMQ_POLLOUT);  // b has nothing to read
}

namespace {

// A file holding text, removed with the object.
struct KeyFile {
  std::string path;
  explicit KeyFile(const std::string& text)
      : path((std::filesystem::temp_directory_path() /
              ("meshcache-net-test-" + std::to_string(::getpid()) + ".key"))
                 .string()) {
    std::ofstream(path) << text;
  }
  ~KeyFile() { std::filesystem::remove(path); }
};

}  // namespace

TEST_CASE("a key file skips comments, blank lines and spaces, and names a bad line", "[curve]") {
  const CurveKeyPair a = NewCurveKeyPair(), b = NewCurveKeyPair();
  auto keys = ParseCurveKeys("# clients\n\n  " + a.public_key + " \n" + b.public_key + "\n");
  REQUIRE(keys.ok());
  CHECK(*keys == std::vector<std::string>{a.public_key, b.public_key});
  auto bad = ParseCurveKeys(a.public_key + "\nnot-a-key\n");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::Contains("line 2"));
}

TEST_CASE("a secret key file gives its pair, and holds exactly one key", "[curve]") {
  const CurveKeyPair pair = NewCurveKeyPair(), other = NewCurveKeyPair();
  {
    KeyFile one("# from meshcached keygen\n" + pair.secret_key + "\n");
    auto read = ReadCurveSecretFile(one.path);
    REQUIRE(read.ok());
    CHECK(read->secret_key == pair.secret_key);
    CHECK(read->public_key == pair.public_key);
  }
  for (const std::string& text :
       {std::string("# nothing\n"), pair.secret_key + "\n" + other.secret_key}) {
    KeyFile file(text);
    auto read = ReadCurveSecretFile(file.path);
    REQUIRE_FALSE(read.ok());
    CHECK_THAT(read.status().message(), Catch::Contains(file.path) && Catch::Contains("holds one"));
  }
  auto missing = ReadCurveSecretFile("/nonexistent/meshcache.key");
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.status().message(), Catch::Contains("/nonexistent/meshcache.key"));
}
