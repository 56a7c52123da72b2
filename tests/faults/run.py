#!/usr/bin/python3
"""Runs meshcache's fault scenarios against real meshcached processes.

    /usr/bin/python3 tests/faults/run.py                  # every scenario, long versions
    /usr/bin/python3 tests/faults/run.py crash partition  # some of them
    /usr/bin/python3 tests/faults/run.py --short crash    # the ctest version
    /usr/bin/python3 tests/faults/run.py --soak 600       # the schedule, repeatedly, for 10 min
    /usr/bin/python3 tests/faults/run.py --list

The binary is $MESHCACHED, else build/meshcached. The process re-executes
itself inside a private network namespace (unshare --net) when it can; the
scenarios that need iptables there (partition, oneway, loss, stale-gossip)
are skipped with a message when it cannot, and fail instead when CI=true.

It prints what happens (one line per second: requests, errors by code,
wrong and stale values, hung requests, and the members each node sees),
then per scenario the invariants that failed with their evidence, and one
row of docs/reliability.md's table. Exit status: 0 when every scenario
passed, 1 when one failed, 77 when every one was skipped.
"""

import argparse
import collections
import os
import sys
import time
import traceback

import harness
from harness import SKIP, HarnessError, Net, Run, say

from scenarios import SCENARIOS, Mode

HEADER = (
    "| Scenario | Fault | Detection | Convergence | Errors during fault | Wrong | Stale"
    " | Hung | False deaths | Lost acked writes | Hit ratio | Result | Command |"
)
RULE = "|" + "---|" * 13


class Result:
    def __init__(self, name, command):
        self.name, self.command = name, command
        self.fault = ""
        self.detection = self.convergence = None
        self.errors = collections.Counter()
        self.wrong = self.stale = self.stale_unsettled = self.stale_lost = self.hung = 0
        self.false_deaths = self.resurrections = 0
        self.lost = None
        self.hit = None
        self.failures = []  # (invariant, text)
        self.skipped = None  # the reason
        self.rss = {}  # node -> max KiB

    @property
    def passed(self):
        return not self.failures and self.skipped is None

    def status(self):
        if self.skipped is not None:
            return "SKIP"
        if self.passed:
            return "PASS"
        return "FAIL: " + ", ".join(sorted({f[0] for f in self.failures}))

    def row(self):
        def secs(v):
            if v is None:
                return "-"
            return v if isinstance(v, str) else f"{v:.2f} s"

        errors = sum(self.errors.values())
        detail = ", ".join(f"{_short(k)} {v}" for k, v in self.errors.most_common())
        stale = f"{self.stale}"
        if self.stale_unsettled:
            stale += f" (+{self.stale_unsettled} during the fault)"
        if self.stale_lost:
            stale += f" (+{self.stale_lost} whose newer write died with its holders)"
        deaths = f"{self.false_deaths}"
        if self.resurrections:
            deaths += f" (+{self.resurrections} resurrected)"
        lost = "-" if self.lost is None else f"{self.lost[0]} of {self.lost[1]}"
        cells = [
            self.name,
            self.fault or "-",
            secs(self.detection),
            secs(self.convergence),
            f"{errors}" + (f" ({detail})" if detail else ""),
            f"{self.wrong}",
            stale,
            f"{self.hung}",
            deaths,
            lost,
            self.hit or "-",
            "SKIP" if self.skipped is not None else ("PASS" if self.passed else "FAIL"),
            f"`{self.command}`",
        ]
        return "| " + " | ".join(c.replace("|", "/") for c in cells) + " |"


def _short(outcome):
    return {"noreply_down": "no reply (node down)", "unsent": "not sent (no connection)"}.get(
        outcome, outcome[4:] if outcome.startswith("err:") else outcome
    )


def command_for(name, options):
    parts = ["/usr/bin/python3 tests/faults/run.py", name]
    if options.short:
        parts.append("--short")
    if options.seed != 1:
        parts.append(f"--seed {options.seed}")
    if options.omit_handoff_flag and name.startswith("rolling-restart"):
        parts.append("--omit-handoff-flag")
    return " ".join(parts)


