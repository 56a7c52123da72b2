"""The fault scenarios. Each is a function of a started Run (mesh, load,
poller) and a Mode (short for ctest, long for a manual run or the soak); it
injects its faults, waits for what must follow, and returns the figures of
its row. The invariants every scenario shares (no wrong value, no stale
value once settled, no hang, no false death, no resurrection, and the
detection and convergence bounds) are checked by the runner (run.py) and
by the Run's waits; a scenario adds its own (lost writes, hit ratio, the
load/set race) with run.fail().

A scenario that runs on the soak's shared mesh leaves it whole: the nodes
it stopped are running again and every node agrees.
"""

import threading
import time

import msgpack
import zmq

from checker import GONE, encode
from harness import Config, HarnessError, _decode, _fields

from meshcache import Ring
from meshcache.testing import Origin

SCENARIOS = {}


class Scenario:
    """``network``: needs the namespace's iptables. ``load``: "mixed" (the
    runner starts the checked read/write load before it), or "own".
    ``config``: a function of (mode, resources) returning the Config
    (resources: a list the scenario may append closable things to).
    ``shared``: may run on the soak's shared mesh (plain config)."""

    def __init__(self, name, fault, fn, network=False, load="mixed", config=None, shared=True):
        self.name, self.fault, self.fn = name, fault, fn
        self.network, self.load = network, load
        self.make_config = config or (lambda mode, resources: Config())
        self.shared = shared and config is None


def scenario(name, fault, **kw):
    def register(fn):
        SCENARIOS[name] = Scenario(name, fault, fn, **kw)
        return fn

    return register


class Mode:
    def __init__(self, short):
        self.short = short

    def d(self, short, long):
        """A duration (or count) for this mode."""
        return short if self.short else long


def _figures(fault, window, detection=None, convergence=None, **extra):
    return dict(fault=fault, window=window, detection=detection, convergence=convergence, **extra)


def _max(values):
    values = [v for v in values if v is not None]
    return max(values) if values else None


def _finish(run, mode, what):
    """After a fault: the load runs on for a while (a node that was
    declared dead again, or serves old values, shows it now), then every
    key is read through every node."""
    run.hold(mode.d(3, 6))
    run.sweep(what)


def _heal(run, mode, t, duration, detection, fault):
    """Holds a cut that began at t for its duration, heals it, waits for the
    mesh to agree and reads everything back; fault(length) names the row."""
    run.hold(max(0.0, t + duration - run.now()))
    run.heal()
    t_end = run.now()
    convergence = run.wait_converged(since=t_end, what="convergence after the heal")
    _finish(run, mode, "after the heal")
    return _figures(
        fault(f"{t_end - t:.0f} s, healed"),
        (t, t_end + (convergence or 0)),
        detection,
        convergence,
    )


# ------------------------------------------------------------------ plain


@scenario("baseline", "none: the checked load alone")
def baseline(run, mode):
    t = run.now()
    run.hold(mode.d(4, 20))
    run.sweep("baseline")
    return _figures("none (load only)", (t, run.now()))


@scenario(
    "crash",
    "SIGKILL a node under load with --replicas 2, restart it 2 s later at the same address",
    config=lambda mode, res: Config(replicas=2),
)
def crash(run, mode):
    victim = 1
    run.hold(mode.d(2, 5))
    t_kill = run.now()
    must = run.checker.acked_sets(t_kill)
    run.kill(victim)
    detection = run.wait_detected(victim, since=t_kill)
    run.wait_converged(since=t_kill, what="convergence after the crash")
    lost = run.sweep("after the crash", must=must)[4]
    run.hold(max(0.0, t_kill + 2.0 - run.now()))
    t_start = run.now()
    run.start_node(victim)
    convergence = run.wait_converged(since=t_start, what="convergence after the restart")
    run.hold(mode.d(3, 6))
    lost |= run.sweep("after the restart", must=must)[4]
    if lost:
        examples = [text for _, o, text in run.checker.noteworthy_since(t_kill) if o == "lost"]
        run.fail(
            "no acknowledged write lost",
            f"{len(lost)} of {len(must)} keys acknowledged before the crash read back older or"
            " missing, e.g.:\n" + "\n".join("      " + e for e in examples[:6]),
        )
    return _figures(
        f"SIGKILL n{victim}, restart after 2 s (replicas 2)",
        (t_kill, t_start + (convergence or 0)),
        detection,
        convergence,
        lost=(len(lost), len(must)),
    )


