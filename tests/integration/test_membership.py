"""Membership over real processes: convergence, chain joins, failure
detection after SIGKILL, `left` on SIGTERM, and rejoin after a restart."""

import subprocess
import time
import unittest

from meshtest import LocalMesh, alive_set, call, meshcached, state_of, wait_until

HEARTBEAT_MS = 100
DEAD_MS = 1000


class Convergence(unittest.TestCase):
    def test_two_nodes_converge(self):
        with LocalMesh(2, heartbeat_ms=HEARTBEAT_MS, dead_ms=DEAD_MS) as mesh:
            for ep in mesh.endpoints:
                self.assertEqual(alive_set(ep), set(mesh.ids))

    def test_five_nodes_converge_with_equal_rings(self):
        with LocalMesh(5, heartbeat_ms=HEARTBEAT_MS, dead_ms=DEAD_MS) as mesh:
            views = [alive_set(ep) for ep in mesh.endpoints]
            self.assertTrue(all(v == set(mesh.ids) for v in views), views)
            self.assertEqual(len(set(mesh.ids)), 5)

    def test_chain_join_b_via_a_then_c_via_b(self):
        """Started by hand: LocalMesh joins every node through node 0."""
        procs = []
        self.addCleanup(_stop_all, procs)
        ports = _free_ports(3)
        for i, port in enumerate(ports):
            args = [meshcached(), "--port", str(port), "--heartbeat-ms", str(HEARTBEAT_MS),
                    "--dead-ms", str(DEAD_MS), "--log-level", "warn"]
            if i > 0:
                args += ["--join", f"tcp://127.0.0.1:{ports[i - 1]}"]
            procs.append(subprocess.Popen(args, stderr=subprocess.DEVNULL))
        ids = {f"tcp://127.0.0.1:{p}" for p in ports}
        for port in ports:
            ep = f"tcp://127.0.0.1:{port}"
            wait_until(lambda: _safe_alive(ep) == ids, 15, f"{ep} to see all three alive")


    def test_a_join_seed_that_is_down_is_skipped_for_the_next(self):
        procs = []
        self.addCleanup(_stop_all, procs)
        down, a, b = _free_ports(3)  # nothing listens on `down`
        common = ["--heartbeat-ms", str(HEARTBEAT_MS), "--dead-ms", str(DEAD_MS),
                  "--log-level", "warn"]
        procs.append(subprocess.Popen([meshcached(), "--port", str(a)] + common))
        procs.append(subprocess.Popen([meshcached(), "--port", str(b), "--join",
                                       f"tcp://127.0.0.1:{down}", "--join",
                                       f"tcp://127.0.0.1:{a}"] + common))
        ids = {f"tcp://127.0.0.1:{a}", f"tcp://127.0.0.1:{b}"}
        for port in (a, b):
            ep = f"tcp://127.0.0.1:{port}"
            wait_until(lambda: _safe_alive(ep) == ids, 15, f"{ep} to see both nodes")

    def test_a_node_whose_seed_starts_later_gets_in_once_it_is_up(self):
        procs = []
        self.addCleanup(_stop_all, procs)
        a, b = _free_ports(2)
        common = ["--heartbeat-ms", str(HEARTBEAT_MS), "--dead-ms", str(DEAD_MS),
                  "--log-level", "warn"]
        procs.append(subprocess.Popen([meshcached(), "--port", str(b), "--join",
                                       f"tcp://127.0.0.1:{a}"] + common))
        b_ep = f"tcp://127.0.0.1:{b}"
        wait_until(lambda: _safe_alive(b_ep) == {b_ep}, 10, "the lone node to answer")
        procs.append(subprocess.Popen([meshcached(), "--port", str(a)] + common))
        ids = {f"tcp://127.0.0.1:{a}", b_ep}
        wait_until(lambda: _safe_alive(b_ep) == ids, 15, "the retrying node to get in")


class FailureDetection(unittest.TestCase):
    def test_sigkilled_node_leaves_every_survivors_ring_within_dead_ms_plus_a_heartbeat(self):
        with LocalMesh(3, heartbeat_ms=HEARTBEAT_MS, dead_ms=DEAD_MS) as mesh:
            victim = mesh.ids[2]
            survivors = mesh.endpoints[:2]
            killed_at = time.monotonic()
            mesh.kill(2)
            seen = {}
            def gone():
                for ep in survivors:
                    # Suspect nodes keep their ring positions; dead ones leave.
                    if ep not in seen and state_of(ep, victim) in ("dead", None):
                        seen[ep] = time.monotonic() - killed_at
                return len(seen) == len(survivors)
            wait_until(gone, 10, "survivors to drop the killed node")
            # The bound the node promises, plus what polling two rings costs
            # on a loaded machine (each poll round is two requests).
            bound_s = (DEAD_MS + HEARTBEAT_MS) / 1000 + 0.25
            for ep, after in seen.items():
                self.assertLessEqual(after, bound_s, f"{ep} took {after:.3f} s")
                self.assertEqual(state_of(ep, victim), "dead")

    def test_sigterm_announces_left_in_under_a_second(self):
        with LocalMesh(3, heartbeat_ms=500, dead_ms=3000) as mesh:
            leaver = mesh.ids[1]
            others = [mesh.endpoints[0], mesh.endpoints[2]]
            started = time.monotonic()
            mesh.process(1).terminate()
            wait_until(lambda: all(state_of(ep, leaver) == "left" for ep in others), 5,
                       "survivors to mark the node left")
            elapsed = time.monotonic() - started
            self.assertLess(elapsed, 1.0, f"`left` took {elapsed:.3f} s")
            self.assertEqual(mesh.stop(1), 0)

    def test_sigterm_exits_zero_within_two_seconds(self):
        with LocalMesh(2, heartbeat_ms=HEARTBEAT_MS, dead_ms=DEAD_MS) as mesh:
            started = time.monotonic()
            status = mesh.stop(1, timeout_s=2.0)
            self.assertEqual(status, 0)
            self.assertLess(time.monotonic() - started, 2.0)

    def test_restart_at_the_same_address_rejoins(self):
        with LocalMesh(3, heartbeat_ms=HEARTBEAT_MS, dead_ms=DEAD_MS) as mesh:
            victim = mesh.ids[2]
            mesh.kill(2)
            wait_until(lambda: state_of(mesh.endpoints[0], victim) == "dead", 10,
                       "node 0 to declare the victim dead")
            mesh.restart(2)  # waits for convergence
            for ep in mesh.endpoints:
                self.assertEqual(alive_set(ep), set(mesh.ids))
            self.assertEqual(call(mesh.endpoints[2], "ping", 7)[0], "ok")

    def test_paused_node_is_declared_dead_then_refutes_and_comes_back(self):
        with LocalMesh(3, heartbeat_ms=HEARTBEAT_MS, dead_ms=DEAD_MS) as mesh:
            victim = mesh.ids[1]
            mesh.pause(1)
            wait_until(lambda: state_of(mesh.endpoints[0], victim) == "dead", 10,
                       "the paused node to be declared dead")
            mesh.resume(1)
            wait_until(lambda: all(_safe_alive(ep) == set(mesh.ids) for ep in mesh.endpoints),
                       10, "the resumed node to refute and be alive everywhere")


def _safe_alive(ep):
    try:
        return alive_set(ep)
    except AssertionError:
        return None


def _free_ports(n):
    import socket
    ports = []
    while len(ports) < n:
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            try:
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        if all(abs(port - p) > 1 for p in ports):
            ports.append(port)
    return ports


def _stop_all(procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


if __name__ == "__main__":
    unittest.main()