def execute(scenario, run, mode, result):
    """Runs one scenario on a started Run and fills result."""
    run.failures = []
    counts0 = run.checker.snapshot_counts()
    deaths0 = len(run.members.false_deaths)
    raised0 = len(run.members.resurrections)
    noted0 = len(run.checker.noteworthy)
    say(f"== {scenario.name}: {scenario.fault}")
    figures = scenario.fn(run, mode)
    run.check_processes()
    counts = run.checker.snapshot_counts() - counts0
    result.fault = figures["fault"]
    result.detection = figures.get("detection")
    result.convergence = figures.get("convergence")
    t0, t1 = figures["window"]
    result.errors = run.checker.errors_between(t0, t1)
    result.wrong = counts["wrong"] + figures.get("wrong_extra", 0)
    result.stale = counts["stale"] + figures.get("stale_extra", 0)
    result.stale_unsettled = counts["stale_unsettled"]
    result.stale_lost = counts["stale_lost"]
    result.hung = counts["hung"] + figures.get("hung_extra", 0)
    result.lost = figures.get("lost")
    result.hit = figures.get("hit")
    false_deaths = run.members.false_deaths[deaths0:]
    resurrections = run.members.resurrections[raised0:]
    result.false_deaths = len(false_deaths)
    result.resurrections = len(resurrections)
    noted = run.checker.noteworthy[noted0:]
    shared_invariants = (
        ("wrong", "no wrong value"),
        ("stale", "no stale value once converged"),
        ("hung", "no hang"),
    )
    for outcome, invariant in shared_invariants:
        hits = [text for _, o, text in noted if o == outcome]
        if hits:
            run.fail(invariant, f"{len(hits)}, e.g.:\n" + _lines(hits))
    if false_deaths:
        run.fail("no false deaths", f"{len(false_deaths)}:\n" + _lines(t for _, t in false_deaths))
    if resurrections:
        texts = _lines(t for _, t in resurrections)
        run.fail("no resurrection", f"{len(resurrections)}:\n" + texts)
    result.failures = list(run.failures)


def _lines(texts, most=8):
    return "\n".join("      " + t for t in list(texts)[:most])


def report(result):
    say(f"-- {result.name}: {result.status()}")
    if result.skipped is not None:
        say(f"   skipped: {result.skipped}")
    for invariant, text in result.failures:
        say(f"   {invariant}: {text}")
    if result.stale_unsettled:
        say(f"   (allowed: {result.stale_unsettled} older values while the fault was in progress)")
    if result.stale_lost:
        say(
            f"   (allowed: {result.stale_lost} older values after a SIGKILL took every holder of"
            " the newer writes: lost writes, not stale ones)"
        )
    say("ROW " + result.row())


def restore(run):
    """Leaves a shared mesh as it started: extra nodes stopped, the
    initial ones running, everything healed and converged."""
    run.heal()
    run.busy_off()
    for i in range(len(run.mesh)):
        node = run.mesh._nodes[i]
        if node.paused:
            run.resume(i)
        if i >= run.initial and node.running:
            run.stop(i)
    for i in range(run.initial):
        if not run.mesh._nodes[i].running:
            run.start_node(i)
    run.wait_converged(what="restoring the soak mesh")
    run.failures = []


