"""Concurrent misses for one key, arriving through every node, cause exactly
one load at the owner; every waiter gets its result."""

import threading
import unittest

import msgpack

from meshtest import LocalMesh, Origin, call, dealer, owner, recv_reply, stats, wait_until


class SingleFlight(unittest.TestCase):
    def test_fifty_concurrent_misses_through_three_nodes_cause_one_load(self):
        release = threading.Event()
        self.addCleanup(release.set)

        def slow_origin(key):
            release.wait(20)  # held open until all 50 requests wait on it
            return b"loaded:" + key

        with Origin(slow_origin) as origin, \
                LocalMesh(3, args=["--loader", origin.endpoint, "--hot-memory", "0"]) as mesh:
            key = "hot-key"
            owner_ep = mesh.endpoints[mesh.index_of(owner(mesh.endpoints[0], key))]
            socks = [dealer(ep) for ep in mesh.endpoints]
            self.addCleanup(lambda: [s.close() for s in socks])
            for i in range(50):
                body = msgpack.packb(["get", i + 1, key])
                socks[i % 3].send_multipart([b"", body])
            # All 50 reached the owner (directly or forwarded) while the one
            # load is held open.
            wait_until(lambda: stats(owner_ep)["gets"] >= 50, 15, "50 gets at the owner")
            self.assertEqual(stats(owner_ep)["loads_in_flight"], 1)
            # The owner's I/O thread is not blocked by the load it waits on.
            self.assertEqual(call(owner_ep, "ping", 900)[0], "ok")
            self.assertEqual(call(owner_ep, "set", 901, "other", b"o"), ["ok", 901])
            self.assertEqual(call(owner_ep, "get", 902, "other"), ["ok", 902, b"o"])
            release.set()
            replies = []
            for i in range(50):
                reply = recv_reply(socks[i % 3], 10000)
                self.assertIsNotNone(reply, f"request {i} got no reply")
                replies.append(reply)
            self.assertEqual(sorted(r[1] for r in replies), list(range(1, 51)))
            self.assertTrue(all(r[0] == "ok" and r[2] == b"loaded:hot-key" for r in replies),
                            replies[:3])
            self.assertEqual(origin.total_loads(), 1)
            self.assertEqual(stats(owner_ep)["loads"], 1)


if __name__ == "__main__":
    unittest.main()
