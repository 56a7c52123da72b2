#include <catch2/catch.hpp>
#include <climits>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "../fuzz/memcache_harness.h"
#include "memcache/expiry.h"
#include "memcache/parser.h"
#include "memcache/reply.h"
#include "util/base64.h"

using namespace meshcache::memcache;
using testing::Describe;
using testing::Drive;
using testing::EncodeRequest;

namespace {

// Parses in, which must be one whole command.
Command One(std::string_view in, const Limits& limits = Limits()) {
  const ParseResult r = Parse(in, limits);
  INFO(testing::Printable(in) << " -> " << Describe(r));
  REQUIRE(r.kind == ParseResult::kCommand);
  REQUIRE(r.consumed == in.size());
  return r.command;
}

ParseResult Error(std::string_view in, const Limits& limits = Limits()) {
  const ParseResult r = Parse(in, limits);
  INFO(testing::Printable(in) << " -> " << Describe(r));
  REQUIRE(r.kind == ParseResult::kError);
  return r;
}

std::vector<std::string> Keys(const Command& c) {
  return std::vector<std::string>(c.keys.begin(), c.keys.end());
}

std::vector<std::string> Flags(const Command& c) {
  std::vector<std::string> out;
  for (const MetaFlag& f : c.meta.flags()) out.push_back(f.flag + std::string(f.token));
  return out;
}

// An error case: the input, memcached's reply, and the bytes it drops
// (consumed and swallowed; 0: just the first line).
struct ErrorCase {
  std::string in;
  std::string reply;
  size_t drop = 0;
  bool close = false;
};

void CheckErrors(const std::vector<ErrorCase>& cases, const Limits& limits = Limits()) {
  for (const ErrorCase& e : cases) {
    const ParseResult r = Error(e.in, limits);
    INFO(testing::Printable(e.in) << " -> " << Describe(r));
    CHECK(r.reply == e.reply);
    CHECK(r.close == e.close);
    const size_t drop = e.drop != 0 ? e.drop : e.in.find('\n') + 1;
    CHECK(r.consumed + r.swallow == drop);
  }
}

// A pipelined stream of every command, a few errors that do not close
// among them.
std::string Pipeline() {
  return "get a\r\n"
         "gets a bb  ccc\r\n"
         "gat 100 a b\r\n"
         "gats -1 k\r\n"
         "set k 5 100 3\r\nabc\r\n"
         "add k 0 0 0 noreply\r\n\r\n"
         "replace k 1 2 4\r\na\r\nb\r\n"
         "append k 0 0 1\r\nx\r\n"
         "prepend k 0 0 1\r\ny\r\n"
         "cas k 0 0 2 77\r\nhi\r\n"
         "set k 0 0 3\r\nabcd\r\n"  // bad data chunk; "\n" is then an empty line
         "delete k\r\n"
         "delete k 0 noreply\r\n"
         "incr k 5\r\n"
         "decr k 18446744073709551615 noreply\r\n"
         "touch k 10\r\n"
         "version\r\n"
         "stats items\r\n"
         "verbosity 1\r\n"
         "flush_all 10 noreply\r\n"
         "set k x 0 2\r\nzz\r\n"  // bad flags: the data is swallowed
         "mg a2V5 b v t c f k s q O123 T30\r\n"
         "ms key 3 T0 F7 MA I q k c O1\r\nabc\r\n"
         "md key q C5 I\r\n"
         "ma key N0 J5 D10 MD v\r\n"
         "mg key v v\r\n"  // duplicate flag
         "me key\r\n"
         "bogus\n"
         "mn\r\n"
         "quit\r\n";
}

}  // namespace

TEST_CASE("get and gets read every key") {
  Command c = One("get a\r\n");
  CHECK(c.op == Op::kGet);
  CHECK(Keys(c) == std::vector<std::string>{"a"});
  c = One("gets a bb  ccc\r\n");
  CHECK(c.op == Op::kGets);
  CHECK(Keys(c) == std::vector<std::string>{"a", "bb", "ccc"});
  CHECK(c.keys.size() == 3);
  c = One("  get   a  \n");
  CHECK(Keys(c) == std::vector<std::string>{"a"});
  const std::string high = "get \x80\xff\r\n";  // bytes from 0x80 are key bytes
  CHECK(Keys(One(high)) == std::vector<std::string>{"\x80\xff"});
  // So are control characters, as memcached takes them (libmemcached's
  // memcaslap sends keys that start with 0x10): only a space splits keys.
  const std::string control = "get \x10\x10k a\tb \x7f\r\n";
  CHECK(Keys(One(control)) == std::vector<std::string>{"\x10\x10k", "a\tb", "\x7f"});
  CHECK(One("set a\x01b 0 0 1\r\nx\r\n").key == "a\x01b");
  CHECK(One("mg a\x7f v\r\n").key == "a\x7f");
}

