"""What the fault harness checks, as pure bookkeeping: no sockets, no
processes, no clock of its own (every call passes its times, in seconds of
time.monotonic()). tests/faults/test_checker.py drives it with made-up
histories, good and broken, so the checks themselves are tested.

- Timeline: when each node was started, stopped, killed, paused, resumed,
  and which pairs of nodes were cut apart; it answers "was node i up (running
  and not paused) all through [t0, t1]?" and "could i and j reach each
  other all through [t0, t1]?".
- Settle: whether the mesh counts as converged right now, as a generation
  number and the time convergence was reached (None while unsettled). The
  harness unsettles it at every fault and settles it when every live node
  agrees on the members again.
- Checker: the writes sent per key and every reply, classified: a wrong
  value (never written for that key), a stale value (older than a write
  acknowledged at least ``grace_s`` before the read was sent, while the mesh
  had been settled for ``grace_s``), a hung request (no reply within the
  deadline while its target was up), and lost acknowledged writes (keys that
  read back older or missing after a crash).
- Members: each node's view of the ring over time; it finds false deaths
  (an observer that saw a node alive declares it dead although both stayed
  up and reachable), resurrections (a node seen dead comes back alive in a
  view while it was still down) and answers the detection and convergence
  questions the harness polls.

Values encode key and sequence number: ``b"<key>:<seq>"``; a key has one
writer, so its writes are sent one after the other and seq orders them.
"""

import bisect
import collections
import threading

from meshcache.ring import Ring

ON_RING = ("alive", "suspect")
GONE = ("dead", "left")

# ----------------------------------------------------------------- timeline


class Timeline:
    """Node and network events. A node is *up* between a start or resume
    and the next kill, stop or pause; a pair is *cut* between a cut of
    either direction and the heal that ends it.

    A start or resume has two times: ``launching(node, t)`` is called
    before the process is spawned or the signal sent, ``start``/``resume``
    once it is done (the node answered ping, the SIGCONT was sent).
    ``is_up`` (judging silences and deaths, so erring toward "down") counts
    from the second; ``was_up_at_all`` (judging resurrections, erring toward
    "up") from the first."""

    def __init__(self):
        self._lock = threading.Lock()
        self._down = collections.defaultdict(list)  # node -> [[t0, t1 or None, launched or None]]
        self._started = {}  # node -> first start
        self._cuts = []  # [a, b, t0, t1 or None]: packets a -> b dropped
        self._events = []  # (t, text)
        self._kills = collections.defaultdict(list)  # node -> [t of each SIGKILL]
        self.last_change = 0.0  # time of the newest event

    def _event(self, t, text):
        self._events.append((t, text))
        self.last_change = max(self.last_change, t)

    def launching(self, node, t):
        """Node may be up from t on (a start or SIGCONT is under way)."""
        with self._lock:
            spans = self._down[node]
            if not spans:  # before its first start a node is down
                spans.append([float("-inf"), None, None])
            if spans[-1][1] is None and spans[-1][2] is None:
                spans[-1][2] = t

    def start(self, node, t):
        with self._lock:
            self._started.setdefault(node, t)
            self._end_down(node, t)
            self._event(t, f"start n{node}")

    def resume(self, node, t):
        with self._lock:
            self._end_down(node, t)
            self._event(t, f"resume n{node}")

    def down(self, node, t, why):
        """A kill, stop or pause of node at t."""
        with self._lock:
            spans = self._down[node]
            if not spans or spans[-1][1] is not None:
                spans.append([t, None, None])
            if why == "SIGKILL":
                self._kills[node].append(t)
            self._event(t, f"{why} n{node}")

    def _end_down(self, node, t):
        spans = self._down[node]
        if spans and spans[-1][1] is None:
            spans[-1][1] = t
            if spans[-1][2] is None:
                spans[-1][2] = t

    def cut(self, a, b, t):
        with self._lock:
            self._cuts.append([a, b, t, None])
            self._event(t, f"cut n{a} -> n{b}")

    def heal(self, t):
        with self._lock:
            for cut in self._cuts:
                if cut[3] is None:
                    cut[3] = t
            self._event(t, "heal")

    def note(self, t, text):
        """An event that changes no node's state (it does not move last_change)."""
        with self._lock:
            self._events.append((t, text))

    def is_up(self, node, t0, t1=None):
        """Node was started before t0 and neither down nor paused at any
        moment of [t0, t1]."""
        t1 = t0 if t1 is None else t1
        with self._lock:
            started = self._started.get(node)
            if started is None or started > t0:
                return False
            for s0, s1, _ in self._down[node]:
                if s0 <= t1 and (s1 is None or s1 > t0):
                    return False
            return True

    def killed_between(self, node, t0, t1):
        """The time of a SIGKILL of node in (t0, t1], or None: what its store
        held then is gone."""
        with self._lock:
            return next((t for t in self._kills[node] if t0 < t <= t1), None)

    def was_up_at_all(self, node, t0, t1):
        """Node may have been up at some moment of [t0, t1] (a start or
        resume counts from its launch)."""
        inf = float("inf")
        with self._lock:
            if not self._down.get(node) and node not in self._started:
                return False
            spans = sorted((s0, inf if s2 is None else s2) for s0, _, s2 in self._down[node])
        at = t0
        for s0, end in spans:
            if end <= at or s0 > t1:
                continue
            if s0 > at:
                return True
            at = end
        return at <= t1

    def cut_between(self, a, b, t0, t1=None):
        """Some cut between a and b (either direction) during [t0, t1]."""
        t1 = t0 if t1 is None else t1
        with self._lock:
            for x, y, c0, c1 in self._cuts:
                if {x, y} == {a, b} and c0 <= t1 and (c1 is None or c1 >= t0):
                    return True
            return False

    def cut_throughout(self, a, b, t0, t1):
        """A cut between a and b (either direction) lasted all of [t0, t1]:
        nothing sent between them then got an answer."""
        with self._lock:
            for x, y, c0, c1 in self._cuts:
                if {x, y} == {a, b} and c0 <= t0 and (c1 is None or c1 >= t1):
                    return True
            return False

    def cuts_active(self):
        with self._lock:
            return any(c[3] is None for c in self._cuts)

    def reachable(self, a, b, t0, t1=None):
        """a and b both up, and not cut apart, all through [t0, t1]."""
        both_up = self.is_up(a, t0, t1) and self.is_up(b, t0, t1)
        return both_up and not self.cut_between(a, b, t0, t1)

    def events(self):
        with self._lock:
            return list(self._events)


