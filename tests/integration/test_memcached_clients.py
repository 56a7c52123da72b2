"""The memcached door (--memcache-port) driven by memcached clients that no
one here wrote, against a real 3-node mesh on loopback: Debian's
python3-pymemcache, libmemcached-tools (memccp, memccat, memcrm, memcstat,
memctouch, memcslap, memcaslap) and libcache-memcached-perl. Values set through one node are read
through the others, client flags and CAS round-trip, expiry works, a
multi-key get across owners comes back in request order, and with
--replicas 2 a dead owner's keys are still served.

Each node binds its own loopback address (127.0.0.2, .3, .4) with the same
memcached port, so one port number reaches every node."""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from meshtest import key_owned_by, stats, wait_until
from meshcache.testing import LocalMesh, free_port_pair

try:
    from pymemcache.client.base import Client as PyMemcache
except ImportError:  # a developer's machine without it: skipped; in CI a failure
    if os.environ.get("CI") == "true":
        raise
    PyMemcache = None

TOOLS = ("memccp", "memccat", "memcrm", "memcstat", "memctouch", "memcslap", "memcaslap")
PERL_CLIENT = "/usr/share/perl5/Cache/Memcached.pm"


def _missing(*needed):
    """What of needed is not installed (fails in CI instead of skipping)."""
    gone = [n for n in needed if not (os.path.exists(n) if n.startswith("/") else shutil.which(n))]
    if gone and os.environ.get("CI") == "true":
        raise AssertionError(f"missing in CI: {', '.join(gone)} (ci/setup installs them)")
    return gone


class Door:
    """A mesh whose node i serves memcached's protocol at hosts[i]:port."""

    def __init__(self, test, nodes=3, args=()):
        self.port = free_port_pair()
        self.hosts = [f"127.0.0.{i + 2}" for i in range(nodes)]
        self.mesh = LocalMesh(nodes, hosts=lambda i: f"127.0.0.{i + 2}",
                              args=["--memcache-port", str(self.port), *args])
        self.mesh.start()
        test.addCleanup(self.mesh.close)
        for host in self.hosts:
            wait_until(lambda h=host: self.answers(h), 10, f"the memcached port on {host}")

    def server(self, i):
        return f"{self.hosts[i]}:{self.port}"

    def answers(self, host):
        try:
            with socket.create_connection((host, self.port), timeout=1) as s:
                s.sendall(b"version\r\n")
                return s.recv(64).startswith(b"VERSION ")
        except OSError:
            return False

    def raw(self, i, request, until=b"END\r\n"):
        """request sent to node i as is; its answer up to `until`."""
        with socket.create_connection((self.hosts[i], self.port), timeout=5) as s:
            s.sendall(request)
            out = b""
            while not out.endswith(until):
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
            return out

    def owned_by(self, i, prefix="k", avoid=()):
        return key_owned_by(self.mesh.endpoints[0], self.mesh.ids[i], prefix, avoid)