TEST_CASE("gat and gats read the exptime then the keys") {
  Command c = One("gat 100 a b\r\n");
  CHECK(c.op == Op::kGat);
  CHECK(c.exptime == 100);
  CHECK(Keys(c) == std::vector<std::string>{"a", "b"});
  c = One("gats -1 a\r\n");
  CHECK(c.op == Op::kGats);
  CHECK(c.exptime == -1);
  // memcached takes a gat of no key (and answers END).
  c = One("gat 10\r\n");
  CHECK(c.keys.empty());
}

TEST_CASE("storage commands read flags, exptime, length and data") {
  for (const Op op : {Op::kSet, Op::kAdd, Op::kReplace, Op::kAppend, Op::kPrepend}) {
    const std::string in = std::string(OpName(op)) + " k 5 100 3\r\nabc\r\n";
    const Command c = One(in);
    CHECK(c.op == op);
    CHECK(c.key == "k");
    CHECK(c.client_flags == 5);
    CHECK(c.exptime == 100);
    CHECK(c.data == "abc");
    CHECK_FALSE(c.noreply);
  }
  CHECK(One("set k 0 0 1 noreply\r\nx\r\n").noreply);
  CHECK_FALSE(One("set k 0 0 1 junk\r\nx\r\n").noreply);  // memcached ignores it
  CHECK(One("set k 0 0 4\r\na\r\nb\r\n").data == "a\r\nb");
  const std::string key250(250, 'k');
  CHECK(One("set " + key250 + " 0 0 1\r\nx\r\n").key == key250);
  CHECK(One("get a " + key250 + "\r\n").keys.size() == 2);
  CHECK(One("mg " + key250 + " v\r\n").key == key250);
  CHECK(One("set k 0 0 0\r\n\r\n").data.empty());
  Command c = One("set k 4294967295 -2147483648 1\r\nx\r\n");
  CHECK(c.client_flags == UINT32_MAX);
  CHECK(c.exptime == INT32_MIN);
  CHECK(One("set k 0 2147483647 1\r\nx\r\n").exptime == INT32_MAX);
  c = One("cas k 1 2 3 99\r\nabc\r\n");
  CHECK(c.op == Op::kCas);
  CHECK(c.cas == 99);
  c = One("cas k 0 0 1 18446744073709551615 noreply\r\nx\r\n");
  CHECK(c.cas == UINT64_MAX);
  CHECK(c.noreply);
}

TEST_CASE("the views of a command point into the parsed buffer") {
  const std::string in = "set key 0 0 5\r\nvalue\r\n";
  const Command c = One(in);
  CHECK(c.key.data() == in.data() + 4);
  CHECK(c.data.data() == in.data() + 15);
  CHECK(c.DecodedKey().data() == c.key.data());
}

TEST_CASE("delete, incr, decr and touch read their arguments") {
  CHECK(One("delete k\r\n").op == Op::kDelete);
  CHECK_FALSE(One("delete k 0\r\n").noreply);
  CHECK(One("delete k noreply\r\n").noreply);
  CHECK(One("delete k 0 noreply\r\n").noreply);
  Command c = One("incr k 5\r\n");
  CHECK(c.op == Op::kIncr);
  CHECK(c.delta == 5);
  c = One("decr k 18446744073709551615 noreply\r\n");
  CHECK(c.op == Op::kDecr);
  CHECK(c.delta == UINT64_MAX);
  CHECK(c.noreply);
  c = One("touch k 10\r\n");
  CHECK(c.op == Op::kTouch);
  CHECK(c.exptime == 10);
  CHECK(One("touch k -1 noreply\r\n").noreply);
}

