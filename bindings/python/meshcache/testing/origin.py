"""Origin: an origin service for ``meshcached --loader``, for tests.

    origin = Origin({b"k": b"v"})            # or Origin(lambda key: ...)
    with origin, LocalMesh(1, args=["--loader", origin.endpoint]) as mesh:
        ...
        origin.loads[b"k"]                    # how often the node loaded k

It binds a ROUTER on a free loopback port and answers, on its own thread,
``["load", id, key]`` with ``["ok", id, value, ttl_ms]``, ``["miss", id]`` or
``["err", id, code, message]``. The handler gets the key as bytes and
returns None (a miss), a value (bytes or str; ttl 0), or ``(value, ttl_ms)``;
raising OriginError(code, message) answers that error, and any other
exception answers ``load_failed``. Handler calls run one at a time.
"""

import collections
import collections.abc
import threading

import msgpack
import zmq

__all__ = ["Origin", "OriginError"]


class OriginError(Exception):
    """Raised by a handler to answer ``["err", id, code, message]``."""

    def __init__(self, code, message=""):
        super().__init__(message)
        self.code = code


class Origin:
    def __init__(self, handler, context=None):
        if isinstance(handler, collections.abc.Mapping):
            values = dict(handler)
            handler = lambda key: values.get(key)  # noqa: E731
        self._handler = handler
        self._own_context = context is None
        self._context = context or zmq.Context()
        self._lock = threading.Lock()
        self._loads = collections.Counter()
        self._stop = threading.Event()
        self._socket = self._context.socket(zmq.ROUTER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.bind("tcp://127.0.0.1:*")
        self.endpoint = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self._thread = threading.Thread(target=self._serve, name="meshcache-origin", daemon=True)
        self._thread.start()

    @property
    def loads(self):
        """A Counter of load requests per key (bytes), copied now."""
        with self._lock:
            return collections.Counter(self._loads)

    def total_loads(self):
        with self._lock:
            return sum(self._loads.values())

    def close(self):
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        self._socket.close(linger=0)
        if self._own_context:
            self._context.term()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _serve(self):
        while not self._stop.is_set():
            # A short poll so that close() is seen promptly.
            if not self._socket.poll(50, zmq.POLLIN):
                continue
            frames = self._socket.recv_multipart()
            reply = self._answer(frames[-1])
            if reply is not None:
                self._socket.send_multipart(frames[:-1] + [msgpack.packb(reply, use_bin_type=True)])

    def _answer(self, body):
        try:
            request = msgpack.unpackb(body, raw=False)
        except (ValueError, msgpack.UnpackException):
            return ["err", 0, "bad_request", "not msgpack"]
        if not isinstance(request, list) or len(request) < 3 or request[0] != "load":
            request_id = request[1] if isinstance(request, list) and len(request) > 1 else 0
            return ["err", request_id, "bad_request", "expected [load, id, key]"]
        request_id, key = request[1], request[2]
        key = key.encode() if isinstance(key, str) else bytes(key)
        with self._lock:
            self._loads[key] += 1
        try:
            result = self._handler(key)
        except OriginError as error:
            return ["err", request_id, error.code, str(error)]
        except Exception as error:  # the handler's bug is the node's load error
            return ["err", request_id, "load_failed", f"{type(error).__name__}: {error}"]
        if result is None:
            return ["miss", request_id]
        value, ttl_ms = result if isinstance(result, tuple) else (result, 0)
        value = value.encode() if isinstance(value, str) else bytes(value)
        return ["ok", request_id, value, int(ttl_ms)]
