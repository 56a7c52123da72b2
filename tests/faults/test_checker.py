"""The fault harness's checks, tested on made-up histories (a good case and
a broken one for each invariant), and its load against fake nodes that
answer wrong, old or not at all. No meshcached needed.

    cd tests/faults && /usr/bin/python3 -m unittest -v test_checker
"""

import pathlib
import re
import sys
import threading
import unittest

import msgpack
import zmq

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from checker import Checker, Members, RingHolders, Settle, Timeline, decode, encode  # noqa: E402

GRACE = 0.3
DEADLINE = 1.5


def settled_mesh(nodes=(0, 1, 2, 3), at=0.0):
    timeline, settle = Timeline(), Settle()
    for n in nodes:
        timeline.launching(n, at)
        timeline.start(n, at)
    settle.settle(at)
    return timeline, settle


class TimelineTest(unittest.TestCase):
    def test_up_down_and_launch_times(self):
        t = Timeline()
        self.assertFalse(t.is_up(0, 0.0))
        t.launching(0, 0.9)
        self.assertTrue(t.was_up_at_all(0, 0.95, 0.95))  # may run before it answers ping
        self.assertFalse(t.is_up(0, 0.95))
        t.start(0, 1.0)
        self.assertTrue(t.is_up(0, 1.0, 2.0))
        t.down(0, 2.0, "SIGKILL")
        self.assertFalse(t.is_up(0, 1.5, 2.5))
        self.assertTrue(t.was_up_at_all(0, 1.5, 2.5))
        self.assertFalse(t.was_up_at_all(0, 2.1, 3.0))
        t.launching(0, 3.8)
        t.start(0, 4.0)
        self.assertFalse(t.was_up_at_all(0, 2.1, 3.7))
        self.assertTrue(t.was_up_at_all(0, 2.1, 3.9))
        self.assertTrue(t.is_up(0, 4.0, 9.0))

    def test_cuts_make_a_pair_unreachable_until_healed(self):
        t, _ = settled_mesh()
        t.cut(2, 0, 5.0)
        self.assertFalse(t.reachable(0, 2, 4.0, 6.0))
        self.assertTrue(t.reachable(0, 1, 4.0, 6.0))
        self.assertTrue(t.cuts_active())
        t.heal(7.0)
        self.assertFalse(t.cuts_active())
        self.assertTrue(t.reachable(0, 2, 7.5, 9.0))
        self.assertFalse(t.reachable(0, 2, 6.5, 9.0))


class SettleTest(unittest.TestCase):
    def test_a_read_across_a_fault_is_not_judged_settled(self):
        s = Settle()
        s.settle(1.0)
        at_send = s.snapshot()
        self.assertTrue(s.settled_for(at_send, 2.0, s.snapshot(), GRACE))
        self.assertFalse(s.settled_for(at_send, 1.1, s.snapshot(), GRACE))  # within grace
        s.unsettle()
        s.settle(3.0)
        self.assertFalse(s.settled_for(at_send, 2.0, s.snapshot(), GRACE))

    def test_a_hold_keeps_it_unsettled(self):
        s = Settle()
        s.hold("cut")
        self.assertFalse(s.settle(1.0))
        self.assertIsNone(s.snapshot()[1])
        s.release("cut")
        self.assertTrue(s.settle(2.0))


