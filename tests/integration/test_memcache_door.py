"""The memcached door (--memcache-port) on raw sockets: memcached's answers
byte for byte, pipelined commands answered in order, keys owned by another
node served through it, and bad clients (garbage, too-long keys, clients that
send without reading) answered or cut off and counted while the node goes on
serving everyone else."""

import socket
import threading
import time
import unittest

from meshtest import Origin, call, key_owned_by, stats, wait_until
from meshcache.testing import LocalMesh

HOST = "127.0.0.1"


def free_port():
    """A port the door may bind, below Linux's ephemeral range."""
    for port in range(33000, 34000):
        with socket.socket() as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port for the memcache door")


class Conn:
    """A raw TCP connection to the door with a receive buffer and deadlines."""

    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=5)
        self.buf = b""
        self.reads = 0

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = self.sock.recv(1 << 20)
        self.reads += 1
        if not chunk:
            raise EOFError("the door closed the connection")
        self.buf += chunk

    def read_until(self, ending, timeout_s=5.0):
        """Everything up to and including the first `ending`."""
        deadline = time.monotonic() + timeout_s
        while ending not in self.buf:
            self._fill(deadline)
        end = self.buf.index(ending) + len(ending)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def read_exactly(self, n, timeout_s=5.0):
        deadline = time.monotonic() + timeout_s
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def ask(self, data, ending=b"\r\n"):
        self.send(data)
        return self.read_until(ending)

    def closed_by_peer(self, timeout_s=5.0):
        """True once the door has closed this connection (EOF or a reset)."""
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                self._fill(deadline)
                self.buf = b""
        except (EOFError, ConnectionResetError):
            return True
        except socket.timeout:
            return False


