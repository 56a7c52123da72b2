"""meshcached as a program: flags and their errors, the TOML config, the
origin loader's outcomes, and replicas taking over from a dead owner."""

import os
import re
import subprocess
import tempfile
import time
import unittest

import msgpack

from meshtest import (LocalMesh, Origin, OriginError, call, dealer, key_owned_by, meshcached,
                      recv_reply, ring, stats, wait_until)
from test_membership import _free_ports, _stop_all


def run(*args, timeout=10):
    return subprocess.run([meshcached(), *args], capture_output=True, text=True, timeout=timeout)


class Flags(unittest.TestCase):
    def test_version_and_help_exit_zero(self):
        v = run("--version")
        self.assertEqual(v.returncode, 0)
        self.assertRegex(v.stdout, r"^meshcached \d+\.\d+\.\d+")
        h = run("--help")
        self.assertEqual(h.returncode, 0)
        for flag in ["--bind", "--port", "--gossip-port", "--advertise", "--join", "--memory",
                     "--vnodes", "--replicas", "--loader", "--default-ttl-ms", "--max-key-bytes",
                     "--max-value-bytes", "--heartbeat-ms", "--dead-ms", "--drain-ms",
                     "--handoff-ms", "--log-level",
                     "--config"]:
            self.assertIn(flag, h.stdout)

    def test_a_bad_flag_or_value_is_one_line_that_names_it_and_exit_2(self):
        cases = [(["--port", "abc"], "--port"), (["--memory", "12XB"], "--memory"),
                 (["--no-such-flag"], "--no-such-flag"), (["--log-level", "loud"], "--log-level"),
                 (["--join", "http://x"], "--join"), (["--vnodes", "0"], "--vnodes"),
                 (["--join", "tcp://x"], "--join"), (["--loader", "nope"], "--loader"),
                 (["--port", "65535"], "--port"), (["--drain-ms", "-1"], "--drain-ms"),
                 (["--suspect-ms", "4000", "--dead-ms", "3000"], "--suspect-ms"),
                 (["--bind", "nosuchhost.invalid"], "nosuchhost.invalid")]
        for args, name in cases:
            r = run(*args)
            self.assertEqual(r.returncode, 2, args)
            lines = r.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertIn(name, lines[0])

    def test_a_port_in_use_is_a_clear_error(self):
        (port,) = _free_ports(1)
        procs = []
        self.addCleanup(_stop_all, procs)
        procs.append(subprocess.Popen([meshcached(), "--port", str(port), "--log-level", "error"]))
        wait_until(lambda: _pings(port), 10, "the first node")
        r = run("--port", str(port))
        self.assertEqual(r.returncode, 2)
        self.assertIn(f"cannot bind tcp://127.0.0.1:{port}", r.stderr)

    def test_memory_units_and_the_toml_config_are_read_and_flags_win(self):
        (port,) = _free_ports(1)
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write(f'port = {port}\nmemory = "2MiB"\nvnodes = 7\nmax-key-bytes = 8\n')
        self.addCleanup(os.unlink, f.name)
        procs = []
        self.addCleanup(_stop_all, procs)
        procs.append(subprocess.Popen([meshcached(), "--config", f.name, "--vnodes", "9",
                                       "--log-level", "error"]))
        wait_until(lambda: _pings(port), 10, "the configured node")
        ep = f"tcp://127.0.0.1:{port}"
        self.assertEqual(stats(ep)["limit_bytes"], 2 << 20)
        self.assertEqual(call(ep, "ring", 1)[2]["vnodes"], 9)
        self.assertEqual(call(ep, "set", 1, "k" * 9, b"v")[2], "too_large")

    def test_a_bare_memory_is_mib_and_bind_takes_a_host_name(self):
        # As memcached's -m 64; and "localhost" is resolved, not taken for
        # an interface ("No such device").
        (port,) = _free_ports(1)
        procs = []
        self.addCleanup(_stop_all, procs)
        procs.append(subprocess.Popen([meshcached(), "--port", str(port), "--bind", "localhost",
                                       "--memory", "3", "--log-level", "error"]))
        wait_until(lambda: _pings(port), 10, "the node bound to localhost")
        ep = f"tcp://127.0.0.1:{port}"
        self.assertEqual(stats(ep)["limit_bytes"], 3 << 20)
        self.assertEqual(call(ep, "ping", 1)[2]["node"], ep)

    def log_and_procs(self):
        """A log file for a node's stderr and a list of processes, both
        cleaned up after the test."""
        log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
        self.addCleanup(os.unlink, log.name)
        self.addCleanup(log.close)
        procs = []
        self.addCleanup(_stop_all, procs)
        return log, procs

    def test_a_join_nobody_answers_is_logged_at_warn_and_the_node_serves_alone(self):
        port, nobody = _free_ports(2)
        log, procs = self.log_and_procs()
        procs.append(subprocess.Popen([meshcached(), "--port", str(port), "--join",
                                       f"tcp://127.0.0.1:{nobody}", "--log-level", "warn"],
                                      stderr=log))
        wait_until(lambda: _pings(port), 10, "the node")

        def warned():
            with open(log.name) as f:
                return f"join via tcp://127.0.0.1:{nobody}: no answer within" in f.read()
        wait_until(warned, 10, "the warning about the join")
        # Each line says when (with the zone) and which node wrote it.
        with open(log.name) as f:
            line = next(ln for ln in f if "join via" in ln)
        self.assertRegex(line, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d "
                               + re.escape(f"[127.0.0.1:{port}] ") + "warning join via")
        self.assertEqual(call(f"tcp://127.0.0.1:{port}", "set", 1, "k", b"v")[0], "ok")

    def test_a_seed_that_leads_back_to_the_node_is_skipped_for_the_next(self):
        me, other = _free_ports(2)
        log, procs = self.log_and_procs()
        procs.append(subprocess.Popen([meshcached(), "--port", str(other), "--log-level", "error"]))
        wait_until(lambda: _pings(other), 10, "the other node")
        # "localhost" is this node itself, spelled otherwise than its
        # endpoint (as a Service's name can be): tried first, then the other.
        procs.append(subprocess.Popen(
            [meshcached(), "--port", str(me), "--log-level", "warn", "--join",
             f"tcp://localhost:{me}", "--join", f"tcp://127.0.0.1:{other}"], stderr=log))
        ep = f"tcp://127.0.0.1:{me}"
        wait_until(lambda: _pings(me) and len(ring(ep)["nodes"]) == 2, 15,
                   "the node to join the other one")

        def warned():
            with open(log.name) as f:
                return f"join via tcp://localhost:{me}: it leads to this node itself" in f.read()
        wait_until(warned, 10, "the warning about the seed")

    def run_config(self, text):
        """meshcached run with a TOML config holding text."""
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write(text)
        self.addCleanup(os.unlink, f.name)
        return run("--config", f.name)

    def test_a_config_with_an_unknown_name_is_refused(self):
        r = self.run_config('port = 7400\ncolour = "blue"\n')
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr.strip(), 'meshcached: config: unknown setting "colour" (line 2; '
                         'the settings are the long flags of --help)')

    def test_a_config_with_a_syntax_error_names_its_line(self):
        r = self.run_config("port = 7400\nmemory = = 3\n")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertIn("(line 2)", r.stderr)


