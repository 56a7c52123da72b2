"""The fault harness: a mesh of meshcached processes (LocalMesh), a client
load that checks every reply (checker.Checker), a poller of every node's
ring (checker.Members), and the faults: signals to nodes, and iptables rules
inside a private network namespace.

The network namespace: run.py re-executes itself under ``unshare --net``
(marked by $MESHCACHE_FAULTS_NETNS=1), brings ``lo`` up, and every process it
starts lives there; its iptables rules vanish with it. Node i binds
127.0.0.(i+2); the harness's own sockets (client load, ring polls, origin)
use 127.0.0.1. A node's connections to its peers leave from its bind
address (since node commit 00e9a28; before, the kernel picked 127.0.0.1 for
every one), so ``-s 127.0.0.3 -d 127.0.0.2`` is exactly "everything node 1
sends to node 0". Every cut is checked when it is healed: a rule that
dropped no packet fails the scenario (the cut did not happen).

Only the main thread starts and stops processes (LocalMesh kills a node
when the thread that started it ends).
"""

import collections
import itertools
import os
import pathlib
import random
import shutil
import subprocess
import sys
import threading
import time

import msgpack
import zmq

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO / "bindings" / "python") not in sys.path:
    sys.path.insert(0, str(REPO / "bindings" / "python"))

from meshcache.testing import LocalMesh, MeshError  # noqa: E402,F401 (run.py catches it)

from checker import GONE, Checker, Members, RingHolders, Settle, Timeline, encode  # noqa: E402

NETNS_MARK = "MESHCACHE_FAULTS_NETNS"
SKIP = 77  # ctest's SKIP_RETURN_CODE for the fault tests


class HarnessError(RuntimeError):
    """The harness could not do what a scenario asked (not a finding about
    the node)."""


# ---------------------------------------------------------------- printing

_print_lock = threading.Lock()


def say(text=""):
    with _print_lock:
        print(text, flush=True)


# --------------------------------------------------------------- namespace