TEST_CASE("version, stats, verbosity, quit and flush_all read their arguments") {
  CHECK(One("version\r\n").op == Op::kVersion);
  CHECK(One("version x y\r\n").op == Op::kVersion);
  CHECK(One("quit\r\n").op == Op::kQuit);
  CHECK(One("stats\r\n").args.empty());
  CHECK(One("stats  items  \r\n").args == "items");
  CHECK(One("stats detail dump\r\n").args == "detail dump");
  CHECK(One("verbosity 1\r\n").verbosity == 1);
  CHECK(One("verbosity 1 noreply\r\n").noreply);
  Command c = One("flush_all\r\n");
  CHECK(c.op == Op::kFlushAll);
  CHECK(c.exptime == 0);
  CHECK(One("flush_all 10\r\n").exptime == 10);
  CHECK(One("flush_all noreply\r\n").noreply);
  c = One("flush_all 10 noreply\r\n");
  CHECK(c.exptime == 10);
  CHECK(c.noreply);
  CHECK(One("flush_all 10 x\r\n").exptime == 10);  // memcached ignores the x
}

TEST_CASE("meta get reads its flags in order") {
  const Command c = One("mg key v t c f k s q O123 T30 N-1 R5 h l u\r\n");
  CHECK(c.op == Op::kMetaGet);
  CHECK(c.key == "key");
  CHECK(Flags(c) == std::vector<std::string>{"v", "t", "c", "f", "k", "s", "q", "O123", "T30",
                                             "N-1", "R5", "h", "l", "u"});
  CHECK(c.meta.quiet());
  CHECK(c.meta.Has('v'));
  CHECK_FALSE(c.meta.Has('b'));
  CHECK(c.meta.Token('O') == "123");
  CHECK_FALSE(c.meta.Token('F'));
  CHECK(c.meta.ttl == 30);
  CHECK(c.meta.vivify_ttl == -1);
  CHECK(c.meta.recache_ttl == 5);
  CHECK(One("mg key\r\n").meta.count == 0);
}

TEST_CASE("meta set reads its length, flags and data") {
  Command c = One("ms key 3 T0 F7 C9 MA I q k c O1\r\nabc\r\n");
  CHECK(c.op == Op::kMetaSet);
  CHECK(c.key == "key");
  CHECK(c.data == "abc");
  CHECK(c.meta.ttl == 0);
  CHECK(c.meta.client_flags == 7);
  CHECK(c.meta.compare_cas == 9);
  CHECK(c.meta.mode == 'A');
  CHECK(c.meta.Has('I'));
  for (const char mode : std::string("EAPRS")) {
    CHECK(One("ms k 0 M" + std::string(1, mode) + "\r\n\r\n").meta.mode == mode);
  }
  c = One("ms k 1 F4294967295 C18446744073709551615\r\nx\r\n");
  CHECK(c.meta.client_flags == UINT32_MAX);
  CHECK(c.meta.compare_cas == UINT64_MAX);
}

TEST_CASE("meta delete, arithmetic, noop and debug read their flags") {
  Command c = One("md key q C5 I T10 k O9\r\n");
  CHECK(c.op == Op::kMetaDelete);
  CHECK(c.meta.compare_cas == 5);
  CHECK(c.meta.ttl == 10);
  c = One("ma key N0 J5 D10 MD v t c\r\n");
  CHECK(c.op == Op::kMetaArithmetic);
  CHECK(c.meta.vivify_ttl == 0);
  CHECK(c.meta.initial == 5);
  CHECK(c.meta.delta == 10);
  CHECK(c.meta.mode == 'D');
  for (const char mode : std::string("I+D-")) {
    CHECK(One("ma k M" + std::string(1, mode) + "\r\n").meta.mode == mode);
  }
  CHECK(One("mn\r\n").op == Op::kMetaNoop);
  CHECK(One("mn extra\r\n").op == Op::kMetaNoop);
  c = One("me key\r\n");
  CHECK(c.op == Op::kMetaDebug);
  CHECK(c.key == "key");
  c = One("me a2V5 b\r\n");
  CHECK(c.DecodedKey() == "key");
  CHECK(c.meta.base64_key());
}

TEST_CASE("base64 keys are decoded and the decoding lives in the command") {
  Command c = One("mg a2V5 b v k\r\n");
  CHECK(c.key == "a2V5");
  CHECK(c.DecodedKey() == "key");
  CHECK(c.meta.base64_key());
  const Command copy = c;
  c = One("mg YQ== b\r\n");
  CHECK(copy.DecodedKey() == "key");  // a copy keeps its own bytes
  CHECK(c.DecodedKey() == "a");

  const std::string binary("\x00\xff\n \r\x7f", 6);
  std::string encoded;
  meshcache::AppendBase64(&encoded, binary);
  CHECK(encoded == "AP8KIA1/");
  const std::string in = "ms " + encoded + " 1 b\r\nx\r\n";
  CHECK(One(in).DecodedKey() == binary);

  // The longest key: 248 base64 bytes decode to 186.
  const std::string longest(248, 'A');
  CHECK(One("mg " + longest + " b\r\n").DecodedKey().size() == 186);
}