class Loader(unittest.TestCase):
    def test_origin_values_misses_errors_and_timeouts(self):
        def handler(key):
            if key == b"missing":
                return None
            if key == b"broken":
                raise OriginError("load_failed", "database on fire")
            if key == b"slow":
                time.sleep(2)  # longer than the node's --load-timeout-ms
                return b"too late"
            return b"from-origin:" + key

        with Origin(handler) as origin, \
                LocalMesh(2, args=["--loader", origin.endpoint, "--load-timeout-ms", "500"]) as mesh:
            ep = mesh.endpoints[1]
            self.assertEqual(call(ep, "get", 1, "user"), ["ok", 1, b"from-origin:user"])
            self.assertEqual(call(ep, "get", 2, "user"), ["ok", 2, b"from-origin:user"])
            self.assertEqual(origin.loads[b"user"], 1)  # the second get hit the cache
            self.assertEqual(call(ep, "get", 3, "missing"), ["miss", 3])
            broken = call(ep, "get", 4, "broken")
            self.assertEqual(broken[:3], ["err", 4, "load_failed"])
            self.assertIn("database on fire", broken[3])
            slow = call(ep, "get", 5, "slow")
            self.assertEqual(slow[:3], ["err", 5, "timeout"])
            errors = sum(stats(e)["load_errors"] for e in mesh.endpoints)
            self.assertEqual(errors, 1)


    def test_sigterm_lets_a_request_in_flight_finish_within_drain_ms(self):
        import threading
        release = threading.Event()
        self.addCleanup(release.set)
        # The load outlasts the default drain time (1 s); --drain-ms keeps it served.
        held_s = 1.5
        with Origin(lambda key: release.wait(10) and b"late but served") as origin, \
                LocalMesh(2, args=["--loader", origin.endpoint, "--hot-memory", "0",
                                   "--drain-ms", "10000"]) as mesh:
            ep, peer = mesh.endpoints[0], mesh.endpoints[1]
            key = key_owned_by(ep, mesh.ids[0])
            sock = dealer(ep)
            self.addCleanup(sock.close)
            sock.send_multipart([b"", msgpack.packb(["get", 77, key])])
            wait_until(lambda: stats(ep)["loads_in_flight"] == 1, 5, "the load to start")
            stopped_at = time.monotonic()
            mesh.process(0).terminate()
            wait_until(lambda: _state(peer, mesh.ids[0]) == "left", 5, "`left` to be announced")
            time.sleep(max(0.0, stopped_at + held_s - time.monotonic()))  # the load's planned length
            release.set()
            self.assertEqual(recv_reply(sock, 5000), ["ok", 77, b"late but served"])
            self.assertEqual(mesh.stop(0), 0)


    def test_sigterm_exits_within_the_drain_time_and_a_second_while_an_origin_load_hangs(self):
        import threading
        release = threading.Event()
        self.addCleanup(release.set)  # the origin answers only once the test is over
        drain_s = 1.0  # the node's default --drain-ms; hand-off (5 s) has nothing to do alone
        with Origin(lambda key: release.wait(60) and b"never") as origin, \
                LocalMesh(1, args=["--loader", origin.endpoint, "--load-timeout-ms", "60000"]) as mesh:
            ep = mesh.endpoints[0]
            sock = dealer(ep)
            self.addCleanup(sock.close)
            sock.send_multipart([b"", msgpack.packb(["get", 78, "hangs"])])
            wait_until(lambda: stats(ep)["loads_in_flight"] == 1, 5, "the load to start")
            started = time.monotonic()
            mesh.process(0).terminate()
            try:
                code = mesh.process(0).wait(timeout=drain_s + 1.0)
            except subprocess.TimeoutExpired:
                self.fail(f"meshcached did not exit within {drain_s + 1.0} s of SIGTERM")
            print(f"exited {time.monotonic() - started:.2f} s after SIGTERM", flush=True)
            self.assertEqual(code, 0)
            reply = recv_reply(sock, 1000)
            self.assertEqual(reply[:3], ["err", 78, "unavailable"])


