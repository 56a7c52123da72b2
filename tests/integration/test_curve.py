"""CURVE and roles (docs/security.md): a mesh whose nodes share a key pair
admits its peers and the clients on its allow list, in their roles, and
nobody else; without CURVE a node will not bind beyond loopback unless told.
Real meshcached processes on loopback, real CURVE handshakes."""

import os
import shutil
import subprocess
import tempfile
import unittest

import msgpack
import zmq

from meshtest import CONTEXT, LocalMesh, meshcached, recv_reply, wait_until
from meshcache import Client
from meshcache.testing.mesh import free_port_pair

# How long a refused connection gets to show anything: many heartbeats
# (100 ms in LocalMesh) and ZeroMQ's reconnects (100 ms at first).
WINDOW_S = 1.5


def curve_dealer(endpoint, server=None, public=None, secret=None):
    s = CONTEXT.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    if server:
        s.setsockopt(zmq.CURVE_SERVERKEY, server.encode())
        s.setsockopt(zmq.CURVE_PUBLICKEY, public.encode())
        s.setsockopt(zmq.CURVE_SECRETKEY, secret.encode())
    s.connect(endpoint)
    return s


def body(*request):
    return msgpack.packb(list(request), use_bin_type=True)


class CurveMesh(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mesh = LocalMesh(3, curve=True)
        cls.mesh.start()  # converges: the harness asks every node with the client keys
        cls.keys = cls.mesh.curve_keys
        cls.ep = cls.mesh.endpoints[0]

    @classmethod
    def tearDownClass(cls):
        cls.mesh.close()

    def stats(self, i=0):
        return self.mesh.stats(i, timeout_ms=2000)

    def client_socket(self):
        k = self.keys
        s = curve_dealer(self.ep, k["server"], k["client_public"], k["client_secret"])
        self.addCleanup(s.close)
        return s

    def assert_served(self):
        """The mesh still serves the allowed client, through every node."""
        c = self.mesh.client()
        try:
            for i, ep in enumerate(self.mesh.endpoints):
                c.set(f"served:{i}", f"v{i}")
            for i in range(len(self.mesh.endpoints)):
                self.assertEqual(c.get(f"served:{i}"), f"v{i}".encode())
        finally:
            c.close()

    def assert_no_reply(self, sock, what):
        sock.send_multipart([b"", body("ping", 1)], zmq.NOBLOCK)
        self.assertFalse(sock.poll(int(WINDOW_S * 1000)), f"{what} got a reply")

    def test_three_nodes_converge_and_serve_an_allowed_client(self):
        self.assertEqual(len(self.mesh.ring(0)["nodes"]), 3)
        self.assert_served()
        # Writes through one node reach the owner and come back from another.
        c = self.mesh.client(smart=False)
        try:
            for i in range(20):
                c.set(f"k{i}", str(i))
        finally:
            c.close()
        c = Client([self.mesh.endpoints[2]], smart=False, **self.mesh._client_keys())
        try:
            for i in range(20):
                self.assertEqual(c.get(f"k{i}"), str(i).encode())
        finally:
            c.close()

    def test_plaintext_gets_nothing_and_the_node_serves_on(self):
        s = curve_dealer(self.ep)
        self.addCleanup(s.close)
        self.assert_no_reply(s, "a plaintext DEALER")
        self.assert_served()

    def test_an_unknown_key_gets_nothing(self):
        refused = self.stats()["curve_refused"]
        public, secret = zmq.curve_keypair()
        s = curve_dealer(self.ep, self.keys["server"], public.decode(), secret.decode())
        self.addCleanup(s.close)
        self.assert_no_reply(s, "a key not on the allow list")
        self.assert_served()
        # The ZAP handler counted the refusal (libzmq retries the handshake
        # on every reconnect, so maybe more than once).
        self.assertGreater(self.stats()["curve_refused"], refused)

    def test_a_wrong_server_key_gets_nothing(self):
        other, _ = zmq.curve_keypair()
        k = self.keys
        s = curve_dealer(self.ep, other.decode(), k["client_public"], k["client_secret"])
        self.addCleanup(s.close)
        self.assert_no_reply(s, "a client with the wrong server key")

    def test_gossip_reads_nothing_for_plaintext_or_a_client_key(self):
        gossip = self.ep.rsplit(":", 1)[0] + ":" + str(int(self.ep.rsplit(":", 1)[1]) + 1)
        k = self.keys
        subs = []
        for keys in (None, (k["server"], k["client_public"], k["client_secret"])):
            s = CONTEXT.socket(zmq.SUB)
            s.setsockopt(zmq.LINGER, 0)
            if keys:
                s.setsockopt(zmq.CURVE_SERVERKEY, keys[0].encode())
                s.setsockopt(zmq.CURVE_PUBLICKEY, keys[1].encode())
                s.setsockopt(zmq.CURVE_SECRETKEY, keys[2].encode())
            s.setsockopt(zmq.SUBSCRIBE, b"")
            s.connect(gossip)
            self.addCleanup(s.close)
            subs.append(s)
        # A peer's SUB (the mesh's own key pair) does read heartbeats: the
        # window is long enough to see them.
        peer = CONTEXT.socket(zmq.SUB)
        peer.setsockopt(zmq.LINGER, 0)
        peer.setsockopt(zmq.CURVE_SERVERKEY, k["server"].encode())
        peer.setsockopt(zmq.CURVE_PUBLICKEY, k["server"].encode())
        peer.setsockopt(zmq.CURVE_SECRETKEY, k["server_secret"].encode())
        peer.setsockopt(zmq.SUBSCRIBE, b"")
        peer.connect(gossip)
        self.addCleanup(peer.close)
        self.assertTrue(peer.poll(int(WINDOW_S * 1000)), "a peer key read no gossip")
        for s, who in zip(subs, ("a plaintext SUB", "a SUB with a client key")):
            self.assertFalse(s.poll(10), f"{who} read gossip")

    def test_a_client_key_cannot_act_as_a_peer(self):
        before = self.stats()["client_peer_ops"]
        ring_before = self.mesh.ring(0)
        s = self.client_socket()
        fake = ["tcp://127.0.0.9:9", "tcp://127.0.0.9:9", "tcp://127.0.0.9:10", "alive", 1]
        requests = [
            body("join", 1, fake),
            body("fwd", 2, "tcp://127.0.0.9:9", ["set", 3, "victim", b"forged"], True, 1 << 62),
            body("probe", 4, fake),
            body("handoff", 5, "tcp://127.0.0.9:9", [["victim", b"forged", 0, 1]]),
        ]
        for i, req in enumerate(requests):
            s.send_multipart([b"", req])
            reply = recv_reply(s)
            self.assertIsNotNone(reply, f"no answer to peer op {i}")
            self.assertEqual(reply[0], "err", reply)
            self.assertEqual(reply[2], "bad_request", reply)
            self.assertIn("client key may not", reply[3])
        self.assertEqual(self.stats()["client_peer_ops"], before + len(requests))
        self.assertEqual(self.mesh.ring(0)["nodes"], ring_before["nodes"])
        c = self.mesh.client()
        try:
            self.assertIsNone(c.get("victim"))
        finally:
            c.close()

    def test_the_cli_connects_with_the_server_key_and_a_key_file(self):
        cli = os.environ.get("MESHCACHE_CLI")
        self.assertTrue(cli, "MESHCACHE_CLI is not set (ctest sets it)")
        with tempfile.TemporaryDirectory() as d:
            key = os.path.join(d, "client.key")
            with open(key, "w") as f:
                f.write("# the test's client\n" + self.keys["client_secret"] + "\n")
            base = [cli, "--node", self.ep, "--timeout-ms", "2000"]
            keys = ["--server-key", self.keys["server"], "--key-file", key]

            def run(*args):
                return subprocess.run(base + list(args), capture_output=True, text=True, timeout=20)

            out = run(*keys, "set", "cli:k", "via-cli")
            self.assertEqual(out.returncode, 0, out.stderr)
            out = run(*keys, "get", "cli:k")
            self.assertEqual((out.returncode, out.stdout.strip()), (0, "via-cli"), out.stderr)
            out = run("--timeout-ms", "300", "get", "cli:k")  # no keys: nothing
            self.assertNotEqual(out.returncode, 0)
            self.assertNotIn("via-cli", out.stdout)

    def test_a_node_with_another_key_cannot_join(self):
        with tempfile.TemporaryDirectory() as d:
            _, secret = zmq.curve_keypair()
            key = os.path.join(d, "other.key")
            with open(key, "w") as f:
                f.write(secret.decode() + "\n")
            log_path = os.path.join(d, "outsider.log")
            port = free_port_pair(set(p for e in self.mesh.endpoints for p in _ports(e)))
            served = self.stats()["joins_served"]
            with open(log_path, "wb") as log:
                outsider = subprocess.Popen(
                    [meshcached(), "--port", str(port), "--heartbeat-ms", "100",
                     "--dead-ms", "1000", "--forward-timeout-ms", "200",
                     "--curve-secret-key", key, "--join", self.ep],
                    stdout=log, stderr=subprocess.STDOUT,
                )
            def refused():
                with open(log_path) as f:
                    return "no answer within" in f.read()

            try:
                wait_until(refused, timeout_s=10, what="the outsider to report a failed join")
                ids = {n["id"] for n in self.mesh.ring(0)["nodes"]}
                self.assertNotIn(f"tcp://127.0.0.1:{port}", ids)
                self.assertEqual(len(ids), 3)
                self.assertEqual(self.stats()["joins_served"], served)
            finally:
                outsider.kill()
                outsider.wait()


class OwnKeyPairs(unittest.TestCase):
    """Every node holds a key pair of its own; --curve-peers lists the
    nodes' public keys, plus a spare that node C takes when restarted.
    Peers learn each other's keys through membership, clients through the
    ring."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="meshcache-ownkeys-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.pairs = [tuple(k.decode() for k in zmq.curve_keypair()) for _ in range(4)]
        self.client_pair = tuple(k.decode() for k in zmq.curve_keypair())
        self.peers_file = self._write("peers.keys", [pub for pub, _ in self.pairs])
        self.allow_file = self._write("clients.keys", [self.client_pair[0]])
        self.procs = {}
        self.addCleanup(self._stop_all)
        used = set()
        self.ports = []
        for _ in range(3):
            port = free_port_pair(used)
            used |= {port, port + 1}
            self.ports.append(port)
        self.eps = [f"tcp://127.0.0.1:{p}" for p in self.ports]

    def _write(self, name, lines):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(path, 0o600)
        return path

    def _start(self, node, pair):
        secret = self._write(f"node{pair}.key", [self.pairs[pair][1]])
        cmd = [meshcached(), "--port", str(self.ports[node]), "--heartbeat-ms", "100",
               "--dead-ms", "1000", "--curve-secret-key", secret,
               "--curve-peers", self.peers_file, "--curve-allow", self.allow_file]
        if node:
            cmd += ["--join", self.eps[0]]
        log = open(os.path.join(self.dir, f"node{node}.log"), "ab")
        self.addCleanup(log.close)
        self.procs[node] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)

    def _stop(self, node):
        proc = self.procs.pop(node)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _stop_all(self):
        for node in list(self.procs):
            self._stop(node)

    def _client(self, smart=True):
        c = Client([self.eps[0]], smart=smart, timeout_ms=1000,
                   curve_server_key=self.pairs[0][0], curve_public_key=self.client_pair[0],
                   curve_secret_key=self.client_pair[1])
        self.addCleanup(c.close)
        return c

    def _node_client(self, endpoint, key):
        c = Client([endpoint], smart=False, timeout_ms=500, retries=0,
                   curve_server_key=key, curve_public_key=self.client_pair[0],
                   curve_secret_key=self.client_pair[1])
        self.addCleanup(c.close)
        return c

    def _views(self, want):
        """Each node's ring as {id: key} of its alive nodes, asked of the
        node itself with the key it serves with (want's)."""
        views = []
        for ep in self.eps:
            c = Client([ep], smart=False, timeout_ms=500, retries=0,
                       curve_server_key=want[ep], curve_public_key=self.client_pair[0],
                       curve_secret_key=self.client_pair[1])
            try:
                nodes = c.ring()["nodes"]
                views.append({n["id"]: n.get("key") for n in nodes if n["state"] == "alive"})
            except Exception:  # not up yet
                views.append({})
            finally:
                c.close()
        return views

    def _wait_views(self, want, what):
        wait_until(lambda: self._views(want) == [want] * 3, timeout_s=15, what=what)

    def test_nodes_with_their_own_pairs_converge_serve_and_follow_a_new_pair(self):
        for node in range(3):
            self._start(node, node)
        want = {ep: self.pairs[i][0] for i, ep in enumerate(self.eps)}
        self._wait_views(want, "every ring to list the three nodes with their own keys")
        # Each node reads the others' gossip, connected with their keys.
        via = [self._node_client(ep, want[ep]) for ep in self.eps]
        start = [c.stats(ep)["gossip_received"] for c, ep in zip(via, self.eps)]
        wait_until(lambda: all(c.stats(ep)["gossip_received"] >= n + 10
                               for c, ep, n in zip(via, self.eps, start)),
                   timeout_s=10, what="every node to hear heartbeats")

        # A smart client reaches every owner straight, each with its key.
        smart = self._client()
        keys = [f"own:{i}" for i in range(60)]
        for k in keys:
            smart.set(k, k.encode())
        self.assertEqual([smart.get(k) for k in keys], [k.encode() for k in keys])
        owners = {smart.owner(k) for k in keys}
        self.assertEqual(owners, set(self.eps))

        # Through node A alone: A forwards to B and C over links made with
        # the keys membership gave it.
        via_a = self._client(smart=False)
        before = via_a.stats(self.eps[0])["forwards"]
        for k in keys:
            self.assertEqual(via_a.get(k), k.encode())
        self.assertGreater(via_a.stats(self.eps[0])["forwards"], before)

        # C comes back with the spare pair: the mesh learns the new key, and
        # A forwards to C again (its link with C's old key could not).
        self._stop(2)
        self._start(2, 3)
        want[self.eps[2]] = self.pairs[3][0]
        self._wait_views(want, "every ring to list C with its new key")
        c_key = key_owned_by_ring(via_a.ring(), self.eps[2])
        self.assertIsNone(via_a.get(c_key))  # never set: a miss, answered by C through A
        via_a.set(c_key, b"new")
        self.assertEqual(via_a.get(c_key), b"new")
        fresh = self._client()
        self.assertEqual(fresh.get(c_key), b"new")  # straight to C, with its new key
        self.assertEqual(fresh.owner(c_key), self.eps[2])


def key_owned_by_ring(ring_reply, node_id):
    from meshcache import Ring
    r = Ring(ring_reply)
    return next(k for k in (f"c:{i}" for i in range(100000)) if r.owner(k) == node_id)


def _ports(endpoint):
    port = int(endpoint.rsplit(":", 1)[1])
    return (port, port + 1)


class PlaintextRules(unittest.TestCase):
    def run_node(self, *args):
        return subprocess.run(
            [meshcached(), "--port", "7990", *args],
            capture_output=True,
            text=True,
            timeout=20,
        )

    def test_binding_beyond_loopback_needs_curve_or_an_explicit_flag(self):
        # 192.0.2.1 (TEST-NET-1) is on no interface here: the check comes
        # before the bind, and with the flag the bind itself fails.
        refused = self.run_node("--bind", "192.0.2.1")
        self.assertEqual(refused.returncode, 2, refused.stderr)
        self.assertIn("without CURVE", refused.stderr)
        allowed = self.run_node("--bind", "192.0.2.1", "--allow-plaintext")
        self.assertEqual(allowed.returncode, 2, allowed.stderr)
        self.assertNotIn("without CURVE lets anyone", allowed.stderr)
        self.assertIn("192.0.2.1", allowed.stderr)

    def test_keygen_prints_a_pair_and_writes_a_secret_key_file(self):
        out = subprocess.run([meshcached(), "keygen"], capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = dict(line.split(": ", 1) for line in out.stdout.strip().splitlines())
        self.assertEqual(zmq.curve_public(lines["secret"].encode()).decode(), lines["public"])
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "node.key")
            out = subprocess.run(
                [meshcached(), "keygen", "--out", path], capture_output=True, text=True, timeout=10
            )
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
            with open(path) as f:
                secret = [line for line in f.read().splitlines() if not line.startswith("#")]
            self.assertEqual(len(secret), 1)
            public = out.stdout.splitlines()[0].split(": ", 1)[1]
            self.assertEqual(zmq.curve_public(secret[0].encode()).decode(), public)

    def test_a_key_file_that_is_not_a_key_is_refused_with_its_line(self):
        with tempfile.NamedTemporaryFile("w", suffix=".key") as f:
            f.write("# comment\nnot-a-key\n")
            f.flush()
            bad = self.run_node("--curve-secret-key", f.name)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("line 2", bad.stderr)


if __name__ == "__main__":
    unittest.main()