TEST_CASE("text protocol errors are memcached's") {
  const std::string bad = "CLIENT_ERROR bad command line format\r\n";
  const std::string key251(251, 'k');
  CheckErrors({
      {"\r\n", "ERROR\r\n"},
      {"   \n", "ERROR\r\n"},
      {"x\r\n", "ERROR\r\n"},
      {"GET a\r\n", "ERROR\r\n"},
      {"bget a\r\n", "ERROR\r\n"},
      {"get\r\n", "ERROR\r\n"},
      {"gat\r\n", "ERROR\r\n"},
      {"gat x a\r\n", "CLIENT_ERROR invalid exptime argument\r\n"},
      {"get " + key251 + "\r\n", bad},
      {"get a " + key251 + "\r\n", bad},
      {"set a 0 0\r\nx\r\n", "ERROR\r\n"},
      {"set a 0 0 1 noreply x\r\nx\r\n", "ERROR\r\n"},  // sent despite noreply
      {"set a 0 0 x\r\nx\r\n", bad},
      {"set a 0 0 -1\r\nx\r\n", bad},
      {"set a 0 0 +1\r\nx\r\n", bad},
      {"set a 0 0 2147483646\r\n", bad},
      {"set a b 0 1\r\nx\r\n", bad, 16},
      {"set a -1 0 1\r\nx\r\n", bad, 17},
      {"set a 4294967296 0 1\r\nx\r\n", bad, 25},
      {"set a 0 2147483648 1\r\nx\r\n", bad, 25},
      {"set a 0x1 0 1\r\nx\r\n", bad, 18},
      {"set " + key251 + " 0 0 1\r\nx\r\n", bad, 266},
      {"set a b 0 1 noreply\r\nx\r\n", "", 24},
      {"set a 0 0 3\r\nabcd\r\n", "CLIENT_ERROR bad data chunk\r\n", 18},
      {"set a 0 0 3 noreply\r\nabcd\r\n", "", 26},
      {"cas a 0 0 1\r\nx\r\n", "ERROR\r\n"},
      {"cas a 0 0 1 x\r\nx\r\n", bad, 18},
      {"cas a 0 0 1 -5\r\nx\r\n", bad, 19},
      {"delete\r\n", "ERROR\r\n"},
      {"delete a 0 0 0\r\n", "ERROR\r\n"},
      {"delete a 1\r\n",
       "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"},
      {"delete a 1 noreply\r\n", ""},
      {"delete " + key251 + "\r\n", bad},
      {"incr a\r\n", "ERROR\r\n"},
      {"incr a -1\r\n", "CLIENT_ERROR invalid numeric delta argument\r\n"},
      {"incr a 18446744073709551616\r\n", "CLIENT_ERROR invalid numeric delta argument\r\n"},
      {"decr a x noreply\r\n", ""},
      {"touch a\r\n", "ERROR\r\n"},
      {"touch a x\r\n", "CLIENT_ERROR invalid exptime argument\r\n"},
      {"verbosity\r\n", "ERROR\r\n"},
      {"verbosity x\r\n", bad},
      {"verbosity 1 2 3\r\n", "ERROR\r\n"},
      {"flush_all x\r\n", "CLIENT_ERROR invalid exptime argument\r\n"},
      {"flush_all noreply 10\r\n", "CLIENT_ERROR invalid exptime argument\r\n"},
      {"flush_all 1 2 3\r\n", "ERROR\r\n"},
      {"GET / HTTP/1.1\r\n", "", 0, true},
      {"foo HTTP/1.0\r\n", "", 0, true},
  });
}

