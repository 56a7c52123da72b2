"""Forwarding: a non-owner reaches the owner in one hop, and a forwarded
request is never forwarded again, even when two nodes' rings disagree (a
write that lands where the receiver's ring does not place it is relayed to
the holder that ring names, once)."""

import subprocess
import unittest

from meshtest import LocalMesh, Ring, call, meshcached, ring, stats, wait_until
from test_membership import _free_ports, _stop_all


class OneHop(unittest.TestCase):
    def test_get_at_a_non_owner_is_answered_by_the_owner_in_one_hop(self):
        with LocalMesh(3, args=["--hot-memory", "0"]) as mesh:
            eps, ids = mesh.endpoints, mesh.ids
            r = Ring(ring(eps[0]))
            key = next(f"k{i}" for i in range(1000) if r.owner(f"k{i}") == ids[1])
            self.assertEqual(call(eps[1], "set", 1, key, b"v")[0], "ok")
            before = [stats(ep) for ep in eps]
            self.assertEqual(call(eps[0], "get", 2, key), ["ok", 2, b"v"])
            after = [stats(ep) for ep in eps]
            # Node 0 forwarded once; the owner served it from its store; the
            # third node saw nothing.
            self.assertEqual(after[0]["forwards"] - before[0]["forwards"], 1)
            self.assertEqual(after[1]["forwards"] - before[1]["forwards"], 0)
            self.assertEqual(after[1]["gets"] - before[1]["gets"], 1)
            self.assertEqual(after[1]["hits"] - before[1]["hits"], 1)
            self.assertEqual(after[2]["gets"] - before[2]["gets"], 0)

    def test_mget_is_split_by_owner_and_merged_in_request_order(self):
        with LocalMesh(3) as mesh:
            keys = [f"m{i}" for i in range(40)]
            for i, k in enumerate(keys):
                self.assertEqual(call(mesh.endpoints[i % 3], "set", i, k, k.encode())[0], "ok")
            reply = call(mesh.endpoints[0], "mget", 99, keys + ["absent"])
            self.assertEqual(reply[:2], ["ok", 99])
            self.assertEqual(reply[2], [k.encode() for k in keys] + [None])


    def test_writes_right_after_a_join_wait_for_the_new_connection(self):
        # The ring names a new member as soon as gossip does; its DEALER may
        # still be connecting. Forwards wait for it (until their deadline)
        # instead of failing `unavailable`.
        with LocalMesh(1) as mesh:
            index = mesh.add(wait=False)
            new_id = mesh.ids[index]
            first = mesh.endpoints[0]
            wait_until(lambda: new_id in _alive(first) if _alive(first) else False, 15,
                       "the first node to list the new one")
            r = Ring(ring(first))
            keys = [k for k in (f"j{i}" for i in range(400)) if r.owner(k) == new_id][:64]
            for i, key in enumerate(keys):
                self.assertEqual(call(first, "set", i, key, b"v"), ["ok", i], key)


    def test_an_mget_of_many_large_values_through_a_non_owner_is_answered_whole(self):
        # 12 values of 1 MiB (the default limit) owned by one node: the parts'
        # replies are far larger than any single request may be.
        # Small keys make the message limit smallest relative to the values.
        # A store shard holds a sixteenth of --memory; give room for 12 MiB.
        with LocalMesh(2, args=["--max-key-bytes", "16", "--memory", "512MiB"]) as mesh:
            owner_id, other = mesh.ids[0], mesh.endpoints[1]
            r = Ring(ring(other))
            keys = [k for k in (f"big{i}" for i in range(1000)) if r.owner(k) == owner_id][:12]
            values = [bytes([65 + i]) * (1 << 20) for i in range(len(keys))]
            for i, (k, v) in enumerate(zip(keys, values)):
                self.assertEqual(call(mesh.endpoints[0], "set", i, k, v), ["ok", i])
            reply = call(other, "mget", 99, keys, timeout_ms=10000)
            self.assertEqual(reply[0], "ok", reply[:4] if reply[0] == "err" else reply[0])
            self.assertEqual(reply[2], values)


class NoForwardLoop(unittest.TestCase):
    def test_rings_that_disagree_cause_no_forward_loop(self):
        # Two nodes with different vnode counts compute different rings for
        # the same membership, so some keys are "owned by the other" at both.
        procs = []
        self.addCleanup(_stop_all, procs)
        pa, pb = _free_ports(2)
        a, b = f"tcp://127.0.0.1:{pa}", f"tcp://127.0.0.1:{pb}"
        # No hand-off window: a miss at b is a miss, not a peek at a.
        common = ["--heartbeat-ms", "100", "--dead-ms", "1000", "--log-level", "warn",
                  "--handoff-ms", "0"]
        procs.append(subprocess.Popen([meshcached(), "--port", str(pa), "--vnodes", "1"] + common))
        procs.append(subprocess.Popen([meshcached(), "--port", str(pb), "--vnodes", "200",
                                       "--join", a] + common, stderr=subprocess.DEVNULL))
        for ep in (a, b):
            wait_until(lambda: _alive(ep) == {a, b}, 15, f"{ep} to see both nodes")
        ring_a, ring_b = Ring(ring(a)), Ring(ring(b))
        key = next(k for k in (f"x{i}" for i in range(100000))
                   if ring_a.owner(k) == b and ring_b.owner(k) == a)
        before_a, before_b = stats(a), stats(b)
        self.assertEqual(call(a, "set", 1, key, b"v1"), ["ok", 1])
        # a forwarded the set to b; b applied it although its own ring names
        # a, and relayed it to a once (a handoff marked relayed), which a keeps
        # and does not send back.
        wait_until(lambda: stats(a)["handoff_received"] - before_a["handoff_received"] == 1,
                   10, "a to take the relayed entry")
        wait_until(lambda: stats(b)["items"] == before_b["items"], 10,
                   "b to drop the entry a acknowledged")
        # a forwards the get to b, which answers from its own store alone.
        self.assertEqual(call(a, "get", 2, key), ["miss", 2])
        after_a, after_b = stats(a), stats(b)
        self.assertEqual(after_a["forwards"] - before_a["forwards"], 2)
        # b sent no client request on (the relay is its own hand-off, which a
        # counted in handoff_received above): no loop.
        self.assertEqual(after_b["forwards"] - before_b["forwards"], 0)
        self.assertEqual(after_b["sets"] - before_b["sets"], 1)
        self.assertEqual(after_a["items"] - before_a["items"], 1)


def _alive(ep):
    try:
        return {n["id"] for n in ring(ep)["nodes"] if n["state"] == "alive"}
    except AssertionError:
        return None


if __name__ == "__main__":
    unittest.main()
