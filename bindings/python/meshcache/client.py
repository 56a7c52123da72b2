"""A smart meshcache client speaking the wire protocol directly on pyzmq.

The client keeps one DEALER socket per node it talks to and sends each key
straight to its owner, computed from the ``ring`` of any node (see ring.py).
When a node gives no reply within ``timeout_ms`` the client drops that
socket (and with it anything still queued for the node), marks the node down
for a while, fetches the ring again and retries once (``retries``) at the new
owner or at any other live node, which forwards. After the last try it
raises ``Unavailable``.

A Client is not thread-safe: use one per thread.
"""

import itertools
import time

import msgpack
import zmq

from .errors import Error, Unavailable, error_for
from .ring import Ring

__all__ = ["Client"]


class Client:
    """Client of a meshcache mesh.

    ``endpoints``: service endpoints (``tcp://HOST:PORT``) of any nodes; the
    client learns the rest from their ring. ``timeout_ms`` bounds each try of
    a request at one node. ``retries``: further nodes tried after a node
    gives no reply (or answers ``unavailable``). ``smart=False`` sends every
    request to the given endpoints (the first that answers), which forward.
    ``ring_refresh_s``: how often the ring is fetched again while all goes
    well. ``down_s``: how long a node that gave no reply is avoided.
    ``max_reply_bytes``: the largest reply taken (ZMQ_MAXMSGSIZE); a bigger
    one is dropped by libzmq and the request times out.

    CURVE (docs/security.md): ``curve_server_key`` is the mesh's public key
    and ``curve_public_key``/``curve_secret_key`` this client's key pair
    (Z85 text, as ``meshcached keygen`` prints them; the public key must be
    on the nodes' ``--curve-allow`` list). All three, or none. In a mesh
    whose nodes hold key pairs of their own, ``curve_server_key`` is the
    seeds' key, and each other node is reached with the key its ring entry
    gives (``key``).
    """

    def __init__(
        self,
        endpoints,
        timeout_ms=1000,
        retries=1,
        smart=True,
        ring_refresh_s=5.0,
        down_s=2.0,
        context=None,
        max_reply_bytes=256 << 20,
        curve_server_key=None,
        curve_public_key=None,
        curve_secret_key=None,
    ):
        curve = [curve_server_key, curve_public_key, curve_secret_key]
        if any(curve) and not all(curve):
            raise ValueError("CURVE needs curve_server_key, curve_public_key and curve_secret_key")
        self._curve = [_z85(k) for k in curve] if all(curve) else None
        self._max_reply_bytes = max_reply_bytes
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        self._seeds = list(endpoints)
        if not self._seeds:
            raise ValueError("Client needs at least one endpoint")
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.smart = smart
        self._ring_refresh_s = ring_refresh_s
        self._down_s = down_s
        self._own_context = context is None
        self._context = context or zmq.Context()
        self._sockets = {}
        self._socket_keys = {}  # endpoint -> the server key its socket uses
        self._ring_keys = {}  # endpoint -> the server key its ring entry gives
        self._down = {}
        self._ids = itertools.count(1)
        self._spread = itertools.count()
        self._ring = None
        self._ring_reply = None
        self._next_refresh = 0.0
        self._closed = False

    # ------------------------------------------------------------ public API

    def get(self, key):
        """The value of ``key`` as bytes, or None on a miss."""
        key = _key(key)
        reply = self._keyed(key, ["get", key])
        return _value(reply[2]) if reply[0] == "ok" else None

    def set(self, key, value, ttl_ms=None):
        """Stores ``value`` under ``key``. ``ttl_ms``: None for the node's
        default, 0 for no expiry, else milliseconds to live."""
        key = _key(key)
        request = ["set", key, _bytes(value, "value")]
        if ttl_ms is not None:
            request.append(int(ttl_ms))
        self._keyed(key, request)

    def delete(self, key):
        """Deletes ``key``; True when it existed."""
        key = _key(key)
        return bool(self._keyed(key, ["del", key])[2])

    def mget(self, keys):
        """Values (bytes or None) of ``keys``, in their order."""
        keys = [_key(k) for k in keys]
        values = [None] * len(keys)
        pending = list(range(len(keys)))
        failed = set()
        last_error = None
        for _ in range(self.retries + 1):
            if not pending:
                break
            groups = self._group(keys, pending, failed)
            batch = [(ep, ["mget", [keys[i] for i in idx]]) for ep, idx in groups]
            replies = self._exchange(batch)
            pending = []
            for (ep, idx), reply in zip(groups, replies):
                error = self._failure(ep, reply)
                if error is not None:
                    failed.add(ep)
                    pending.extend(idx)
                    last_error = error
                    continue
                for i, value in zip(idx, _mget_values(reply, len(idx))):
                    values[i] = value
        if pending:
            raise last_error
        return values

    def ping(self, endpoint=None):
        """The ping reply map (``node``, ``version``, ``proto``) of one node."""
        return self._at(endpoint, ["ping"])[2]

    def stats(self, endpoint=None):
        """The stats map of one node (by default any node that answers)."""
        return self._at(endpoint, ["stats"])[2]

    def ring(self):
        """The ring map of a node, fetched now; the client routes by it."""
        if not self.refresh_ring():
            raise Unavailable("no node answered a ring request")
        return self._ring_reply

    def refresh_ring(self):
        """Fetches the ring again; True when a node answered."""
        self._next_refresh = time.monotonic() + self._ring_refresh_s
        for endpoint in self._ring_sources():
            reply = self._exchange([(endpoint, ["ring"])])[0]
            if self._failure(endpoint, reply) is None and isinstance(reply[2], dict):
                try:
                    ring = Ring(reply[2])
                except (ValueError, TypeError, KeyError):
                    continue  # a reply no node would send: ask the next
                self._ring_reply = reply[2]
                self._ring = ring
                self._ring_keys = {
                    n["service"]: _z85(n["key"])
                    for n in ring.nodes
                    if isinstance(n.get("key"), str) and isinstance(n.get("service"), str)
                }
                return True
        # Retry sooner than the usual period when nobody answered.
        self._next_refresh = time.monotonic() + min(self._ring_refresh_s, 0.5)
        return False

    def owner(self, key):
        """The service endpoint the client would send ``key`` to, or None."""
        ring = self._current_ring()
        if ring is None:
            return None
        node_id = ring.owner(_key(key))
        return None if node_id is None else ring.service(node_id)

    def request(self, endpoint, op, *args):
        """Sends ``[op, id, *args]`` to one node and returns the reply list;
        an ``err`` reply raises. For ops this class does not wrap."""
        return self._at(endpoint, [op, *args])

    def close(self):
        if self._closed:
            return
        self._closed = True
        for socket in self._sockets.values():
            socket.close(linger=0)
        self._sockets.clear()
        if self._own_context:
            self._context.term()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------- routing

    def _keyed(self, key, request):
        """One request about one key, at its owner, failing over."""
        tried = set()
        last_error = Unavailable("no node to send to")
        for _ in range(self.retries + 1):
            endpoint = self._pick(key, tried)
            if endpoint is None:
                break
            tried.add(endpoint)
            reply = self._exchange([(endpoint, request)])[0]
            error = self._failure(endpoint, reply)
            if error is None:
                return reply
            last_error = error
        raise last_error

    def _at(self, endpoint, request):
        """One request at a named node, or at the first seed that answers."""
        candidates = [endpoint] if endpoint else self._live_endpoints()
        last_error = Unavailable("no node to send to")
        for candidate in candidates[: self.retries + 1]:
            reply = self._exchange([(candidate, request)])[0]
            error = self._failure(candidate, reply)
            if error is None:
                return reply
            last_error = error
        raise last_error

    def _failure(self, endpoint, reply):
        """None for a usable reply; the error to report otherwise. Raises
        the node's error when retrying elsewhere would not help."""
        if reply is None:
            self._mark_down(endpoint)
            return Unavailable(f"no reply from {endpoint} within {self.timeout_ms} ms")
        if reply[0] != "err":
            return None
        error = error_for(*_err_fields(reply))
        if isinstance(error, Unavailable):
            self._next_refresh = 0.0  # the node's ring may know better
            return error
        raise error

    def _pick(self, key, tried):
        ring = self._current_ring()
        if ring is not None:
            owner = ring.owner(key)
            if owner is not None:
                endpoint = ring.service(owner)
                if endpoint not in tried and not self._is_down(endpoint):
                    return endpoint
        for endpoint in self._live_endpoints():
            if endpoint not in tried:
                return endpoint
        return None

    def _group(self, keys, indices, failed):
        """``[(endpoint, [index, ...]), ...]``: the keys split by target."""
        groups = {}
        for i in indices:
            endpoint = self._pick(keys[i], failed)
            if endpoint is None:
                raise Unavailable("no live node left to ask")
            groups.setdefault(endpoint, []).append(i)
        return list(groups.items())

    def _current_ring(self):
        if not self.smart:
            return None
        if time.monotonic() >= self._next_refresh:
            self.refresh_ring()
        return self._ring

    def _live_endpoints(self):
        """Every known endpoint: the nodes on the ring (rotated, so that
        fallbacks spread over the mesh), then the seeds that are not; nodes
        marked down go last."""
        known = []
        if self.smart and self._ring is not None:
            known = [self._ring.service(i) for i in self._ring.alive()]
            shift = next(self._spread) % max(1, len(known))
            known = known[shift:] + known[:shift]
        known += [seed for seed in self._seeds if seed not in known]
        return sorted(known, key=self._is_down)  # stable: keeps the order

    def _ring_sources(self):
        """Where to ask for the ring: every node not marked down, or all of
        them when every one is."""
        sources = self._live_endpoints() if self.smart else list(self._seeds)
        up = [s for s in sources if not self._is_down(s)]
        return up or sources

    def _mark_down(self, endpoint):
        self._down[endpoint] = time.monotonic() + self._down_s
        self._next_refresh = 0.0
        self._drop(endpoint)

    def _drop(self, endpoint):
        socket = self._sockets.pop(endpoint, None)
        self._socket_keys.pop(endpoint, None)
        if socket is not None:
            socket.close(linger=0)

    def _is_down(self, endpoint):
        until = self._down.get(endpoint)
        if until is None:
            return False
        if time.monotonic() >= until:
            del self._down[endpoint]
            return False
        return True

    # ------------------------------------------------------------ transport

    def _socket(self, endpoint):
        server = self._server_key(endpoint)
        socket = self._sockets.get(endpoint)
        if socket is not None and self._socket_keys.get(endpoint) != server:
            self._drop(endpoint)  # the node now serves with another key
            socket = None
        if socket is None:
            if self._closed:
                raise Error("client is closed")
            socket = self._context.socket(zmq.DEALER)
            socket.setsockopt(zmq.LINGER, 0)
            # No queueing for a peer that is not connected: a request either
            # leaves now or times out, never arrives late.
            socket.setsockopt(zmq.IMMEDIATE, 1)
            socket.setsockopt(zmq.MAXMSGSIZE, self._max_reply_bytes)
            if self._curve:
                _, public, secret = self._curve
                socket.setsockopt(zmq.CURVE_SERVERKEY, server)
                socket.setsockopt(zmq.CURVE_PUBLICKEY, public)
                socket.setsockopt(zmq.CURVE_SECRETKEY, secret)
            socket.connect(endpoint)
            self._sockets[endpoint] = socket
            self._socket_keys[endpoint] = server
        return socket

    def _server_key(self, endpoint):
        """The CURVE key endpoint serves with (None without CURVE): its
        ring entry's, else the configured one."""
        if not self._curve:
            return None
        return self._ring_keys.get(endpoint, self._curve[0])

    def _exchange(self, batch):
        """Sends ``[(endpoint, [op, args...]), ...]`` in parallel and returns
        the decoded replies in the same order, None where none came in time."""
        deadline = time.monotonic() + self.timeout_ms / 1000.0
        replies = [None] * len(batch)
        waiting = {}  # request id -> index into batch
        outbox = {}  # socket -> frames not yet sent
        for index, (endpoint, request) in enumerate(batch):
            request_id = next(self._ids)
            waiting[request_id] = index
            body = msgpack.packb([request[0], request_id, *request[1:]], use_bin_type=True)
            outbox.setdefault(self._socket(endpoint), []).append([b"", body])
        sockets = list(outbox)
        while waiting:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            poller = zmq.Poller()
            for socket in sockets:
                poller.register(socket, zmq.POLLIN | (zmq.POLLOUT if outbox[socket] else 0))
            for socket, events in poller.poll(max(1, int(remaining * 1000))):
                if events & zmq.POLLOUT:
                    _flush(socket, outbox[socket])
                if events & zmq.POLLIN:
                    for reply in _drain(socket):
                        index = waiting.pop(reply[1], None)
                        if index is not None:
                            replies[index] = reply
        return replies


