"""meshcache on a network of hosts: each meshcached in its own network
namespace with its own address (10.231.0.11 and up, /24), all on the
default ports 7400 and 7401 as on separate machines, linked by veth pairs
to a bridge (10.231.0.1) in a namespace this test makes, where the test
itself is the client.

- Three hosts: nodes B and C join through a host name that does not resolve
  when they start and get in once it does; sets through any node are read
  through the others; node C is killed and the others list it dead and
  keep serving every key.
- The Kubernetes StatefulSet's start script (deploy/kubernetes), which
  seeds each "pod" with other pods' names: pods 1-3 started while pod 0 is
  away make one mesh and are ready (/readyz); pod 0 then joins them; with
  three pods killed the lone survivor is not ready, and the three started
  again find it by name and all are ready again.

Everything runs inside `unshare --net --mount --pid --fork --kill-child`,
with a /run (where `ip netns add` keeps its namespaces) and an /etc/hosts
of its own: the host's interfaces, routes and files are never touched, and
when the test is killed its namespaces, links and processes die with it.
Cleanup still stops every process by pid, deletes every link and namespace,
and fails the test if any is left. Where namespaces cannot be made (not
root and no user namespaces, or `ip netns add` refused) a test is skipped
with the reason, and fails instead under CI=true."""

import ctypes
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
import traceback
import unittest
import urllib.error
import urllib.request

import meshtest
from meshtest import call, ring, wait_until

INSIDE = "MESHCACHE_NETNS_INSIDE"
SKIP = 77  # the inside run's exit status when namespaces are not allowed
NAMESPACES = ["--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc"]
BRIDGE, BRIDGE_ADDRESS = "mcbr0", "10.231.0.1"
SEED = "seed.mesh.test"  # in /etc/hosts only once the first scenario puts it there
# Gossip fast, so that a death is seen within a couple of seconds. No hot
# copies: a node's copy of another owner's value is invalidated by gossip,
# up to a heartbeat after a write through another node (test_hot_copies),
# and here every read is to see the write just made elsewhere.
SETTINGS = {"heartbeat-ms": 100, "dead-ms": 1500, "handoff-ms": 1000, "hot-memory": "0"}
STATEFULSET = pathlib.Path(__file__).resolve().parents[2] / "deploy/kubernetes/statefulset.yaml"


def cannot_run(reason):
    """Skips the test with reason, or fails it under CI=true (CI must run it)."""
    if os.environ.get("CI") == "true":
        raise AssertionError(f"{reason} (CI=true: the namespace test must run, not skip)")
    raise unittest.SkipTest(reason)


def _die_with_parent():
    """In the child before exec: SIGKILL when the test process dies."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class MultiHost(unittest.TestCase):

    def run_inside(self, scenario):
        """Runs scenario (a function name below) inside new namespaces."""
        unshare = shutil.which("unshare")
        if unshare is None or shutil.which("ip") is None:
            cannot_run("unshare (util-linux) and ip (iproute2) are needed")
        tries = [NAMESPACES] if os.geteuid() == 0 else []
        tries.append(["--user", "--map-root-user", *NAMESPACES])
        flags = next((f for f in tries if subprocess.run(
            [unshare, *f, "true"], capture_output=True).returncode == 0), None)
        if flags is None:
            cannot_run("cannot make network namespaces here (unshare --net needs root or "
                       "user namespaces)")
        done = subprocess.run([unshare, *flags, "--", sys.executable, __file__, scenario],
                              env={**os.environ, INSIDE: "1"}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=240,
                              preexec_fn=_die_with_parent)
        print(done.stdout, end="")
        if done.returncode == SKIP:
            cannot_run(done.stdout.strip().splitlines()[-1])
        self.assertEqual(done.returncode, 0, "the run inside the namespaces failed (above)")

    def test_three_hosts_join_by_name_serve_through_any_and_outlive_one_killed(self):
        self.run_inside("three_hosts")

    def test_statefulset_start_script_makes_one_mesh_without_pod_0_and_finds_a_lone_survivor(self):
        self.run_inside("statefulset")


# ------------------------------------------------- inside the namespaces


def ip(*args):
    """Runs ip(8); raises RuntimeError with its message when it fails."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


