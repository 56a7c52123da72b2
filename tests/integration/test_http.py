"""meshcached --http-port: /metrics read by a real Prometheus text parser
(Debian's python3-prometheus-client), /healthz, /readyz before and after a
join, and the status page as headless Chromium (Debian's chromium) shows it,
against real processes."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.request

import time

from meshtest import Origin, call, key_owned_by, meshcached, stats, wait_until
from meshcache.testing import free_port_pair
from test_membership import _stop_all

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # a developer's machine without it: skipped; in CI a failure
    if os.environ.get("CI") == "true":
        raise
    text_string_to_metric_families = None


def get(port, path):
    """(status, body) of GET path on 127.0.0.1:port."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return None, ""


class Node:
    def __init__(self, test, procs, *args):
        self.port = free_port_pair()
        self.http = free_port_pair()
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [meshcached(), "--port", str(self.port), "--http-port", str(self.http),
             "--heartbeat-ms", "100", "--dead-ms", "1000", "--log-level", "error", *args])
        procs.append(self.proc)
        wait_until(lambda: get(self.http, "/healthz")[0] == 200, 10, "the HTTP port to answer")

    def metrics(self):
        status, text = get(self.http, "/metrics")
        assert status == 200, (status, text)
        return {f.name: f for f in text_string_to_metric_families(text)}


def sample(families, family, name, **labels):
    for s in families[family].samples:
        if s.name == name and s.labels == labels:
            return s.value
    raise AssertionError(f"no {name}{labels} in {family}")


@unittest.skipIf(text_string_to_metric_families is None, "python3-prometheus-client missing")
class Http(unittest.TestCase):
    def setUp(self):
        self.procs = []
        self.addCleanup(_stop_all, self.procs)

    def test_metrics_parse_with_the_names_and_types_people_know(self):
        a = Node(self, self.procs)
        self.assertEqual(call(a.endpoint, "set", 1, "k", b"v")[0], "ok")
        self.assertEqual(call(a.endpoint, "get", 2, "k")[0], "ok")
        self.assertEqual(call(a.endpoint, "get", 3, "nope")[0], "miss")
        families = a.metrics()
        node = stats(a.endpoint)
        self.assertEqual(families["meshcache_commands"].type, "counter")
        self.assertEqual(sample(families, "meshcache_commands", "meshcache_commands_total",
                                command="get", status="hit"), node["hits"])
        self.assertEqual(sample(families, "meshcache_commands", "meshcache_commands_total",
                                command="get", status="miss"), node["misses"])
        for gauge, stat in (("meshcache_items", "items"), ("meshcache_bytes", "bytes"),
                            ("meshcache_limit_bytes", "limit_bytes"),
                            ("meshcache_ring_epoch", "ring_epoch")):
            self.assertEqual(families[gauge].type, "gauge", gauge)
            self.assertEqual(sample(families, gauge, gauge), node[stat], gauge)
        for counter in ("meshcache_evictions", "meshcache_forwards", "meshcache_loads"):
            self.assertEqual(families[counter].type, "counter", counter)
        self.assertEqual(sample(families, "meshcache_info", "meshcache_info", node=a.endpoint,
                                version=node["version"]), 1)
        self.assertEqual(sample(families, "meshcache_peers", "meshcache_peers", state="alive"), 0)

    def test_latency_histograms_time_gets_forwards_and_loads(self):
        def slow_origin(key):
            time.sleep(0.03)  # every load takes at least 30 ms
            return b"loaded:" + key
        origin = Origin(slow_origin).__enter__()
        self.addCleanup(origin.__exit__, None, None, None)
        a = Node(self, self.procs, "--loader", origin.endpoint, "--hot-memory", "0")
        b = Node(self, self.procs, "--join", a.endpoint, "--loader", origin.endpoint)
        wait_until(lambda: len(call(a.endpoint, "ring", 1)[2]["nodes"]) == 2, 10, "a 2-node ring")
        key = key_owned_by(a.endpoint, b.endpoint)
        self.assertEqual(call(a.endpoint, "get", 2, key)[:3], ["ok", 2, b"loaded:" + key.encode()])

        def histogram(node, what):
            families = node.metrics()
            name = f"meshcache_{what}_duration_seconds"
            self.assertEqual(families[name].type, "histogram", name)
            at = lambda le: sample(families, name, name + "_bucket", le=le)
            return at("0.000025"), at("0.025"), at("+Inf"), sample(families, name, name + "_sum")

        # a sent the get on to b (the owner), which loaded it: each took >= 30 ms.
        for node, what in ((a, "get"), (a, "forward"), (b, "load"), (b, "get")):
            fast, under_25ms, count, total = histogram(node, what)
            self.assertEqual((fast, under_25ms, count), (0, 0, 1), (node.endpoint, what))
            self.assertGreaterEqual(total, 0.03, (node.endpoint, what))
        self.assertEqual(histogram(a, "load")[2], 0)
        self.assertEqual(histogram(b, "forward")[2], 0)
        # A hit at the owner is timed too, and lands in a bucket below 25 ms.
        self.assertEqual(call(b.endpoint, "get", 3, key)[0], "ok")
        fast, under_25ms, count, _ = histogram(b, "get")
        self.assertEqual((under_25ms, count), (1, 2))
        self.assertLessEqual(fast, 1)

    def test_peers_by_state_follow_a_join_and_a_death(self):
        a = Node(self, self.procs)
        b = Node(self, self.procs, "--join", a.endpoint)
        alive = lambda: sample(a.metrics(), "meshcache_peers", "meshcache_peers", state="alive")
        wait_until(lambda: alive() == 1, 10, "a to count b alive")
        b.proc.kill()
        b.proc.wait()
        dead = lambda: sample(a.metrics(), "meshcache_peers", "meshcache_peers", state="dead")
        wait_until(lambda: dead() == 1 and alive() == 0, 10, "a to count b dead")

    def test_readyz_waits_for_the_join_and_healthz_for_nothing(self):
        (nowhere,) = (free_port_pair(),)
        lonely = Node(self, self.procs, "--join", f"tcp://127.0.0.1:{nowhere}")
        self.assertEqual(get(lonely.http, "/healthz"), (200, "ok\n"))
        status, why = get(lonely.http, "/readyz")
        self.assertEqual(status, 503)
        self.assertIn("not joined yet", why)
        seed = Node(self, self.procs)
        joined = Node(self, self.procs, "--join", seed.endpoint)
        wait_until(lambda: get(joined.http, "/readyz")[0] == 200, 10, "the joiner to be ready")
        self.assertEqual(get(seed.http, "/readyz"), (200, "ready\n"))  # a mesh of one: ready

    def test_an_http_port_taken_is_one_line_and_exit_2(self):
        a = Node(self, self.procs)
        port = free_port_pair()
        done = subprocess.run([meshcached(), "--port", str(port), "--http-port", str(a.http),
                               "--log-level", "error"],
                              capture_output=True, text=True, timeout=10)
        self.assertEqual(done.returncode, 2)
        self.assertEqual(done.stderr.strip(),
                         f"meshcached: io_error: cannot bind the HTTP port 127.0.0.1:{a.http}")


