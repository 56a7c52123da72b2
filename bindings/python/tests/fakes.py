"""Fake nodes for the client's unit tests: ROUTER sockets on loopback that
answer with a Python function, so the client's routing, matching and
failover can be tested without meshcached."""

import threading

import msgpack
import zmq


class FakeNode:
    """Answers each request with ``handler(node, request)``: a reply list,
    or None to answer nothing. While ``holding`` is set, replies are kept
    back (in arrival order) until release(reverse=...) sends them."""

    def __init__(self, handler, context):
        self.handler = handler
        self.requests = []  # every decoded request, in arrival order
        self.holding = False
        self._held = []
        self._context = context
        self._router = context.socket(zmq.ROUTER)
        self._router.setsockopt(zmq.LINGER, 0)
        self._router.bind("tcp://127.0.0.1:*")
        self.endpoint = self._router.getsockopt_string(zmq.LAST_ENDPOINT)
        control = f"inproc://fake-{id(self)}"
        self._control = context.socket(zmq.PAIR)
        self._control.bind(control)
        self._peer = context.socket(zmq.PAIR)
        self._peer.connect(control)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def received(self, op):
        with self._lock:
            return [r for r in self.requests if r[0] == op]

    def held(self):
        with self._lock:
            return len(self._held)

    def release(self, reverse=False):
        self._peer.send_string("release-reversed" if reverse else "release")
        self._peer.recv_string()

    def close(self):
        self._peer.send_string("stop")
        self._thread.join()
        for socket in (self._router, self._control, self._peer):
            socket.close(linger=0)

    def _serve(self):
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        poller.register(self._control, zmq.POLLIN)
        while True:
            events = dict(poller.poll())
            if self._control in events:
                command = self._control.recv_string()
                if command == "stop":
                    return
                self._send_held(command == "release-reversed")
                self._control.send_string("done")
            if self._router in events:
                self._on_request(self._router.recv_multipart())

    def _on_request(self, frames):
        request = msgpack.unpackb(frames[-1], raw=False)
        with self._lock:
            self.requests.append(request)
        reply = self.handler(self, request)
        if reply is None:
            return
        message = frames[:-1] + [msgpack.packb(reply, use_bin_type=True)]
        with self._lock:
            if self.holding:
                self._held.append(message)
                return
        self._router.send_multipart(message)

    def _send_held(self, reverse):
        with self._lock:
            held, self._held = self._held, []
        for message in reversed(held) if reverse else held:
            self._router.send_multipart(message)


class FakeMesh:
    """``n`` fake nodes that each serve the client ops from their own dict
    (no forwarding) and all report the same ring of all of them alive."""

    def __init__(self, n):
        self.context = zmq.Context()
        self.nodes = [FakeNode(self._serve, self.context) for _ in range(n)]
        self.stores = {node.endpoint: {} for node in self.nodes}
        self.silent = set()  # endpoints that answer nothing

    @property
    def endpoints(self):
        return [node.endpoint for node in self.nodes]

    def node(self, endpoint):
        return self.nodes[self.endpoints.index(endpoint)]

    def ring_reply(self):
        nodes = [
            {"id": ep, "service": ep, "gossip": ep, "state": "alive"} for ep in self.endpoints
        ]
        return {"epoch": 1, "hash": "xxh32", "vnodes": 160, "replicas": 1, "nodes": nodes}

    def close(self):
        for node in self.nodes:
            node.close()
        self.context.term()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _serve(self, node, request):
        if node.endpoint in self.silent:
            return None
        store = self.stores[node.endpoint]
        op, request_id, args = request[0], request[1], request[2:]
        if op == "ring":
            return ["ok", request_id, self.ring_reply()]
        if op == "ping":
            return ["ok", request_id, {"node": node.endpoint, "version": "fake", "proto": 1}]
        if op == "set":
            store[args[0]] = args[1]
            return ["ok", request_id]
        if op == "get":
            key = args[0]
            return ["ok", request_id, store[key]] if key in store else ["miss", request_id]
        if op == "del":
            return ["ok", request_id, store.pop(args[0], None) is not None]
        if op == "mget":
            return ["ok", request_id, [store.get(k) for k in args[0]]]
        return ["err", request_id, "bad_request", f"unknown op {op}"]
