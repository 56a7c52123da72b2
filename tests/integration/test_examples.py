"""The seed's two examples as real processes on loopback: simple_http
gateways (the seed's four-node scenario on HTTP ports 9000-9003) and
simple_cmd shells driven through piped stdin (and once through a terminal).

These tests need fixed ports: the examples take no port 0, and derive their
mesh ports from -port P: service P+1000, gossip P+2000 (examples/README.md).
Every port is BASE plus an offset, in the seed's layout: the four-node
scenario on BASE..BASE+3, the other meshes on BASE+10, +20 and +100. BASE is
$MESHCACHE_EXAMPLES_BASE_PORT when set, else the seed's 9000 when every port
of the layout is free there, else another base where they all are. A port
taken when a test starts fails that test with its number.
HTTP goes through urllib with proxies switched off."""

import json
import os
import pathlib
import pty
import queue
import random
import re
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

from meshtest import wait_until

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("MESHCACHE_BUILD_DIR", REPO / "build"))
SIMPLE_HTTP = BUILD / "examples" / "simple_http"
SIMPLE_CMD = BUILD / "examples" / "simple_cmd"
SERVICE_OFFSET = 1000
GOSSIP_OFFSET = 2000
DEADLINE_S = 20  # convergence takes about a second with the default 500 ms heartbeat
USER_JSON = b'{"key":"user","userid":100}'
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))
SEED_BASE = 9000
LAYOUT = (0, 1, 2, 3, 10, 11, 20, 21, 100, 101)  # the -port offsets from BASE below


def node_id(port):
    return f"tcp://127.0.0.1:{port + SERVICE_OFFSET}"


def mesh_ports(ports):
    """Every port the examples on -port `ports` bind: P, P+1000 and P+2000."""
    return [p + off for p in ports for off in (0, SERVICE_OFFSET, GOSSIP_OFFSET)]


def require_examples_and_ports(ports):
    """Fails (AssertionError) unless the binaries exist and every port the
    examples on `ports` would use is free on 127.0.0.1."""
    for binary in (SIMPLE_HTTP, SIMPLE_CMD):
        if not binary.exists():
            raise AssertionError(f"{binary} is missing: build the targets simple_http, simple_cmd")
    needed = mesh_ports(ports)
    taken = [p for p in needed if not _port_free(p)]
    if taken:
        raise AssertionError(
            f"ports {taken} on 127.0.0.1 are in use; the example tests need {sorted(needed)} "
            "free (HTTP port P, mesh ports P+1000 and P+2000); "
            f"$MESHCACHE_EXAMPLES_BASE_PORT (now {BASE}) moves them all")


def _port_free(port):
    # The examples bind with SO_REUSEADDR (libzmq does, and simple_http sets
    # it on its HTTP socket), so a port in TIME_WAIT is free for them too.
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _choose_base():
    """BASE: see the module's docstring. The bases tried keep every port
    below 20000, out of the range the mesh harness draws from (20000-32000)
    and below Linux's ephemeral ports."""
    named = os.environ.get("MESHCACHE_EXAMPLES_BASE_PORT")
    if named:
        return int(named)
    for base in [SEED_BASE] + random.sample(range(SEED_BASE + 1, 17800), 200):
        if all(_port_free(p) for p in mesh_ports([base + off for off in LAYOUT])):
            return base
    return SEED_BASE  # every test then names the ports taken


BASE = _choose_base()


