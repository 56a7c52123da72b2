"""The client against fake nodes: routing, reply matching, errors, failover."""

import threading
import time
import unittest

import meshcache
from meshcache import Ring

from .fakes import FakeMesh

class ClientRoutingTest(unittest.TestCase):
    def setUp(self):
        self.mesh = FakeMesh(3)
        self.client = meshcache.Client(self.mesh.endpoints[:1], timeout_ms=300)
        self.ring = Ring(self.mesh.ring_reply())

    def tearDown(self):
        self.client.close()
        self.mesh.close()

    def test_each_key_goes_straight_to_its_owner(self):
        keys = [f"key{i}".encode() for i in range(60)]
        for key in keys:
            self.client.set(key, b"v")
        for endpoint, store in self.mesh.stores.items():
            expected = {k for k in keys if self.ring.owner(k) == endpoint}
            self.assertEqual(set(store), expected, endpoint)
        self.assertEqual(len({self.ring.owner(k) for k in keys}), 3)

    def test_owner_names_the_endpoint_the_client_uses(self):
        self.client.set("x", b"1")
        owner = self.client.owner("x")
        self.assertEqual(owner, self.ring.owner("x"))
        self.assertIn(b"x", self.mesh.stores[owner])

    def test_get_returns_the_value_and_none_on_a_miss(self):
        self.client.set("k", b"value")
        self.assertEqual(self.client.get("k"), b"value")
        self.assertIsNone(self.client.get("absent"))

    def test_str_and_bytes_keys_and_values_are_the_same(self):
        self.client.set("ключ", "значение")
        self.assertEqual(self.client.get("ключ".encode()), "значение".encode())
        sets = [r for n in self.mesh.nodes for r in n.received("set")]
        self.assertIsInstance(sets[0][2], bytes)  # sent as bin
        self.assertIsInstance(sets[0][3], bytes)

    def test_set_sends_ttl_only_when_given(self):
        self.client.set("a", b"1")
        self.client.set("b", b"2", ttl_ms=0)
        self.client.set("c", b"3", ttl_ms=1500)
        sets = {r[2]: r for n in self.mesh.nodes for r in n.received("set")}
        self.assertEqual(len(sets[b"a"]), 4)
        self.assertEqual(sets[b"b"][4], 0)
        self.assertEqual(sets[b"c"][4], 1500)

    def test_delete_reports_whether_the_key_existed(self):
        self.client.set("k", b"v")
        self.assertTrue(self.client.delete("k"))
        self.assertFalse(self.client.delete("k"))
        self.assertIsNone(self.client.get("k"))

    def test_mget_splits_by_owner_and_merges_in_request_order(self):
        keys = [f"m{i}" for i in range(30)]
        for key in keys[::2]:
            self.client.set(key, key.upper())
        asked = ["zz"] + keys + [keys[4]]
        expected = [None] + [k.upper().encode() if i % 2 == 0 else None
                             for i, k in enumerate(keys)] + [keys[4].upper().encode()]
        self.assertEqual(self.client.mget(asked), expected)
        mgets = [r for n in self.mesh.nodes for r in n.received("mget")]
        self.assertEqual(len(mgets), 3)  # one part per owner
        for node in self.mesh.nodes:
            for request in node.received("mget"):
                self.assertTrue(all(self.ring.owner(k) == node.endpoint for k in request[2]))

    def test_mget_of_no_keys_sends_nothing(self):
        self.assertEqual(self.client.mget([]), [])
        self.assertEqual(sum(len(n.received("mget")) for n in self.mesh.nodes), 0)

    def test_keys_of_other_types_are_refused(self):
        with self.assertRaises(TypeError):
            self.client.get(42)

    def test_ring_returns_the_nodes_reply(self):
        self.assertEqual(self.client.ring(), self.mesh.ring_reply())

