"""The ring and hash, against the protocol's vectors and examples."""

import unittest

from meshcache import Ring, xxh32


def ring_of(*states):
    """A ring reply naming nodes A, B, ... with the given states."""
    nodes = [
        {"id": f"tcp://127.0.0.1:{7000 + i}", "service": f"tcp://127.0.0.1:{7000 + i}",
         "gossip": "", "state": state}
        for i, state in enumerate(states)
    ]
    return {"epoch": 3, "hash": "xxh32", "vnodes": 160, "replicas": 1, "nodes": nodes}


class HashTest(unittest.TestCase):
    def test_xxh32_matches_the_protocol_vectors(self):
        vectors = {
            "": 46947589,
            "xia": 181303650,
            "user": 2062859425,
            "hello": 4211111929,
            "tcp://127.0.0.1:7000#0": 330272902,
        }
        for text, expected in vectors.items():
            with self.subTest(text=text):
                self.assertEqual(xxh32(text), expected)
                self.assertEqual(xxh32(text.encode()), expected)


class RingTest(unittest.TestCase):
    def test_owner_is_the_greatest_position_at_or_below_the_hash(self):
        ring = Ring.from_points([(2000, "A"), (5000, "B")])
        self.assertEqual(ring.owner_of_position(3333), "A")
        self.assertEqual(ring.owner_of_position(2000), "A")
        self.assertEqual(ring.owner_of_position(5000), "B")
        self.assertEqual(ring.owner_of_position(9999), "B")

    def test_ring_wraps_below_the_lowest_vnode(self):
        ring = Ring.from_points([(2000, "A"), (5000, "B")])
        self.assertEqual(ring.owner_of_position(1000), "B")
        self.assertEqual(ring.owner_of_position(0), "B")

    def test_equal_positions_go_to_the_lower_id(self):
        ring = Ring.from_points([(2000, "B"), (2000, "A"), (5000, "C")])
        self.assertEqual(ring.owner_of_position(2000), "A")
        self.assertEqual(ring.owner_of_position(4999), "A")
        self.assertEqual(ring.owner_of_position(100), "C")

    def test_empty_ring_has_no_owner(self):
        self.assertIsNone(Ring(ring_of()).owner("k"))
        self.assertIsNone(Ring(ring_of("dead")).owner("k"))

    def test_vnodes_sit_at_the_hash_of_id_hash_index(self):
        ring = Ring(ring_of("alive"))
        node = "tcp://127.0.0.1:7000"
        self.assertEqual(len(ring), 160)
        self.assertEqual(ring.owner_of_position(330272902), node)
        position = xxh32(node + "#0")
        self.assertIn(position, ring._positions)

    def test_owner_of_key_uses_the_keys_hash(self):
        ring = Ring(ring_of("alive", "alive", "alive"))
        for key in ("user", "hello", "xia", "a", "b"):
            with self.subTest(key=key):
                self.assertEqual(ring.owner(key), ring.owner_of_position(xxh32(key)))
                self.assertEqual(ring.owner(key.encode()), ring.owner(key))

    def test_only_alive_and_suspect_nodes_own_keys(self):
        ring = Ring(ring_of("alive", "suspect", "dead", "left"))
        self.assertEqual(ring.alive(), ["tcp://127.0.0.1:7000", "tcp://127.0.0.1:7001"])
        owners = {ring.owner(f"key{i}") for i in range(200)}
        self.assertEqual(owners, {"tcp://127.0.0.1:7000", "tcp://127.0.0.1:7001"})
        self.assertEqual(len(ring.nodes), 4)

    def test_keys_spread_over_every_node(self):
        ring = Ring(ring_of("alive", "alive", "alive"))
        counts = {}
        for i in range(3000):
            owner = ring.owner(f"k{i}")
            counts[owner] = counts.get(owner, 0) + 1
        self.assertEqual(len(counts), 3)
        self.assertGreater(min(counts.values()), 600)

    def test_holders_walk_toward_lower_positions_skipping_chosen_nodes(self):
        ring = Ring.from_points([(1000, "A"), (2000, "B"), (3000, "A"), (4000, "C")])
        self.assertEqual(ring.holders_of_position(3500, 3), ["A", "B", "C"])
        self.assertEqual(ring.holders_of_position(500, 2), ["C", "A"])
        self.assertEqual(ring.holders_of_position(2500, 5), ["B", "A", "C"])

    def test_service_endpoint_defaults_to_the_id(self):
        reply = ring_of("alive")
        reply["nodes"][0]["service"] = "tcp://10.0.0.1:7400"
        ring = Ring(reply)
        self.assertEqual(ring.service("tcp://127.0.0.1:7000"), "tcp://10.0.0.1:7400")
        self.assertEqual(ring.service("tcp://elsewhere:1"), "tcp://elsewhere:1")


    def test_a_reply_a_node_never_sends_is_refused_before_anything_is_built(self):
        for vnodes in (0, -1, 10001, 2**31):
            reply = ring_of("alive")
            reply["vnodes"] = vnodes
            with self.assertRaises(ValueError):
                Ring(reply)
        reply = ring_of("alive")
        reply["nodes"] = [dict(reply["nodes"][0], id=f"tcp://h:{i}") for i in range(4097)]
        with self.assertRaises(ValueError):
            Ring(reply)
        reply["vnodes"] = 10000
        reply["nodes"] = reply["nodes"][:420]  # 4.2 million points
        with self.assertRaises(ValueError):
            Ring(reply)

if __name__ == "__main__":
    unittest.main()