# ------------------------------------------------------------------- settle


class Settle:
    """Whether the mesh counts as converged: ``snapshot()`` is (generation,
    since), since None while unsettled. ``unsettle`` starts a new
    generation, so a read in flight across a fault is never judged as
    settled."""

    def __init__(self):
        self._lock = threading.Lock()
        self._gen = 0
        self._since = None
        self._holds = set()  # reasons the mesh may not settle (a fault in progress)

    def snapshot(self):
        with self._lock:
            return self._gen, self._since

    def unsettle(self):
        with self._lock:
            if self._since is not None:
                self._gen += 1
            self._since = None

    def hold(self, reason):
        """No settling while ``reason`` holds (a cut, packet loss, CPU load)."""
        with self._lock:
            self._holds.add(reason)
            if self._since is not None:
                self._gen += 1
            self._since = None

    def release(self, reason):
        with self._lock:
            self._holds.discard(reason)

    def held(self):
        with self._lock:
            return bool(self._holds)

    def settle(self, t):
        """The mesh converged at t (ignored while held or already settled)."""
        with self._lock:
            if self._holds or self._since is not None:
                return False
            self._since = t
            return True

    def settled_for(self, snapshot_at_send, t_sent, now_snapshot, grace_s):
        """A read sent at t_sent (with the snapshot taken then), answered
        when the snapshot is ``now_snapshot``: was the mesh settled for at
        least grace_s when it left, and still in the same generation?"""
        gen, since = snapshot_at_send
        if since is None or now_snapshot[0] != gen or now_snapshot[1] is None:
            return False
        return t_sent >= since + grace_s


# ------------------------------------------------------------------ values


def encode(key, seq):
    return b"%s:%d" % (key, seq)


def decode(key, value):
    """The seq a value carries for key, or None when it is not one of
    key's encoded values."""
    if not isinstance(value, (bytes, bytearray)):
        return None
    head, sep, tail = bytes(value).rpartition(b":")
    if not sep or head != key or not tail.isdigit() or (len(tail) > 1 and tail[0:1] == b"0"):
        return None
    return int(tail)


class _Write:
    __slots__ = ("seq", "kind", "sent", "done", "acked", "via", "outcome")

    def __init__(self, seq, kind, sent):
        self.seq, self.kind, self.sent = seq, kind, sent
        self.done = None
        self.acked = False
        self.via = None  # the node it was sent to
        self.outcome = "in flight"