@unittest.skipIf(PyMemcache is None, "python3-pymemcache missing")
class Pymemcache(unittest.TestCase):
    def setUp(self):
        self.door = Door(self)
        # default_noreply=False: pymemcache's sets and deletes otherwise
        # return before the node has them, and the tests read through
        # another connection at once.
        self.clients = [PyMemcache((h, self.door.port), connect_timeout=5, timeout=5,
                                   default_noreply=False) for h in self.door.hosts]
        for c in self.clients:
            self.addCleanup(c.close)

    def test_a_value_set_through_one_node_is_read_through_the_others_with_its_flags(self):
        a, b, c = self.clients
        key = self.door.owned_by(2)  # neither the writer nor the first reader owns it
        self.assertTrue(a.set(key, b"hello", flags=0xDEADBEEF))
        for reader in (1, 2):
            self.assertEqual(self.door.raw(reader, f"get {key}\r\n".encode()),
                             f"VALUE {key} {0xDEADBEEF} 5\r\nhello\r\nEND\r\n".encode())
        self.assertTrue(b.delete(key))
        self.assertIsNone(c.get(key))

    def test_cas_round_trips_and_is_checked_at_the_owner(self):
        a, b, c = self.clients
        key = self.door.owned_by(1)
        a.set(key, b"v1")
        value, cas = c.gets(key)
        self.assertEqual(value, b"v1")
        self.assertTrue(b.cas(key, b"v2", cas))  # through another node than gets
        self.assertFalse(a.cas(key, b"v3", cas))  # that cas is used up
        value2, cas2 = a.gets(key)
        self.assertEqual(value2, b"v2")
        self.assertNotEqual(cas2, cas)
        self.assertIsNone(a.cas("never-set", b"x", cas2))  # NOT_FOUND

    def test_add_replace_append_prepend_incr_decr_touch(self):
        a, b, _ = self.clients
        key = self.door.owned_by(0)
        self.assertTrue(b.add(key, b"1", noreply=False))
        self.assertFalse(a.add(key, b"2", noreply=False))
        self.assertTrue(a.replace(key, b"10", noreply=False))
        self.assertFalse(b.replace("absent-key", b"x", noreply=False))
        self.assertEqual(b.incr(key, 5), 15)
        self.assertEqual(a.decr(key, 100), 0)  # stops at 0
        self.assertTrue(a.append(key, b"9", noreply=False))
        self.assertTrue(b.prepend(key, b"4", noreply=False))
        self.assertEqual(a.get(key), b"409")
        self.assertTrue(b.touch(key, 100, noreply=False))
        self.assertFalse(b.touch("absent-key", 100, noreply=False))

    def test_a_value_expires_after_its_exptime(self):
        a, b, _ = self.clients
        key = self.door.owned_by(1)
        a.set(key, b"short", expire=1)
        self.assertEqual(b.get(key), b"short")
        wait_until(lambda: b.get(key) is None, 10, "the value to expire")

    def test_a_multi_key_get_across_owners_comes_back_in_request_order(self):
        keys = []
        for owner in (2, 0, 1, 2, 1, 0):
            keys.append(self.door.owned_by(owner, prefix=f"m{len(keys)}"))
        for i, key in enumerate(keys):
            self.clients[i % 3].set(key, f"value-{i}".encode(), flags=i)
        raw = self.door.raw(0, ("get " + " ".join(keys) + "\r\n").encode())
        expected = b"".join(f"VALUE {k} {i} {len(f'value-{i}')}\r\nvalue-{i}\r\n".encode()
                            for i, k in enumerate(keys)) + b"END\r\n"
        self.assertEqual(raw, expected)
        self.assertEqual(self.clients[1].get_many(keys),
                         {k: f"value-{i}".encode() for i, k in enumerate(keys)})


@unittest.skipIf(PyMemcache is None, "python3-pymemcache missing")
class Failover(unittest.TestCase):
    def test_a_dead_owners_keys_are_served_by_its_replica(self):
        door = Door(self, args=["--replicas", "2"])
        clients = [PyMemcache((h, door.port), connect_timeout=5, timeout=5, default_noreply=False)
                   for h in door.hosts]
        for c in clients:
            self.addCleanup(c.close)
        key = door.owned_by(2)
        self.assertTrue(clients[0].set(key, b"kept", flags=7))
        before = clients[1].gets(key)
        door.mesh.kill(2)
        door.mesh.wait_converged()
        self.assertEqual(door.raw(0, f"get {key}\r\n".encode()),
                         f"VALUE {key} 7 4\r\nkept\r\nEND\r\n".encode())
        self.assertEqual(clients[1].gets(key), before)  # the same cas on the replica


