"""meshcache-cli (and through it the C++ client) against a 3-node mesh: exit
codes, one-line errors, --json output, a piped interactive session, a
session on a terminal (a pty), keys sent straight to their owners, and a
session that outlives a killed node."""

import json
import os
import pty
import select
import selectors
import subprocess
import time
import unittest

import msgpack

from meshtest import REPO, LocalMesh, call, owner, stats, wait_until
from meshcache.testing import free_port_pair


def find_cli():
    named = os.environ.get("MESHCACHE_CLI")
    if named:
        return named
    return str(REPO / "build" / "meshcache-cli")


CLI = find_cli()


def run(endpoint, *args, stdin=None, timeout_s=30):
    return subprocess.run([CLI, "--node", endpoint, *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout_s)


def forwards(mesh):
    return sum(stats(ep)["forwards"] for ep in mesh.live_endpoints())


class Session:
    """An interactive meshcache-cli with pipes: one command in, one JSON line
    out, each within a deadline."""

    def __init__(self, test, endpoint, *args):
        self.proc = subprocess.Popen([CLI, "--node", endpoint, "--json", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)
        test.addCleanup(self.close)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)

    def ask(self, line, timeout_s=5.0):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        if not self.selector.select(timeout_s):
            raise AssertionError(f"no answer to {line!r} within {timeout_s} s")
        return json.loads(self.proc.stdout.readline())

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            stream.close()
        self.selector.close()


class CommandLine(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mesh = LocalMesh(3)
        cls.mesh.start()
        cls.eps = cls.mesh.endpoints

    @classmethod
    def tearDownClass(cls):
        cls.mesh.close()

    def test_set_then_get_prints_the_value_and_exits_0(self):
        done = run(self.eps[0], "set", "cli:a", "hello world")
        self.assertEqual((done.returncode, done.stdout), (0, "OK\n"))
        got = run(self.eps[1], "get", "cli:a")
        self.assertEqual((got.returncode, got.stdout), (0, "hello world\n"))

    def test_get_of_a_missing_key_exits_1(self):
        got = run(self.eps[2], "get", "cli:never")
        self.assertEqual((got.returncode, got.stdout, got.stderr), (1, "(miss)\n", ""))

    def test_del_exits_0_when_the_key_existed_and_1_when_not(self):
        run(self.eps[0], "set", "cli:del", "x")
        self.assertEqual(run(self.eps[1], "del", "cli:del").returncode, 0)
        again = run(self.eps[1], "--json", "del", "cli:del")
        self.assertEqual(again.returncode, 1)
        self.assertEqual(json.loads(again.stdout), {"existed": False})

    def test_json_get_names_the_key_and_whether_it_was_found(self):
        run(self.eps[0], "set", "cli:j", "v")
        got = run(self.eps[0], "--json", "get", "cli:j")
        self.assertEqual(json.loads(got.stdout), {"key": "cli:j", "found": True, "value": "v"})
        miss = run(self.eps[0], "--json", "get", "cli:j-miss")
        self.assertEqual(json.loads(miss.stdout), {"key": "cli:j-miss", "found": False})

    def test_json_value_that_is_not_utf8_comes_as_base64(self):
        self.assertEqual(call(self.eps[0], "set", 1, "cli:bin", b"\xff\x00\x01", 0), ["ok", 1])
        got = run(self.eps[1], "--json", "get", "cli:bin")
        self.assertEqual(json.loads(got.stdout)["value_base64"], "/wAB")

    def test_mget_json_keeps_request_order_and_exits_1_on_any_miss(self):
        keys = [f"cli:m{i}" for i in range(12)]
        for k in keys[::2]:
            self.assertEqual(run(self.eps[0], "set", k, "v-" + k).returncode, 0)
        got = run(self.eps[1], "--json", "mget", *keys)
        self.assertEqual(got.returncode, 1)
        values = json.loads(got.stdout)
        self.assertEqual([v["key"] for v in values], keys)
        for i, v in enumerate(values):
            self.assertEqual(v.get("value"), "v-" + keys[i] if i % 2 == 0 else None)
        full = run(self.eps[2], "mget", *keys[::2])
        self.assertEqual(full.returncode, 0)
        self.assertEqual(full.stdout.splitlines(), [f"{k}: v-{k}" for k in keys[::2]])

    def test_ttl_ms_expires_the_value(self):
        self.assertEqual(run(self.eps[0], "set", "cli:ttl", "x", "--ttl-ms", "50").returncode, 0)
        wait_until(lambda: run(self.eps[0], "get", "cli:ttl").returncode == 1, 5,
                   "the value to expire")

    def test_ping_stats_and_ring_describe_the_node_asked(self):
        ping = json.loads(run(self.eps[1], "--json", "ping").stdout)
        self.assertEqual((ping["node"], ping["proto"]), (self.mesh.ids[1], 1))
        other = json.loads(run(self.eps[1], "--json", "ping", self.eps[2]).stdout)
        self.assertEqual(other["node"], self.mesh.ids[2])
        st = json.loads(run(self.eps[2], "--json", "stats").stdout)
        self.assertEqual(st["peers_alive"], 2)
        self.assertIsInstance(st["gets"], int)
        ring = json.loads(run(self.eps[0], "--json", "ring").stdout)
        self.assertEqual(ring["hash"], "xxh32")
        self.assertEqual(sorted(n["id"] for n in ring["nodes"] if n["state"] == "alive"),
                         sorted(self.mesh.ids))
        text = run(self.eps[0], "ring")
        self.assertEqual(text.returncode, 0)
        self.assertEqual(len(text.stdout.splitlines()), 4)

    def test_usage_errors_exit_2_with_one_line(self):
        for args in (["get"], ["frobnicate"], ["set", "k"], ["set", "k", "v", "--ttl-ms", "-1"],
                     ["get", "a", "b"], ["--timeout-ms", "0", "ping"]):
            with self.subTest(args=args):
                done = run(self.eps[0], *args)
                self.assertEqual(done.returncode, 2)
                self.assertEqual(done.stdout, "")
                self.assertEqual(len(done.stderr.splitlines()), 1, done.stderr)

    def test_stats_mesh_shows_every_node_with_totals_and_the_hit_ratio(self):
        key = "cli:mesh-stats"
        self.assertEqual(run(self.eps[0], "set", key, "v").returncode, 0)
        self.assertEqual(run(self.eps[1], "get", key).returncode, 0)
        self.assertEqual(run(self.eps[2], "get", "cli:mesh-never-set").returncode, 1)
        view = json.loads(run(self.eps[1], "--json", "stats", "--mesh").stdout)
        by_id = {n["id"]: n["stats"] for n in view["nodes"]}
        self.assertEqual(sorted(by_id), sorted(self.mesh.ids))
        for name in ("gets", "hits", "misses", "sets", "items"):
            self.assertEqual(view["total"][name], sum(s[name] for s in by_id.values()), name)
        self.assertNotIn("ring_epoch", view["total"])
        hits, misses = view["total"]["hits"], view["total"]["misses"]
        self.assertGreater(misses, 0)
        self.assertAlmostEqual(view["hit_ratio"]["total"], 100.0 * hits / (hits + misses))
        text = run(self.eps[1], "stats", "--mesh")
        self.assertEqual(text.returncode, 0)
        header, *rows = text.stdout.splitlines()
        self.assertEqual(header.split(), ["stat"] + [i.split("://")[1] for i in
                                                     (n["id"] for n in view["nodes"])] + ["total"])
        self.assertTrue(rows[-1].startswith("hit_ratio"), rows[-1])

    def test_stats_mesh_with_a_node_down_shows_the_others_and_exits_2(self):
        mesh = LocalMesh(2)
        mesh.start()
        self.addCleanup(mesh.close)
        mesh.pause(1)  # on the ring still (suspect at most), yet it answers nothing
        done = run(mesh.endpoints[0], "--json", "--timeout-ms", "300", "stats", "--mesh")
        self.assertEqual(done.returncode, 2)
        nodes = {n["id"]: n for n in json.loads(done.stdout)["nodes"]}
        self.assertIn("stats", nodes[mesh.ids[0]])
        self.assertIn(nodes[mesh.ids[1]]["error"]["code"], ("unavailable", "timeout"))

    def test_an_unknown_command_after_node_is_named_not_taken_for_a_node(self):
        done = run(self.eps[0], "frob")
        self.assertEqual(done.returncode, 2)
        self.assertEqual(done.stderr.strip(), 'meshcache-cli: unknown command "frob" (try --help)')

    def test_an_unreachable_node_exits_2_with_one_line(self):
        nowhere = f"tcp://127.0.0.1:{free_port_pair()}"
        for args in (["ping"], ["get", "k"], ["set", "k", "v"]):
            with self.subTest(args=args):
                done = run(nowhere, *args)
                self.assertEqual(done.returncode, 2)
                self.assertEqual(len(done.stderr.splitlines()), 1, done.stderr)
                self.assertIn("unavailable", done.stderr)
        as_json = run(nowhere, "--json", "get", "k")
        self.assertEqual(json.loads(as_json.stdout)["error"]["code"], "unavailable")

    def test_piped_session_answers_each_line_and_goes_on_after_errors(self):
        lines = ['set cli:s "two words"', "get cli:s", "bogus", "get", "del cli:s", "get cli:s",
                 "quit", "get cli:s"]
        done = run(self.eps[0], "--json", stdin="\n".join(lines) + "\n")
        self.assertEqual(done.returncode, 2)  # two lines failed
        out = [json.loads(line) for line in done.stdout.splitlines()]
        self.assertEqual(len(out), 6)  # nothing after quit
        self.assertEqual(out[0], {"ok": True})
        self.assertEqual(out[1]["value"], "two words")
        self.assertEqual(out[2]["error"]["code"], "invalid_argument")
        self.assertEqual(out[3]["error"]["code"], "invalid_argument")
        self.assertEqual(out[4], {"existed": True})
        self.assertEqual(out[5]["found"], False)

    def test_piped_session_ends_at_end_of_input_with_0(self):
        done = run(self.eps[0], stdin="ping\nget cli:never-set\n")
        self.assertEqual(done.returncode, 0)  # a miss is an answer, not a failure
        self.assertTrue(done.stdout.startswith("PONG from "), done.stdout)

    def test_piped_session_with_a_failed_request_exits_2(self):
        nowhere = f"tcp://127.0.0.1:{free_port_pair()}"
        done = run(nowhere, "--timeout-ms", "200", stdin="get k\n")
        self.assertEqual(done.returncode, 2)
        self.assertIn("unavailable", done.stderr)

    def test_ctrl_c_at_the_prompt_drops_the_line_and_the_session_goes_on(self):
        pid, fd = pty.fork()
        if pid == 0:  # the child: the cli on a terminal, its history in a scratch HOME
            os.environ["HOME"] = os.environ.get("TMPDIR", "/tmp")
            os.execv(CLI, [CLI, "--node", self.eps[0]])
        def cleanup():
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            os.close(fd)
        self.addCleanup(cleanup)
        seen = bytearray()
        def until(text, timeout_s=10):
            deadline = time.monotonic() + timeout_s
            while text not in seen:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {text!r} within {timeout_s} s in {bytes(seen)!r}")
                if select.select([fd], [], [], left)[0]:
                    try:
                        seen.extend(os.read(fd, 4096))
                    except OSError:  # the terminal closed: the cli has gone
                        raise AssertionError(f"the cli ended; it wrote {bytes(seen)!r}")
        until(b"meshcache> ")
        os.write(fd, b"get half-typed")
        until(b"half-typed")
        os.write(fd, b"\x03")  # Ctrl-C: the terminal sends SIGINT
        until(b"^C")
        del seen[:]
        os.write(fd, b"ping\r")
        until(b"PONG from")
        self.assertNotIn(b"half-typed", seen)
        os.write(fd, b"quit\r")
        _, status = os.waitpid(pid, 0)
        self.assertTrue(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status)

    def test_a_session_sends_each_key_straight_to_its_owner(self):
        before = forwards(self.mesh)
        keys = [f"cli:own{i}" for i in range(30)]
        script = [f"set {k} v" for k in keys] + [f"get {k}" for k in keys] + ["mget " + " ".join(keys)]
        done = run(self.eps[0], "--json", stdin="\n".join(script) + "\n")
        out = [json.loads(line) for line in done.stdout.splitlines()]
        self.assertTrue(all(o.get("ok") or o.get("found") for o in out[:60]), out)
        self.assertTrue(all(v["found"] for v in out[60]))
        self.assertEqual(forwards(self.mesh), before)
        # The same through one node: most keys are someone else's.
        run(self.eps[0], "--json", "--direct", stdin="\n".join(script) + "\n")
        self.assertGreater(forwards(self.mesh), before)


class KilledNode(unittest.TestCase):
    def setUp(self):
        self.mesh = LocalMesh(3)
        self.mesh.start()
        self.addCleanup(self.mesh.close)

    def test_a_session_outlives_a_killed_node(self):
        eps = self.mesh.endpoints
        session = Session(self, eps[0], "--timeout-ms", "1000")
        keys = [f"kill:{i}" for i in range(30)]
        victims = [k for k in keys if owner(eps[0], k) == self.mesh.ids[2]]
        self.assertTrue(victims)
        for k in keys:
            self.assertEqual(session.ask(f"set {k} v"), {"ok": True})
        self.mesh.kill(2)
        # Right away each request is answered, error or not, and none waits
        # for its deadline: the broken connection sends reads elsewhere.
        for k in victims:
            started = time.monotonic()
            answer = session.ask(f"get {k}", timeout_s=3)
            self.assertLess(time.monotonic() - started, 2.5)
            self.assertNotEqual(answer.get("error", {}).get("code"), "timeout", answer)
        self.mesh.wait_converged()
        # Once the mesh knows, the session routes around the dead node.
        def all_served():
            return all(session.ask(f"set {k} again").get("ok") for k in keys)
        wait_until(all_served, 10, "every set to succeed after the kill")
        for k in keys:
            self.assertEqual(session.ask(f"get {k}")["value"], "again")
        got = session.ask("mget " + " ".join(keys))
        self.assertTrue(all(v["value"] == "again" for v in got))


if __name__ == "__main__":
    unittest.main()