class CheckerTest(unittest.TestCase):
    def setUp(self):
        self.timeline, self.settle = settled_mesh()
        self.c = Checker(self.timeline, self.settle, GRACE, DEADLINE)

    def write(self, key, kind, sent, done, status="ok"):
        seq = self.c.write_sent(key, kind, sent)
        self.c.write_done(key, seq, done, status, target=0, t_sent=sent)
        return seq

    def read(self, key, value, sent, got=None, status="ok", node=1):
        got = got or sent + 0.01
        return self.c.read_done(key, node, sent, got, status, value, None, self.settle.snapshot())

    def test_encoding(self):
        self.assertEqual(decode(b"k", encode(b"k", 12)), 12)
        self.assertEqual(decode(b"a:b", encode(b"a:b", 3)), 3)
        for bad in (b"k:x", b"j:1", b"k:", b"k:01", b"k", None, "k:1"):
            self.assertIsNone(decode(b"k", bad), bad)

    def test_the_newest_value_is_a_hit_and_a_miss_is_never_stale(self):
        self.write(b"k", "set", 1.0, 1.01)
        self.write(b"k", "set", 2.0, 2.01)
        self.assertEqual(self.read(b"k", encode(b"k", 2), 3.0), "hit")
        self.assertEqual(self.read(b"k", None, 3.0, status="miss"), "miss")
        self.assertEqual(self.c.counts["stale"], 0)

    def test_wrong_values_are_caught(self):
        self.write(b"k", "set", 1.0, 1.01)
        self.write(b"k", "del", 2.0, 2.01)
        self.assertEqual(self.read(b"k", encode(b"other", 1), 3.0), "wrong")  # another key's
        self.assertEqual(self.read(b"k", encode(b"k", 9), 3.0), "wrong")  # never written
        self.assertEqual(self.read(b"k", encode(b"k", 2), 3.0), "wrong")  # seq 2 was a del
        self.assertEqual(self.read(b"k", b"garbage", 3.0), "wrong")
        self.assertEqual(self.read(b"never", encode(b"never", 1), 3.0), "wrong")
        seq = self.c.write_sent(b"k", "set", 4.0)
        self.c.unsent(4.0, b"k", seq)  # never left the client
        self.assertEqual(self.read(b"k", encode(b"k", seq), 5.0), "wrong")
        self.assertEqual(self.c.counts["wrong"], 6)

    def test_a_value_sent_but_not_yet_acknowledged_is_not_wrong(self):
        self.write(b"k", "set", 1.0, 1.01)
        self.c.write_sent(b"k", "set", 2.0)  # in flight
        self.assertEqual(self.read(b"k", encode(b"k", 2), 2.005), "hit")

    def test_an_older_value_after_an_acknowledged_write_is_stale_once_settled(self):
        self.write(b"k", "set", 1.0, 1.01)
        self.write(b"k", "set", 2.0, 2.01)
        self.assertEqual(self.read(b"k", encode(b"k", 1), 3.0), "stale")
        self.write(b"k", "del", 4.0, 4.01)
        self.assertEqual(self.read(b"k", encode(b"k", 2), 5.0), "stale")  # older than a del
        self.assertIn("although del seq 3", self.c.examples["stale"][-1])

    def test_an_older_value_within_the_grace_or_before_the_ack_is_not_stale(self):
        self.write(b"k", "set", 1.0, 1.01)
        self.write(b"k", "set", 2.0, 2.01)
        self.assertEqual(self.read(b"k", encode(b"k", 1), 2.0), "hit")  # sent before the ack
        self.assertEqual(self.read(b"k", encode(b"k", 1), 2.2), "hit")  # within the grace

    def test_an_older_value_during_a_fault_is_only_reported(self):
        self.write(b"k", "set", 1.0, 1.01)
        self.write(b"k", "set", 2.0, 2.01)
        self.settle.unsettle()
        self.assertEqual(self.read(b"k", encode(b"k", 1), 3.0), "stale_unsettled")
        # A read sent while settled and answered after a fault began.
        self.settle.settle(4.0)
        snapshot = self.settle.snapshot()
        self.settle.unsettle()
        outcome = self.c.read_done(b"k", 1, 5.0, 5.1, "ok", encode(b"k", 1), None, snapshot)
        self.assertEqual(outcome, "stale_unsettled")
        self.assertEqual(self.c.counts["stale"], 0)

    def test_an_older_value_after_the_newer_write_died_with_its_holders_is_a_lost_write(self):
        # holders: key k is held by n2 alone, as node 0 (the writes' target) sees it.
        self.c.holders = lambda key, node, t0, t1: [2] if node == 0 else None
        self.write(b"k", "set", 1.0, 1.01)
        self.write(b"k", "set", 2.0, 2.01)
        self.assertEqual(self.read(b"k", encode(b"k", 1), 3.0), "stale")  # n2 is up
        self.timeline.down(2, 3.5, "SIGTERM")  # a SIGTERM hands off: nothing is lost
        self.assertEqual(self.read(b"k", encode(b"k", 1), 4.0), "stale")
        self.timeline.start(2, 4.2)
        self.timeline.down(2, 4.5, "SIGKILL")
        self.assertEqual(self.read(b"k", encode(b"k", 1), 5.0), "stale_lost")
        self.assertIn("seq 2 on n2", self.c.examples["stale_lost"][-1])
        # A write acknowledged after the kill survives it: older than that is stale.
        self.write(b"k", "set", 6.0, 6.01)
        self.assertEqual(self.read(b"k", encode(b"k", 1), 7.0), "stale")
        self.assertEqual(self.read(b"k", encode(b"k", 2), 7.0), "stale")

    def test_a_holder_killed_while_the_newer_write_was_acknowledged_lost_it(self):
        # n2 took seq 2 and was SIGKILLed before its ack reached the client.
        self.c.holders = lambda key, node, t0, t1: [2]
        self.write(b"k", "set", 1.0, 1.01)
        self.write(b"k", "set", 2.0, 2.02)
        self.timeline.down(2, 2.01, "SIGKILL")
        self.assertEqual(self.read(b"k", encode(b"k", 1), 3.0), "stale_lost")
        # Killed while seq 3 was under way, but up again before its ack:
        # the new process may have taken it.
        self.timeline.launching(2, 3.4)
        self.timeline.start(2, 3.5)
        seq = self.c.write_sent(b"k", "set", 4.0)
        self.timeline.down(2, 4.1, "SIGKILL")
        self.timeline.launching(2, 4.2)
        self.timeline.start(2, 4.3)
        self.c.write_done(b"k", seq, 4.5, "ok", target=0, t_sent=4.0)
        self.assertEqual(self.read(b"k", encode(b"k", 1), 5.0), "stale")
        self.timeline.down(2, 5.5, "SIGKILL")  # and then lost with it
        self.assertEqual(self.read(b"k", encode(b"k", 1), 6.0), "stale_lost")

    def test_a_newer_write_with_a_holder_left_or_none_known_keeps_older_values_stale(self):
        self.timeline.down(2, 3.0, "SIGKILL")
        self.c.holders = lambda key, node, t0, t1: [2, 3]  # two replicas, one killed
        self.write(b"k", "set", 1.0, 1.01)
        self.write(b"k", "set", 2.0, 2.01)
        self.assertEqual(self.read(b"k", encode(b"k", 1), 4.0), "stale")
        self.c.holders = lambda key, node, t0, t1: None  # no view of the target then
        self.assertEqual(self.read(b"k", encode(b"k", 1), 4.0), "stale")
        # A holder that was down, or cut off from the writes' target (n0), all
        # through the write cannot have taken it.
        self.c.holders = lambda key, node, t0, t1: [2, 3]
        self.timeline.cut(0, 3, 2.005)
        self.assertEqual(self.read(b"k", encode(b"k", 1), 4.0), "stale")  # cut while seq 2 ran
        self.timeline.cut(3, 0, 0.5)
        self.assertEqual(self.read(b"k", encode(b"k", 1), 4.0), "stale_lost")
        self.timeline.heal(4.5)
        self.timeline.down(3, 0.5, "SIGSTOP")
        self.assertEqual(self.read(b"k", encode(b"k", 1), 5.0), "stale_lost")

    def test_silence_is_a_hang_only_when_the_target_stayed_up(self):
        self.assertEqual(self.c.read_done(b"k", 1, 10.0, 11.5, None), "hung")
        self.timeline.down(2, 20.5, "SIGSTOP")
        self.assertEqual(self.c.read_done(b"k", 2, 20.0, 21.5, None), "noreply_down")
        seq = self.c.write_sent(b"k", "set", 30.0)
        self.assertEqual(self.c.write_done(b"k", seq, 31.5, None, target=3, t_sent=30.0), "hung")
        self.assertEqual(self.c.counts["hung"], 2)

    def test_errors_are_counted_by_code_and_time(self):
        self.c.read_done(b"k", 1, 1.0, 1.5, "err", code="unavailable")
        seq = self.c.write_sent(b"k", "set", 2.0)
        self.c.write_done(b"k", seq, 2.5, "err", "timeout")
        self.assertEqual(self.c.errors_between(0, 3), {"err:unavailable": 1, "err:timeout": 1})
        self.assertEqual(self.c.errors_between(2, 3), {"err:timeout": 1})

    def test_lost_writes(self):
        self.write(b"a", "set", 1.0, 1.01)
        self.write(b"b", "set", 1.0, 1.01)
        self.write(b"b", "set", 2.0, 2.01)
        self.write(b"c", "set", 1.0, 1.01)
        self.write(b"c", "del", 1.5, 1.51)  # last acknowledged is a del: nothing to keep
        self.write(b"d", "set", 1.0, 1.01)
        must = self.c.acked_sets(3.0)
        self.assertEqual(must, {b"a": 1, b"b": 2, b"d": 1})
        self.write(b"d", "del", 4.0, 4.01)  # deleted after the crash: a miss is right
        self.assertTrue(self.c.lost(b"a", must[b"a"], 0, "miss", None, 5.0, "t"))
        self.assertTrue(self.c.lost(b"b", must[b"b"], 0, "ok", encode(b"b", 1), 5.0, "t"))
        self.assertFalse(self.c.lost(b"b", must[b"b"], 0, "ok", encode(b"b", 2), 5.0, "t"))
        self.write(b"b", "set", 6.0, 6.01)
        self.assertFalse(self.c.lost(b"b", must[b"b"], 0, "ok", encode(b"b", 3), 7.0, "t"))
        self.assertFalse(self.c.lost(b"d", must[b"d"], 0, "miss", None, 5.0, "t"))
        self.assertFalse(self.c.lost(b"a", must[b"a"], 0, "err", None, 5.0, "t"))