class Process:
    """A child process with its stderr kept in a file; `cleanup` registers
    its kill, so no test leaves one behind."""

    def __init__(self, cleanup, args, **popen):
        self.args = [str(a) for a in args]
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.args, stderr=self.stderr, **popen)
        cleanup(self.kill)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdin:
            self.proc.stdin.close()  # stdout, if piped, is its reader's to close
        self.stderr.close()

    def stderr_text(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def describe(self):
        state = "running" if self.proc.poll() is None else f"exited {self.proc.returncode}"
        return f"{' '.join(self.args[1:])} ({state}); stderr:\n{self.stderr_text()}"

    def exit_code(self, timeout=DEADLINE_S):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after {timeout} s: {self.describe()}")


def http(method, port, path="/", body=None, content_type="application/json"):
    """(status, content type, body bytes) of one request to 127.0.0.1:port."""
    headers = {"Content-Type": content_type} if body is not None else {}
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method,
                                 headers=headers)
    try:
        with HTTP.open(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def gateway(cleanup, port, regport=None):
    args = [SIMPLE_HTTP, "-port", port] + (["-regport", regport] if regport else [])
    return Process(cleanup, args, stdout=subprocess.DEVNULL)


def members(port):
    """{id: state} as the gateway on port sees the mesh; {} while it is not up."""
    try:
        status, _, body = http("GET", port, "/nodes")
    except OSError:  # not listening yet
        return {}
    return {m["id"]: m["state"] for m in json.loads(body)["members"]} if status == 200 else {}


# A node puts a new member on its ring as it starts connecting to it, so for
# a moment what it forwards there is answered `unavailable`. A mesh is ready
# when its nodes agree on the members and each answers a miss for probe keys
# spread over every owner (64 keys miss one of four owners with p < 1e-7).
PROBES = [f"probe-{i}" for i in range(64)]


def gateway_reaches_every_owner(port):
    return all(http("GET", port, f"/?key={key}")[0] == 404 for key in PROBES)


def wait_for_mesh(procs, ports, states):
    """Waits until the gateway on every port sees exactly `states` ({id: state})
    and reaches every owner."""
    for port, proc in zip(ports, procs):
        try:
            wait_until(lambda: members(port) == states, DEADLINE_S, f"{port} to see {states}")
            wait_until(lambda: gateway_reaches_every_owner(port), DEADLINE_S,
                       f"{port} to reach every owner")
        except AssertionError as e:
            raise AssertionError(f"{e}; it sees {members(port)}; {proc.describe()}") from None


class SeedFourNodeScenario(unittest.TestCase):
    """simple_http on BASE..BASE+3 (the seed's 9000-9003): the 2nd and 4th
    register via the 1st, the 3rd via the 2nd."""

    PORTS = (BASE, BASE + 1, BASE + 2, BASE + 3)
    REGISTER = {BASE: None, BASE + 1: BASE, BASE + 2: BASE + 1, BASE + 3: BASE}

    @classmethod
    def setUpClass(cls):
        require_examples_and_ports(cls.PORTS)
        cls.procs = []
        for port in cls.PORTS:  # in order, as by hand: each is serving before the next starts
            cls.procs.append(gateway(cls.addClassCleanup, port, cls.REGISTER[port]))
            wait_until(lambda: members(port), DEADLINE_S, f"gateway {port} to serve")
        cls.alive = {node_id(p): "alive" for p in cls.PORTS}
        wait_for_mesh(cls.procs, cls.PORTS, cls.alive)

    def test_every_node_sees_the_four_nodes_alive(self):
        for port in self.PORTS:
            self.assertEqual(members(port), self.alive, f"members seen by {port}")

    def test_json_posted_to_the_second_is_returned_as_sent_by_every_node(self):
        status, ctype, body = http("POST", self.PORTS[1], "/", USER_JSON)
        self.assertEqual((status, ctype), (200, "application/json"), body)
        self.assertEqual(json.loads(body), {"stored": "user", "bytes": len(USER_JSON)})
        for port in self.PORTS:
            with self.subTest(port=port):
                self.assertEqual(http("GET", port, "/?key=user"),
                                 (200, "application/json", USER_JSON))

    def test_a_key_posted_again_is_replaced_on_every_node(self):
        first, second = b'{"key":"again","v":1}', b'{"key": "again", "v": 2}'
        self.assertEqual(http("POST", self.PORTS[0], "/", first)[0], 200)
        for port in self.PORTS:  # every node reads it, so some may keep hot copies
            self.assertEqual(http("GET", port, "/?key=again")[2], first)
        self.assertEqual(http("POST", self.PORTS[2], "/", second)[0], 200)
        for port in self.PORTS:  # a hot copy may live until its invalidation arrives
            wait_until(lambda: http("GET", port, "/?key=again")[2] == second, DEADLINE_S,
                       f"{port} to return the second body")

    def test_a_deleted_key_is_404_on_every_node(self):
        self.assertEqual(http("POST", self.PORTS[3], "/", b'{"key":"gone"}')[0], 200)
        self.assertEqual(http("GET", self.PORTS[0], "/?key=gone")[0], 200)
        status, _, body = http("DELETE", self.PORTS[1], "/?key=gone")
        self.assertEqual((status, json.loads(body)), (200, {"deleted": "gone", "existed": True}))
        for port in self.PORTS:
            wait_until(lambda: http("GET", port, "/?key=gone")[0] == 404, DEADLINE_S,
                       f"{port} to answer 404 for a deleted key")

    def test_absent_key_is_404_with_a_json_error(self):
        for port in self.PORTS:
            status, ctype, body = http("GET", port, "/?key=nobody-stored-this")
            self.assertEqual((status, ctype), (404, "application/json"))
            self.assertEqual(json.loads(body), {"error": "not found", "key": "nobody-stored-this"})

    def test_body_that_is_not_json_is_400(self):
        status, ctype, body = http("POST", self.PORTS[0], "/", b"key=user&userid=100",
                                            "application/x-www-form-urlencoded")
        self.assertEqual((status, ctype), (400, "application/json"))
        self.assertIn("not valid JSON", json.loads(body)["error"])

    def test_body_without_a_string_key_is_400_and_stores_nothing(self):
        cases = {b'{"userid":100}': "string member \"key\"",
                 b'{"key":100}': "string member \"key\"",
                 b'{"key":""}': "must not be empty",
                 b'["key","user"]': "JSON object"}
        for body, message in cases.items():
            with self.subTest(body=body):
                status, ctype, answer = http("POST", self.PORTS[1], "/", body)
                self.assertEqual((status, ctype), (400, "application/json"))
                self.assertIn(message, json.loads(answer)["error"])
        self.assertEqual(http("GET", self.PORTS[1], "/?key=100")[0], 404)

    def test_body_over_the_value_limit_is_413(self):
        body = json.dumps({"key": "huge", "v": "x" * (1 << 20)}).encode()
        status, ctype, answer = http("POST", self.PORTS[0], "/", body)
        self.assertEqual((status, ctype), (413, "application/json"))
        self.assertIn("body over 1048576 bytes", json.loads(answer)["error"])
        self.assertEqual(http("GET", self.PORTS[0], "/?key=huge")[0], 404)

    def test_get_without_a_key_is_400(self):
        for path in ("/", "/?key=", "/?name=user"):
            with self.subTest(path=path):
                status, _, body = http("GET", self.PORTS[2], path)
                self.assertEqual(status, 400)
                self.assertIn("?key=", json.loads(body)["error"])

    def test_unknown_path_is_404_with_a_json_error(self):
        status, ctype, body = http("GET", self.PORTS[0], "/no/such/thing")
        self.assertEqual((status, ctype), (404, "application/json"))
        self.assertIn("/no/such/thing", json.loads(body)["error"])

    def test_stats_name_the_node_and_its_three_peers(self):
        status, _, body = http("GET", self.PORTS[3], "/stats")
        self.assertEqual(status, 200)
        stats = json.loads(body)
        self.assertEqual((stats["node"], stats["peers_alive"]), (node_id(self.PORTS[3]), 3))


class GatewayLifecycle(unittest.TestCase):
    """Two gateways on BASE+10 and BASE+11."""

    PORTS = (BASE + 10, BASE + 11)

    def setUp(self):
        require_examples_and_ports(self.PORTS)
        self.first = gateway(self.addCleanup, self.PORTS[0])
        self.second = gateway(self.addCleanup, self.PORTS[1], self.PORTS[0])
        wait_for_mesh([self.first, self.second], self.PORTS,
                      {node_id(p): "alive" for p in self.PORTS})

    def test_sigterm_stops_a_gateway_which_exits_0_and_is_seen_leaving(self):
        self.second.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.second.exit_code(), 0, self.second.describe())
        first, second = self.PORTS
        wait_until(lambda: members(first).get(node_id(second)) == "left", DEADLINE_S,
                   f"{first} to see {second} leave")
        with self.assertRaises(OSError):
            http("GET", second, "/nodes")

    def test_sigint_stops_a_gateway_which_exits_0(self):
        self.first.proc.send_signal(signal.SIGINT)
        self.assertEqual(self.first.exit_code(), 0, self.first.describe())
        first, second = self.PORTS
        wait_until(lambda: members(second).get(node_id(first)) == "left", DEADLINE_S,
                   f"{second} to see {first} leave")

    def test_a_gateway_on_a_taken_http_port_exits_2_saying_so(self):
        again = gateway(self.addCleanup, self.PORTS[1])
        self.assertEqual(again.exit_code(), 2)
        self.assertIn(f"cannot listen on http://127.0.0.1:{self.PORTS[1]}", again.stderr_text())