class LibmemcachedTools(unittest.TestCase):
    def setUp(self):
        missing = _missing(*TOOLS)
        if missing:
            self.skipTest(f"libmemcached-tools missing: {', '.join(missing)}")
        self.door = Door(self)
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)

    def tool(self, name, i, *args):
        return subprocess.run([name, f"--servers={self.door.server(i)}", *args],
                              capture_output=True, timeout=30)

    def test_memccp_memccat_memcrm_across_nodes(self):
        key = self.door.owned_by(1, prefix="file")
        path = os.path.join(self.dir, key)
        data = bytes(range(256)) * 40  # binary, 10 KiB
        with open(path, "wb") as f:
            f.write(data)
        copied = self.tool("memccp", 0, "--flag=42", path)
        self.assertEqual(copied.returncode, 0, copied.stderr)
        cat = self.tool("memccat", 2, "--flag", key)
        self.assertEqual(cat.returncode, 0, cat.stderr)
        self.assertIn(data, cat.stdout)
        self.assertIn(b"42", cat.stdout.replace(data, b""))  # the flags, printed beside it
        removed = self.tool("memcrm", 1, key)
        self.assertEqual(removed.returncode, 0, removed.stderr)
        self.assertNotEqual(self.tool("memccat", 0, key).returncode, 0)

    def test_memctouch_and_memcstat(self):
        key = self.door.owned_by(2, prefix="touch")
        self.door.raw(0, f"set {key} 0 0 1\r\nx\r\n".encode(), until=b"\r\n")
        self.assertEqual(self.tool("memctouch", 1, "--expire=100", key).returncode, 0)
        stat = self.tool("memcstat", 1)
        self.assertEqual(stat.returncode, 0, stat.stderr)
        self.assertIn(b"curr_items", stat.stdout)
        self.assertIn(b"version", stat.stdout)

    def test_memcslap_finds_every_value_it_set_across_the_mesh(self):
        def counted():
            totals = [stats(ep) for ep in self.door.mesh.endpoints]
            return (sum(t["hits"] for t in totals), sum(t["misses"] for t in totals),
                    sum(t["forwards"] for t in totals))
        hits, misses, forwards = counted()
        # memcslap spreads its keys over the three servers by its own hash,
        # so most reach a node that is not their owner and are forwarded.
        servers = ",".join(self.door.server(i) for i in range(3))
        run = subprocess.run(["memcslap", f"--servers={servers}", "--test=get",
                              "--execute-number=300", "--concurrency=2"],
                             capture_output=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn(b"Time to get", run.stdout)
        hits_after, misses_after, forwards_after = counted()
        self.assertGreaterEqual(hits_after - hits, 600)  # 2 threads x 300 gets
        self.assertEqual(misses_after - misses, 0)
        self.assertGreater(forwards_after - forwards, 0)

    def test_memcaslap_verifies_every_value_it_reads_back(self):
        # memcaslap's keys start with control bytes (0x10), which memcached
        # takes: the door must too. It checks every value it gets (-v 1.0).
        servers = ",".join(self.door.server(i) for i in range(3))
        run = subprocess.run(["memcaslap", "-s", servers, "-x", "3000", "-v", "1.0",
                              "-T", "1", "-c", "4"], capture_output=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        out = run.stdout.decode(errors="replace")
        self.assertNotIn("CLIENT_ERROR", out + run.stderr.decode(errors="replace"))
        counts = dict(re.findall(r"^(\w+): (\d+)$", out, re.M))
        self.assertEqual(int(counts["cmd_set"]), 300, out)  # 10 % of 3000
        self.assertEqual(int(counts["cmd_get"]), 2700, out)
        self.assertEqual(int(counts["get_misses"]), 0, out)
        self.assertEqual(int(counts["verify_misses"]), 0, out)
        self.assertEqual(int(counts["verify_failed"]), 0, out)


class PerlCacheMemcached(unittest.TestCase):
    SCRIPT = r"""
use strict; use warnings; use Cache::Memcached;
my ($a, $b, $key) = @ARGV;
my $ma = Cache::Memcached->new({servers => [$a]});
my $mb = Cache::Memcached->new({servers => [$b]});
$ma->set($key, "perl-value") or die "set failed\n";
my $got = $mb->get($key); die "get: " . ($got // "undef") . "\n" unless ($got // "") eq "perl-value";
$ma->set("$key:n", 41) or die "set n failed\n";
my $n = $mb->incr("$key:n"); die "incr: " . ($n // "undef") . "\n" unless ($n // 0) == 42;
$n = $ma->decr("$key:n", 2); die "decr: " . ($n // "undef") . "\n" unless ($n // 0) == 40;
my $many = $mb->get_multi($key, "$key:n");
die "get_multi\n" unless $many->{$key} eq "perl-value" && $many->{"$key:n"} == 40;
$mb->delete($key) or die "delete failed\n";
die "still there\n" if defined $ma->get($key);
print "ok\n";
"""

    def test_set_get_incr_decr_get_multi_delete_through_two_nodes(self):
        missing = _missing("perl", PERL_CLIENT)
        if missing:
            self.skipTest(f"libcache-memcached-perl missing: {', '.join(missing)}")
        door = Door(self)
        key = door.owned_by(2, prefix="perl")
        run = subprocess.run(["perl", "-e", self.SCRIPT, door.server(0), door.server(1), key],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual((run.returncode, run.stdout, run.stderr), (0, "ok\n", ""))


if __name__ == "__main__":
    unittest.main()
