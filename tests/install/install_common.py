"""Shared helpers of the install tests: the build under test (from the
environment ctest sets, tests/install/CMakeLists.txt), commands with their
output kept for the failure message, free loopback ports, and tools that may
be missing (a skip, except under CI=true, where it fails)."""

import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

SOURCE_DIR = pathlib.Path(os.environ.get("MESHCACHE_SOURCE_DIR", pathlib.Path(__file__).parents[2]))
BUILD_DIR = pathlib.Path(os.environ.get("MESHCACHE_BUILD_DIR", SOURCE_DIR / "build"))
VERSION = os.environ.get("MESHCACHE_VERSION", "")
LIBDIR = os.environ.get("MESHCACHE_LIBDIR", "lib")
MESHCACHED = pathlib.Path(os.environ.get("MESHCACHED", BUILD_DIR / "meshcached"))
MESHCACHE_CLI = pathlib.Path(os.environ.get("MESHCACHE_CLI", BUILD_DIR / "meshcache-cli"))
IN_CI = os.environ.get("CI") == "true"


def cannot_run(reason):
    """Skips the calling test, or fails it under CI=true, where every check
    must run."""
    if IN_CI:
        raise AssertionError(f"{reason} (CI=true: this test must run, not skip)")
    raise unittest.SkipTest(reason)


def need(*tools):
    """The path of each tool, or cannot_run naming the first one missing."""
    paths = []
    for tool in tools:
        path = shutil.which(tool)
        if path is None:
            cannot_run(f"{tool} not found (ci/setup installs it)")
        paths.append(path)
    return paths


def run(args, env=None, cwd=None, timeout=300, check=True):
    """Runs args; returns its stdout. A failure's message holds the command
    and everything it printed."""
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    p = subprocess.run([str(a) for a in args], env=full_env, cwd=cwd, timeout=timeout,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(str(a) for a in args)} exited {p.returncode}:\n{p.stdout}")
    return p.stdout


def scratch(test_case, name):
    """A temporary directory removed when test_case (a class or instance) is
    done with it."""
    path = pathlib.Path(tempfile.mkdtemp(prefix=f"meshcache-{name}-"))
    if isinstance(test_case, type):
        test_case.addClassCleanup(shutil.rmtree, path, True)
    else:
        test_case.addCleanup(shutil.rmtree, path, True)
    return path


def install(prefix):
    """`cmake --install` of the build into prefix; the build itself is not
    touched (nothing is rebuilt)."""
    run(["cmake", "--install", BUILD_DIR, "--prefix", prefix])


def free_ports(n):
    """n TCP ports free on loopback right now (the OS's choice)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_for_node(cli, endpoint, proc, timeout=20.0):
    """Polls `meshcache-cli --node ENDPOINT ping` until the node answers;
    fails if the process exits first or the time runs out."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"meshcached exited {proc.returncode} before answering: "
                                 f"{proc.stdout.read() if proc.stdout else ''}")
        p = subprocess.run([str(cli), "--node", endpoint, "--timeout-ms", "500", "ping"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode == 0:
            return p.stdout
        last = p.stdout
        time.sleep(0.2)
    raise AssertionError(f"no answer from {endpoint} in {timeout} s: {last}")


def stop(proc, timeout=30):
    """SIGTERM, then the exit status (killed after timeout)."""
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"meshcached did not stop within {timeout} s of SIGTERM")