class CommandLines(unittest.TestCase):
    def setUp(self):
        require_examples_and_ports(())

    def run_example(self, *args):
        return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                              timeout=DEADLINE_S, stdin=subprocess.DEVNULL)

    def test_help_states_the_seed_flags_and_the_port_rule(self):
        for binary in (SIMPLE_HTTP, SIMPLE_CMD):
            with self.subTest(binary=binary.name):
                r = self.run_example(binary, "-help")
                self.assertEqual(r.returncode, 0, r.stderr)
                for text in ("--ip", "--port", "--regport", "P+1000", "P+2000", "(R+1000)"):
                    self.assertIn(text, r.stdout)

    def test_missing_or_bad_port_exits_2_with_a_message(self):
        for binary in (SIMPLE_HTTP, SIMPLE_CMD):
            for args in ([], ["-port", "70000"], ["-port", "9000", "-bogus", "1"]):
                with self.subTest(binary=binary.name, args=args):
                    r = self.run_example(binary, *args)
                    self.assertEqual(r.returncode, 2)
                    self.assertIn("see --help", r.stderr)


class Shell:
    """A simple_cmd with piped stdin and stdout; a thread queues its lines."""

    def __init__(self, cleanup, port, regport=None):
        args = [SIMPLE_CMD, "-port", port] + (["-regport", regport] if regport else [])
        self.process = Process(cleanup, args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, bufsize=1)
        self.id = node_id(port)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        with self.process.proc.stdout as out:
            for line in out:
                self.lines.put(line.rstrip("\n"))

    def send(self, line):
        self.process.proc.stdin.write(line + "\n")
        self.process.proc.stdin.flush()

    def line(self):
        try:
            return self.lines.get(timeout=DEADLINE_S)
        except queue.Empty:
            raise AssertionError(f"no answer in {DEADLINE_S} s: {self.process.describe()}")

    def run(self, command):
        """The one-line answer to command."""
        self.send(command)
        return self.line()

    def run_list(self, command):
        """The items of a list answer ("NOUN (N):" then N indented lines)."""
        self.send(command)
        header = re.fullmatch(r"\w+ \((\d+)\):", self.line())
        assert header, f"not a list header for {command!r}"
        return [self.line().strip() for _ in range(int(header.group(1)))]

    def nodes(self):
        return sorted(self.run_list("nodes"))

    def reaches_every_owner(self):
        return all(self.run(f"get {key}") == "(miss)" for key in PROBES)