class MembersTest(unittest.TestCase):
    def setUp(self):
        self.timeline, _ = settled_mesh()
        self.m = Members(self.timeline)

    def see(self, observer, t, **states):
        self.m.observe(observer, t - 0.01, t, {int(k[1:]): v for k, v in states.items()})

    def test_a_reachable_node_declared_dead_is_a_false_death(self):
        self.see(0, 1.0, n0="alive", n1="alive")
        self.see(0, 2.0, n0="alive", n1="suspect")
        self.see(0, 3.0, n0="alive", n1="dead")
        self.assertEqual(len(self.m.false_deaths), 1)
        self.assertIn("n0 declared n1 dead", self.m.false_deaths[0][1])

    def test_a_killed_paused_or_cut_node_declared_dead_is_no_false_death(self):
        self.see(0, 1.0, n0="alive", n1="alive", n2="alive", n3="alive")
        self.timeline.down(1, 1.5, "SIGKILL")
        self.timeline.down(2, 1.5, "SIGSTOP")
        self.timeline.cut(3, 0, 1.5)
        self.see(0, 3.0, n0="alive", n1="dead", n2="dead", n3="dead")
        self.assertEqual(self.m.false_deaths, [])

    def test_a_restarted_node_declared_dead_again_is_a_false_death(self):
        self.see(0, 1.0, n0="alive", n1="alive")
        self.timeline.down(1, 1.5, "SIGKILL")
        self.see(0, 2.5, n0="alive", n1="dead")
        self.timeline.launching(1, 3.0)
        self.timeline.start(1, 3.1)
        self.see(0, 3.05, n0="alive", n1="dead")
        self.see(0, 3.3, n0="alive", n1="alive")
        self.assertEqual(self.m.false_deaths, [])
        self.see(0, 4.3, n0="alive", n1="dead")
        self.assertEqual(len(self.m.false_deaths), 1)

    def test_a_dead_node_seen_alive_while_still_down_is_a_resurrection(self):
        self.see(0, 1.0, n0="alive", n1="alive")
        self.timeline.down(1, 1.5, "SIGKILL")
        self.see(0, 2.5, n0="alive", n1="dead")
        self.see(0, 3.0, n0="alive", n1="alive")  # stale gossip brought it back
        self.assertEqual(len(self.m.resurrections), 1)

    def test_a_dead_node_back_after_its_launch_is_no_resurrection(self):
        self.see(0, 1.0, n0="alive", n1="alive")
        self.timeline.down(1, 1.5, "SIGKILL")
        self.see(0, 2.5, n0="alive", n1="dead")
        self.timeline.launching(1, 2.9)  # its start is not recorded yet
        self.see(0, 3.0, n0="alive", n1="alive")
        self.assertEqual(self.m.resurrections, [])

    def test_holders_come_from_every_view_around_the_write(self):
        self.assertEqual(self.m.states_between(0, 0.0, 1.0), [])
        self.see(0, 1.0, n0="alive", n1="alive")
        self.see(0, 2.0, n0="alive", n1="dead")
        self.see(0, 3.0, n0="alive", n1="alive")
        self.assertEqual(self.m.states_between(0, 1.5, 1.6), [{0: "alive", 1: "alive"}])
        self.assertEqual(len(self.m.states_between(0, 1.5, 2.5)), 2)
        ids = {0: "tcp://a:1", 1: "tcp://b:1"}
        holders = RingHolders(self.m, lambda: ids, 16, 1)
        mine = next(k for k in (f"k{i}".encode() for i in range(99)) if holders(k, 0, 1.5, 1.5) == [1])
        self.assertEqual(holders(mine, 0, 2.2, 2.5), [0])  # n1 is off n0's ring then
        self.assertEqual(sorted(holders(mine, 0, 1.5, 2.5)), [0, 1])  # either
        self.assertIsNone(holders(mine, 1, 2.5, 2.5))  # n1's views are unknown

    def test_convergence_and_detection(self):
        for o in range(3):
            self.see(o, 1.0, n0="alive", n1="alive", n2="alive")
        self.assertEqual(self.m.converged([0, 1, 2], 0.5), 1.0)
        self.assertIsNone(self.m.converged([0, 1, 2], 1.5))  # views older than since
        self.see(0, 2.0, n0="alive", n1="alive", n2="suspect")
        self.assertIsNone(self.m.converged([0, 1, 2], 0.5))
        self.assertIsNone(self.m.detected(2, [0, 1], 1.5))
        self.see(0, 3.0, n0="alive", n1="alive", n2="dead")
        self.see(1, 3.2, n0="alive", n1="alive")  # n2 gone from the list
        self.assertEqual(self.m.detected(2, [0, 1], 1.5), 3.2)
        self.assertEqual(self.m.converged([0, 1], 2.5), 3.2)