TEST_CASE("meta protocol errors are memcached's") {
  const std::string bad = "CLIENT_ERROR bad command line format\r\n";
  const std::string dup = "CLIENT_ERROR duplicate flag\r\n";
  const std::string invalid = "CLIENT_ERROR invalid flag\r\n";
  const std::string token = "CLIENT_ERROR bad token in command line format\r\n";
  const std::string generic = "CLIENT_ERROR invalid or duplicate flag\r\n";
  const std::string o33 = "O" + std::string(32, '9');
  const std::string flags17 = " v t c f k s O1 q h l u 2 3 4 5 6 7";
  CheckErrors({
      {"mg\r\n", "ERROR\r\n"},
      {"ms\r\n", "ERROR\r\n"},
      {"md\r\n", "ERROR\r\n"},
      {"ma\r\n", "ERROR\r\n"},
      {"me\r\n", bad},
      {"mx a\r\n", "ERROR\r\n"},
      {"mg " + std::string(251, 'k') + "\r\n", bad},
      {"mg a v v\r\n", dup},
      {"mg a q v v\r\n", dup},  // errors are sent under q
      {"mg a z\r\n", invalid},
      {"mg a E1\r\n", invalid},
      {"mg a x\r\n", invalid},
      {"mg a 1\r\n", invalid},
      {"mg a \x80\r\n", dup},  // memcached: a byte >= 127 is a "duplicate"
      {"mg a Tx\r\n", token},
      {"mg a T\r\n", token},
      {"mg a T2147483648\r\n", token},
      {"mg a N\r\n", token},
      {"mg a Rx\r\n", token},
      {"mg a C\r\n", token},
      {"mg a C-1\r\n", token},
      {"mg a F\r\n", bad},
      {"mg a Fx\r\n", bad},
      {"mg a M\r\n", "CLIENT_ERROR incorrect length for M token\r\n"},
      {"mg a Mxy\r\n", "CLIENT_ERROR incorrect length for M token\r\n"},
      {"mg a Dx\r\n", "CLIENT_ERROR invalid numeric delta value\r\n"},
      {"mg a Jx\r\n", "CLIENT_ERROR invalid numeric initial value\r\n"},
      {"mg a Tx Dx\r\n", "CLIENT_ERROR invalid numeric delta value\r\n"},  // the last wins
      {"mg a Tx Fx\r\n", token},                                           // F leaves the message
      {"mg a Fx Tx v v\r\n", dup},
      {"mg a b\r\n", "CLIENT_ERROR error decoding key\r\n"},
      {"mg YQ= b\r\n", "CLIENT_ERROR error decoding key\r\n"},
      {"mg a " + o33 + "\r\n", "CLIENT_ERROR opaque token too long\r\n"},
      {"mg a" + flags17 + " 8\r\n", "CLIENT_ERROR options flags are too long\r\n"},
      {"md a z\r\n", generic},
      {"md a Tx\r\n", generic},
      {"md a b\r\n", generic},
      {"md a " + o33 + "\r\n", "CLIENT_ERROR opaque token too long\r\n"},
      {"md a" + flags17 + " 8\r\n", "CLIENT_ERROR options flags too long\r\n"},
      {"ma a Mx\r\n", "CLIENT_ERROR invalid mode for ma M token\r\n"},
      {"ma a MI Dx\r\n", generic},
      {"ma a Mx " + o33 + "\r\n", "CLIENT_ERROR invalid mode for ma M token\r\n"},
      {"me a b\r\n", bad},
      {"ms a\r\nhi\r\n", bad},
      {"ms a x\r\nhi\r\n", bad},
      {"ms a -1\r\nhi\r\n", bad},
      {"ms a 2 z\r\nhi\r\n", invalid, 14},
      {"ms a 2 q z\r\nhi\r\n", invalid, 16},
      {"ms a 2 MX\r\nhi\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n", 15},
      {"ms a 2 Me\r\nhi\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n", 15},
      {"ms a 2 " + o33 + " MX\r\nhi\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n", 49},
      {"ms a 2 " + o33 + "\r\nhi\r\n", "CLIENT_ERROR opaque token too long\r\n", 46},
      {"ms a 2" + flags17 + "\r\nhi\r\n", "CLIENT_ERROR options flags too long\r\n", 47},
      {"ms " + std::string(251, 'k') + " 2\r\nhi\r\n", bad, 262},
      {"ms a 2\r\nhix\r\n", "CLIENT_ERROR bad data chunk\r\n", 12},
      {"ms a 2 q\r\nhix\r\n", "CLIENT_ERROR bad data chunk\r\n", 14},
  });
}

