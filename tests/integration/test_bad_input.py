"""Garbage never crashes or stalls a node: every bad frame or body is
answered `bad_request` (or `too_large`) when an envelope can be recovered,
dropped otherwise, and counted; stored data survives."""

import random
import unittest

import msgpack
import zmq

from meshtest import CONTEXT, LocalMesh, call, dealer, recv_reply, stats


class BadInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mesh = LocalMesh(2, args=["--max-key-bytes", "16", "--max-value-bytes", "1024"])
        cls.mesh.start()
        cls.ep = cls.mesh.endpoints[0]

    @classmethod
    def tearDownClass(cls):
        cls.mesh.close()

    def setUp(self):
        self.sock = dealer(self.ep)
        self.addCleanup(self.sock.close)

    def ask(self, *frames):
        self.sock.send_multipart([b""] + list(frames))
        reply = recv_reply(self.sock)
        self.assertIsNotNone(reply, "the node did not answer")
        return reply

    def assert_error(self, body, code, request_id=0):
        """code: the expected error code, or a tuple of acceptable ones."""
        before = stats(self.ep)["bad_requests"]
        reply = self.ask(body)
        self.assertEqual(reply[0], "err", reply)
        self.assertEqual(reply[1], request_id)
        self.assertIn(reply[2], code if isinstance(code, tuple) else (code,))
        self.assertIsInstance(reply[3], str)
        self.assertTrue(reply[3])
        self.assertEqual(stats(self.ep)["bad_requests"], before + 1)

    def test_a_body_that_is_not_msgpack_is_bad_request(self):
        self.assert_error(b"\xc1\xc1 not msgpack", "bad_request")

    def test_a_body_that_is_not_an_array_is_bad_request(self):
        self.assert_error(msgpack.packb({"op": "get"}), "bad_request")

    def test_an_unknown_op_is_bad_request_with_the_id_echoed(self):
        self.assert_error(msgpack.packb(["frobnicate", 42, "k"]), "bad_request", 42)

    def test_missing_and_mistyped_arguments_are_bad_request(self):
        self.assert_error(msgpack.packb(["get", 5]), "bad_request", 5)
        self.assert_error(msgpack.packb(["get", 6, 12345]), "bad_request", 6)
        self.assert_error(msgpack.packb(["set", 7, "k"]), "bad_request", 7)

    def test_the_msgpack_memory_bomb_is_refused(self):
        # A container claiming billions of elements is over the list limits
        # (too_large) or truncated (bad_request); either way it costs nothing.
        refused = ("bad_request", "too_large")
        self.assert_error(b"\xdd\xff\xff\xff\xff", refused)
        self.assert_error(b"\xdf\xff\xff\xff\xff", refused)
        self.assert_error(b"\x91" * 100000, refused)

    def test_keys_and_values_over_the_limits_are_too_large_and_the_limits_inclusive(self):
        self.assertEqual(self.ask(msgpack.packb(["set", 1, "k" * 16, b"v" * 1024])), ["ok", 1])
        self.assert_error(msgpack.packb(["set", 2, "k" * 17, b"v"]), "too_large", 2)
        self.assert_error(msgpack.packb(["set", 3, "k", b"v" * 1025]), "too_large", 3)

    def test_a_forward_inside_a_forward_is_bad_request(self):
        inner = ["fwd", 1, "x", ["get", 1, "k"]]
        self.assert_error(msgpack.packb(["fwd", 9, "tcp://127.0.0.1:1", inner]), "bad_request", 9)

    def test_two_body_frames_are_bad_request(self):
        before = stats(self.ep)["bad_requests"]
        self.sock.send_multipart([b"", msgpack.packb(["ping", 1]), b"extra"])
        reply = recv_reply(self.sock)
        self.assertEqual(reply[:3], ["err", 0, "bad_request"])
        self.assertEqual(stats(self.ep)["bad_requests"], before + 1)

    def test_a_message_without_a_delimiter_is_dropped_and_counted(self):
        before = stats(self.ep)["bad_requests"]
        self.sock.send_multipart([msgpack.packb(["ping", 1])])  # no empty frame
        self.assertIsNone(recv_reply(self.sock, 300))
        self.assertEqual(stats(self.ep)["bad_requests"], before + 1)

    def test_a_message_over_the_size_limit_drops_that_connection_only(self):
        big = CONTEXT.socket(zmq.DEALER)
        big.setsockopt(zmq.LINGER, 0)
        big.connect(self.ep)
        self.addCleanup(big.close)
        big.send_multipart([b"", b"\x00" * (8 << 20)])
        self.assertIsNone(recv_reply(big, 300))
        self.assertEqual(call(self.ep, "ping", 3)[0], "ok")

    def test_a_second_connection_with_a_taken_routing_id_takes_it_over(self):
        # Without the hand-over, libzmq would never read the newcomer (its
        # requests would pile up unread); with it, the newcomer is answered.
        socks = []
        for _ in range(2):
            s = CONTEXT.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.ROUTING_ID, b"one-id")
            s.connect(self.ep)
            self.addCleanup(s.close)
            socks.append(s)
            s.send_multipart([b"", msgpack.packb(["ping", len(socks)])])
            reply = recv_reply(s, 3000)
            self.assertIsNotNone(reply, f"connection {len(socks)} with the id got no answer")
            self.assertEqual(reply[:2], ["ok", len(socks)])

    def test_random_garbage_leaves_the_node_serving_and_its_data_intact(self):
        self.assertEqual(call(self.ep, "set", 1, "keep", b"safe"), ["ok", 1])
        rng = random.Random(1234)
        before = stats(self.ep)["bad_requests"]
        sent = 0
        for _ in range(500):
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
            try:
                msgpack.unpackb(body)
                continue  # valid msgpack by chance; only count garbage
            except Exception:
                pass
            self.sock.send_multipart([b"", body])
            sent += 1
        for _ in range(sent):
            reply = recv_reply(self.sock)
            self.assertIsNotNone(reply)
            self.assertEqual(reply[0], "err")
        self.assertEqual(stats(self.ep)["bad_requests"], before + sent)
        self.assertEqual(call(self.ep, "get", 2, "keep"), ["ok", 2, b"safe"])
        self.assertTrue(self.mesh.process(0).poll() is None, "node 0 died")


if __name__ == "__main__":
    unittest.main()