def run_one(scenario, net, options, mode, shared_run=None):
    """Runs scenario on a fresh mesh (or on shared_run); returns (Result, Run or None)."""
    result = Result(scenario.name, command_for(scenario.name, options))
    result.fault = scenario.fault
    if scenario.network and net.problem:
        why = f"needs network faults, but {net.problem}"
        if os.environ.get("CI") == "true":
            result.failures = [("network tools", why + " (CI=true: network scenarios must run)")]
        else:
            result.skipped = why
        report(result)
        return result, None
    resources = []
    run = shared_run
    try:
        if run is None:
            config = scenario.make_config(mode, resources)
            run = Run(config, net, options)
            run.start()
            if scenario.load == "mixed":
                run.start_load()
                run.hold(1.5)  # every key has values before the fault
        execute(scenario, run, mode, result)
        if shared_run is not None:
            try:
                restore(run)
            except Exception as error:
                run.broken = f"{type(error).__name__}: {error}"
                raise
    except (HarnessError, harness.MeshError, AssertionError) as error:
        failure = ("harness", f"{type(error).__name__}: {error}")
        result.failures = (run.failures if run else []) + [failure]
    except Exception:
        result.failures = (run.failures if run else []) + [("harness", traceback.format_exc())]
    finally:
        if run is not None and shared_run is None:
            _rss_summary(run, result)
            run.close()
        for r in resources:
            r.close()
    if not result.passed and run is not None and run.mesh is not None and run.mesh._log_dir:
        if options.keep_logs:
            say(f"   node logs kept in {run.mesh._log_dir}")
    report(result)
    return result, run


def _rss_summary(run, result):
    if run.monitor is None:
        return
    for (i, pid), samples in sorted(run.monitor.rss.items()):
        result.rss[i] = max(result.rss.get(i, 0), max(k for _, k in samples))


def print_table(results, title):
    say()
    say(title)
    say(HEADER)
    say(RULE)
    for r in results:
        say(r.row())


# -------------------------------------------------------------------- soak


def soak(names, net, options):
    """Runs the schedule again and again for options.soak seconds: the
    scenarios with the plain config on one long-lived mesh (under one
    continuous load; n0 is never stopped, so its RSS covers the whole soak),
    the others on a fresh mesh each round. Prints every row, the sums per
    scenario, and each node's RSS over time."""
    mode = Mode(short=False)
    mode.omit_handoff_flag = options.omit_handoff_flag
    end = time.monotonic() + options.soak
    shared = None
    results = collections.defaultdict(list)
    rounds = 0
    next_rss = time.monotonic() + 30
    try:
        while time.monotonic() < end:
            rounds += 1
            say(f"==== soak round {rounds} ({end - time.monotonic():.0f} s left)")
            for name in names:
                scenario = SCENARIOS[name]
                if scenario.network and net.problem:
                    r, _ = run_one(scenario, net, options, mode)
                elif scenario.shared:
                    if shared is None:
                        shared = Run(scenario.make_config(mode, []), net, options).start()
                        shared.shared = True
                        shared.start_load()
                        shared.hold(1.5)
                    r, _ = run_one(scenario, net, options, mode, shared_run=shared)
                    broken = getattr(shared, "broken", None)
                    if not broken and r.failures and r.failures[-1][0] == "harness":
                        broken = r.failures[-1][1]
                    if broken:
                        say(f"   the soak mesh is replaced after: {broken}")
                        _print_rss(shared, final=True)
                        shared.close()
                        shared = None
                else:
                    r, _ = run_one(scenario, net, options, mode)
                results[name].append(r)
                if shared is not None and time.monotonic() >= next_rss:
                    _print_rss(shared)
                    next_rss = time.monotonic() + 30
                if time.monotonic() >= end:
                    break
    finally:
        if shared is not None:
            _print_rss(shared, final=True)
            shared.close()
    rows = [_aggregate(name, rs, options) for name, rs in results.items()]
    title = f"soak: {rounds} rounds in {options.soak:.0f} s (sums over rounds; times are maxima)"
    print_table(rows, title)
    return rows