TEST_CASE("a value over max_value is swallowed, not read as commands") {
  Limits limits;
  limits.max_value = 4;
  // The data holds what would be a command.
  const std::string stream = "set a 0 0 11\r\nflush_all\r\n\r\nms b 11\r\nflush_all\r\n\r\nmn\r\n";
  const std::vector<std::string> expected = {
      "error SERVER_ERROR object too large for cache\\x0d\\x0a drop=27",
      "error SERVER_ERROR object too large for cache\\x0d\\x0a drop=22",
      "command mn\\x0d\\x0a | key= keys=0 consumed=4",
      "left 0 swallow 0",
  };
  CHECK(Drive(stream, {}, limits) == expected);
  std::vector<size_t> cuts;
  for (size_t i = 1; i < stream.size(); ++i) cuts.push_back(i);
  CHECK(Drive(stream, cuts, limits) == expected);

  // An error comes as soon as the line is in, the data still to arrive.
  const ParseResult r = Error("set a 0 0 2000000\r\nabc");
  CHECK(r.reply == "SERVER_ERROR object too large for cache\r\n");
  CHECK(r.consumed == 22);
  CHECK(r.swallow == 19 + 2000002 - 22);
  CHECK(Error("set a 0 0 2000000 noreply\r\n").reply.empty());
  CHECK(Error("ms a 2000000 q\r\n").reply == "SERVER_ERROR object too large for cache\r\n");
  CHECK(One("set a 0 0 4\r\nabcd\r\n", limits).data == "abcd");
}

TEST_CASE("a line over max_line closes the connection") {
  Limits limits;
  limits.max_line = 16;
  const std::string line16 = "get 0123456789\r\n";
  REQUIRE(line16.size() == 16);
  CHECK(One(line16, limits).keys.size() == 1);
  CheckErrors({{"get 0123456789a\r\n", "CLIENT_ERROR request too long\r\n", 16, true},
               {std::string(16, 'a'), "CLIENT_ERROR request too long\r\n", 16, true}},
              limits);
  CHECK(Parse(std::string(15, 'a'), limits).kind == ParseResult::kNeedMore);
  // With the default bound: 64 KiB and no newline.
  const std::string flood(64 * 1024, 'a');
  CHECK(Parse(flood.substr(0, flood.size() - 1), Limits()).kind == ParseResult::kNeedMore);
  CHECK(Error(flood).close);
}

TEST_CASE("a get over max_keys is refused without closing") {
  Limits limits;
  limits.max_keys = 3;
  CHECK(One("get a b c\r\n", limits).keys.size() == 3);
  const ParseResult r = Error("get a b c d\r\nmn\r\n", limits);
  CHECK(r.reply == "CLIENT_ERROR request too long\r\n");
  CHECK_FALSE(r.close);
  CHECK(r.consumed == 13);
  CHECK(One("gat 1 a b c\r\n", limits).keys.size() == 3);
}

TEST_CASE("binary protocol requests are answered and closed") {
  for (size_t n = 1; n < 24; ++n) {
    const ParseResult r = Parse(std::string(n, '\x80'), Limits());
    CHECK(r.kind == ParseResult::kNeedMore);
    CHECK(r.needed == 24);
  }
  std::string header(24, '\0');
  header[0] = '\x80';
  header[1] = '\x0a';  // noop
  header[12] = '\xde';
  header[13] = '\xad';
  header[14] = '\xbe';
  header[15] = '\xef';
  const ParseResult r = Error(header + "more");
  CHECK(r.close);
  CHECK(r.consumed == 24);
  const std::string expected =
      std::string("\x81\x0a\0\0\0\0\0\x81\0\0\0\x0f\xde\xad\xbe\xef\0\0\0\0\0\0\0\0", 24) +
      "Unknown command";
  CHECK(r.reply == expected);
}

TEST_CASE("partial input needs more until the command is whole") {
  const std::string stream = Pipeline();
  size_t at = 0;
  while (at < stream.size()) {
    const std::string_view rest = std::string_view(stream).substr(at);
    const ParseResult whole = Parse(rest, Limits());
    REQUIRE(whole.kind != ParseResult::kNeedMore);
    const size_t line = rest.find('\n') + 1;
    for (size_t n = 0; n < std::min(whole.consumed, rest.size()); ++n) {
      const ParseResult part = Parse(rest.substr(0, n), Limits());
      INFO(testing::Printable(rest.substr(0, n)) << " -> " << Describe(part));
      if (n < line) {
        REQUIRE(part.kind == ParseResult::kNeedMore);
        CHECK(part.needed == 0);
      } else if (part.kind == ParseResult::kNeedMore) {  // the line is in, its data is not
        CHECK(part.needed == whole.consumed + whole.swallow);
      } else {  // an error needs no more than its line
        REQUIRE(whole.kind == ParseResult::kError);
        REQUIRE(Describe(part) == Describe(whole));
      }
    }
    at += whole.consumed + whole.swallow;
  }
}