class ClientReplyTest(unittest.TestCase):
    def setUp(self):
        self.mesh = FakeMesh(1)
        self.endpoint = self.mesh.endpoints[0]
        self.node = self.mesh.nodes[0]
        self.client = meshcache.Client([self.endpoint], timeout_ms=300, retries=0)

    def tearDown(self):
        self.client.close()
        self.mesh.close()

    def answer(self, reply_for):
        self.node.handler = lambda node, request: reply_for(request)

    def test_error_replies_raise_the_class_of_their_code(self):
        cases = {
            "bad_request": meshcache.BadRequest,
            "too_large": meshcache.TooLarge,
            "timeout": meshcache.Timeout,
            "load_failed": meshcache.LoadFailed,
            "overloaded": meshcache.Overloaded,
            "unavailable": meshcache.Unavailable,
        }
        for code, cls in cases.items():
            with self.subTest(code=code):
                self.answer(lambda r, code=code: ["err", r[1], code, "because"])
                with self.assertRaises(cls) as raised:
                    self.client.get("k")
                self.assertEqual(raised.exception.code, code)
                self.assertEqual(raised.exception.message, "because")
                self.assertIsInstance(raised.exception, meshcache.Error)

    def test_unknown_error_code_raises_the_base_error_with_its_code(self):
        self.answer(lambda r: ["err", r[1], "novel", "new"])
        with self.assertRaises(meshcache.Error) as raised:
            self.client.set("k", b"v")
        self.assertEqual(raised.exception.code, "novel")

    def test_no_reply_raises_unavailable_after_the_timeout(self):
        self.answer(lambda r: None)
        started = time.monotonic()
        with self.assertRaises(meshcache.Unavailable):
            self.client.get("k")
        self.assertGreaterEqual(time.monotonic() - started, 0.29)
        self.assertIsInstance(meshcache.Unavailable(), ConnectionError)

    def test_a_late_reply_never_answers_a_later_request(self):
        self.node.holding = True
        with self.assertRaises(meshcache.Unavailable):
            self.client.get("k")
        self.node.holding = False
        self.node.release()
        self.mesh.stores[self.endpoint][b"k"] = b"fresh"
        self.assertEqual(self.client.get("k"), b"fresh")

    def test_replies_are_matched_by_id_when_they_come_out_of_order(self):
        self.mesh.stores[self.endpoint].update({b"a": b"A", b"b": b"B"})
        self.node.holding = True
        client = self.client
        # Two requests in flight on one socket, answered in reverse order.
        batch = [(self.endpoint, ["get", b"a"]), (self.endpoint, ["get", b"b"])]
        client.timeout_ms = 3000
        deadline = time.monotonic() + 3

        releaser = threading.Thread(target=self._release_reversed_when_held, args=(2, deadline))
        releaser.start()
        replies = client._exchange(batch)
        releaser.join()
        self.assertEqual([r[2] for r in replies], [b"A", b"B"])

    def _release_reversed_when_held(self, count, deadline):
        while self.node.held() < count and time.monotonic() < deadline:
            time.sleep(0.005)  # poll interval
        self.node.release(reverse=True)

    def test_malformed_replies_are_ignored(self):
        self.answer(lambda r: ["weird", r[1]])
        with self.assertRaises(meshcache.Unavailable):
            self.client.get("k")

    def test_request_sends_any_op_to_the_named_node(self):
        reply = self.client.request(self.endpoint, "ping")
        self.assertEqual(reply[0], "ok")
        self.assertEqual(reply[2]["node"], self.endpoint)
        with self.assertRaises(meshcache.BadRequest):
            self.client.request(self.endpoint, "nope")

    def test_closed_client_refuses_requests(self):
        self.client.close()
        with self.assertRaises(meshcache.Error):
            self.client.get("k")

class ClientFailoverTest(unittest.TestCase):
    def setUp(self):
        self.mesh = FakeMesh(3)
        self.client = meshcache.Client(self.mesh.endpoints, timeout_ms=200, retries=1)
        self.ring = Ring(self.mesh.ring_reply())

    def tearDown(self):
        self.client.close()
        self.mesh.close()

    def key_owned_by(self, endpoint):
        return next(k for k in (f"f{i}" for i in range(1000)) if self.ring.owner(k) == endpoint)

    def test_a_silent_owner_is_skipped_for_another_node(self):
        owner = self.mesh.endpoints[1]
        key = self.key_owned_by(owner)
        self.client.ping()  # loads the ring while all answer
        self.mesh.silent.add(owner)
        self.client.set(key, b"v")
        served = [ep for ep, store in self.mesh.stores.items() if key.encode() in store]
        self.assertEqual(len(served), 1)
        self.assertNotEqual(served[0], owner)
        # The silent node stays avoided: the next request goes elsewhere at once.
        before = len(self.mesh.node(owner).received("get"))
        started = time.monotonic()
        self.client.get(key)  # a fake fallback node does not forward: no value
        self.assertLess(time.monotonic() - started, 0.2)
        self.assertEqual(len(self.mesh.node(owner).received("get")), before)

    def test_a_failure_fetches_the_ring_again(self):
        self.client.ring()
        rings_before = sum(len(n.received("ring")) for n in self.mesh.nodes)
        owner = self.mesh.endpoints[2]
        self.mesh.silent.add(owner)
        self.client.set(self.key_owned_by(owner), b"v")
        rings_after = sum(len(n.received("ring")) for n in self.mesh.nodes)
        self.assertGreater(rings_after, rings_before)

    def test_unavailable_from_a_node_tries_another(self):
        first = self.mesh.nodes[0]
        first.handler = lambda node, r: ["err", r[1], "unavailable", "owner down"]
        client = meshcache.Client([first.endpoint, self.mesh.endpoints[1]], smart=False)
        with client:
            client.set("k", b"v")
        self.assertIn(b"k", self.mesh.stores[self.mesh.endpoints[1]])

    def test_mget_retries_only_the_parts_of_a_silent_node(self):
        keys = [f"g{i}" for i in range(30)]
        for key in keys:
            self.client.set(key, key)
        silent = self.mesh.endpoints[0]
        self.mesh.silent.add(silent)
        moved = [k for k in keys if self.ring.owner(k) == silent]
        # The fallback node does not hold the silent owner's keys: they miss.
        expected = [None if k in moved else k.encode() for k in keys]
        self.assertEqual(self.client.mget(keys), expected)
        self.assertTrue(moved)

    def test_every_node_silent_raises_unavailable(self):
        self.client.ring()
        self.mesh.silent.update(self.mesh.endpoints)
        with self.assertRaises(meshcache.Unavailable):
            self.client.get("k")
        with self.assertRaises(meshcache.Unavailable):
            self.client.mget(["a", "b", "c"])

    def test_not_smart_sends_everything_to_the_first_endpoint(self):
        client = meshcache.Client(self.mesh.endpoints, smart=False)
        with client:
            for i in range(20):
                client.set(f"s{i}", b"v")
            self.assertEqual(client.mget(["s1", "s2"]), [b"v", b"v"])
        self.assertEqual(len(self.mesh.stores[self.mesh.endpoints[0]]), 20)
        self.assertFalse(any(n.received("ring") for n in self.mesh.nodes))

if __name__ == "__main__":
    unittest.main()
