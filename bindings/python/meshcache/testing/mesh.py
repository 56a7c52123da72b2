"""LocalMesh: a mesh of meshcached processes on loopback, for tests.

    with LocalMesh(3) as mesh:
        c = mesh.client()
        mesh.kill(1)
        mesh.wait_converged()

Node ``i`` (0-based) listens on a free port pair (service port and port+1
for gossip), on 127.0.0.1 unless ``hosts`` names other loopback addresses
(127.0.0.2, 127.0.0.3, ...: all of 127.0.0.0/8 is local on Linux). Node 0
starts first; every later node joins a running one. The mesh waits, polling
each node's ``ring`` until a deadline, until every running node reports the
same alive set. Every process it started is ended on close(), on an
exception inside ``with``, and at interpreter exit as a last resort; where
util-linux's setpriv exists, a node also dies with the thread that started
it. Each node's output goes to a log file; a node that
fails to start or to converge raises MeshError with the tail of its log.
A LocalMesh is driven from one thread at a time.
"""

import atexit
import os
import pathlib
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref

import zmq

from ..client import Client
from ..errors import Error
from ..ring import ON_RING

__all__ = ["LocalMesh", "MeshError", "find_meshcached", "free_port_pair"]

_REPO = pathlib.Path(__file__).resolve().parents[4]
_OPEN_MESHES = weakref.WeakSet()
_HANDED_OUT = set()  # ports given to some mesh of this process


class MeshError(RuntimeError):
    """A node did not start, exited, or the mesh did not converge in time."""


def find_meshcached(binary=None):
    """The meshcached to run: ``binary``, else $MESHCACHED (either must be
    executable), else build/meshcached in the repository, else meshcached on
    PATH. FileNotFoundError when there is none."""
    named = binary or os.environ.get("MESHCACHED")
    if named:
        if not os.access(named, os.X_OK):
            raise FileNotFoundError(f"meshcached {named!r} is not an executable file")
        return str(named)
    built = _REPO / "build" / "meshcached"
    if os.access(built, os.X_OK):
        return str(built)
    on_path = shutil.which("meshcached")
    if on_path:
        return on_path
    raise FileNotFoundError(
        "meshcached not found: pass binary=, set MESHCACHED, or build it into build/"
    )


def free_port_pair(avoid=(), host="127.0.0.1"):
    """A port p on ``host`` (default 127.0.0.1) with p and p+1 both free to
    bind right now.

    Drawn below Linux's ephemeral range, so outgoing connections of other
    processes do not take it between this check and the node's bind."""
    for _ in range(500):
        port = random.randrange(20000, 32000)
        if {port, port + 1} & (_HANDED_OUT | set(avoid)):
            continue
        if _can_bind(port, host) and _can_bind(port + 1, host):
            _HANDED_OUT.update((port, port + 1))
            return port
    raise MeshError(f"no free port pair found on {host}")