class MemcacheDoor(unittest.TestCase):
    MAX_CONNS = 16

    @classmethod
    def setUpClass(cls):
        cls.mesh = LocalMesh(1)
        cls.mesh.start()
        cls.port = free_port()
        cls.mesh.add(args=["--memcache-port", str(cls.port),
                           "--memcache-max-conns", str(cls.MAX_CONNS)])
        cls.mesh.wait_converged()
        cls.door_node = cls.mesh.endpoints[1]
        cls.other_node = cls.mesh.endpoints[0]

    @classmethod
    def tearDownClass(cls):
        cls.mesh.close()

    def connect(self):
        c = Conn(self.port)
        self.addCleanup(c.close)
        return c

    def door_stats(self):
        c = Conn(self.port)
        try:
            text = c.ask(b"stats\r\n", b"END\r\n").decode()
        finally:
            c.close()
        out = {}
        for line in text.splitlines():
            if line.startswith("STAT "):
                _, name, value = line.split(" ", 2)
                out[name] = value
        return out

    def test_connections_past_the_bound_are_closed_and_counted(self):
        # Counted through the native stats: a door connection would take a place.
        wait_until(lambda: stats(self.door_node)["memcache_curr_connections"] == 0,
                   what="the other tests' connections to close")
        before = stats(self.door_node)["memcache_refused"]
        held = [self.connect() for _ in range(self.MAX_CONNS)]
        for c in held:
            self.assertEqual(c.ask(b"version\r\n")[:8], b"VERSION ")
        extra = self.connect()
        self.assertTrue(extra.closed_by_peer(), "a connection past the bound was served")
        self.assertEqual(stats(self.door_node)["memcache_refused"], before + 1)
        self.assertEqual(stats(self.door_node)["memcache_curr_connections"], self.MAX_CONNS)

    def test_version_answers_memcacheds_protocol_version_and_the_nodes(self):
        node_version = call(self.door_node, "ping", 1)[2]["version"]
        self.assertEqual(self.connect().ask(b"version\r\n"),
                         f"VERSION 1.6.18-meshcache-{node_version}\r\n".encode())

    def test_set_then_get_round_trips_value_and_flags(self):
        c = self.connect()
        self.assertEqual(c.ask(b"set rt:1 42 0 5\r\nhello\r\n"), b"STORED\r\n")
        self.assertEqual(c.ask(b"get rt:1\r\n", b"END\r\n"), b"VALUE rt:1 42 5\r\nhello\r\nEND\r\n")
        self.assertEqual(c.ask(b"get rt:absent\r\n"), b"END\r\n")

    def test_multi_key_get_answers_in_request_order_with_misses_left_out(self):
        c = self.connect()
        for k, v in ((b"mk:a", b"1"), (b"mk:b", b"22"), (b"mk:c", b"333")):
            self.assertEqual(c.ask(b"set %s 0 0 %d\r\n%s\r\n" % (k, len(v), v)), b"STORED\r\n")
        self.assertEqual(
            c.ask(b"get mk:c mk:none mk:a mk:b\r\n", b"END\r\n"),
            b"VALUE mk:c 0 3\r\n333\r\nVALUE mk:a 0 1\r\n1\r\nVALUE mk:b 0 2\r\n22\r\nEND\r\n",
        )

    def test_keys_owned_by_another_node_are_served_through_the_door(self):
        key = key_owned_by(self.other_node, self.other_node, prefix="fw").encode()
        c = self.connect()
        self.assertEqual(c.ask(b"set %s 7 0 3\r\nabc\r\n" % key), b"STORED\r\n")
        # The owner holds it: read natively at the owner, and back through the door.
        self.assertEqual(call(self.other_node, "get", 1, key), ["ok", 1, b"abc"])
        self.assertEqual(c.ask(b"get %s\r\n" % key, b"END\r\n"),
                         b"VALUE %s 7 3\r\nabc\r\nEND\r\n" % key)

    def test_pipelined_commands_are_answered_in_order_in_few_reads(self):
        c = self.connect()
        # Keys the door's own node owns: each is answered in the poll round
        # that read it, so the batch's replies leave in as many writes as the
        # batch took reads. (A key owned elsewhere waits for its owner, and
        # how many rounds that takes depends on timing, not on the door.)
        keys = [key_owned_by(self.door_node, self.door_node, prefix=f"pl{i}").encode()
                for i in range(50)]
        batch = b"".join(b"set %s 0 0 1\r\n%d\r\n" % (k, i % 10) for i, k in enumerate(keys))
        batch += b"".join(b"get %s\r\n" % k for k in keys)
        batch += b"version\r\nmn\r\n"
        expected = b"STORED\r\n" * 50
        expected += b"".join(b"VALUE %s 0 1\r\n%d\r\nEND\r\n" % (k, i % 10)
                             for i, k in enumerate(keys))
        c.send(batch)
        got = c.read_until(b"MN\r\n")
        self.assertTrue(got.startswith(expected), got[:200])
        self.assertTrue(got.endswith(b"MN\r\n"))
        self.assertLessEqual(c.reads, 5, "replies should come in a few writes, not one each")

    def test_reads_of_own_keys_wait_behind_replies_from_another_node(self):
        # The door answers reads of its own node's keys from the store at
        # once; pipelined behind a read that waits for the other node, they
        # must still come back in request order, with the same cas as gets.
        mine = [key_owned_by(self.door_node, self.door_node, prefix=f"om{i}").encode()
                for i in range(3)]
        theirs = [key_owned_by(self.other_node, self.other_node, prefix=f"ot{i}").encode()
                  for i in range(3)]
        c = self.connect()
        for i, k in enumerate(mine + theirs):
            self.assertEqual(c.ask(b"set %s %d 0 2\r\nv%d\r\n" % (k, i, i)), b"STORED\r\n")
        cas = {}
        for k in mine + theirs:
            line = c.ask(b"gets %s\r\n" % k, b"END\r\n").split(b"\r\n")[0]
            cas[k] = int(line.split()[4])
        batch = b""
        expected = b""
        for i, (t, m) in enumerate(zip(theirs, mine)):
            batch += b"get %s\r\nmg %s v c k\r\ngets %s %s\r\n" % (t, m, t, m)
            expected += b"VALUE %s %d 2\r\nv%d\r\nEND\r\n" % (t, i + 3, i + 3)
            expected += b"VA 2 c%d k%s\r\nv%d\r\n" % (cas[m], m, i)
            expected += b"VALUE %s %d 2 %d\r\nv%d\r\n" % (t, i + 3, cas[t], i + 3)
            expected += b"VALUE %s %d 2 %d\r\nv%d\r\nEND\r\n" % (m, i, cas[m], i)
        c.send(batch + b"mn\r\n")
        self.assertEqual(c.read_until(b"MN\r\n"), expected + b"MN\r\n")

    def test_meta_commands_set_get_and_delete(self):
        c = self.connect()
        self.assertEqual(c.ask(b"ms mt:1 2 F5 T0\r\nhi\r\n"), b"HD\r\n")
        self.assertEqual(c.ask(b"mg mt:1 v f s k\r\n", b"hi\r\n"), b"VA 2 f5 s2 kmt:1\r\nhi\r\n")
        # q hides a miss; mn marks the end of the batch.
        self.assertEqual(c.ask(b"mg mt:none v q\r\nmn\r\n"), b"MN\r\n")
        self.assertEqual(c.ask(b"md mt:1\r\n"), b"HD\r\n")
        self.assertEqual(c.ask(b"mg mt:1 v\r\n"), b"EN\r\n")
        # What the mesh cannot honour is refused, not ignored.
        self.assertEqual(c.ask(b"mg mt:1 v N30\r\n"), b"CLIENT_ERROR invalid flag\r\n")

    def test_meta_delete_with_a_cas_removes_only_that_value_at_its_owner(self):
        c = self.connect()
        for node in (self.door_node, self.other_node):
            key = key_owned_by(self.door_node, node, prefix="mdc").encode()
            self.assertEqual(c.ask(b"ms %s 1\r\na\r\n" % key), b"HD\r\n")
            cas = int(c.ask(b"mg %s c\r\n" % key).split()[1][1:])
            self.assertEqual(c.ask(b"md %s C%d\r\n" % (key, cas + 1)), b"EX\r\n")
            self.assertEqual(c.ask(b"mg %s v\r\n" % key, b"a\r\n"), b"VA 1\r\na\r\n")
            self.assertEqual(c.ask(b"md %s C%d q\r\nmn\r\n" % (key, cas)), b"MN\r\n")
            self.assertEqual(c.ask(b"mg %s v\r\n" % key), b"EN\r\n")
            self.assertEqual(c.ask(b"md %s C%d\r\n" % (key, cas)), b"NF\r\n")

    def test_noreply_sends_nothing_for_success(self):
        c = self.connect()
        c.send(b"set nr:1 0 0 2 noreply\r\nhi\r\ndelete nr:2 noreply\r\nverbosity 1 noreply\r\n")
        # Only the next command's reply comes: noreply wrote nothing before it.
        self.assertEqual(c.ask(b"get nr:1\r\n", b"END\r\n"), b"VALUE nr:1 0 2\r\nhi\r\nEND\r\n")

    def test_too_long_key_is_a_client_error_and_the_connection_goes_on(self):
        c = self.connect()
        before = int(self.door_stats()["meshcache_memcache_protocol_errors"])
        reply = c.ask(b"get " + b"k" * 251 + b"\r\n")
        self.assertTrue(reply.startswith(b"CLIENT_ERROR "), reply)
        self.assertEqual(c.ask(b"version\r\n")[:8], b"VERSION ")
        self.assertGreater(int(self.door_stats()["meshcache_memcache_protocol_errors"]), before)

    def test_binary_garbage_is_answered_or_closed_and_the_node_serves_on(self):
        garbage = bytes(range(256)) * 4 + b"\x80\x01\x00\x05" + bytes(20) + b"\xff" * 70000
        c = self.connect()
        c.send(garbage)
        # Whatever the door answered, it ends the connection or answers a command after it.
        try:
            c.send(b"\r\nversion\r\n")
            got = c.read_until(b"VERSION ", timeout_s=5) if not c.closed_by_peer(0.5) else None
        except (EOFError, BrokenPipeError, ConnectionResetError):
            got = None
        if got is not None:
            self.assertIn(b"ERROR", got)
        fresh = self.connect()
        self.assertEqual(fresh.ask(b"version\r\n")[:8], b"VERSION ")
        self.assertEqual(call(self.door_node, "ping", 2)[0], "ok")

    def test_a_client_that_sends_without_reading_is_cut_off_and_counted(self):
        before = int(self.door_stats()["meshcache_memcache_overflow_closed"])
        s = socket.create_connection((HOST, self.port))
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # Each stats reply is kilobytes: 64 MiB of them takes ~200 KiB of requests.
        s.setblocking(False)
        deadline = time.monotonic() + 30
        request = b"stats\r\n" * 1000
        cut = False
        while time.monotonic() < deadline and not cut:
            try:
                s.send(request)
            except BlockingIOError:
                time.sleep(0.01)  # poll interval: the door reads at its own pace
            except (BrokenPipeError, ConnectionResetError):
                cut = True
            if int(self.door_stats()["meshcache_memcache_overflow_closed"]) > before:
                cut = True
        self.assertTrue(cut, "the door never cut off a client that does not read")
        wait_until(lambda: int(self.door_stats()["meshcache_memcache_overflow_closed"]) > before,
                   what="the overflow close to be counted")
        self.assertGreater(stats(self.door_node)["memcache_overflow_closed"], before)
        self.assertEqual(self.connect().ask(b"version\r\n")[:8], b"VERSION ")

    def test_replies_a_client_does_not_read_stop_at_the_output_bound(self):
        # Reads of the node's own keys are answered at once, inside the
        # door: a burst of gets of a 1 MiB value must stop at the output
        # bound (64 MiB), not grow the node by a MiB per get it read.
        key = key_owned_by(self.door_node, self.door_node, prefix="huge").encode()
        value = b"v" * (1 << 20)
        c = self.connect()
        self.assertEqual(c.ask(b"set %s 0 0 %d\r\n%s\r\n" % (key, len(value), value)),
                         b"STORED\r\n")
        before = int(self.door_stats()["meshcache_memcache_overflow_closed"])
        peak_before = _peak_rss_bytes(self.mesh.process(1).pid)
        s = socket.create_connection((HOST, self.port))
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"get %s\r\n" % key * 1000)  # 1000 MiB of replies, never read
        wait_until(lambda: int(self.door_stats()["meshcache_memcache_overflow_closed"]) > before,
                   30, "the door to cut off the client")
        grown = _peak_rss_bytes(self.mesh.process(1).pid) - peak_before
        self.assertLess(grown, 256 << 20, f"the node's peak RSS grew by {grown >> 20} MiB")
        self.assertEqual(self.connect().ask(b"version\r\n")[:8], b"VERSION ")

    def test_a_reading_client_gets_more_than_the_output_bound_in_one_command(self):
        # 80 MiB of replies to one get: more than the 64 MiB bound at once,
        # but the client reads, so it is served in full and not cut off.
        key = key_owned_by(self.door_node, self.door_node, prefix="bulk").encode()
        value = bytes(range(256)) * 4096  # 1 MiB
        c = self.connect()
        self.assertEqual(c.ask(b"set %s 0 0 %d\r\n%s\r\n" % (key, len(value), value)),
                         b"STORED\r\n")
        before = int(self.door_stats()["meshcache_memcache_overflow_closed"])
        c.send(b"get" + b" %s" % key * 80 + b"\r\n")
        one = b"VALUE %s 0 %d\r\n%s\r\n" % (key, len(value), value)
        got = bytearray()  # not Conn's bytes buffer: 80 MiB of += would be quadratic
        c.sock.settimeout(30)
        while len(got) < len(one) * 80 + 5:
            chunk = c.sock.recv(1 << 20)
            self.assertTrue(chunk, "the door closed the connection")
            got += chunk
        self.assertEqual(bytes(got), one * 80 + b"END\r\n")
        self.assertEqual(int(self.door_stats()["meshcache_memcache_overflow_closed"]), before)

    def test_quit_closes_after_the_replies_before_it(self):
        c = self.connect()
        c.send(b"version\r\nquit\r\nversion\r\n")
        self.assertEqual(c.read_until(b"\r\n")[:8], b"VERSION ")
        rest = b""
        deadline = time.monotonic() + 5
        while True:  # until the door closes: what comes before is answered after quit
            try:
                c._fill(deadline)
            except EOFError:
                break
            rest, c.buf = rest + c.buf, b""
        self.assertEqual(rest + c.buf, b"", "nothing is answered after quit")

    def test_connections_are_counted_in_stats(self):
        before = int(self.door_stats()["total_connections"])
        self.connect().ask(b"version\r\n")
        door = self.door_stats()
        self.assertGreaterEqual(int(door["total_connections"]), before + 2)
        self.assertGreaterEqual(int(door["curr_connections"]), 1)
        self.assertIn("curr_items", door)
        self.assertIn("get_hits", door)
        # The node's native stats carry the door's counters too.
        native = stats(self.door_node)
        self.assertGreaterEqual(native["memcache_connections"], before + 2)
        for name in ("memcache_refused", "memcache_overflow_closed", "memcache_protocol_errors"):
            self.assertIn(name, native)


