"""Shared helpers of the integration tests: raw protocol calls (so the tests
check the wire, not a client library), polling with deadlines, and stats.

Meshes come from the Python package's harness, meshcache.testing.LocalMesh,
which finds meshcached through $MESHCACHED (set by ctest)."""

import os
import pathlib
import sys

import msgpack
import zmq

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bindings" / "python"))

from meshcache import Ring  # noqa: E402
from meshcache.testing import LocalMesh, Origin, OriginError, wait_until  # noqa: E402,F401

CONTEXT = zmq.Context.instance()


def dealer(endpoint):
    s = CONTEXT.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    return s


def recv_reply(sock, timeout_ms=3000):
    """The next reply body on a DEALER, decoded; None when none comes in time."""
    if not sock.poll(timeout_ms):
        return None
    frames = sock.recv_multipart()
    assert frames[0] == b"", f"reply without the empty delimiter: {frames!r}"
    assert len(frames) == 2, f"expected [empty, body], got {len(frames)} frames"
    return msgpack.unpackb(frames[1], raw=False)


def call(endpoint, *request, timeout_ms=3000):
    """Sends one request over a fresh DEALER and returns the decoded reply."""
    s = dealer(endpoint)
    try:
        s.send_multipart([b"", msgpack.packb(list(request), use_bin_type=True)])
        reply = recv_reply(s, timeout_ms)
        assert reply is not None, f"no reply from {endpoint} to {request[:2]!r}"
        return reply
    finally:
        s.close()


def stats(endpoint):
    reply = call(endpoint, "stats", 1)
    assert reply[0] == "ok", reply
    return reply[2]


def ring(endpoint):
    reply = call(endpoint, "ring", 1)
    assert reply[0] == "ok", reply
    return reply[2]


def owner(endpoint, key):
    """The owner of key according to the ring of the node at endpoint."""
    return Ring(ring(endpoint)).owner(key)


def alive_set(endpoint):
    return {n["id"] for n in ring(endpoint)["nodes"] if n["state"] == "alive"}


def state_of(endpoint, node_id):
    for n in ring(endpoint)["nodes"]:
        if n["id"] == node_id:
            return n["state"]
    return None


def key_owned_by(mesh_endpoint, node_id, prefix="key", avoid=()):
    """A key whose owner (per the ring at mesh_endpoint) is node_id."""
    r = Ring(ring(mesh_endpoint))
    for i in range(100000):
        k = f"{prefix}:{i}"
        if r.owner(k) == node_id and k not in avoid:
            return k
    raise AssertionError(f"no key owned by {node_id}")


def meshcached():
    return os.environ.get("MESHCACHED") or str(REPO / "build" / "meshcached")