def _runs(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def reexec_in_netns(argv):
    """Replaces this process by itself inside a new network namespace when
    it is not in one yet and ``unshare`` can make one; returns the reason
    when it cannot (this process then goes on outside)."""
    if os.environ.get(NETNS_MARK) == "1":
        return None
    unshare = shutil.which("unshare")
    if unshare is None:
        return "unshare (util-linux) is not installed"
    if shutil.which("ip") is None:
        return "ip (iproute2) is not installed: the namespace's lo could not be brought up"
    for flags in (["--net"], ["--user", "--map-root-user", "--net"]):
        if _runs([unshare, *flags, "true"]):
            env = {**os.environ, NETNS_MARK: "1"}
            sys.stdout.flush()
            os.execve(unshare, [unshare, *flags, "--", sys.executable, *argv], env)
    return "unshare --net failed (needs root or user namespaces)"


class Net:
    """The private network namespace and its iptables rules. ``problem``
    says why network faults cannot be injected (None when they can)."""

    def __init__(self, outside_reason=None):
        self.inside = os.environ.get(NETNS_MARK) == "1"
        self.problem = outside_reason if not self.inside else None
        if not self.inside:
            self.problem = self.problem or "not inside a private network namespace"
            return
        if not _runs(["ip", "link", "set", "lo", "up"]):
            raise HarnessError("inside the namespace, `ip link set lo up` failed")
        if shutil.which("iptables") is None:
            self.problem = "iptables is not installed"
        elif not _runs(["iptables", "-w", "-L", "INPUT", "-n"]):
            self.problem = "iptables does not work in the namespace"

    def host_of(self, index):
        return f"127.0.0.{index + 2}" if self.inside else "127.0.0.1"

    def iptables(self, *args):
        if self.problem:
            raise HarnessError(f"network fault asked for, but {self.problem}")
        done = subprocess.run(["iptables", "-w", *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise HarnessError(f"iptables {' '.join(args)}: {done.stderr.strip()}")

    def drop(self, src, dst, sport=None):
        ports = ["-p", "tcp", "--sport", str(sport)] if sport else []
        self.iptables("-A", "INPUT", "-s", src, "-d", dst, *ports, "-j", "DROP")

    def loss(self, probability, exempt="127.0.0.1"):
        """Drops ``probability`` of every packet between nodes (the
        harness's own address is exempt: its requests measure the nodes,
        and its ring polls measure what they believe)."""
        self.iptables("-A", "INPUT", "-s", exempt, "-j", "ACCEPT")
        self.iptables("-A", "INPUT", "-d", exempt, "-j", "ACCEPT")
        self.iptables(
            "-A", "INPUT", "-m", "statistic", "--mode", "random",
            "--probability", str(probability), "-j", "DROP",
        )  # fmt: skip

    def dropped(self):
        """[(source, destination, packets)] of every DROP rule now; the
        random-loss rule has source and destination 0.0.0.0/0."""
        if not self.inside or self.problem:
            return []
        done = subprocess.run(
            ["iptables", "-w", "-L", "INPUT", "-v", "-x", "-n"], capture_output=True, text=True
        )
        rules = []
        for line in done.stdout.splitlines():
            words = line.split()
            # pkts bytes target prot opt in out source destination [match...]
            if len(words) >= 9 and words[2] == "DROP" and words[0].isdigit():
                rules.append((words[7], words[8], int(words[0])))
        return rules

    def clear(self):
        if self.inside and not self.problem:
            self.iptables("-F", "INPUT")

    def close(self):
        pass


# ------------------------------------------------------------------ config


class Config:
    """A mesh and its load. Times in ms like the node's flags."""

    def __init__(self, **kw):
        self.nodes = kw.pop("nodes", 4)
        self.replicas = kw.pop("replicas", 1)
        self.heartbeat_ms = kw.pop("heartbeat_ms", 100)
        self.dead_ms = kw.pop("dead_ms", 1000)
        self.forward_timeout_ms = kw.pop("forward_timeout_ms", 500)
        self.load_timeout_ms = kw.pop("load_timeout_ms", 5000)
        self.args = list(kw.pop("args", ()))
        self.keys = kw.pop("keys", 256)
        self.workers = kw.pop("workers", 4)
        self.rate = kw.pop("rate", 400)  # requests per second, all workers
        self.write_fraction = kw.pop("write_fraction", 0.3)
        self.del_fraction = kw.pop("del_fraction", 0.1)
        self.loader = kw.pop("loader", None)  # an origin endpoint
        if kw:
            raise TypeError(f"unknown Config fields {sorted(kw)}")

    def vnodes(self):
        """The ring's virtual nodes per node, as the nodes are started."""
        if "--vnodes" in self.args:
            return int(self.args[self.args.index("--vnodes") + 1])
        return 160  # meshcached's default

    def node_args(self):
        args = ["--replicas", str(self.replicas)]
        args += ["--forward-timeout-ms", str(self.forward_timeout_ms)]
        if self.loader:
            args += ["--loader", self.loader, "--load-timeout-ms", str(self.load_timeout_ms)]
        return args + self.args

    def deadline_s(self):
        """How long a request may take: the node's own deadlines (a forward
        and its fallbacks to the other holders, then a load), plus 1 s."""
        node = self.forward_timeout_ms * self.replicas
        if self.loader:
            node += self.load_timeout_ms
        return node / 1000.0 + 1.0

    def detection_bound_s(self):
        return self.dead_ms / 1000.0 + 1.0

    def convergence_bound_s(self):
        return 2 * self.dead_ms / 1000.0 + 3.0

    def describe(self):
        extra = f" {' '.join(self.args)}" if self.args else ""
        return (
            f"{self.nodes} nodes, heartbeat {self.heartbeat_ms} ms, dead {self.dead_ms} ms,"
            f" replicas {self.replicas}{extra}"
        )


# --------------------------------------------------------------------- run


class Run:
    """One mesh with its load, poller and checks; see the module doc."""

    def __init__(self, config, net, options):
        self.config = config
        self.net = net
        self.options = options
        self.rng = random.Random(options.seed)
        self.t0 = time.monotonic()
        self.timeline = Timeline()
        self.settle = Settle()
        grace = 3 * config.heartbeat_ms / 1000.0
        self.checker = Checker(self.timeline, self.settle, grace, config.deadline_s())
        self.members = Members(self.timeline)
        self.checker.holders = RingHolders(
            self.members,
            lambda: {i: node_id for node_id, i in self.ids.items()},
            config.vnodes(),
            config.replicas,
        )
        self.checker.origin = self.members.origin = self.t0
        self.context = zmq.Context()
        self.mesh = None
        self.ids = {}  # node id -> index
        self.monitor = None
        self.load = None
        self.failures = []  # (invariant, text) of the current scenario
        self._burners = []
        self._cuts = []  # (a, b, t) of the cuts in force
        self.initial = config.nodes
        self.shared = False  # a soak mesh: scenarios must leave it whole

    # --- lifecycle

    def now(self):
        return time.monotonic()

    def rel(self, t=None):
        return (self.now() if t is None else t) - self.t0

    def log(self, text):
        say(f"[{self.rel():7.2f}s] {text}")

    def start(self):
        cfg = self.config
        self.mesh = LocalMesh(
            cfg.nodes,
            heartbeat_ms=cfg.heartbeat_ms,
            dead_ms=cfg.dead_ms,
            args=cfg.node_args() + (["--log-level", "debug"] if self.options.debug_logs else []),
            hosts=self.net.host_of if self.net.inside else None,
            keep_logs=self.options.keep_logs,
            converge_timeout_s=30.0,
        )
        self.log(f"starting {cfg.describe()} ({self.mesh.binary})")
        for i in range(cfg.nodes):
            self.timeline.launching(i, self.now())
        self.mesh.start()
        t = self.now()
        for i in range(len(self.mesh)):
            self.timeline.start(i, t)
            self.ids[self.mesh.ids[i]] = i
        self.log("nodes: " + ", ".join(f"n{i}={e}" for i, e in enumerate(self.mesh.endpoints)))
        self.monitor = Monitor(self)
        self.monitor.start()
        self.wait_until(lambda: self.settle.snapshot()[1] is not None, 10.0, "the mesh to settle")
        return self

    def start_load(self, **kw):
        self.load = Load(self, **kw)
        self.load.start()
        return self.load

    def stop_load(self):
        if self.load is not None:
            self.load.stop()
            self.load = None

    def close(self):
        self.stop_load()
        self.busy_off()
        if self.monitor is not None:
            self.monitor.stop()
        try:
            self.net.clear()
        except HarnessError:
            pass
        if self.mesh is not None:
            self.mesh.close()
        self.context.term()

    # --- node control (main thread only)

    def _fault_begins(self):
        self.settle.unsettle()

    def kill(self, i):
        self._fault_begins()
        self.timeline.down(i, self.now(), "SIGKILL")
        self.mesh.kill(i)
        self.log(f"SIGKILL n{i}")

    def stop(self, i, timeout_s=10.0):
        """SIGTERM; returns (exit status, seconds it took)."""
        self._fault_begins()
        t = self.now()
        self.timeline.down(i, t, "SIGTERM")
        status = self.mesh.stop(i, timeout_s=timeout_s)
        took = self.now() - t
        self.log(f"SIGTERM n{i}: exit status {status} after {took:.2f}s")
        return status, took

    def start_node(self, i):
        """Starts node i again at its address (after a kill or stop)."""
        self._fault_begins()
        self.timeline.launching(i, self.now())
        self.mesh.restart(i, wait=False)
        self.timeline.start(i, self.now())
        self.ids[self.mesh.ids[i]] = i
        self.log(f"started n{i} again at {self.mesh.endpoints[i]}")

    def add_node(self):
        self._fault_begins()
        i = len(self.mesh)
        self.timeline.launching(i, self.now())
        index = self.mesh.add(wait=False, host=self.net.host_of(i) if self.net.inside else None)
        self.timeline.start(index, self.now())
        self.ids[self.mesh.ids[index]] = index
        self.log(f"added n{index} at {self.mesh.endpoints[index]}")
        return index

    def pause(self, i):
        self._fault_begins()
        self.timeline.down(i, self.now(), "SIGSTOP")
        self.mesh.pause(i)
        self.log(f"SIGSTOP n{i}")

    def resume(self, i):
        self.timeline.launching(i, self.now())
        self.mesh.resume(i)
        self.timeline.resume(i, self.now())
        self._fault_begins()
        self.log(f"SIGCONT n{i}")

    def cut(self, a, b):
        """Drops every packet node a sends to node b."""
        self.settle.hold("cut")
        t = self.now()
        self.timeline.cut(a, b, t)
        self.net.drop(self.mesh.host(a), self.mesh.host(b))
        self._cuts.append((a, b, t))
        self.log(f"cut n{a} -> n{b} (iptables: -s {self.mesh.host(a)} -d {self.mesh.host(b)} DROP)")

    def cut_gossip(self, a, b):
        """Drops only what node a publishes (its PUB port) to node b: a's
        heartbeats and invalidations stop reaching b, while requests and
        replies between them still pass. Not a cut in the timeline: the
        two stay reachable, so b declaring a dead is a false death.
        Returns the gossip endpoint's port."""
        self.settle.hold("cut")
        port = int(self.mesh.endpoints[a].rsplit(":", 1)[1]) + 1  # --gossip-port
        self.net.drop(self.mesh.host(a), self.mesh.host(b), sport=port)
        self.timeline.note(self.now(), f"gossip of n{a} to n{b} dropped")
        self.log(
            f"cut n{a}'s gossip to n{b} (iptables: -s {self.mesh.host(a)} -d {self.mesh.host(b)}"
            f" --sport {port} DROP)"
        )
        return port

    def isolate(self, i):
        """Cuts node i from every other running node, both ways."""
        for j in range(len(self.mesh)):
            if j != i and self.mesh._nodes[j].running:
                self.cut(i, j)
                self.cut(j, i)

    def heal(self):
        """Ends every cut and the packet loss. A cut between two nodes that
        stayed up and whose rule dropped nothing is a failure: the fault
        did not happen."""
        t = self.now()
        dropped = {(src, dst): n for src, dst, n in self.net.dropped()}
        for a, b, t_cut in self._cuts:
            key = (self.mesh.host(a), self.mesh.host(b))
            both_up = self.timeline.is_up(a, t_cut, t) and self.timeline.is_up(b, t_cut, t)
            if both_up and dropped.get(key, 0) == 0 and t - t_cut > 1.0:
                self.fail(
                    "harness",
                    f"the rule dropping n{a} -> n{b} ({key[0]} -> {key[1]}) dropped no packet in"
                    f" {t - t_cut:.1f}s: the fault did not happen (do the nodes' connections leave"
                    " from their own addresses?)",
                )
        if self.settle.held() and ("0.0.0.0/0", "0.0.0.0/0") in dropped:
            if dropped[("0.0.0.0/0", "0.0.0.0/0")] == 0:
                self.fail("harness", "the random-loss rule dropped no packet")
        self._cuts = []
        self.net.clear()
        self.timeline.heal(self.now())
        self.settle.release("cut")
        self.settle.release("loss")
        self._fault_begins()
        self.log("healed: iptables rules flushed")

    def loss(self, probability):
        self.settle.hold("loss")
        self.net.loss(probability)
        self.timeline.note(self.now(), f"loss {probability:.0%}")
        self.log(f"packet loss {probability:.0%} between nodes")

    def busy(self, processes):
        self.settle.hold("cpu")
        setpriv = shutil.which("setpriv")
        for _ in range(processes):
            cmd = [sys.executable, "-c", "while True: pass"]
            if setpriv:
                cmd = [setpriv, "--pdeathsig", "KILL", "--"] + cmd
            self._burners.append(subprocess.Popen(cmd))
        self.timeline.note(self.now(), f"cpu burners x{processes}")
        self.log(f"{processes} CPU burners started (pids {[p.pid for p in self._burners]})")

    def busy_off(self):
        if not self._burners:
            return
        for p in self._burners:
            p.kill()
        for p in self._burners:
            p.wait()
        self._burners = []
        self.settle.release("cpu")
        self._fault_begins()
        self.log("CPU burners stopped")

    # --- what is up

    def up_nodes(self, t=None):
        t = self.now() if t is None else t
        return [i for i in range(len(self.mesh)) if self.timeline.is_up(i, t)]

    def targets(self):
        """(index, endpoint) of the nodes a client may send to now."""
        t = self.now()
        up = [i for i in range(len(self.mesh)) if self.timeline.is_up(i, t)]
        return [(i, self.mesh.endpoints[i]) for i in up]

    def check_processes(self):
        """A failure for every node that exited without being told to."""
        for i in range(len(self.mesh)):
            node = self.mesh._nodes[i]
            if node.wanted and not node.running:
                node.wanted = False
                self.fail(
                    "node exited",
                    f"n{i} exited with status {node.process.returncode}:\n"
                    + self.mesh.log_tail(i, 15),
                )

    # --- waiting

    def wait_until(self, condition, timeout_s, what):
        deadline = self.now() + timeout_s
        while True:
            value = condition()
            if value:
                return value
            if self.now() >= deadline:
                raise HarnessError(f"timed out after {timeout_s} s waiting for {what}")
            time.sleep(0.02)  # poll interval

    def hold(self, seconds):
        """Keeps a fault (or the load) going for its planned duration."""
        end = self.now() + seconds
        while self.now() < end:
            time.sleep(min(0.1, max(0.0, end - self.now())))  # pacing a planned duration
            self.check_processes()

    def wait_detected(self, node, observers=None, states=GONE, since=None, what=None, limit_s=None):
        """Seconds from ``since`` until every observer (default: every up
        node but ``node``) shows ``node`` in ``states`` (or not at all);
        a failure when past the bound. None when it did not happen within
        ``limit_s`` (default: the bound + 5 s)."""
        since = self.now() if since is None else since
        bound = self.config.detection_bound_s()
        limit = bound + 5.0 if limit_s is None else max(limit_s, bound)
        what = what or f"n{node} {'/'.join(states)}"
        while True:
            obs = observers if observers is not None else [i for i in self.up_nodes() if i != node]
            t = self.members.detected(node, obs, since, states)
            if t is not None:
                took = t - since
                self.log(f"detected: {what} at {obs} after {took:.2f}s (bound {bound:.1f}s)")
                if took > bound:
                    self.fail("detection", f"{what} took {took:.2f}s, over the {bound:.1f}s bound")
                return took
            if self.now() - since > limit:
                views = {o: self._state_text(o, node) for o in obs}
                self.fail(
                    "detection",
                    f"{what}: not seen within {limit:.1f}s (bound {bound:.1f}s);"
                    f" views of n{node}: {views}",
                )
                self.log(f"NOT detected: {what} within {limit:.1f}s")
                return None
            self.check_processes()
            time.sleep(0.02)  # poll interval

    def _state_text(self, observer, node):
        v = self.members.view(observer)
        if v is None:
            return "no view"
        return v[2].get(node, "absent")

    def wait_converged(self, since=None, what="convergence", expected=None):
        """Seconds from ``since`` until every up node (or every node in
        ``expected``) agrees on exactly those nodes, all alive; a failure
        past the bound. None when never (within bound + 10 s)."""
        since = self.now() if since is None else since
        bound = self.config.convergence_bound_s()
        limit = bound + 10.0
        fixed = expected
        while True:
            expected = self.up_nodes() if fixed is None else list(fixed)
            t = self.members.converged(expected, max(since, self.timeline.last_change))
            if t is not None:
                took = t - since
                self.log(f"converged on {expected} after {took:.2f}s (bound {bound:.1f}s)")
                if took > bound:
                    self.fail(what, f"took {took:.2f}s, over the bound of {bound:.1f}s")
                return took
            if self.now() - since > limit:
                views = {o: self._view_text(o) for o in expected}
                self.fail(
                    what,
                    f"not within {limit:.1f}s (bound {bound:.1f}s); expected {expected};"
                    f" views {views}",
                )
                self.log(f"NOT converged within {limit:.1f}s: {views}")
                return None
            self.check_processes()
            time.sleep(0.02)  # poll interval

    def _view_text(self, observer):
        v = self.members.view(observer)
        return "none" if v is None else Monitor.format_view(v[2])

    # --- sweeps

    def sweep(self, what, nodes=None, keys=None, must=None, rotate=False):
        """Reads every key through every node in ``nodes`` (default: every
        up node; ``rotate``: each key through one of them in turn), checks
        each reply, and with ``must`` ({key: seq}) finds the keys that lost
        their acknowledged set. Returns (lost, checked, hits, misses,
        lost_keys)."""
        nodes = self.up_nodes() if nodes is None else list(nodes)
        keys = list(self.load.keys if keys is None and self.load else keys or [])
        plan = collections.defaultdict(list)
        for j, key in enumerate(keys):
            for i in [nodes[j % len(nodes)]] if rotate else nodes:
                plan[i].append(key)
        lost_keys, hits, misses, checked = set(), 0, 0, 0
        for i, node_keys in plan.items():
            for reply in self._pipelined_gets(i, node_keys):
                key, t_sent, t_got, status, value, code, snapshot = reply
                outcome = self.checker.read_done(
                    key, i, t_sent, t_got, status, value, code, snapshot
                )
                hits += outcome == "hit"
                misses += outcome == "miss"
                checked += 1
                if must is not None and key in must:
                    if self.checker.lost(key, must[key], i, status, value, t_got, what):
                        lost_keys.add(key)
        lost_text = ""
        if must is not None:
            lost_text = f", {len(lost_keys)} of {len(must)} acknowledged keys lost"
        self.log(
            f"sweep ({what}): {checked} gets through {sorted(plan)}: {hits} hits,"
            f" {misses} misses{lost_text}"
        )
        return len(lost_keys), checked, hits, misses, lost_keys

    def _pipelined_gets(self, i, keys, window=64):
        sock = self.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.mesh.endpoints[i])
        ids = itertools.count(1)
        out = []
        try:
            for start in range(0, len(keys), window):
                chunk = keys[start : start + window]
                pending = {}
                for key in chunk:
                    rid = next(ids)
                    snapshot = self.settle.snapshot()
                    t_sent = self.now()
                    sock.send_multipart([b"", msgpack.packb(["get", rid, key], use_bin_type=True)])
                    pending[rid] = (key, t_sent, snapshot)
                deadline = self.now() + self.config.deadline_s()
                while pending and self.now() < deadline:
                    if not sock.poll(max(1, int((deadline - self.now()) * 1000))):
                        break
                    reply = _decode(sock.recv_multipart())
                    if reply is None or reply[1] not in pending:
                        continue
                    key, t_sent, snapshot = pending.pop(reply[1])
                    status, value, code = _fields(reply)
                    out.append((key, t_sent, self.now(), status, value, code, snapshot))
                for key, t_sent, snapshot in pending.values():
                    out.append((key, t_sent, self.now(), None, None, None, snapshot))
        finally:
            sock.close(linger=0)
        return out

    def fill(self, keys, value_of=None):
        """Sets every key once (pipelined, through the nodes in turn);
        returns how many were acknowledged."""
        up = self.up_nodes()
        socks = {i: self.context.socket(zmq.DEALER) for i in up}
        for i, s in socks.items():
            s.setsockopt(zmq.LINGER, 0)
            s.connect(self.mesh.endpoints[i])
        acked = 0
        try:
            window = 128
            for start in range(0, len(keys), window):
                pending = {}
                for j, key in enumerate(keys[start : start + window]):
                    i = up[(start + j) % len(up)]
                    seq = self.checker.write_sent(key, "set", self.now())
                    rid = start + j + 1
                    body = ["set", rid, key, encode(key, seq), 0]
                    socks[i].send_multipart([b"", msgpack.packb(body, use_bin_type=True)])
                    pending[rid] = (key, seq, i, self.now())
                deadline = self.now() + self.config.deadline_s()
                poller = zmq.Poller()
                for s in socks.values():
                    poller.register(s, zmq.POLLIN)
                while pending and self.now() < deadline:
                    for s, _ in poller.poll(max(1, int((deadline - self.now()) * 1000))):
                        reply = _decode(s.recv_multipart())
                        if reply is None or reply[1] not in pending:
                            continue
                        key, seq, i, t_sent = pending.pop(reply[1])
                        status, _, code = _fields(reply)
                        outcome = self.checker.write_done(key, seq, self.now(), status, code, i)
                        acked += outcome == "ok"
                for key, seq, i, t_sent in pending.values():
                    self.checker.write_done(key, seq, self.now(), None, target=i, t_sent=t_sent)
        finally:
            for s in socks.values():
                s.close(linger=0)
        return acked

    # --- results

    def fail(self, invariant, text):
        self.failures.append((invariant, text))

    def rss(self, i):
        """Node i's resident memory in KiB, or None."""
        try:
            pid = self.mesh.process(i).pid
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except (OSError, ValueError, AttributeError):
            return None
        return None


# ------------------------------------------------------------------ wire


def _decode(frames):
    if len(frames) != 2 or frames[0] != b"":
        return None
    try:
        reply = msgpack.unpackb(frames[1], raw=False)
    except (ValueError, msgpack.UnpackException):
        return None
    if not isinstance(reply, list) or len(reply) < 2 or not isinstance(reply[1], int):
        return None
    return reply


def _fields(reply):
    """(status, value, error code) of a decoded reply."""
    status = reply[0]
    if status == "ok":
        value = reply[2] if len(reply) > 2 else None
        return "ok", value.encode() if isinstance(value, str) else value, None
    if status == "miss":
        return "miss", None, None
    if status == "err":
        code = reply[2] if len(reply) > 2 and isinstance(reply[2], str) else "error"
        return "err", None, code
    return "err", None, f"bad_status:{status!r}"


# ------------------------------------------------------------------ load


class Load:
    """``workers`` threads, each with a DEALER per node and up to
    ``in_flight`` requests outstanding, sending to random up nodes at
    ``rate`` requests per second in all, whatever the replies take (so a
    fault that makes some requests wait does not slow the others). Key i is
    written only by worker i % workers, one write at a time (so a key's
    writes are sent one after the other and its seqs order them); any worker
    reads any key."""

    def __init__(
        self,
        run,
        keys=None,
        workers=None,
        rate=None,
        write_fraction=None,
        del_fraction=None,
        in_flight=64,
    ):
        cfg = run.config
        self.run = run
        n = cfg.keys if keys is None else keys
        self.keys = [b"fk:%d" % i for i in range(n)] if isinstance(n, int) else list(n)
        self.workers = cfg.workers if workers is None else workers
        self.rate = cfg.rate if rate is None else rate
        self.write_fraction = cfg.write_fraction if write_fraction is None else write_fraction
        self.del_fraction = cfg.del_fraction if del_fraction is None else del_fraction
        self.in_flight = in_flight
        self._stop = threading.Event()
        self._threads = []
        self.late = 0  # replies that came after their request's deadline
        self.throttled = 0  # sends skipped because in_flight requests were outstanding

    def start(self):
        for w in range(self.workers):
            t = threading.Thread(target=self._work, args=(w,), name=f"load-{w}", daemon=True)
            t.start()
            self._threads.append(t)
        self.run.log(
            f"load: {self.workers} workers, {self.rate}/s, {len(self.keys)} keys,"
            f" {self.write_fraction:.0%} writes ({self.del_fraction:.0%} of them del),"
            f" deadline {self.run.config.deadline_s():.1f}s"
        )

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join()

    def _work(self, w):
        run, checker = self.run, self.run.checker
        rng = random.Random((run.options.seed or 0) * 1000 + w)
        mine = self.keys[w :: self.workers]
        writing = set()  # my keys with a write outstanding
        socks = {}  # endpoint -> socket
        pending = {}  # rid -> (key, seq or None, node, t_sent, snapshot)
        deadlines = collections.deque()  # (deadline, rid), in send order
        ids = itertools.count(1)
        period = self.workers / self.rate
        next_send = time.monotonic() + rng.random() * period
        poller = zmq.Poller()

        def settle_reply(rid, reply, t):
            key, seq, node, t_sent, snapshot = pending.pop(rid)
            status, value, code = _fields(reply) if reply is not None else (None, None, None)
            if seq is not None:
                writing.discard(key)
                checker.write_done(key, seq, t, status, code, target=node, t_sent=t_sent)
            else:
                checker.read_done(key, node, t_sent, t, status, value, code, snapshot)

        try:
            while not self._stop.is_set():
                now = time.monotonic()
                # Give up on requests past their deadline.
                while deadlines and deadlines[0][0] <= now:
                    _, rid = deadlines.popleft()
                    if rid in pending:
                        settle_reply(rid, None, now)
                if now >= next_send:
                    next_send = max(next_send + period, now - 1.0)
                    if len(pending) >= self.in_flight:
                        self.throttled += 1
                    else:
                        self._send_one(rng, mine, writing, socks, poller, pending, deadlines, ids)
                until = min(next_send, deadlines[0][0]) if deadlines else next_send
                wait_ms = max(0, int((until - time.monotonic()) * 1000))
                for sock, _ in poller.poll(wait_ms):
                    while True:
                        try:
                            frames = sock.recv_multipart(flags=zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        reply = _decode(frames)
                        if reply is None:
                            continue
                        if reply[1] in pending:
                            settle_reply(reply[1], reply, time.monotonic())
                        else:
                            self.late += 1
            # Whatever is still out is settled by its deadline.
            end = max((d for d, _ in deadlines), default=0)
            while pending and time.monotonic() < end:
                for sock, _ in poller.poll(50):
                    try:
                        reply = _decode(sock.recv_multipart(flags=zmq.NOBLOCK))
                    except zmq.Again:
                        continue
                    if reply is not None and reply[1] in pending:
                        settle_reply(reply[1], reply, time.monotonic())
            for rid in list(pending):
                settle_reply(rid, None, time.monotonic())
        finally:
            for s in socks.values():
                s.close(linger=0)

    def _send_one(self, rng, mine, writing, socks, poller, pending, deadlines, ids):
        run, checker = self.run, self.run.checker
        targets = run.targets()
        if not targets:
            return
        node, endpoint = rng.choice(targets)
        sock = socks.get(endpoint)
        if sock is None:
            sock = socks[endpoint] = run.context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.IMMEDIATE, 1)
            sock.connect(endpoint)
            poller.register(sock, zmq.POLLIN)
            sock.poll(100, zmq.POLLOUT)  # let the connection come up
        free = [k for k in mine if k not in writing] if mine else []
        write = free and rng.random() < self.write_fraction
        rid = next(ids)
        snapshot = run.settle.snapshot()
        t_sent = time.monotonic()
        seq = None
        if write:
            key = rng.choice(free)
            kind = "del" if rng.random() < self.del_fraction else "set"
            seq = checker.write_sent(key, kind, t_sent)
            body = ["del", rid, key] if kind == "del" else ["set", rid, key, encode(key, seq), 0]
        else:
            key = rng.choice(self.keys)
            body = ["get", rid, key]
        try:
            sock.send_multipart([b"", msgpack.packb(body, use_bin_type=True)], flags=zmq.NOBLOCK)
        except zmq.Again:
            checker.unsent(time.monotonic(), key if write else None, seq)
            return
        if write:
            writing.add(key)
        pending[rid] = (key, seq, node, t_sent, snapshot)
        deadlines.append((t_sent + checker.deadline_s, rid))


# ---------------------------------------------------------------- monitor


class Monitor:
    """Polls ``ring`` on every up node (at most one request in flight per
    node, every ``interval_s``), feeds Members, settles the mesh when every
    up node agrees, unsettles it when they stop agreeing, prints one line
    per second and samples each node's RSS."""

    def __init__(self, run, interval_s=0.05):
        self.run = run
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="monitor", daemon=True)
        self.rss = collections.defaultdict(list)  # (index, pid) -> [(t, KiB)]
        self.rss_every_s = 1.0
        self.quiet = False

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join()

    @staticmethod
    def format_view(states):
        parts = []
        for node in sorted(states):
            s = states[node]
            if s == "alive":
                parts.append(str(node))
            elif s == "suspect":
                parts.append(f"{node}?")
        return "[" + ",".join(parts) + "]"

    def _loop(self):
        run = self.run
        socks = {}  # index -> (endpoint, socket)
        outstanding = {}  # index -> (rid, sent)
        ids = itertools.count(1)
        next_second = int(run.rel()) + 1
        next_rss = time.monotonic()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                for i in run.up_nodes(now):
                    endpoint = run.mesh.endpoints[i]
                    if i not in socks or socks[i][0] != endpoint:
                        s = run.context.socket(zmq.DEALER)
                        s.setsockopt(zmq.LINGER, 0)
                        s.connect(endpoint)
                        socks[i] = (endpoint, s)
                    pending = outstanding.get(i)
                    if pending is not None and now - pending[1] < 1.0:
                        continue
                    rid = next(ids)
                    body = msgpack.packb(["ring", rid], use_bin_type=True)
                    socks[i][1].send_multipart([b"", body])
                    outstanding[i] = (rid, now)
                poller = zmq.Poller()
                for i, (_, s) in socks.items():
                    poller.register(s, zmq.POLLIN)
                end = time.monotonic() + self.interval_s
                while True:
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    ready = dict(poller.poll(max(1, int(left * 1000))))
                    for i, (_, s) in socks.items():
                        if s in ready:
                            self._drain(i, s, outstanding)
                self._settle()
                if run.rel() >= next_second:
                    self._report(next_second - 1)
                    next_second += 1
                if time.monotonic() >= next_rss:
                    self._sample_rss()
                    next_rss += self.rss_every_s
        finally:
            for _, s in socks.values():
                s.close(linger=0)

    def _drain(self, i, s, outstanding):
        run = self.run
        while True:
            try:
                frames = s.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            reply = _decode(frames)
            pending = outstanding.get(i)
            if reply is None or pending is None or reply[1] != pending[0]:
                continue
            del outstanding[i]
            if reply[0] != "ok" or not isinstance(reply[2], dict):
                continue
            states = {}
            for n in reply[2].get("nodes", []):
                index = run.ids.get(n.get("id"))
                if index is not None:
                    states[index] = n.get("state")
            run.members.observe(i, pending[1], time.monotonic(), states)

    def _settle(self):
        run = self.run
        up = run.up_nodes()
        gen, since = run.settle.snapshot()
        t = run.members.converged(up, run.timeline.last_change)
        if since is None:
            if t is not None and run.settle.settle(t):
                run.timeline.note(t, "settled")
        elif t is None:
            # Views newer than the settling that disagree: no longer converged.
            fresh = [run.members.view(i) for i in up]
            if all(v is not None and v[0] > since for v in fresh):
                run.settle.unsettle()
                run.timeline.note(time.monotonic(), "unsettled: the nodes disagree")

    def _report(self, second):
        if self.quiet:
            return
        run = self.run
        c = run.checker.second(second)
        errs = {k[4:]: v for k, v in c.items() if k.startswith("err:")}
        for k in ("noreply_down", "unsent"):
            if c.get(k):
                errs[k] = c[k]
        views = []
        for i in range(len(run.mesh)):
            v = run.members.view(i)
            up = run.timeline.is_up(i, time.monotonic())
            if not up:
                views.append(f"n{i}:down")
            elif v is None:
                views.append(f"n{i}:?")
            else:
                views.append(f"n{i}:{self.format_view(v[2])}")
        settled = "settled" if run.settle.snapshot()[1] is not None else "unsettled"
        err_text = ",".join(f"{k}={v}" for k, v in sorted(errs.items())) or "0"
        requests = c["get"] + c["set"] + c["del"]
        say(
            f"  t={second:4d}s req={requests:4d} hit={c['hit']} miss={c['miss']} ack={c['ok']}"
            f" err={err_text} wrong={c['wrong']} stale={c['stale']}"
            f"(+{c['stale_unsettled']} unsettled) hung={c['hung']} | {settled} {' '.join(views)}"
        )

    def _sample_rss(self):
        run = self.run
        t = time.monotonic()
        for i in range(len(run.mesh)):
            p = run.mesh.process(i)
            if p is None or p.poll() is not None:
                continue
            kib = run.rss(i)
            if kib is not None:
                self.rss[(i, p.pid)].append((t, kib))