def _pause(run, mode, factor):
    victim = 2
    dead_s = run.config.dead_ms / 1000.0
    duration = factor * dead_s
    t = run.now()
    run.pause(victim)
    detection = None
    if factor > 1:
        detection = run.wait_detected(victim, since=t)
    run.hold(max(0.0, t + duration - run.now()))
    run.resume(victim)
    t_end = run.now()
    convergence = run.wait_converged(since=t_end, what="convergence after SIGCONT")
    _finish(run, mode, "after the pause")
    if factor < 1:
        seen = run.members.ever_in(victim, GONE, t, run.now())
        if seen:
            run.fail(
                "no false deaths",
                f"n{seen[1]} declared n{victim} {seen[2]} at {run.rel(seen[0]):.2f}s although it"
                f" was paused for only {duration:.2f}s (dead-ms {dead_s:.1f}s)",
            )
        detection = "none, as required" if not seen else f"declared {seen[2]} (wrong)"
    return _figures(
        f"SIGSTOP n{victim} for {duration:.1f} s ({factor}x dead-ms), SIGCONT",
        (t, t_end + (convergence or 0)),
        detection,
        convergence,
    )


@scenario("pause-short", "SIGSTOP a node for 0.5x dead-ms, then SIGCONT: it must not be dead")
def pause_short(run, mode):
    return _pause(run, mode, 0.5)


@scenario("pause-long", "SIGSTOP a node for 3x dead-ms, then SIGCONT: dead, it must come back")
def pause_long(run, mode):
    return _pause(run, mode, 3)


@scenario("partition", "cut one node off both ways (5 s; 8 s long), then heal", network=True)
def partition(run, mode):
    victim = 3
    duration = mode.d(5, 8)
    t = run.now()
    run.isolate(victim)
    what = f"the others see n{victim} dead"
    detection = run.wait_detected(victim, since=t, what=what, limit_s=duration)
    return _heal(run, mode, t, duration, detection, lambda s: f"n{victim} cut off both ways for {s}")


@scenario(
    "oneway",
    "drop every packet from node C to node A (5 s; 8 s long), heal: the others relay C's answers"
    " to A's probes, so C stays on every ring",
    network=True,
)
def oneway(run, mode):
    a, c = 0, 2
    duration = mode.d(5, 8)
    before = _stat(run, a, "probe_answers")
    t = run.now()
    run.cut(c, a)
    run.hold(duration)
    _kept_alive(run, a, c, t, _stat(run, a, "probe_answers") - before, "through n1 and n3")
    return _heal(
        run, mode, t, duration, "none, as required", lambda s: f"one-way cut n{c} -> n{a} for {s}"
    )


def _kept_alive(run, a, c, t, answers, how):
    """Node a got answers to its probes of node c (how), and never took c
    off its ring since t; a passing suspicion is reported, not failed."""
    seen = {v.get(c) for v in run.members.states_between(a, t, run.now())}
    if answers == 0:
        run.fail("probes", f"n{a} got no answer to a probe of n{c} ({how})")
    if seen & set(GONE) or None in seen:
        run.fail("probes", f"n{a} took n{c} off its ring although it answered probes ({how})")
    run.log(f"n{a} saw n{c} as {sorted(s for s in seen if s)}; {answers} probe answers ({how})")