def _aggregate(name, rs, options):
    agg = Result(name, f"/usr/bin/python3 tests/faults/run.py --soak {options.soak:.0f}")
    agg.fault = f"{rs[0].fault} (x{len(rs)})"
    times = [r.detection for r in rs if isinstance(r.detection, float)]
    agg.detection = max(times) if times else rs[-1].detection
    times = [r.convergence for r in rs if isinstance(r.convergence, float)]
    agg.convergence = max(times) if times else None
    for r in rs:
        agg.errors += r.errors
        agg.wrong += r.wrong
        agg.stale += r.stale
        agg.stale_unsettled += r.stale_unsettled
        agg.stale_lost += r.stale_lost
        agg.hung += r.hung
        agg.false_deaths += r.false_deaths
        agg.resurrections += r.resurrections
        if r.lost is not None:
            agg.lost = (agg.lost[0] + r.lost[0], agg.lost[1] + r.lost[1]) if agg.lost else r.lost
        agg.failures += r.failures
    hits = [r.hit for r in rs if r.hit]
    agg.hit = f"{hits[-1]} (last of {len(hits)})" if hits else None
    if all(r.skipped is not None for r in rs):
        agg.skipped = rs[0].skipped
    return agg


def _print_rss(run, final=False):
    series = run.monitor.rss
    parts = []
    for (i, pid), samples in sorted(series.items()):
        if not samples:
            continue
        first, last = samples[0], samples[-1]
        peak = max(k for _, k in samples)
        alive = run.mesh.process(i) is not None and run.mesh.process(i).pid == pid
        if not final and not alive:
            continue
        parts.append(
            f"n{i}/pid {pid}: {first[1] / 1024:.1f} -> {last[1] / 1024:.1f} MiB"
            f" (peak {peak / 1024:.1f}) over {last[0] - first[0]:.0f} s"
        )
    head = "rss (every node process of the soak mesh): " if final else f"[{run.rel():7.1f}s] rss: "
    say(head + "; ".join(parts))
    if final:
        for (i, pid), samples in sorted(series.items()):
            if len(samples) < 2 or samples[-1][0] - samples[0][0] < 60:
                continue
            step = max(1, len(samples) // 20)
            points = " ".join(f"{(t - run.t0):.0f}s:{k / 1024:.1f}" for t, k in samples[::step])
            say(f"  rss n{i}/pid {pid} MiB over time: {points}")


# -------------------------------------------------------------------- main


def main(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenarios", nargs="*", help="names (default: all); see --list")
    parser.add_argument("--short", action="store_true", help="the short versions (ctest)")
    parser.add_argument("--soak", type=float, metavar="SECONDS", help="repeat the schedule so long")
    parser.add_argument("--seed", type=int, default=1, help="seed of random choices (default 1)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--keep-logs", action="store_true", help="keep the nodes' logs")
    parser.add_argument(
        "--debug-logs", action="store_true", help="keep the nodes' logs, at --log-level debug"
    )
    parser.add_argument("--no-netns", action="store_true", help="stay in this network namespace")
    parser.add_argument(
        "--omit-handoff-flag",
        action="store_true",
        help="rolling restarts without --handoff-ms (only for a node that predates the flag)",
    )
    options = parser.parse_args(argv)
    options.keep_logs = options.keep_logs or options.debug_logs
    if options.list:
        for s in SCENARIOS.values():
            say(f"{s.name:22s} {'[network] ' if s.network else ''}{s.fault}")
        return 0
    unknown = [n for n in options.scenarios if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; see --list")
    names = options.scenarios or list(SCENARIOS)
    outside = None
    if not options.no_netns:
        outside = harness.reexec_in_netns([os.path.abspath(__file__)] + argv)
    net = Net(outside)
    where = f"no network faults: {net.problem}" if net.problem else "network namespace, iptables"
    say(f"meshcache fault harness: seed {options.seed}; {where}")
    try:
        if options.soak:
            results = soak(names, net, options)
        else:
            mode = Mode(short=options.short)
            mode.omit_handoff_flag = options.omit_handoff_flag
            results = [run_one(SCENARIOS[n], net, options, mode)[0] for n in names]
            print_table(results, "rows for docs/reliability.md:")
    finally:
        net.close()
    # Again at the very end: a log cut short in the middle (as CI's excerpts
    # are) still shows why a scenario failed.
    for r in results:
        for invariant, text in r.failures:
            say(f"FAILED {r.name}: {invariant}: {text}")
    if all(r.skipped is not None for r in results):
        return SKIP
    return 0 if all(r.passed or r.skipped is not None for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