class _Key:
    __slots__ = ("writes", "acked_times", "acked_seqs", "last_seq")

    def __init__(self):
        self.last_seq = 0
        self.writes = {}  # seq -> _Write
        # Acknowledgements in time order (one writer per key: also seq order).
        self.acked_times = []
        self.acked_seqs = []

    def latest_acked(self, before):
        """The newest write acknowledged at or before ``before``."""
        i = bisect.bisect_right(self.acked_times, before)
        return None if i == 0 else self.writes[self.acked_seqs[i - 1]]


def _nodes(indexes):
    return ", ".join(f"n{i}" for i in indexes)


def _via(w):
    return "" if w.via is None else f" via n{w.via}"


# ------------------------------------------------------------------ checker

OUTCOMES = (
    "hit",  # a get answered with a value that passed every check
    "miss",
    "ok",  # a set or del acknowledged
    "wrong",
    "stale",  # older than an acknowledged write, mesh settled
    "stale_unsettled",  # the same while a fault was in progress (reported, allowed)
    # older, but every newer acknowledged write died with all its holders
    # (SIGKILL; with one replica nothing can keep it): a lost write (reported)
    "stale_lost",
    "noreply_down",  # no reply, but the target was down or paused at some point
    "hung",  # no reply within the deadline from a target that stayed up
    "unsent",  # the client had no connection to the target
)