@scenario(
    "gossip-cut",
    "drop node C's gossip to node A (4 s; 10 s long): A probes C, which answers; no suspicion",
    network=True,
)
def gossip_cut(run, mode):
    a, c = 0, 2
    before = _stat(run, a, "probe_answers")
    t = run.now()
    run.cut_gossip(c, a)
    run.hold(mode.d(4, 10))  # 4 dead-ms in the short mode
    dropped = sum(n for _, _, n in run.net.dropped())
    answers = _stat(run, a, "probe_answers") - before
    _kept_alive(run, a, c, t, answers, "directly")
    run.heal()
    t_end = run.now()
    if dropped == 0:
        run.fail("harness", "the rule dropping n2's gossip to n0 dropped no packet")
    return _settle_after(
        run,
        mode,
        (t, t_end),
        "the gossip cut",
        f"n{c}'s gossip to n{a} dropped for {t_end - t:.0f} s ({answers} probes answered)",
        "none, as required",
    )


def _settle_after(run, mode, window, what, fault, detection):
    """After a fault that held through window = (start, end): waits for the
    mesh to agree, reads everything back, and returns the row's figures."""
    t, t_end = window
    convergence = run.wait_converged(since=t_end, what=f"convergence after {what}")
    _finish(run, mode, f"after {what}")
    return _figures(fault, (t, t_end + (convergence or 0)), detection, convergence)


def _stat(run, i, name):
    return int(run.mesh.stats(i)[name])


@scenario("loss", "10 % random loss of every packet between nodes: no false deaths", network=True)
def loss(run, mode):
    t = run.now()
    run.loss(0.10)
    run.hold(mode.d(10, 30))
    run.heal()
    t_end = run.now()
    return _settle_after(
        run,
        mode,
        (t, t_end),
        "the loss",
        f"10 % packet loss between nodes for {t_end - t:.0f} s",
        "false deaths" if any(d[0] >= t for d in run.members.false_deaths) else "none, as required",
    )


@scenario("cpu-busy", "two CPU burners on the 2-core machine: no false deaths")
def cpu_busy(run, mode):
    t = run.now()
    run.busy(2)
    run.hold(mode.d(6, 20))
    run.busy_off()
    t_end = run.now()
    return _settle_after(
        run,
        mode,
        (t, t_end),
        "the CPU load",
        f"2 busy processes for {t_end - t:.0f} s",
        "none, as required",
    )


@scenario(
    "stale-gossip",
    "old views after a heal or a pause must not resurrect a dead node or roll back a restarted one",
    network=True,
)
def stale_gossip(run, mode):
    a, b, c, d = 0, 1, 2, 3
    detections, convergences = [], []
    t0 = run.now()
    # Phase 1: d is cut off and keeps its old table; meanwhile b dies and c
    # restarts (a higher incarnation). After the heal, what d says of b and
    # c is old news.
    run.isolate(d)
    detections.append(run.wait_detected(d, observers=[a, b, c], since=t0))
    t = run.now()
    run.kill(b)
    detections.append(run.wait_detected(b, observers=[a, c], since=t))
    run.kill(c)
    run.hold(0.2)
    run.start_node(c)
    t = run.now()
    convergences.append(run.wait_converged(since=t, what="a and c agree", expected=[a, c]))
    run.heal()
    t = run.now()
    convergences.append(run.wait_converged(since=t, what="convergence after the heal"))
    run.hold(mode.d(2, 4))
    # Phase 2: d is frozen with c alive in its table; c dies; d wakes up.
    t = run.now()
    run.pause(d)
    detections.append(run.wait_detected(d, observers=[a, c], since=t))
    t = run.now()
    run.kill(c)
    detections.append(run.wait_detected(c, observers=[a], since=t))
    run.resume(d)
    t = run.now()
    convergences.append(run.wait_converged(since=t, what="convergence after d wakes"))
    run.hold(mode.d(2, 4))
    t_end = run.now()
    for i in (b, c):
        run.start_node(i)
    convergences.append(run.wait_converged(since=t_end, what="convergence with b and c back"))
    _finish(run, mode, "after the stale gossip")
    return _figures(
        f"n{d} cut off while n{b} dies and n{c} restarts, healed;"
        f" n{d} frozen while n{c} dies, woken",
        (t0, run.now()),
        _max(detections),
        _max(convergences),
    )