TEST_CASE("a pipelined stream parses the same at every split point") {
  const std::string stream = Pipeline();
  const std::vector<std::string> whole = Drive(stream, {}, Limits());
  REQUIRE(whole.size() == 32);
  CHECK(whole.back() == "left 0 swallow 0");
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    const std::vector<size_t> cuts = {cut};
    REQUIRE(Drive(stream, cuts, Limits()) == whole);
  }
  std::vector<size_t> bytes;
  for (size_t i = 1; i < stream.size(); ++i) bytes.push_back(i);
  CHECK(Drive(stream, bytes, Limits()) == whole);
  std::mt19937 rng(12);
  for (int round = 0; round < 200; ++round) {
    std::vector<size_t> cuts;
    for (size_t at = rng() % 40; at < stream.size(); at += 1 + rng() % 40) cuts.push_back(at);
    REQUIRE(Drive(stream, cuts, Limits()) == whole);
  }
}

TEST_CASE("every parsed command re-encodes and parses back the same") {
  const std::string stream = Pipeline();
  std::string_view rest = stream;
  size_t commands = 0;
  while (!rest.empty()) {
    const ParseResult r = Parse(rest, Limits());
    REQUIRE(r.kind != ParseResult::kNeedMore);
    if (r.kind == ParseResult::kCommand) {
      const std::string again = EncodeRequest(r.command);
      CHECK(Describe(One(again)) == Describe(r.command));
      ++commands;
    }
    rest.remove_prefix(std::min(rest.size(), r.consumed + r.swallow));
  }
  CHECK(commands == 26);
}

TEST_CASE("random bytes are answered or need more, the same in any chunks") {
  const std::string alphabet = "gets mnadv0129-\r\n\r\n  \x80\x01 bkT";
  std::mt19937 rng(99);
  Limits limits;
  limits.max_line = 24;
  limits.max_value = 8;
  for (int round = 0; round < 3000; ++round) {
    std::string stream(rng() % 80, ' ');
    for (char& ch : stream) ch = alphabet[rng() % alphabet.size()];
    const std::vector<std::string> whole = Drive(stream, {}, limits);
    std::vector<size_t> cuts;
    for (size_t at = rng() % 10; at < stream.size(); at += 1 + rng() % 10) cuts.push_back(at);
    INFO(testing::Printable(stream));
    REQUIRE(Drive(stream, cuts, limits) == whole);
  }
}

TEST_CASE("ttl from exptime follows memcached's rules") {
  const int64_t now = 1'700'000'000;
  CHECK(TtlFromExptime(0, now) == Ttl{Ttl::kNever, 0});
  CHECK(TtlFromExptime(1, now) == Ttl{Ttl::kSeconds, 1});
  CHECK(TtlFromExptime(2592000, now) == Ttl{Ttl::kSeconds, 2592000});
  CHECK(TtlFromExptime(2592001, now) == Ttl{Ttl::kExpired, 0});  // 1970, long past
  CHECK(TtlFromExptime(now + 10, now) == Ttl{Ttl::kSeconds, 10});
  CHECK(TtlFromExptime(now, now) == Ttl{Ttl::kExpired, 0});
  CHECK(TtlFromExptime(now - 1, now) == Ttl{Ttl::kExpired, 0});
  CHECK(TtlFromExptime(-1, now) == Ttl{Ttl::kExpired, 0});
  CHECK(TtlFromExptime(INT32_MIN, now) == Ttl{Ttl::kExpired, 0});
  CHECK(TtlFromExptime(INT64_MIN, now) == Ttl{Ttl::kExpired, 0});
  CHECK(TtlFromExptime(INT64_MAX, now) == Ttl{Ttl::kSeconds, INT64_MAX - now});
  CHECK(TtlFromExptime(INT64_MAX, -1) == Ttl{Ttl::kSeconds, INT64_MAX});
  CHECK(TtlFromExptime(2592001, INT64_MIN) == Ttl{Ttl::kSeconds, INT64_MAX});
  CHECK(TtlFromExptime(2592001, INT64_MAX) == Ttl{Ttl::kExpired, 0});
  // The meta T, N and R tokens are exptimes too.
  const Command c = One("mg a T-1 N2592001\r\n");
  CHECK(TtlFromExptime(*c.meta.ttl, now).kind == Ttl::kExpired);
  CHECK(TtlFromExptime(*c.meta.vivify_ttl, now).kind == Ttl::kExpired);
}

