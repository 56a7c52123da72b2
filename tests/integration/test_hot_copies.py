"""Hot copies: a non-owner serves a value it fetched, and never serves it once
a write through the owner has been acknowledged and one heartbeat passed."""

import time
import unittest

from meshtest import LocalMesh, call, key_owned_by, stats, wait_until

HEARTBEAT_MS = 100


class HotCopies(unittest.TestCase):
    def test_a_non_owner_serves_a_hot_copy_without_a_hop(self):
        with LocalMesh(2, heartbeat_ms=HEARTBEAT_MS) as mesh:
            owner_ep, other = mesh.endpoints[0], mesh.endpoints[1]
            key = key_owned_by(owner_ep, mesh.ids[0])
            call(owner_ep, "set", 1, key, b"v1")
            # The first get is forwarded. Its copy is not kept if the set's
            # own invalidation reaches this node while the get is in flight,
            # so read until a copy has been served.
            wait_until(lambda: call(other, "get", 2, key)[2] == b"v1" and
                       stats(other)["hot_hits"] > 0, 5, "a hot copy to be served")
            before = stats(other)
            self.assertEqual(call(other, "get", 3, key)[2], b"v1")
            after = stats(other)
            self.assertEqual(after["hot_hits"] - before["hot_hits"], 1)
            self.assertEqual(after["forwards"], before["forwards"])

    def test_no_hot_copy_is_served_after_an_acknowledged_write_and_one_heartbeat(self):
        with LocalMesh(3, heartbeat_ms=HEARTBEAT_MS) as mesh:
            owner_ep = mesh.endpoints[0]
            readers = mesh.endpoints[1:]
            for round_ in range(20):
                key = key_owned_by(owner_ep, mesh.ids[0], prefix=f"r{round_}")
                old, new = b"old-%d" % round_, b"new-%d" % round_
                call(owner_ep, "set", 1, key, old)
                for ep in readers:  # take hot copies
                    self.assertEqual(call(ep, "get", 2, key)[2], old)
                    self.assertEqual(call(ep, "get", 3, key)[2], old)
                # Half the rounds write through a non-owner (which forwards).
                writer = owner_ep if round_ % 2 == 0 else readers[0]
                if round_ % 4 == 3:
                    self.assertEqual(call(writer, "del", 4, key), ["ok", 4, True])
                    new = None
                else:
                    self.assertEqual(call(writer, "set", 4, key, new), ["ok", 4])
                acked = time.monotonic()
                # The promise is about time passing: one heartbeat after the ack.
                while time.monotonic() < acked + HEARTBEAT_MS / 1000:
                    time.sleep(0.005)
                for ep in readers:
                    reply = call(ep, "get", 5, key)
                    got = reply[2] if reply[0] == "ok" else None
                    self.assertEqual(got, new, f"round {round_}: {ep} served a stale copy")
            self.assertGreater(sum(stats(ep)["hot_invalidations"] for ep in readers), 0)


if __name__ == "__main__":
    unittest.main()