@scenario("churn", "nodes stop (SIGTERM or SIGKILL) and start every 1-2 s under load")
def churn(run, mode):
    rng = run.rng
    t0 = run.now()
    end = t0 + mode.d(15, 60)
    most = run.initial + 2
    actions = 0
    while run.now() < end:
        running = [i for i in run.up_nodes() if i != 0]  # n0 stays: the soak's witness
        stopped = [i for i in range(len(run.mesh)) if not run.mesh._nodes[i].running]
        if len(running) >= 2 and rng.random() < 0.5:
            victim = rng.choice(running)
            if rng.random() < 0.5:
                run.kill(victim)
            else:
                run.stop(victim)
        elif stopped and (len(run.mesh) >= most or rng.random() < 0.7):
            run.start_node(rng.choice(stopped))
        elif len(run.mesh) < most:
            run.add_node()
        actions += 1
        run.hold(rng.uniform(1.0, 2.0))
    t_end = run.now()
    convergence = run.wait_converged(since=t_end, what="convergence after the churn")
    _finish(run, mode, "after the churn")
    return _figures(
        f"{actions} starts/stops in {t_end - t0:.0f} s (up to {most} nodes)",
        (t0, t_end + (convergence or 0)),
        None,
        convergence,
    )


# ------------------------------------------------------------ load race


class SlowOrigin:
    """An origin that answers ``["load", id, key]`` after ``delay_s`` with
    ``b"<key>:load:<n>"``, n counting that key's loads; it notes when each
    load arrived and was answered."""

    def __init__(self, delay_s):
        self.delay_s = delay_s
        self._lock = threading.Lock()
        self.arrived = {}  # key -> [t]
        self.answered = {}  # key -> [t]
        self.origin = Origin(self._handle)
        self.endpoint = self.origin.endpoint

    def _handle(self, key):
        with self._lock:
            self.arrived.setdefault(key, []).append(time.monotonic())
            n = len(self.arrived[key])
        time.sleep(self.delay_s)  # the slow origin itself
        with self._lock:
            self.answered.setdefault(key, []).append(time.monotonic())
        return (b"%s:load:%d" % (key, n), 0)

    def count(self, key, what="arrived"):
        with self._lock:
            return len(getattr(self, what).get(key, []))

    def times(self, key, what):
        with self._lock:
            return list(getattr(self, what).get(key, []))

    def close(self):
        self.origin.close()


def _race_config(mode, resources):
    origin = SlowOrigin(1.0)
    resources.append(origin)
    cfg = Config(loader=origin.endpoint)
    cfg.origin = origin
    return cfg


class _Probe:
    """One DEALER per node for the race's requests."""

    def __init__(self, run):
        self.run = run
        self.socks = {}
        self.ids = 0

    def send(self, i, *request):
        s = self.socks.get(i)
        if s is None:
            s = self.socks[i] = self.run.context.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(self.run.mesh.endpoints[i])
        self.ids += 1
        body = msgpack.packb([request[0], self.ids, *request[1:]], use_bin_type=True)
        s.send_multipart([b"", body])
        return (i, self.ids, time.monotonic())

    def wait(self, ticket, timeout_s):
        i, rid, _ = ticket
        s = self.socks[i]
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not s.poll(max(1, int(left * 1000))):
                return None
            reply = _decode(s.recv_multipart())
            if reply is not None and reply[1] == rid:
                return _fields(reply)

    def close(self):
        for s in self.socks.values():
            s.close(linger=0)