TEST_CASE("text replies are memcached's bytes") {
  std::string out = "before|";
  AppendReply(&out, Reply::kStored);
  CHECK(out == "before|STORED\r\n");
  const std::vector<std::pair<Reply, std::string>> fixed = {
      {Reply::kEnd, "END\r\n"},
      {Reply::kStored, "STORED\r\n"},
      {Reply::kNotStored, "NOT_STORED\r\n"},
      {Reply::kExists, "EXISTS\r\n"},
      {Reply::kNotFound, "NOT_FOUND\r\n"},
      {Reply::kDeleted, "DELETED\r\n"},
      {Reply::kTouched, "TOUCHED\r\n"},
      {Reply::kOk, "OK\r\n"},
      {Reply::kError, "ERROR\r\n"},
      {Reply::kMetaNoop, "MN\r\n"},
  };
  for (const auto& [reply, bytes] : fixed) {
    out.clear();
    AppendReply(&out, reply);
    CHECK(out == bytes);
  }
  out.clear();
  AppendValue(&out, "k", 5, "abc");
  AppendValue(&out, "k2", UINT32_MAX, "", 99);
  AppendReply(&out, Reply::kEnd);
  CHECK(out == "VALUE k 5 3\r\nabc\r\nVALUE k2 4294967295 0 99\r\n\r\nEND\r\n");
  out.clear();
  AppendNumber(&out, UINT64_MAX);
  AppendVersion(&out, "1.6.18");
  AppendStat(&out, "pid", 42);
  AppendStat(&out, "version", "1.6.18");
  AppendClientError(&out, "bad data chunk");
  AppendServerError(&out, "out of memory");
  CHECK(out ==
        "18446744073709551615\r\nVERSION 1.6.18\r\nSTAT pid 42\r\nSTAT version 1.6.18\r\n"
        "CLIENT_ERROR bad data chunk\r\nSERVER_ERROR out of memory\r\n");
}

TEST_CASE("meta replies are memcached's bytes") {
  const auto reply = [](std::string_view request, MetaStatus status, const MetaItem& item,
                        std::string_view data = {}) {
    const Command c = One(request);
    std::string out;
    AppendMeta(&out, c.op, status, c.meta, item, data);
    return out;
  };
  MetaItem hit{"a", 18, 0, -1, 1};
  // Each expected line is what memcached 1.6.18 answered to the request.
  CHECK(reply("mg a v t c f k s O123 q\r\n", MetaStatus::kValue, hit, "x") ==
        "VA 1 t-1 c18 f0 ka s1 O123\r\nx\r\n");
  CHECK(reply("mg a k s\r\n", MetaStatus::kHeader, hit) == "HD ka s1\r\n");
  CHECK(reply("mg a v k O1\r\n", MetaStatus::kMiss, {"a"}) == "EN ka O1\r\n");
  CHECK(reply("mg a v q\r\n", MetaStatus::kMiss, {"a"}).empty());
  CHECK(reply("mg a t\r\n", MetaStatus::kHeader, {"a", {}, {}, 30}) == "HD t30\r\n");
  CHECK(reply("ms a 2 c k O9 s f t\r\nhi\r\n", MetaStatus::kHeader, {"a", 21}) ==
        "HD c21 ka O9\r\n");
  CHECK(reply("ms YWJj 2 b k c\r\nhi\r\n", MetaStatus::kHeader, {"abc", 22}) ==
        "HD kYWJj b c22\r\n");
  CHECK(reply("ms a 2 s\r\nhi\r\n", MetaStatus::kHeader, {"a", 3, {}, {}, 2}) == "HD s2\r\n");
  CHECK(reply("ms a 2 q\r\nhi\r\n", MetaStatus::kHeader, {"a"}).empty());
  CHECK(reply("ms a 2 q MA\r\nhi\r\n", MetaStatus::kNotStored, {"a"}) == "NS\r\n");
  CHECK(reply("md a k O1\r\n", MetaStatus::kHeader, {"a", 5}) == "HD ka O1\r\n");
  CHECK(reply("md a q\r\n", MetaStatus::kHeader, {"a"}).empty());
  CHECK(reply("md a q\r\n", MetaStatus::kNotFound, {"a"}) == "NF\r\n");
  CHECK(reply("ma YQ== N0 J5 v t c k O1 b\r\n", MetaStatus::kValue, {"a", 23, {}, -1}, "5") ==
        "VA 1 t-1 c23 kYQ== b O1\r\n5\r\n");
  CHECK(reply("ma a v q\r\n", MetaStatus::kValue, {"a"}, "5").empty());
  CHECK(reply("ma a c t k\r\n", MetaStatus::kNotFound, {"a", 1, {}, 5}) == "NF ka\r\n");
  CHECK(reply("ma a q\r\n", MetaStatus::kExists, {"a"}) == "EX\r\n");
}