# ---------------------------------------------------------------- helpers


def _flush(socket, frames_list):
    while frames_list:
        try:
            socket.send_multipart(frames_list[0], flags=zmq.NOBLOCK)
        except zmq.Again:
            return
        frames_list.pop(0)


def _drain(socket):
    """Every well-formed reply waiting on the socket; others are dropped."""
    replies = []
    while True:
        try:
            frames = socket.recv_multipart(flags=zmq.NOBLOCK)
        except zmq.Again:
            return replies
        reply = _decode(frames)
        if reply is not None:
            replies.append(reply)


def _decode(frames):
    if len(frames) != 2 or frames[0] != b"":
        return None
    try:
        reply = msgpack.unpackb(frames[1], raw=False)
    except (ValueError, msgpack.UnpackException):
        return None
    if not isinstance(reply, list) or len(reply) < 2 or not isinstance(reply[1], int):
        return None
    if reply[0] not in ("ok", "miss", "err"):
        return None
    return reply


def _err_fields(reply):
    code = reply[2] if len(reply) > 2 and isinstance(reply[2], str) else "error"
    message = reply[3] if len(reply) > 3 else ""
    return code, message if isinstance(message, str) else repr(message)


def _mget_values(reply, count):
    values = reply[2] if len(reply) > 2 else None
    if not isinstance(values, list) or len(values) != count:
        raise Error(f"mget reply holds {len(values or [])} values for {count} keys")
    return [None if v is None else _value(v) for v in values]


def _key(key):
    return _bytes(key, "key")


def _bytes(data, what):
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"{what} must be str or bytes, not {type(data).__name__}")


def _value(value):
    return value.encode() if isinstance(value, str) else bytes(value)


def _z85(key):
    """A Z85 key as the bytes pyzmq takes; ValueError for anything else."""
    if isinstance(key, str):
        key = key.strip().encode("ascii")
    if len(key) != 40:
        raise ValueError(f"a CURVE key is 40 characters of Z85, got {len(key)}")
    return key