class _FakeNode:
    """A ROUTER that keeps what is set (``store``, and ``first``: the first
    value of each key), acknowledges every write, and answers gets with
    ``answer(node, key)``: a value, "miss", or None (no reply at all)."""

    def __init__(self, context, answer):
        self.answer = answer
        self.store, self.first = {}, {}
        self.sock = context.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind("tcp://127.0.0.1:*")
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            if not self.sock.poll(20):
                continue
            *envelope, body = self.sock.recv_multipart()
            op, rid, *args = msgpack.unpackb(body, raw=False)
            key = bytes(args[0])
            if op == "get":
                value = self.answer(self, key)
                if value is None:
                    continue
                reply = ["miss", rid] if value == "miss" else ["ok", rid, value]
            elif op == "set":
                self.store[key] = bytes(args[1])
                self.first.setdefault(key, bytes(args[1]))
                reply = ["ok", rid]
            else:
                reply = ["ok", rid, self.store.pop(key, None) is not None]
            self.sock.send_multipart(envelope + [msgpack.packb(reply, use_bin_type=True)])

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close(linger=0)


class _FakeRun:
    """What Load needs of a Run, around one fake node (index 0)."""

    def __init__(self, node, context):
        from harness import Config

        self.config = Config(keys=4, workers=1, rate=200, write_fraction=0.3, del_fraction=0.0)
        self.timeline, self.settle = settled_mesh(nodes=(0,))
        self.checker = Checker(self.timeline, self.settle, 0.05, 0.4)
        self.context = context
        self.options = type("Options", (), {"seed": 1})()
        self.endpoint = node.endpoint

    def targets(self):
        return [(0, self.endpoint)]

    def log(self, text):
        pass


