"""meshcached --loader against the Origin helper."""

import threading
import unittest

import meshcache
from meshcache.testing import LocalMesh, Origin, OriginError

from .mesh_case import key_owned_by, mesh_ring, require_meshcached, wait_for


class LoaderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_meshcached()
        cls.handlers = {}  # key -> handler(key), per test
        cls.origin = Origin(cls.answer)
        try:
            cls.mesh = LocalMesh(2, args=["--loader", cls.origin.endpoint]).start()
        except BaseException:
            cls.origin.close()
            raise
        cls.ring = mesh_ring(cls.mesh)

    @classmethod
    def tearDownClass(cls):
        cls.mesh.close()
        cls.origin.close()

    @classmethod
    def answer(cls, key):
        handler = cls.handlers.get(key)
        return handler(key) if handler else None

    def setUp(self):
        self.client = self.mesh.client(timeout_ms=3000)
        self.addCleanup(self.client.close)

    def serve(self, key, handler):
        self.handlers[key.encode()] = handler
        self.addCleanup(self.handlers.pop, key.encode())

    def test_a_miss_loads_once_and_later_gets_hit(self):
        key = key_owned_by(self.ring, self.mesh.ids[1], "load:once")
        self.serve(key, lambda k: b"from-origin:" + k)
        owner_before = self.mesh.stats(1)
        self.assertEqual(self.client.get(key), b"from-origin:" + key.encode())
        self.assertEqual(self.client.get(key), b"from-origin:" + key.encode())
        self.assertEqual(self.origin.loads[key.encode()], 1)
        owner_after = self.mesh.stats(1)
        self.assertEqual(owner_after["loads"] - owner_before["loads"], 1)
        self.assertEqual(owner_after["hits"] - owner_before["hits"], 1)

    def test_an_origin_miss_is_a_miss(self):
        self.assertIsNone(self.client.get("load:nothing"))
        self.assertEqual(self.origin.loads[b"load:nothing"], 1)

    def test_an_origin_error_is_load_failed(self):
        def fail(key):
            raise OriginError("load_failed", "origin broke")

        self.serve("load:broken", fail)
        before = self.mesh.stats(self.mesh.index_of(self.client.owner("load:broken")))
        with self.assertRaises(meshcache.LoadFailed):
            self.client.get("load:broken")
        after = self.mesh.stats(self.mesh.index_of(self.client.owner("load:broken")))
        self.assertEqual(after["load_errors"] - before["load_errors"], 1)

    def test_a_loaded_value_expires_with_the_origins_ttl_and_loads_again(self):
        self.serve("load:ttl", lambda k: (b"short", 150))
        self.assertEqual(self.client.get("load:ttl"), b"short")
        # Each poll's get loads again once the value has expired.
        wait_for(lambda: self.client.get("load:ttl") and self.origin.loads[b"load:ttl"] >= 2,
                 5.0, "a second load after the ttl")
        self.assertEqual(self.client.get("load:ttl"), b"short")

    def test_a_set_value_is_served_without_a_load(self):
        self.client.set("load:set", b"mine")
        self.assertEqual(self.client.get("load:set"), b"mine")
        self.assertEqual(self.origin.loads[b"load:set"], 0)

    def test_concurrent_misses_of_one_key_cause_one_load(self):
        key = "load:together"
        owner = self.mesh.index_of(self.client.owner(key))
        gets_before = self.mesh.stats(owner)["gets"]
        callers = 4

        def slow(k):
            # Hold the load until every caller's get has reached the owner.
            wait_for(lambda: self.mesh.stats(owner)["gets"] - gets_before >= callers, 5.0,
                     "every get at the owner")
            return b"once"

        self.serve(key, slow)
        results = [None] * callers

        def get(i):
            with self.mesh.client(timeout_ms=8000) as client:
                results[i] = client.get(key)

        threads = [threading.Thread(target=get, args=(i,)) for i in range(callers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(results, [b"once"] * callers)
        self.assertEqual(self.origin.loads[key.encode()], 1)


if __name__ == "__main__":
    unittest.main()