class Network:
    """The bridge in this namespace and one namespace per host (mc-NAME),
    each linked to the bridge by a veth pair whose inside end is its eth0."""

    def __init__(self, hosts):
        self.hosts = hosts  # name -> address
        self.namespaces, self.links = [], []

    def build(self):
        ip("link", "set", "lo", "up")
        ip("link", "add", BRIDGE, "type", "bridge")
        self.links.append(BRIDGE)
        ip("addr", "add", f"{BRIDGE_ADDRESS}/24", "dev", BRIDGE)
        ip("link", "set", BRIDGE, "up")
        for name, address in self.hosts.items():
            ns = f"mc-{name}"
            ip("netns", "add", ns)
            self.namespaces.append(ns)
            ip("link", "add", ns, "type", "veth", "peer", "name", "eth0", "netns", ns)
            self.links.append(ns)
            ip("link", "set", ns, "master", BRIDGE, "up")
            ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "link", "set", "lo", "up")

    def close(self):
        """Removes every link and namespace made; returns what is left over."""
        for link in reversed(self.links):
            subprocess.run(["ip", "link", "del", link], capture_output=True)
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        links = [line.split(":")[1].strip().split("@")[0]
                 for line in ip("-o", "link", "show").splitlines()]
        return [line.split()[0] for line in ip("netns", "list").splitlines()] + \
            [link for link in links if link != "lo"]


