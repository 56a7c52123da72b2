"""The client operations exactly as the protocol says: REQ and DEALER
envelopes, str and bin keys, TTLs, and the shapes of ping, ring and stats."""

import unittest

import msgpack
import zmq

from meshtest import CONTEXT, LocalMesh, call, stats, wait_until

STATS_NAMES = ["gets", "hits", "misses", "sets", "dels", "items", "bytes", "limit_bytes",
               "evictions", "expired", "forwards", "loads", "load_errors", "bad_requests",
               "peers_alive", "ring_epoch", "uptime_s"]


class Serving(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mesh = LocalMesh(3, args=["--default-ttl-ms", "400"])
        cls.mesh.start()
        cls.eps = cls.mesh.endpoints

    @classmethod
    def tearDownClass(cls):
        cls.mesh.close()

    def test_a_req_client_gets_its_reply_through_the_envelope(self):
        s = CONTEXT.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.eps[1])
        self.addCleanup(s.close)
        s.send(msgpack.packb(["set", 11, "req-key", b"req-value", 0]))
        self.assertTrue(s.poll(3000))
        self.assertEqual(msgpack.unpackb(s.recv()), ["ok", 11])
        s.send(msgpack.packb(["get", 12, "req-key"]))
        self.assertTrue(s.poll(3000))
        self.assertEqual(msgpack.unpackb(s.recv()), ["ok", 12, b"req-value"])

    def test_ping_names_the_node_version_and_protocol(self):
        for i, ep in enumerate(self.eps):
            reply = call(ep, "ping", 3)
            self.assertEqual(reply[:2], ["ok", 3])
            self.assertEqual(reply[2]["node"], self.mesh.ids[i])
            self.assertEqual(reply[2]["proto"], 1)
            self.assertIsInstance(reply[2]["version"], str)

    def test_str_and_bin_keys_are_the_same_key(self):
        self.assertEqual(call(self.eps[0], "set", 1, "same", b"x", 0), ["ok", 1])
        self.assertEqual(call(self.eps[1], "get", 2, b"same"), ["ok", 2, b"x"])
        self.assertEqual(call(self.eps[2], "del", 3, b"same"), ["ok", 3, True])
        self.assertEqual(call(self.eps[0], "get", 4, "same"), ["miss", 4])

    def test_a_str_value_is_stored_as_its_bytes_and_returned_as_bin(self):
        call(self.eps[0], "set", 1, "strval", "héllo", 0)
        reply = call(self.eps[2], "get", 2, "strval")
        self.assertEqual(reply, ["ok", 2, "héllo".encode()])
        self.assertIsInstance(reply[2], bytes)

    def test_get_of_an_absent_key_is_a_miss_and_del_says_it_did_not_exist(self):
        self.assertEqual(call(self.eps[0], "get", 5, "never-set"), ["miss", 5])
        self.assertEqual(call(self.eps[1], "del", 6, "never-set"), ["ok", 6, False])

    def test_ttl_expires_and_zero_never_expires_and_absent_uses_the_default(self):
        call(self.eps[0], "set", 1, "short", b"s", 150)
        call(self.eps[0], "set", 2, "forever", b"f", 0)
        call(self.eps[0], "set", 3, "default", b"d")  # the node's --default-ttl-ms 400
        self.assertEqual(call(self.eps[1], "get", 4, "short")[0], "ok")
        wait_until(lambda: call(self.eps[1], "get", 5, "short")[0] == "miss", 5, "short to expire")
        wait_until(lambda: call(self.eps[2], "get", 6, "default")[0] == "miss", 5,
                   "the default TTL to expire")
        self.assertEqual(call(self.eps[2], "get", 7, "forever"), ["ok", 7, b"f"])

    def test_trailing_elements_are_ignored(self):
        self.assertEqual(call(self.eps[0], "set", 8, "trail", b"t", 0, "future", 1), ["ok", 8])
        self.assertEqual(call(self.eps[0], "get", 9, "trail", "extra"), ["ok", 9, b"t"])

    def test_ring_reply_has_the_protocols_shape(self):
        r = call(self.eps[0], "ring", 1)[2]
        self.assertEqual(r["hash"], "xxh32")
        self.assertEqual(r["vnodes"], 160)
        self.assertEqual(r["replicas"], 1)
        self.assertIsInstance(r["epoch"], int)
        self.assertEqual({n["id"] for n in r["nodes"]}, set(self.mesh.ids))
        for n in r["nodes"]:
            self.assertEqual(set(n), {"id", "service", "gossip", "state"})
            self.assertEqual(n["state"], "alive")

    def test_stats_hold_every_counter_the_protocol_names(self):
        s = stats(self.eps[0])
        for name in STATS_NAMES:
            self.assertIn(name, s)
            self.assertIsInstance(s[name], int)
        self.assertEqual(s["peers_alive"], 2)
        self.assertEqual(s["ring_epoch"], call(self.eps[0], "ring", 1)[2]["epoch"])

    def test_pipelined_requests_on_one_dealer_are_matched_by_id(self):
        s = CONTEXT.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.eps[0])
        self.addCleanup(s.close)
        for i in range(200):
            s.send_multipart([b"", msgpack.packb(["set", 1000 + i, f"p{i}", b"%d" % i, 0])])
        for i in range(200):
            s.send_multipart([b"", msgpack.packb(["get", 2000 + i, f"p{i}"])])
        replies = {}
        for _ in range(400):
            self.assertTrue(s.poll(5000))
            empty, body = s.recv_multipart()
            reply = msgpack.unpackb(body)
            replies[reply[1]] = reply
        for i in range(200):
            self.assertEqual(replies[1000 + i], ["ok", 1000 + i])
            self.assertEqual(replies[2000 + i], ["ok", 2000 + i, b"%d" % i])


if __name__ == "__main__":
    unittest.main()