class LoadAgainstFakeNodesTest(unittest.TestCase):
    """The load's wiring: what a node answers reaches the right check."""

    def run_load(self, answer, seconds=1.0):
        import time

        from harness import Load

        context = zmq.Context()
        node = _FakeNode(context, answer)
        run = _FakeRun(node, context)
        try:
            load = Load(run)
            load.start()
            time.sleep(seconds)  # the planned length of the load
            load.stop()
        finally:
            node.close()
            context.term()
        return run.checker.counts

    def test_an_honest_node_passes(self):
        counts = self.run_load(lambda node, key: node.store.get(key, "miss"))
        self.assertEqual(counts["wrong"] + counts["stale"] + counts["hung"], 0)
        self.assertGreater(counts["get"], 50)

    def test_a_node_that_answers_another_keys_value_is_caught(self):
        counts = self.run_load(lambda node, key: encode(b"fk:0" if key != b"fk:0" else b"fk:1", 1))
        self.assertGreater(counts["wrong"], 0)

    def test_a_node_that_keeps_the_first_value_is_caught_as_stale(self):
        counts = self.run_load(lambda node, key: node.first.get(key, "miss"), seconds=1.5)
        self.assertGreater(counts["stale"], 0)

    def test_a_node_that_never_answers_gets_is_caught_as_hung(self):
        counts = self.run_load(lambda node, key: None)
        self.assertGreater(counts["hung"], 0)
        self.assertGreater(counts["ok"], 0)  # its writes were acknowledged


class RegistryTest(unittest.TestCase):
    def test_ctest_and_the_docs_list_every_scenario(self):
        from scenarios import SCENARIOS

        cmake = (HERE / "CMakeLists.txt").read_text()
        listed = re.search(r"set\(fault_scenarios\s([^)]*)\)", cmake).group(1).split()
        self.assertEqual(sorted(listed), sorted(SCENARIOS))
        doc = (HERE.parents[1] / "docs" / "reliability.md").read_text()
        for name in SCENARIOS:
            self.assertIn(f"| {name} |", doc, f"docs/reliability.md has no row for {name}")


if __name__ == "__main__":
    unittest.main()