class Checker:
    """Every request and reply of the load, checked.

    ``timeline``: a Timeline, for whether a silent target was up.
    ``settle``: a Settle. ``grace_s``: how long after an acknowledgement (and
    after convergence) a read must be sent to be held to it.
    ``deadline_s``: a request without a reply by then is hung (or excused
    when its target was down).
    ``holders``: None, or ``holders(key, node, t0, t1)``: every node that
    held key in a ring view node showed in [t0, t1] (None when unknown);
    with it, an older value whose newer writes all died with every node that
    may have held them is ``stale_lost``."""

    MAX_EXAMPLES = 20

    def __init__(self, timeline, settle, grace_s, deadline_s):
        self.timeline = timeline
        self.settle = settle
        self.grace_s = grace_s
        self.deadline_s = deadline_s
        self._lock = threading.Lock()
        self._keys = collections.defaultdict(_Key)
        self.counts = collections.Counter()  # outcome / "err:<code>" / op -> n
        self.examples = collections.defaultdict(list)  # outcome -> [text]
        self.noteworthy = []  # (t, outcome, text), every wrong/stale/hung/lost
        self.per_second = collections.defaultdict(collections.Counter)
        self.error_log = []  # (t, outcome) of every error, silence and unsent request
        self.origin = 0.0  # t of second 0 of per_second
        self.holders = None

    # --- writes

    def write_sent(self, key, kind, t):
        """Allocates the next seq of key for a set or del sent at t."""
        assert kind in ("set", "del")
        with self._lock:
            k = self._keys[key]
            k.last_seq += 1
            seq = k.last_seq
            k.writes[seq] = _Write(seq, kind, t)
            self._count(t, kind)
            return seq

    def write_done(self, key, seq, t, status, code=None, target=None, t_sent=None):
        """The reply to a write (status "ok" or "err"), or None for no reply
        (then ``target`` and ``t_sent`` decide whether it hung)."""
        with self._lock:
            k = self._keys[key]
            w = k.writes[seq]
            w.done = t
            w.via = target
            w.outcome = "acknowledged" if status == "ok" else f"unacknowledged: {code or 'silence'}"
            if status == "ok":
                w.acked = True
                k.acked_times.append(t)
                k.acked_seqs.append(seq)
                self._count(t, "ok")
                return "ok"
            if status == "err":
                self._count(t, f"err:{code}")
                return f"err:{code}"
        t_sent = w.sent if t_sent is None else t_sent
        return self._silent(target, t_sent, t, f"{w.kind} {key!r}")

    # --- reads

    def read_done(self, key, node, t_sent, t, status, value=None, code=None, snapshot=None):
        """Classifies the reply to a get of key sent to ``node`` at t_sent
        with Settle snapshot ``snapshot``; status "ok", "miss", "err" or
        None (no reply by t). Returns the outcome."""
        with self._lock:
            self._count(t, "get")
        if status is None:
            return self._silent(node, t_sent, t, f"get {key!r}")
        if status == "err":
            with self._lock:
                self._count(t, f"err:{code}")
            return f"err:{code}"
        with self._lock:
            k = self._keys.get(key)
            if status == "miss":
                self._count(t, "miss")
                return "miss"
            seq = decode(key, value)
            w = None if (k is None or seq is None) else k.writes.get(seq)
            if w is None or w.kind != "set" or w.sent > t:
                self._note(t, "wrong", f"n{node} get {key!r} -> {value!r}: never written for it")
                return "wrong"
            newest = k.latest_acked(t_sent - self.grace_s)
            if newest is not None and newest.seq > seq:
                died, kept = self._died_with_holders(key, k, seq, t_sent)
                if died:
                    self._note(
                        t,
                        "stale_lost",
                        f"n{node} get {key!r} -> seq {seq}: every newer acknowledged write"
                        f" died with its holders ({died})",
                    )
                    return "stale_lost"
                settled = snapshot is not None and self.settle.settled_for(
                    snapshot, t_sent, self.settle.snapshot(), self.grace_s
                )
                outcome = "stale" if settled else "stale_unsettled"
                self._note(
                    t,
                    outcome,
                    f"n{node} get {key!r} -> seq {seq} (sent {w.sent - self.origin:.2f}s"
                    f"{_via(w)}, {w.outcome}) although {newest.kind} seq {newest.seq} was"
                    f" acknowledged at {newest.done - self.origin:.2f}s{_via(newest)};"
                    f" read sent {t_sent - self.origin:.2f}s ({kept})",
                )
                return outcome
            self._count(t, "hit")
            return "hit"

    def _died_with_holders(self, key, k, seq, t_sent):
        """(died, kept): when every write of key acknowledged after seq (and
        grace_s before t_sent) may have been held only by nodes SIGKILLed
        after they could have taken it and before t_sent, died says which
        (kept is None); else died is None and kept says why one survives."""
        if self.holders is None:
            return None, "no ring views kept"
        i = bisect.bisect_right(k.acked_times, t_sent - self.grace_s)
        died = []
        for s in reversed(k.acked_seqs[:i]):
            if s <= seq:
                break
            w = k.writes[s]
            holders = self.holders(key, w.via, w.sent, w.done) if w.via is not None else None
            if not holders:
                return None, f"seq {s}: no view of its ring"
            # A node down, or cut off from the node the write went through,
            # all through the write cannot have taken it.
            takers = [h for h in holders if self._could_take(h, w)]
            if not takers:
                return None, f"seq {s}: none of its holders " + _nodes(holders) + " could take it"
            kills = [(h, self._lost_on(h, w, t_sent)) for h in takers]
            alive = [h for h, at in kills if at is None]
            if alive:
                return None, f"seq {s} (sent {w.sent - self.origin:.2f}s): held by " + _nodes(
                    takers
                ) + ", not killed since: " + _nodes(alive)
            died.append(f"seq {s} on " + _nodes(takers))
        return ("; ".join(died) or None), None

    def _could_take(self, holder, w):
        if not self.timeline.was_up_at_all(holder, w.sent, w.done):
            return False
        return holder == w.via or not self.timeline.cut_throughout(w.via, holder, w.sent, w.done)

    def _lost_on(self, holder, w, t_sent):
        """The SIGKILL of holder that took write w from it before t_sent, or
        None. A kill while the write was under way counts (the holder took
        it before, and the ack was still on its way), unless the holder was
        up again before the ack (its new process may have taken it)."""
        at = self.timeline.killed_between(holder, w.sent, t_sent)
        if at is not None and at < w.done and self.timeline.was_up_at_all(holder, at, w.done):
            return self.timeline.killed_between(holder, w.done, t_sent)
        return at

    def _silent(self, node, t_sent, t, what):
        # The deadline passed without a reply.
        if node is not None and self.timeline.is_up(node, t_sent, t):
            with self._lock:
                self._note(
                    t,
                    "hung",
                    f"n{node} {what} sent {t_sent - self.origin:.2f}s: no reply within"
                    f" {t - t_sent:.2f}s while the node was up",
                )
            return "hung"
        with self._lock:
            self._count(t, "noreply_down")
        return "noreply_down"

    def unsent(self, t, key=None, seq=None):
        """The client could not send (no connection to the target). A write
        that never left can never be read back: its seq becomes unreadable."""
        with self._lock:
            if key is not None and seq is not None:
                w = self._keys[key].writes[seq]
                w.kind, w.done = "unsent", t
            self._count(t, "unsent")

    # --- lost writes

    def acked_sets(self, before):
        """{key: seq} of every key whose newest write acknowledged at or
        before ``before`` is a set: what a crash at ``before`` must not lose."""
        with self._lock:
            out = {}
            for key, k in self._keys.items():
                w = k.latest_acked(before)
                if w is not None and w.kind == "set":
                    out[key] = w.seq
            return out

    def lost(self, key, must_have, node, status, value, t_reply, what):
        """Whether a read after a crash lost the acknowledged set
        ``must_have`` of key: a miss (unless a del was sent since) or an
        older value. Records the evidence when so."""
        with self._lock:
            k = self._keys[key]
            if status == "ok":
                seq = decode(key, value)
                if seq is not None and seq >= must_have:
                    return False
                got = f"seq {seq}" if seq is not None else repr(value)
            elif status == "miss":
                newer_del = any(
                    w.kind == "del" and w.seq > must_have and w.sent <= t_reply
                    for w in k.writes.values()
                )
                if newer_del:
                    return False
                got = "a miss"
            else:
                return False  # an error is counted elsewhere; not proof of loss
            self._note(
                t_reply,
                "lost",
                f"{what}: n{node} get {key!r} -> {got}; set seq {must_have} was acknowledged"
                " before the crash",
            )
            return True

    # --- bookkeeping

    def _count(self, t, name):
        self.counts[name] += 1
        self.per_second[int(t - self.origin)][name] += 1
        if name.startswith("err:") or name in ("noreply_down", "hung", "unsent"):
            self.error_log.append((t, name))

    def errors_between(self, t0, t1):
        """Counter of the errors (by outcome) of requests answered or given
        up on in [t0, t1]."""
        with self._lock:
            return collections.Counter(name for t, name in self.error_log if t0 <= t <= t1)

    def _note(self, t, outcome, text):
        self._count(t, outcome)
        if len(self.examples[outcome]) < self.MAX_EXAMPLES:
            self.examples[outcome].append(f"[{t - self.origin:7.2f}s] {text}")
        self.noteworthy.append((t, outcome, text))

    def snapshot_counts(self):
        with self._lock:
            return collections.Counter(self.counts)

    def second(self, s):
        with self._lock:
            return collections.Counter(self.per_second.get(s, ()))

    def noteworthy_since(self, t):
        with self._lock:
            return [n for n in self.noteworthy if n[0] >= t]