class Replicas(unittest.TestCase):
    def test_a_get_falls_back_to_the_next_holder_when_the_owner_is_down(self):
        with LocalMesh(3, heartbeat_ms=100, dead_ms=3000, args=["--replicas", "2"]) as mesh:
            eps = mesh.endpoints
            key = key_owned_by(eps[0], mesh.ids[2])
            self.assertEqual(call(eps[0], "set", 1, key, b"kept"), ["ok", 1])
            wait_until(lambda: sum(stats(e)["replica_writes"] for e in eps) == 1, 5,
                       "the replica write")
            mesh.kill(2)
            # Before the owner is declared dead, the forward times out and
            # the next holder answers; after, the next holder owns the key.
            self.assertEqual(call(eps[0], "get", 2, key, timeout_ms=5000), ["ok", 2, b"kept"])
            self.assertEqual(call(eps[1], "get", 3, key, timeout_ms=5000), ["ok", 3, b"kept"])
            wait_until(lambda: all(_state(e, mesh.ids[2]) == "dead" for e in eps[:2]), 10,
                       "the owner to be declared dead")
            self.assertEqual(call(eps[0], "get", 4, key), ["ok", 4, b"kept"])


def _state(ep, node_id):
    return next((n["state"] for n in call(ep, "ring", 1)[2]["nodes"] if n["id"] == node_id), None)


def _pings(port):
    try:
        return call(f"tcp://127.0.0.1:{port}", "ping", 1, timeout_ms=200)[0] == "ok"
    except AssertionError:
        return False


if __name__ == "__main__":
    unittest.main()
