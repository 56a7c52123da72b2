"""Sixteen nodes on loopback, every one joining through the first: they
converge, drop a SIGKILLed node, and still serve. A functional check with
generous deadlines; bench/scale measures how fast and at what cost."""

import unittest

from meshtest import LocalMesh, alive_set, call, state_of, wait_until

NODES = 16
CONVERGE_S = 60
DEAD_MS = 3000  # the node's default, given so that the deadline below follows it
GONE_S = DEAD_MS / 1000 + 20
NODE_ARGS = ["--memory", "8MiB", "--hot-memory", "1MiB", "--log-level", "warn"]


class SixteenNodes(unittest.TestCase):
    def setUp(self):
        # Node 0 first; every added node joins through node 0 (LocalMesh
        # names the first running node as --join), none waiting to converge.
        self.mesh = LocalMesh(1, heartbeat_ms=None, dead_ms=DEAD_MS, args=NODE_ARGS)
        self.addCleanup(self.mesh.close)  # every node, by pid
        self.mesh.start()
        for _ in range(NODES - 1):
            self.mesh.add(wait=False)

    def test_converge_drop_a_killed_node_and_serve_through_any_node(self):
        mesh = self.mesh
        everyone = set(mesh.ids)
        self.assertEqual(len(everyone), NODES)
        wait_until(lambda: all(_alive_or_none(ep) == everyone for ep in mesh.endpoints),
                   CONVERGE_S, f"all {NODES} nodes to list all {NODES} alive")

        victim = NODES // 2
        mesh.kill(victim)  # SIGKILL by pid
        survivors = [ep for i, ep in enumerate(mesh.endpoints) if i != victim]
        wait_until(lambda: all(_dead_or_gone(ep, mesh.ids[victim]) for ep in survivors),
                   GONE_S, f"every survivor to list node {victim} dead or drop it")

        writer, readers = survivors[0], survivors[1::5][:3]
        self.assertEqual(len(readers), 3)
        for n in range(20):  # keys spread over most owners
            key, value = f"scale:{n}", f"value {n}".encode()
            self.assertEqual(call(writer, "set", n, key, value, 0), ["ok", n])
            for r in readers:
                self.assertEqual(call(r, "get", n, key), ["ok", n, value], f"{key} at {r}")


def _alive_or_none(ep):
    """The alive set of ep's ring; None while ep does not answer in time."""
    try:
        return alive_set(ep)
    except AssertionError:
        return None


def _dead_or_gone(ep, node_id):
    try:
        return state_of(ep, node_id) in ("dead", None)
    except AssertionError:
        return False


if __name__ == "__main__":
    unittest.main()