@scenario(
    "load-race",
    "a get misses and starts a 1 s load; a set (or del) is acknowledged meanwhile;"
    " later gets must not see the load",
    load="own",
    config=_race_config,
)
def load_race(run, mode):
    origin = run.config.origin
    ring = Ring(run.mesh.ring(0))
    deadline = run.config.deadline_s()
    probe = _Probe(run)
    overtaken = wrong = hung = 0
    t0 = run.now()
    cases = [(op, via) for op in ("set", "del") for via in ("owner", "non-owner")]
    rounds = mode.d(1, 3)
    try:
        for n, (op, via) in enumerate(cases * rounds):
            owner = n % len(run.mesh)
            key = next(
                k
                for k in (b"race:%d:%d" % (n, j) for j in range(100000))
                if run.ids[ring.owner(k)] == owner
            )
            entry = owner if via == "owner" else (owner + 1) % len(run.mesh)
            get = probe.send(entry, "get", key)
            run.wait_until(
                lambda: origin.count(key) >= 1, 3.0, f"the load of {key!r} to reach the origin"
            )
            if origin.count(key, "answered"):
                raise HarnessError(f"the origin answered {key!r} before the {op} could race it")
            if op == "set":
                seq = run.checker.write_sent(key, "set", time.monotonic())
                ticket = probe.send(entry, "set", key, encode(key, seq), 0)
            else:
                ticket = probe.send(entry, "del", key)
            reply = probe.wait(ticket, deadline)
            t_ack = time.monotonic()
            if op == "set":
                status, code = (reply[0], reply[2]) if reply else (None, None)
                run.checker.write_done(key, seq, t_ack, status, code, entry, ticket[2])
            if reply is None or reply[0] != "ok":
                hung += reply is None
                run.fail("the race", f"{op} {key!r} via n{entry}: {reply or 'no reply'}")
                continue
            first = probe.wait(get, deadline + origin.delay_s)
            if first is None:
                hung += 1
                run.fail("no hang", f"the racing get of {key!r} via n{entry} got no reply")
            answered = origin.times(key, "answered")
            if not answered or answered[0] < t_ack:
                raise HarnessError(f"the {op} of {key!r} was not acknowledged while its load ran")
            expected = encode(key, seq) if op == "set" else None
            run.log(
                f"race {op} via {via} n{entry} (owner n{owner}) {key!r}: {op} acknowledged"
                f" {answered[0] - t_ack:.2f}s before the load answered; the racing get returned"
                f" {first[1] if first and first[0] == 'ok' else first and first[0]!r}"
            )
            # Every later get, from every node, for a while.
            seen = []
            end = time.monotonic() + mode.d(1.5, 3.0)
            while time.monotonic() < end:
                tickets = [probe.send(i, "get", key) for i in range(len(run.mesh))]
                for t in tickets:
                    got = probe.wait(t, deadline + origin.delay_s)
                    seen.append((t[0], got))
                time.sleep(0.1)  # pacing the probes
            bad = []  # (node, value)
            misses = 0
            for i, got in seen:
                if got is None:
                    hung += 1
                    run.fail("no hang", f"get {key!r} via n{i}: no reply")
                    continue
                status, value, _ = got
                if status == "err":
                    continue
                if status == "miss":
                    misses += 1
                    continue
                n_load = _load_number(key, value)
                if value == expected:
                    continue
                if n_load is None:
                    wrong += 1
                    run.fail("no wrong value", f"n{i} get {key!r} -> {value!r}")
                elif op == "set" or n_load == 1 or origin.times(key, "arrived")[n_load - 1] < t_ack:
                    # After a set only the set's value; after a del, only a
                    # load that began after it.
                    overtaken += 1
                    bad.append((i, value))
            loads = origin.count(key)
            run.log(
                f"  later gets of {key!r}: {len(seen)} from every node, {len(bad)} returned an"
                f" older loaded value, {misses} missed; the origin saw {loads} load(s) of the key"
            )
            if bad:
                values = sorted({v for _, v in bad})
                run.fail(
                    "an overtaken load never lands",
                    f"{op} via {via} (n{entry}, owner n{owner}): {len(bad)} of {len(seen)} later"
                    f" gets of {key!r} returned {', '.join(repr(v) for v in values)} after the {op}"
                    + (f" of {expected!r}" if expected else "")
                    + f" was acknowledged (from {', '.join(sorted({f'n{i}' for i, _ in bad}))};"
                    f" the first load began before the {op}, the origin saw {loads} load(s))",
                )
    finally:
        probe.close()
    return _figures(
        "origin answers after 1 s; set/del acknowledged while the load runs (owner and non-owner)",
        (t0, run.now()),
        None,
        None,
        stale_extra=overtaken,
        wrong_extra=wrong,
        hung_extra=hung,
    )


