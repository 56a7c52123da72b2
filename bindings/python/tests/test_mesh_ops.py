"""Client operations against a real three-node mesh."""

import unittest

import meshcache
from meshcache.testing import LocalMesh

from .mesh_case import key_owned_by, mesh_ring, require_meshcached, wait_for


class MeshOpsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_meshcached()
        cls.mesh = LocalMesh(3).start()
        cls.ring = mesh_ring(cls.mesh)

    @classmethod
    def tearDownClass(cls):
        cls.mesh.close()

    def setUp(self):
        self.client = self.mesh.client(timeout_ms=2000)
        self.addCleanup(self.client.close)

    def non_owner_client(self, key):
        """A client that sends everything to one node that does not own key."""
        owner = self.ring.owner(key)
        other = next(ep for i, ep in enumerate(self.mesh.endpoints) if self.mesh.ids[i] != owner)
        client = meshcache.Client([other], smart=False, timeout_ms=2000)
        self.addCleanup(client.close)
        return client, other

    def stats(self):
        return [self.mesh.stats(i) for i in range(len(self.mesh))]

    def test_ping_names_the_node_and_protocol(self):
        for i, endpoint in enumerate(self.mesh.endpoints):
            reply = self.client.ping(endpoint)
            self.assertEqual(reply["node"], self.mesh.ids[i])
            self.assertEqual(reply["proto"], 1)
            self.assertIsInstance(reply["version"], str)

    def test_set_get_delete_through_the_smart_client(self):
        self.client.set("ops:a", b"alpha")
        self.assertEqual(self.client.get("ops:a"), b"alpha")
        self.assertTrue(self.client.delete("ops:a"))
        self.assertIsNone(self.client.get("ops:a"))
        self.assertFalse(self.client.delete("ops:a"))

    def test_set_get_delete_through_a_non_owner_node(self):
        client, _ = self.non_owner_client("ops:b")
        client.set("ops:b", b"beta")
        self.assertEqual(client.get("ops:b"), b"beta")
        self.assertEqual(self.client.get("ops:b"), b"beta")  # it is at the owner
        self.assertTrue(client.delete("ops:b"))
        self.assertIsNone(self.client.get("ops:b"))

    def test_a_missing_key_is_none(self):
        self.assertIsNone(self.client.get("ops:never-set"))
        self.assertEqual(self.client.mget(["ops:never-1", "ops:never-2"]), [None, None])

    def test_mget_returns_values_in_request_order(self):
        keys = [f"ops:m{i}" for i in range(40)]
        for key in keys[1::2]:
            self.client.set(key, key.encode())
        expected = [None if i % 2 == 0 else k.encode() for i, k in enumerate(keys)]
        self.assertEqual(self.client.mget(keys), expected)
        client, _ = self.non_owner_client(keys[0])
        self.assertEqual(client.mget(keys), expected)
        self.assertEqual({self.ring.owner(k) for k in keys}, set(self.mesh.ids))

    def test_str_and_bin_keys_are_the_same_key(self):
        owner = self.client.owner("ops:s")
        self.client.request(owner, "set", "ops:s", b"from-str-key")  # msgpack str
        self.assertEqual(self.client.get(b"ops:s"), b"from-str-key")
        self.client.request(owner, "set", b"ops:t", "str value")  # bin key, str value
        reply = self.client.request(owner, "get", "ops:t")
        self.assertEqual(reply[2], b"str value")  # replies carry bin
        self.assertTrue(self.client.delete("ops:t"))

    def test_a_value_expires_after_its_ttl(self):
        self.client.set("ops:ttl", b"brief", ttl_ms=200)
        self.client.set("ops:forever", b"stays", ttl_ms=0)
        wait_for(lambda: self.client.get("ops:ttl") is None, 5.0, "expiry of ops:ttl")
        self.assertEqual(self.client.get("ops:forever"), b"stays")

    def test_a_value_over_the_limit_is_too_large(self):
        with self.assertRaises(meshcache.TooLarge):
            self.client.set("ops:big", b"x" * (1024 * 1024 + 1))
        self.assertIsNone(self.client.get("ops:big"))

    def test_a_key_of_exactly_the_limit_is_accepted_and_one_more_is_too_large(self):
        self.client.set(b"k" * 1024, b"v")
        self.assertEqual(self.client.get(b"k" * 1024), b"v")
        with self.assertRaises(meshcache.TooLarge):
            self.client.set(b"k" * 1025, b"v")

    def test_an_unknown_op_is_a_bad_request(self):
        with self.assertRaises(meshcache.BadRequest):
            self.client.request(self.mesh.endpoints[0], "frobnicate")
        with self.assertRaises(meshcache.BadRequest):
            self.client.request(self.mesh.endpoints[0], "get")  # no key

    def test_the_client_sends_each_key_to_the_node_that_owns_it(self):
        keys = [f"ops:own{i}" for i in range(60)]
        before = self.stats()
        for key in keys:
            self.client.set(key, b"v")
        after = self.stats()
        for i, node_id in enumerate(self.mesh.ids):
            owned = sum(1 for k in keys if self.ring.owner(k) == node_id)
            self.assertEqual(after[i]["sets"] - before[i]["sets"], owned, node_id)
            self.assertEqual(after[i]["forwards"], before[i]["forwards"], node_id)

    def test_a_non_owner_forwards_and_the_owner_counts_the_hit(self):
        key = key_owned_by(self.ring, self.mesh.ids[2], "ops:hit")
        self.client.set(key, b"v")
        client, other = self.non_owner_client(key)
        entry = self.mesh.index_of(other)
        before_owner, before_other = self.mesh.stats(2), self.mesh.stats(entry)
        self.assertEqual(client.get(key), b"v")
        after_owner, after_other = self.mesh.stats(2), self.mesh.stats(entry)
        self.assertEqual(after_owner["hits"] - before_owner["hits"], 1)
        self.assertEqual(after_other["forwards"] - before_other["forwards"], 1)
        self.assertEqual(after_other["hits"], before_other["hits"])

    def test_stats_hold_the_protocols_counters(self):
        names = "gets hits misses sets dels items bytes limit_bytes evictions expired forwards"
        names += " loads load_errors bad_requests peers_alive ring_epoch uptime_s"
        stats = self.client.stats(self.mesh.endpoints[0])
        for name in names.split():
            self.assertIn(name, stats)
        self.assertEqual(stats["peers_alive"], 2)

    def test_every_node_reports_the_same_ring(self):
        rings = [self.mesh.ring(i) for i in range(len(self.mesh))]
        for ring in rings:
            self.assertEqual(ring["hash"], "xxh32")
            alive = sorted(n["id"] for n in ring["nodes"] if n["state"] == "alive")
            self.assertEqual(alive, sorted(self.mesh.ids))
        self.assertEqual(self.client.ring()["vnodes"], 160)


if __name__ == "__main__":
    unittest.main()