def _peak_rss_bytes(pid):
    """The process's peak resident set (VmHWM), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for pid {pid}")


def refuses_connections(port):
    """True when nothing listens on the door's port any more. A connection
    reset (or not answered) while the node closes its listening socket says
    neither: the caller asks again."""
    try:
        socket.create_connection((HOST, port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    except (ConnectionResetError, socket.timeout):
        return False
    return False


class MemcacheDoorDrain(unittest.TestCase):
    def test_sigterm_stops_listening_and_still_answers_a_read_waiting_for_its_load(self):
        release = threading.Event()
        self.addCleanup(release.set)
        port = free_port()
        with Origin(lambda key: release.wait(10) and b"late but served") as origin, \
                LocalMesh(1, args=["--loader", origin.endpoint, "--memcache-port", str(port),
                                   # the load may take longer than the default 1 s drain
                                   # on a busy machine: this test is not about that limit
                                   "--drain-ms", "10000"]) as mesh:
            ep = mesh.endpoints[0]
            c = Conn(port)
            self.addCleanup(c.close)
            c.send(b"get slow\r\n")
            wait_until(lambda: stats(ep)["loads_in_flight"] == 1, 5, "the load to start")
            mesh.process(0).terminate()
            # Draining: no new memcached client, while the load is still out.
            wait_until(lambda: refuses_connections(port), 5, "the door to stop listening")
            release.set()
            self.assertEqual(c.read_until(b"END\r\n"),
                             b"VALUE slow 0 15\r\nlate but served\r\nEND\r\n")
            self.assertTrue(c.closed_by_peer())
            self.assertEqual(mesh.stop(0), 0)


if __name__ == "__main__":
    unittest.main()