CHROMIUM = shutil.which("chromium")


def rendered(test, port):
    """The status page's DOM once its script has run, as Chromium has it."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={profile}", "--virtual-time-budget=3000", "--dump-dom",
             f"http://127.0.0.1:{port}/"],
            capture_output=True, text=True, timeout=60)
    test.assertEqual(done.returncode, 0, done.stderr[-2000:])
    return done.stdout


def member_rows(dom):
    """{id: (state, share text, cell text)} of the page's member table."""
    rows = re.findall(r'<tr data-id="([^"]+)"><td>([^<]*)</td><td class="[a-z]+">([a-z]+)</td>'
                      r'<td class="num">([0-9.]+)%</td></tr>', dom)
    return {i: (state, float(share), text) for i, text, state, share in rows}


@unittest.skipIf(CHROMIUM is None and os.environ.get("CI") != "true", "chromium missing")
class StatusPage(unittest.TestCase):
    def setUp(self):
        self.assertIsNotNone(CHROMIUM, "chromium is missing (CI=true: this test must run)")
        self.procs = []
        self.addCleanup(_stop_all, self.procs)

    def test_a_person_sees_the_members_shares_and_hit_ratio_and_a_death(self):
        a = Node(self, self.procs)
        b = Node(self, self.procs, "--join", a.endpoint)
        c = Node(self, self.procs, "--join", a.endpoint)
        ids = {n.endpoint for n in (a, b, c)}
        status = lambda: json.loads(get(a.http, "/status.json")[1])
        wait_until(lambda: {m["id"] for m in status()["members"] if m["state"] == "alive"} == ids,
                   10, "a to list all three alive")
        for i in range(20):  # hits and misses wherever they land, some at a
            self.assertEqual(call(a.endpoint, "set", i, f"k{i}", b"v")[0], "ok")
            call(a.endpoint, "get", 100 + i, f"k{i}")
            call(a.endpoint, "get", 200 + i, f"none{i}")
        dom = rendered(self, a.http)
        rows = member_rows(dom)
        self.assertEqual(set(rows), ids)
        self.assertTrue(all(state == "alive" for state, _, _ in rows.values()), rows)
        self.assertAlmostEqual(sum(share for _, share, _ in rows.values()), 100.0, delta=0.2)
        self.assertTrue(rows[a.endpoint][2].endswith("(this node)"), rows[a.endpoint])
        node = stats(a.endpoint)
        ratio = 100.0 * node["hits"] / (node["hits"] + node["misses"])
        self.assertIn(f'<b id="hit_ratio">{ratio:.1f}%</b>', dom)
        self.assertIn(f'<b id="items">{node["items"]}</b>', dom)
        self.assertIn('<div id="error"></div>', dom)  # no "node unreachable"

        c.proc.kill()
        c.proc.wait()
        wait_until(lambda: any(m["id"] == c.endpoint and m["state"] == "dead"
                               for m in status()["members"]), 10, "a to list c dead")
        rows = member_rows(rendered(self, a.http))
        self.assertEqual(rows[c.endpoint][:2], ("dead", 0.0))
        self.assertAlmostEqual(rows[a.endpoint][1] + rows[b.endpoint][1], 100.0, delta=0.2)


if __name__ == "__main__":
    unittest.main()