def _can_bind(port, host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class _Node:
    def __init__(self, index, port, log_path, args, host="127.0.0.1"):
        self.index = index
        self.host = host
        self.port = port
        self.endpoint = f"tcp://{host}:{port}"
        self.id = self.endpoint  # replaced by what the node's ping names
        self.log_path = log_path
        self.args = list(args)
        self.process = None
        self.paused = False
        self.wanted = False  # started, and not since killed or stopped

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None


class LocalMesh:
    """``nodes`` meshcached processes on loopback.

    ``binary``: see find_meshcached. ``heartbeat_ms``/``dead_ms``: short
    failure detection for tests (None leaves the node's default). ``args``:
    extra flags for every node. ``start_timeout_s``: per node until it
    answers ping. ``converge_timeout_s``: default deadline of
    wait_converged. ``keep_logs`` (or $MESHCACHE_KEEP_LOGS=1) keeps the log
    directory after close().

    ``hosts``: the address each node binds and is reached at; None (every
    node on 127.0.0.1), one address for all, a sequence (node i gets
    ``hosts[i]``) or a function of the node's index.

    ``curve=True``: the nodes share a new CURVE key pair (the mesh's) and
    admit one client key pair; ``curve_keys`` holds the three keys (Z85
    str: ``server``, ``client_public``, ``client_secret``), which
    ``client()`` and the harness's own requests use, and ``key_files`` the
    files given to the nodes (``secret``, ``allow``).
    """

    def __init__(
        self,
        nodes=3,
        binary=None,
        heartbeat_ms=100,
        dead_ms=1000,
        args=(),
        start_timeout_s=10.0,
        converge_timeout_s=15.0,
        keep_logs=False,
        hosts=None,
        curve=False,
    ):
        self.binary = find_meshcached(binary)
        self.curve = curve
        self.curve_keys = None
        self.key_files = None
        self.heartbeat_ms = heartbeat_ms
        self.dead_ms = dead_ms
        self.args = list(args)
        self.start_timeout_s = start_timeout_s
        self.converge_timeout_s = converge_timeout_s
        self.keep_logs = keep_logs or os.environ.get("MESHCACHE_KEEP_LOGS") == "1"
        self.hosts = hosts
        self._initial = nodes
        self._nodes = []
        self._log_dir = None
        self._context = None
        self._probe = None

    # ------------------------------------------------------------ lifecycle

    def start(self):
        """Starts the nodes and waits until they converge."""
        if self._context is not None:
            return self
        self._context = zmq.Context()
        self._log_dir = tempfile.mkdtemp(prefix="meshcache-mesh-")
        _OPEN_MESHES.add(self)
        if self.curve:
            self._make_keys()
        try:
            for _ in range(self._initial):
                self._new_node(())
            self.wait_converged()
        except BaseException:
            self.close()
            raise
        return self

    def close(self):
        """Ends every process this mesh started (SIGTERM, then SIGKILL)."""
        for node in self._nodes:
            if node.running and node.paused:
                node.process.send_signal(signal.SIGCONT)
            if node.running:
                node.process.terminate()
        deadline = time.monotonic() + 3.0
        for node in self._nodes:
            if node.process is not None:
                _reap(node.process, deadline)
        if self._probe is not None:
            self._probe.close()
            self._probe = None
        if self._context is not None:
            self._context.term()
            self._context = None
        if self._log_dir and not self.keep_logs:
            shutil.rmtree(self._log_dir, ignore_errors=True)
        _OPEN_MESHES.discard(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -------------------------------------------------------------- access

    def __len__(self):
        return len(self._nodes)

    @property
    def endpoints(self):
        """Service endpoints of all nodes ever started, by index."""
        return [node.endpoint for node in self._nodes]

    @property
    def ids(self):
        """Node ids (as their ping names them), by index."""
        return [node.id for node in self._nodes]

    def running(self):
        """Indices of the nodes whose process runs (paused ones included)."""
        return [node.index for node in self._nodes if node.running]

    def live_endpoints(self):
        """Endpoints of running, unpaused nodes."""
        return [self._nodes[i].endpoint for i in self._live()]

    def process(self, i):
        return self._nodes[i].process

    def host(self, i):
        """The address node i binds."""
        return self._nodes[i].host

    def index_of(self, endpoint_or_id):
        for node in self._nodes:
            if endpoint_or_id in (node.endpoint, node.id):
                return node.index
        raise KeyError(endpoint_or_id)

    def client(self, **kwargs):
        """A Client seeded with every live node (with the mesh's client keys
        under CURVE)."""
        return Client(self.live_endpoints(), **self._client_keys(), **kwargs)

    def _client_keys(self):
        if not self.curve_keys:
            return {}
        k = self.curve_keys
        return {
            "curve_server_key": k["server"],
            "curve_public_key": k["client_public"],
            "curve_secret_key": k["client_secret"],
        }

    def _make_keys(self):
        server_public, server_secret = zmq.curve_keypair()
        client_public, client_secret = zmq.curve_keypair()
        self.curve_keys = {
            "server": server_public.decode(),
            "server_secret": server_secret.decode(),
            "client_public": client_public.decode(),
            "client_secret": client_secret.decode(),
        }
        self.key_files = {
            "secret": os.path.join(self._log_dir, "mesh.key"),
            "allow": os.path.join(self._log_dir, "clients.keys"),
        }
        fd = os.open(self.key_files["secret"], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"# the mesh's secret key\n{server_secret.decode()}\n")
        with open(self.key_files["allow"], "w") as f:
            f.write(f"# clients\n{client_public.decode()}\n")

    def log(self, i):
        """Everything node i has written so far."""
        return pathlib.Path(self._nodes[i].log_path).read_text(errors="replace")

    def log_tail(self, i, lines=30):
        return _tail(self._nodes[i].log_path, lines)

    # ------------------------------------------------------------- control

    def kill(self, i):
        """SIGKILL node i and wait for it to be gone."""
        node = self._nodes[i]
        node.wanted = False
        if node.running:
            node.process.kill()
            node.process.wait()
        node.paused = False

    def stop(self, i, timeout_s=5.0):
        """SIGTERM node i; returns its exit status. Raises MeshError (after
        a SIGKILL) when it does not exit within ``timeout_s``."""
        node = self._nodes[i]
        node.wanted = False
        if not node.running:
            return node.process.returncode
        if node.paused:
            self.resume(i)
        node.process.terminate()
        try:
            return node.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()
            raise MeshError(f"node {i} ignored SIGTERM for {timeout_s} s:\n{self.log_tail(i)}")

    def restart(self, i, wait=True):
        """Starts node i again on the same ports (stopping it first if it
        runs); with ``wait``, until the mesh has converged."""
        node = self._nodes[i]
        if node.running:
            self.stop(i)
        self._launch(node)
        self._await_ready(node)
        if wait:
            self.wait_converged()

    def add(self, args=(), wait=True, host=None):
        """Starts a new node that joins the mesh; returns its index.
        ``host``: its address, instead of the one ``hosts`` gives."""
        node = self._new_node(args, host)
        if wait:
            self.wait_converged()
        return node.index

    def pause(self, i):
        """SIGSTOP node i: its process stays, but it answers nothing."""
        node = self._nodes[i]
        node.process.send_signal(signal.SIGSTOP)
        node.paused = True

    def resume(self, i):
        node = self._nodes[i]
        node.process.send_signal(signal.SIGCONT)
        node.paused = False

    def ring(self, i, timeout_ms=500):
        """Node i's ring reply."""
        return self._ask(self._nodes[i], "ring", timeout_ms)

    def stats(self, i, timeout_ms=500):
        """Node i's stats reply."""
        return self._ask(self._nodes[i], "stats", timeout_ms)

    def wait_converged(self, timeout_s=None):
        """Waits until every running, unpaused node's ring has exactly those
        nodes on it, all alive (no suspects). Raises MeshError at the
        deadline."""
        timeout_s = self.converge_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        while True:
            views = self._views()
            expected = {self._nodes[i].id: "alive" for i in self._live()}
            if all(view == expected for view in views.values()):
                return
            if time.monotonic() >= deadline:
                raise MeshError(self._divergence(expected, views, timeout_s))
            time.sleep(0.02)  # poll interval

    # ------------------------------------------------------------ internals

    def _live(self):
        return [n.index for n in self._nodes if n.running and not n.paused]

    def _views(self):
        """{id: state} of the nodes on each live node's ring (None when it
        did not answer)."""
        views = {}
        for i in self._live():
            try:
                ring = self.ring(i, timeout_ms=250)
            except Error:
                views[i] = None
                continue
            nodes = ring.get("nodes", [])
            views[i] = {n["id"]: n["state"] for n in nodes if n.get("state") in ON_RING}
        self._check_exits()
        return views

    def _divergence(self, expected, views, timeout_s):
        lines = [f"mesh did not converge within {timeout_s} s; expected alive {sorted(expected)}"]
        for i, view in views.items():
            seen = "no answer" if view is None else sorted(view.items())
            lines.append(f"  node {i} ({self._nodes[i].endpoint}) sees {seen}")
            if view != expected:
                lines.append(_indent(self.log_tail(i, 15)))
        return "\n".join(lines)

    def _check_exits(self):
        """MeshError when a node exited that no kill() or stop() ended."""
        for node in self._nodes:
            if node.wanted and not node.running:
                node.wanted = False
                raise MeshError(
                    f"node {node.index} exited with status {node.process.returncode}:\n"
                    + _indent(self.log_tail(node.index))
                )

    def _host_of(self, index):
        if self.hosts is None:
            return "127.0.0.1"
        if isinstance(self.hosts, str):
            return self.hosts
        if callable(self.hosts):
            return self.hosts(index)
        return self.hosts[index]

    def _new_node(self, args, host=None):
        index = len(self._nodes)
        host = host or self._host_of(index)
        log_path = os.path.join(self._log_dir, f"node{index}.log")
        used = {n.port for n in self._nodes} | {n.port + 1 for n in self._nodes}
        for attempt in range(3):
            node = _Node(index, free_port_pair(used, host), log_path, args, host)
            self._launch(node)
            try:
                self._await_ready(node)
            except MeshError:
                if node.running:
                    node.process.kill()
                    node.process.wait()
                # Another process may have taken a port since the check.
                if attempt == 2 or "in use" not in _tail(log_path, 5):
                    raise
                continue
            self._nodes.append(node)
            return node

    def _command(self, node):
        cmd = [self.binary, "--bind", node.host, "--port", str(node.port)]
        cmd += ["--gossip-port", str(node.port + 1)]
        if self.heartbeat_ms is not None:
            cmd += ["--heartbeat-ms", str(self.heartbeat_ms)]
        if self.dead_ms is not None:
            cmd += ["--dead-ms", str(self.dead_ms)]
        seeds = [n.endpoint for n in self._nodes if n is not node and n.running]
        if seeds:
            cmd += ["--join", seeds[0]]
        if self.key_files:
            cmd += ["--curve-secret-key", self.key_files["secret"]]
            cmd += ["--curve-allow", self.key_files["allow"]]
        cmd += self.args + node.args
        setpriv = shutil.which("setpriv")
        if setpriv:  # the node dies with the thread that started it
            cmd = [setpriv, "--pdeathsig", "KILL", "--"] + cmd
        return cmd

    def _launch(self, node):
        with open(node.log_path, "ab") as log:
            log.write(f"--- start {time.strftime('%H:%M:%S')}\n".encode())
            log.flush()
            node.process = subprocess.Popen(
                self._command(node), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        node.paused = False
        node.wanted = True

    def _await_ready(self, node):
        """Polls ping until node answers; MeshError if it exits or is late."""
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            if not node.running:
                node.process.wait()
                raise MeshError(
                    f"node {node.index} exited with status {node.process.returncode}"
                    f" before answering:\n{_indent(_tail(node.log_path))}"
                )
            try:
                node.id = self._ask(node, "ping", 200)["node"]
                return
            except Error:
                pass
            if time.monotonic() >= deadline:
                raise MeshError(
                    f"node {node.index} did not answer ping within"
                    f" {self.start_timeout_s} s:\n{_indent(_tail(node.log_path))}"
                )

    def _ask(self, node, op, timeout_ms):
        if self._probe is None:
            self._probe = Client(
                [node.endpoint],
                smart=False,
                retries=0,
                down_s=0,
                context=self._context,
                **self._client_keys(),
            )
        self._probe.timeout_ms = timeout_ms
        return self._probe.request(node.endpoint, op)[2]


def _reap(process, deadline):
    try:
        process.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(path, lines=30):
    text = pathlib.Path(path).read_text(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _indent(text):
    return "\n".join("    | " + line for line in text.splitlines())


@atexit.register
def _close_all():
    for mesh in list(_OPEN_MESHES):
        mesh.close()