def _load_number(key, value):
    """n of a value ``<key>:load:<n>`` from SlowOrigin, else None."""
    prefix = b"%s:load:" % key
    if not isinstance(value, bytes) or not value.startswith(prefix):
        return None
    if not value[len(prefix) :].isdigit():
        return None
    return int(value[len(prefix) :])


# ------------------------------------------------------- rolling restarts


def _rolling_config(handoff_ms):
    def make(mode, resources):
        cfg = Config(keys=mode.d(1000, 4000))
        if not getattr(mode, "omit_handoff_flag", False):
            cfg.args += ["--handoff-ms", str(handoff_ms)]
        cfg.handoff_ms = handoff_ms
        return cfg

    return make


def _rolling(run, mode):
    keys = [b"rk:%d" % i for i in range(run.config.keys)]
    acked = run.fill(keys)
    if acked < len(keys):
        run.fail("fill", f"only {acked} of {len(keys)} sets were acknowledged")
    run.start_load(keys=keys, write_fraction=0.0)
    run.hold(1.0)
    before = run.checker.snapshot_counts()
    t0 = run.now()
    convergences = []
    handoff_s = run.config.handoff_ms / 1000.0
    for i in range(len(run.mesh)):
        status, took = run.stop(i, timeout_s=handoff_s + 10.0)
        if status != 0:
            run.fail("clean exit", f"n{i} exited with status {status} on SIGTERM")
        t = run.now()
        run.start_node(i)
        convergences.append(run.wait_converged(since=t, what=f"convergence after restarting n{i}"))
        run.hold(mode.d(1.0, 3.0))  # reads between restarts
    t_end = run.now()
    during = run.checker.snapshot_counts() - before
    run.stop_load()
    hits = run.sweep("after all restarts", keys=keys, rotate=True)[2]
    answered = during["hit"] + during["miss"]
    through = during["hit"] / answered if answered else 0.0
    after = hits / len(keys)
    return keys, (t0, t_end), _max(convergences), through, after


@scenario(
    "rolling-restart",
    "fill 4 nodes, restart each in turn (SIGTERM, start, converge) under reads; hand-off on",
    load="own",
    config=_rolling_config(5000),
)
def rolling_restart(run, mode):
    keys, window, convergence, through, after = _rolling(run, mode)
    if after < 0.95:
        run.fail(
            "hit ratio",
            f"{after:.1%} of {len(keys)} keys still hit after all restarts (target 95 %)",
        )
    return _figures(
        "SIGTERM + start of each of 4 nodes in turn, "
        + ("--handoff-ms 5000" if "--handoff-ms" in run.config.args else "no --handoff-ms flag"),
        window,
        None,
        convergence,
        hit=f"{through:.1%} through, {after:.1%} after",
    )


@scenario(
    "rolling-restart-cold",
    "the same with --handoff-ms 0: the cold baseline (no hit-ratio target)",
    load="own",
    config=_rolling_config(0),
)
def rolling_restart_cold(run, mode):
    keys, window, convergence, through, after = _rolling(run, mode)
    return _figures(
        "SIGTERM + start of each of 4 nodes in turn, "
        + ("--handoff-ms 0" if "--handoff-ms" in run.config.args else "no --handoff-ms flag"),
        window,
        None,
        convergence,
        hit=f"{through:.1%} through, {after:.1%} after",
    )