class InteractiveShells(unittest.TestCase):
    """Two shells on BASE+100 and BASE+101."""

    PORTS = (BASE + 100, BASE + 101)

    def setUp(self):
        require_examples_and_ports(self.PORTS)
        self.a = Shell(self.addCleanup, self.PORTS[0])
        self.b = Shell(self.addCleanup, self.PORTS[1], self.PORTS[0])

    def wait_for_both(self):
        both = sorted([f"{self.a.id} alive (this node)", f"{self.b.id} alive"])
        wait_until(lambda: self.a.nodes() == both, DEADLINE_S, "the first shell to see both")
        both = sorted([f"{self.a.id} alive", f"{self.b.id} alive (this node)"])
        wait_until(lambda: self.b.nodes() == both, DEADLINE_S, "the second shell to see both")
        for shell in (self.a, self.b):
            wait_until(shell.reaches_every_owner, DEADLINE_S, f"{shell.id} to reach every owner")

    def test_a_joining_shell_reads_its_first_line_once_joined(self):
        # The first line piped to the second shell, sent as it starts: the
        # seed is in its table already, so commands see the mesh.
        self.assertIn(f"{self.a.id} alive", self.b.nodes())

    def test_nodes_lists_both_alive_marking_this_node(self):
        self.wait_for_both()  # fails unless each lists exactly both, alive, itself marked

    def test_set_on_one_shell_is_read_on_the_other(self):
        self.wait_for_both()
        self.assertEqual(self.a.run('set greeting "hello mesh"'), "OK")
        self.assertEqual(self.b.run("get greeting"), "hello mesh")
        self.assertEqual(self.b.run("del greeting"), "deleted")
        self.assertEqual(self.a.run("get greeting"), "(miss)")

    def test_a_set_with_a_ttl_expires(self):
        self.assertEqual(self.a.run("set brief x 1"), "OK")
        wait_until(lambda: self.a.run("get brief") == "(miss)", DEADLINE_S, "brief to expire")

    def test_mistakes_are_reported_and_the_shell_goes_on(self):
        self.assertEqual(self.a.run("frob"), "error: unknown command 'frob' (try help)")
        self.assertEqual(self.a.run("set onlykey"), "error: usage: set KEY VALUE [TTL_MS]")
        self.assertIn("TTL_MS must be a whole number", self.a.run("set k v soon"))
        self.assertEqual(self.a.run("get 'open"), "error: unterminated quote in: get 'open")
        self.assertEqual(self.a.run("get k"), "(miss)")

    def test_stats_lists_the_counters(self):
        self.assertEqual(self.a.run("get nothing"), "(miss)")
        stats = dict(item.split(" ", 1) for item in self.a.run_list("stats"))
        self.assertEqual((stats["node"], stats["misses"]), (self.a.id, "1"))

    def test_quit_exits_0_and_the_other_shell_sees_it_leave(self):
        self.wait_for_both()
        self.a.send("quit")
        self.assertEqual(self.a.process.exit_code(), 0, self.a.process.describe())
        wait_until(lambda: f"{self.a.id} left" in self.b.nodes(), DEADLINE_S,
                   "the second shell to see the first leave")

    def test_end_of_input_exits_0(self):
        self.b.process.proc.stdin.close()
        self.assertEqual(self.b.process.exit_code(), 0, self.b.process.describe())

    def test_sigterm_exits_0(self):
        self.assertEqual(self.b.run("get k"), "(miss)")  # up, with the signal handled
        self.b.process.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.b.process.exit_code(), 0, self.b.process.describe())