class Nodes:
    """meshcached processes, each started in its host's namespace (through
    `ip netns exec`, which execs, so the pid is meshcached's) and stopped by
    pid."""

    def __init__(self, hosts, work):
        self.hosts, self.work, self.procs = hosts, work, {}

    def endpoint(self, name):
        return f"tcp://{self.hosts[name]}:7400"

    def start(self, name, argv, env=None):
        with open(self.work / f"{name}.log", "a") as log:
            self.procs[name] = subprocess.Popen(["ip", "netns", "exec", f"mc-{name}", *argv],
                                                stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_until(lambda: self.answers(name), 10, f"node {name} to answer")

    def answers(self, name):
        if self.procs[name].poll() is not None:
            raise AssertionError(f"node {name} exited with {self.procs[name].returncode}")
        try:
            return call(self.endpoint(name), "ping", 1, timeout_ms=200)[0] == "ok"
        except AssertionError:
            return False

    def kill(self, name):
        self.procs[name].kill()
        self.procs[name].wait()

    def views(self, names):
        """{observer: {node id: state}} of each named node's ring."""
        return {n: {m["id"]: m["state"] for m in ring(self.endpoint(n))["nodes"]} for n in names}

    def close(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def dump(self):
        for log in sorted(self.work.glob("*.log")):
            print(f"---- {log.name}\n{log.read_text()}", end="")


def set_through(nodes, name, key, value):
    reply = call(nodes.endpoint(name), "set", 1, key, value)
    assert reply[0] == "ok", f"set {key} through {name}: {reply}"


def get_through(nodes, name, key):
    reply = call(nodes.endpoint(name), "get", 1, key)
    assert reply[0] in ("ok", "miss"), f"get {key} through {name}: {reply}"
    return reply[2] if reply[0] == "ok" else None


def flags_of(settings):
    return [arg for key, value in settings.items() for arg in (f"--{key}", str(value))]


def three_hosts(work, hosts_file):
    hosts = {"a": "10.231.0.11", "b": "10.231.0.12", "c": "10.231.0.13"}
    net, nodes = Network(hosts), Nodes(hosts, work)
    binary = os.environ.get("MESHCACHED") or meshtest.meshcached()

    def start(name, *args):
        nodes.start(name, [binary, "--bind", hosts[name], "--allow-plaintext",
                           "--log-level", "debug", *flags_of(SETTINGS), *args])

    def body():
        say("the plaintext guard holds on a real interface too")
        refused = subprocess.run(["ip", "netns", "exec", "mc-a", binary, "--bind", hosts["a"]],
                                 capture_output=True, text=True, timeout=30)
        assert refused.returncode == 2 and "plaintext" in refused.stderr, refused

        say("A starts a mesh; B and C join through a name that does not resolve yet")
        start("a")
        for name in ("b", "c"):
            start(name, "--join", f"tcp://{SEED}:7400")
        for name in ("b", "c"):
            wait_until(lambda: SEED in (work / f"{name}.log").read_text(), 10,
                       f"node {name} to report a failed join through {SEED}")
        alone = nodes.views(["b", "c"])
        assert all(list(v) == [nodes.endpoint(n)] for n, v in alone.items()), alone

        say(f"{SEED} now names A: B and C get in on a later try")
        with open(hosts_file, "a") as f:
            f.write(f"{hosts['a']} {SEED}\n")
        everyone = {nodes.endpoint(n): "alive" for n in hosts}
        wait_until(lambda: all(v == everyone for v in nodes.views(hosts).values()), 30,
                   "every node to see all three alive")

        say("sets through A are read through B and C, and the other way round")
        owned = {n: [meshtest.key_owned_by(nodes.endpoint("a"), nodes.endpoint(n), f"k{i}-{n}")
                     for i in range(5)] for n in hosts}
        every_key = sum(owned.values(), [])
        for key in every_key:
            set_through(nodes, "a", key, f"via a {key}".encode())
        for reader in ("b", "c"):
            for key in every_key:
                assert get_through(nodes, reader, key) == f"via a {key}".encode(), (reader, key)
        for key in owned["a"] + owned["b"]:
            set_through(nodes, "c", key, f"via c {key}".encode())
            assert get_through(nodes, "a", key) == get_through(nodes, "b", key) == \
                f"via c {key}".encode(), key
        forwards = {n: meshtest.stats(nodes.endpoint(n))["forwards"] for n in hosts}
        assert all(forwards.values()), f"a node forwarded nothing to its peers: {forwards}"

        say("C is killed: A and B list it dead and keep serving every key")
        nodes.kill("c")
        wait_until(lambda: all(v.get(nodes.endpoint("c")) == "dead"
                               for v in nodes.views(["a", "b"]).values()),
                   20, "A and B to list C dead")
        for key in owned["a"] + owned["b"]:
            assert get_through(nodes, "a", key) == get_through(nodes, "b", key) == \
                f"via c {key}".encode(), key
        for key in every_key:
            set_through(nodes, "b", key, b"after " + key.encode())
            assert get_through(nodes, "a", key) == b"after " + key.encode(), key

    return net, nodes, body


def statefulset(work, hosts_file):
    import yaml  # python3-yaml (ci/setup); only this scenario needs it

    pods = [f"meshcache-{i}" for i in range(4)]
    hosts = {str(i): f"10.231.0.{11 + i}" for i in range(len(pods))}
    net, nodes = Network(hosts), Nodes(hosts, work)
    # The pods' names under the governing Service, as cluster DNS would
    # answer them (publishNotReadyAddresses: a pod's name resolves from its
    # start).
    with open(hosts_file, "a") as f:
        for i, pod in enumerate(pods):
            f.write(f"{hosts[str(i)]} {pod}.meshcache-peers.cache.svc.cluster.local\n")
    # The script as the StatefulSet has it, with its config file here:
    # plaintext (the namespaces are the test's own) and fast gossip.
    spec = yaml.safe_load(STATEFULSET.read_text())["spec"]["template"]["spec"]
    config = work / "meshcached.toml"
    config.write_text("allow-plaintext = true\nlog-level = \"debug\"\n" + "".join(
        f'{k} = {v if isinstance(v, int) else repr(v)}\n' for k, v in SETTINGS.items()))
    script = spec["containers"][0]["args"][0].replace(
        "/etc/meshcache/config/meshcached.toml", str(config))
    bin_dir = work / "bin"
    bin_dir.mkdir()
    (bin_dir / "meshcached").symlink_to(os.environ.get("MESHCACHED") or meshtest.meshcached())

    def start(i):
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "POD_NAME": pods[i], "POD_NAMESPACE": "cache",
               "POD_IP": hosts[str(i)], "MESHCACHE_MEMORY": "64MiB", "MESHCACHE_REPLICAS": "4"}
        nodes.start(str(i), ["/bin/sh", "-c", script], env=env)

    def ready(i):
        try:
            with urllib.request.urlopen(f"http://{hosts[str(i)]}:9100/readyz", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def one_mesh_all_ready(members):
        everyone = {nodes.endpoint(str(i)): "alive" for i in members}
        views = nodes.views([str(i) for i in members])
        return all({k: v for k, v in view.items() if v == "alive"} == everyone
                   for view in views.values()) and all(ready(i) for i in members)

    def body():
        say("pods 1, 2 and 3 start while pod 0 is away, each seeded with the pods before it")
        for i in (1, 2, 3):
            start(i)
        wait_until(lambda: one_mesh_all_ready([1, 2, 3]), 30, "one mesh of pods 1-3, all ready")
        say("pod 0 starts, seeded with the pods after it")
        start(0)
        wait_until(lambda: one_mesh_all_ready(range(4)), 30, "one mesh of four, all ready")
        for i in range(len(pods)):
            joined = [line.split(" via ")[-1] for line in (work / f"{i}.log").read_text()
                      .splitlines() if "joined the mesh via" in line]
            say(f"  {pods[i]} got in through {joined or 'nobody (others joined it)'}")

        say("pods 0, 1 and 2 are killed: pod 3, alone, is not ready")
        for i in range(3):
            nodes.kill(str(i))
        wait_until(lambda: not ready(3), 20, "pod 3 to be not ready")

        say("pods 0, 1 and 2 start again, find pod 3 by name, and all are ready")
        for i in range(3):
            start(i)
        wait_until(lambda: one_mesh_all_ready(range(4)), 30, "one mesh of four again, all ready")

    return net, nodes, body


def say(text):
    print(f"[{time.monotonic() - START:6.2f} s] {text}", flush=True)


START = time.monotonic()
SCENARIOS = {"three_hosts": three_hosts, "statefulset": statefulset}


def mount(*args):
    """Runs mount(8) in this mount namespace; None, or why it failed."""
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    return None if done.returncode == 0 else f"mount {' '.join(args)}: {done.stderr.strip()}"


def inside(scenario):
    """Runs a scenario in this process's own network, mount and pid
    namespaces; returns the exit status (0, 1, or SKIP)."""
    # A /run of our own: `ip netns add` keeps its namespaces there, so the
    # host's /run/netns never sees them, and they go when this process does.
    hosts_text = pathlib.Path("/etc/hosts").read_text()
    work = pathlib.Path("/run/meshcache-netns")
    hosts_file = work / "hosts"
    why = mount("-t", "tmpfs", "meshcache-netns", "/run")
    if why is None:
        work.mkdir()
        hosts_file.write_text(hosts_text)
        why = mount("--bind", str(hosts_file), "/etc/hosts")
    if why is not None:
        print(f"network namespaces are not allowed here: {why}")
        return SKIP
    net, nodes, body = SCENARIOS[scenario](work, hosts_file)
    status = 1
    try:
        try:
            net.build()
        except RuntimeError as error:  # `ip` refused to make the network
            print(f"network namespaces are not allowed here: {error}")
            status = SKIP
        else:
            body()
            status = 0
    except Exception:
        traceback.print_exc()
    finally:
        nodes.close()
        if status == 1:
            nodes.dump()
        left = net.close()
    if left:
        print(f"left over after cleanup: {left}")
        return 1
    if status == 0:
        say("passed; every process, link and namespace removed")
    return status


if __name__ == "__main__" and os.environ.get(INSIDE) == "1":
    sys.exit(inside(sys.argv[1]))