# ------------------------------------------------------------------ members


class _View:
    __slots__ = ("sent", "got", "states")

    def __init__(self, sent, got, states):
        self.sent, self.got, self.states = sent, got, states


class Members:
    """Every node's ring views over time (states of node indices), and what
    they show: false deaths, resurrections, convergence, detection.

    ``observe(observer, sent, got, states)``: the ring reply of ``observer``
    to a request sent at ``sent`` and received at ``got``; ``states`` maps
    node index -> state (ids the harness does not know are left out)."""

    MAX_EXAMPLES = 20

    def __init__(self, timeline):
        self.timeline = timeline
        self._lock = threading.Lock()
        self._last = {}  # observer -> _View
        self._alive_since = {}  # (observer, node) -> sent of the oldest alive view in a row
        self._alive_last = {}  # (observer, node) -> sent of the latest alive view
        self._gone_at = {}  # (observer, node) -> got of the first dead/left view while node down
        self.false_deaths = []  # (t, text)
        self.resurrections = []  # (t, text)
        self.deaths_seen = []  # (t, observer, node, state): every change to dead/left
        self._history = collections.defaultdict(list)  # observer -> [(got, states)]
        self.origin = 0.0

    def observe(self, observer, sent, got, states):
        with self._lock:
            prev = self._last.get(observer)
            self._last[observer] = _View(sent, got, dict(states))
            self._history[observer].append((got, dict(states)))
            nodes = set(states) | (set(prev.states) if prev else set())
            for node in nodes:
                state = states.get(node)
                before = prev.states.get(node) if prev else None
                self._judge(observer, node, before, state, sent, got)

    def states_between(self, observer, t0, t1):
        """observer's views (node -> state) from the newest received before
        t0 to the last received by t1: what its ring may have been in
        [t0, t1]."""
        with self._lock:
            views = self._history.get(observer, [])
            i = max(0, bisect.bisect_left(views, t0, key=lambda v: v[0]) - 1)
            j = bisect.bisect_right(views, t1, key=lambda v: v[0])
            return [states for _, states in views[i:j]]

    def _judge(self, observer, node, before, state, sent, got):
        pair = (observer, node)
        if state == "alive":
            self._alive_last[pair] = sent
        if state in GONE and before not in GONE:
            self.deaths_seen.append((got, observer, node, state))
            alive_at = self._alive_last.get(pair)
            if (
                node != observer
                and alive_at is not None
                and self.timeline.reachable(observer, node, alive_at, got)
            ):
                self._note(
                    self.false_deaths,
                    got,
                    f"n{observer} declared n{node} {state} although both were up and reachable"
                    f" since n{observer} last saw it alive at {alive_at - self.origin:.2f}s",
                )
            self._alive_last.pop(pair, None)
        if state in GONE:
            if not self.timeline.was_up_at_all(node, got, got):
                self._gone_at.setdefault(pair, got)
        elif state in ON_RING:
            gone = self._gone_at.pop(pair, None)
            if gone is not None and not self.timeline.was_up_at_all(node, gone, got):
                self._note(
                    self.resurrections,
                    got,
                    f"n{observer} shows n{node} {state} again although it is still down"
                    f" (n{observer} had it {before or 'gone'} at {gone - self.origin:.2f}s)",
                )
        if state is None and before is not None:
            self._alive_last.pop(pair, None)

    def _note(self, where, t, text):
        where.append((t, f"[{t - self.origin:7.2f}s] {text}"))

    # --- queries for the harness's polls

    def view(self, observer):
        with self._lock:
            v = self._last.get(observer)
            return None if v is None else (v.sent, v.got, dict(v.states))

    def converged(self, expected, since):
        """The time (reply) at which every node in ``expected`` had
        answered a ring request sent at or after ``since`` with exactly
        ``expected`` on its ring, all alive; None when not (yet)."""
        if not expected:
            return None
        with self._lock:
            latest = since
            for observer in expected:
                v = self._last.get(observer)
                if v is None or v.sent < since:
                    return None
                on_ring = {n for n, s in v.states.items() if s in ON_RING}
                if on_ring != set(expected) or any(v.states[n] != "alive" for n in expected):
                    return None
                latest = max(latest, v.got)
            return latest

    def detected(self, node, observers, since, states=GONE):
        """The time at which every observer had shown ``node`` in one of
        ``states`` (or not at all) in a view asked for at or after since;
        None when not yet."""
        with self._lock:
            latest = since
            for observer in observers:
                v = self._last.get(observer)
                if v is None or v.sent < since:
                    return None
                state = v.states.get(node)
                if state is not None and state not in states:
                    return None
                latest = max(latest, v.got)
            return latest

    def ever_in(self, node, states, t0, t1, observers=None):
        """(t, observer, state) of the first change of node to one of
        ``states`` seen in [t0, t1]."""
        with self._lock:
            for t, observer, n, state in self.deaths_seen:
                if n == node and state in states and t0 <= t <= t1:
                    if observers is None or observer in observers:
                        return t, observer, state
            return None

    def counts(self):
        with self._lock:
            return len(self.false_deaths), len(self.resurrections)


class RingHolders:
    """``holders(key, node, t0, t1)`` for the Checker: every node that held
    key on a ring node showed from t0 to t1 (plus one poll interval, as the
    views lag), from Members' history. ``ids()`` maps node index -> node id
    (the ring hashes ids); vnodes and replicas as the nodes were started
    with."""

    LAG_S = 0.1

    def __init__(self, members, ids, vnodes, replicas):
        self.members, self.ids = members, ids
        self.vnodes, self.replicas = vnodes, replicas
        self._rings = {}  # frozenset of (index, state) -> Ring

    def __call__(self, key, node, t0, t1):
        index = {v: i for i, v in self.ids().items()}
        out = []
        for states in self.members.states_between(node, t0, t1 + self.LAG_S):
            for h in self._ring(states).holders(key):
                if h in index and index[h] not in out:
                    out.append(index[h])
        return out or None

    def _ring(self, states):
        shape = frozenset(states.items())
        ring = self._rings.get(shape)
        if ring is None:
            ids = self.ids()
            nodes = [{"id": ids[i], "state": st} for i, st in states.items() if i in ids]
            ring = Ring({"nodes": nodes, "vnodes": self.vnodes, "replicas": self.replicas})
            self._rings[shape] = ring
        return ring