class ShellOnATerminal(unittest.TestCase):
    """A shell on BASE+100."""

    PORT = BASE + 100
    PROMPT = f"simple_cmd:{PORT}> ".encode()

    def setUp(self):
        require_examples_and_ports((self.PORT,))
        self.fd, child = pty.openpty()
        self.addCleanup(os.close, self.fd)
        self.shell = Process(self.addCleanup, [SIMPLE_CMD, "-port", self.PORT], stdin=child,
                             stdout=child, env=dict(os.environ, TERM="dumb"))
        os.close(child)
        self.seen = b""

    def read_until(self, text):
        deadline = time.monotonic() + DEADLINE_S
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise AssertionError(f"no {text!r} on the terminal; saw {self.seen!r}")
            self.seen += os.read(self.fd, 4096)
        _, self.seen = self.seen.split(text, 1)

    def test_prompts_answers_recalls_history_then_quits(self):
        self.read_until(self.PROMPT)
        os.write(self.fd, b"set t v\r")
        self.read_until(b"OK\r\n")
        self.read_until(self.PROMPT)
        os.write(self.fd, b"get t\r")
        self.read_until(b"v\r\n")
        self.read_until(self.PROMPT)
        os.write(self.fd, b"del zz\r")
        self.read_until(b"(not found)\r\n")
        self.read_until(self.PROMPT)
        os.write(self.fd, b"\x10\x10\r")  # Ctrl-P twice: back to "get t"
        self.read_until(b"v\r\n")
        self.read_until(self.PROMPT)
        os.write(self.fd, b"quit\r")
        self.assertEqual(self.shell.exit_code(), 0, self.shell.describe())


class ShellInAGatewayMesh(unittest.TestCase):
    """The port rules agree: a shell registers with a gateway by its HTTP port.
    The gateway on BASE+20, the shell on BASE+21."""

    def test_a_shell_and_a_gateway_read_what_the_other_stored(self):
        web, cmd = BASE + 20, BASE + 21
        require_examples_and_ports((web, cmd))
        http_node = gateway(self.addCleanup, web)
        shell = Shell(self.addCleanup, cmd, web)
        wait_for_mesh([http_node], (web,), {node_id(web): "alive", node_id(cmd): "alive"})
        wait_until(shell.reaches_every_owner, DEADLINE_S, "the shell to reach every owner")
        self.assertEqual(http("POST", web, "/", USER_JSON)[0], 200)
        self.assertEqual(shell.run("get user"), USER_JSON.decode())
        self.assertEqual(shell.run("""set other '{"key": "other"}'"""), "OK")
        self.assertEqual(http("GET", web, "/?key=other"),
                         (200, "application/json", b'{"key": "other"}'))
        self.assertEqual(shell.run("set plain not-json"), "OK")
        self.assertEqual(http("GET", web, "/?key=plain"),
                         (200, "application/octet-stream", b"not-json"))


if __name__ == "__main__":
    unittest.main()
