"""The hash ring, computed exactly as the protocol's "Where a key lives".

``h(x) = XXH32(x, seed 0)``. Vnode ``i`` of node ``N`` sits at
``h(N + "#" + str(i))``. The owner of key ``k`` is the node of the vnode with
the greatest position ``<= h(k)``, wrapping to the greatest position overall
when ``h(k)`` is below every position; equal positions go to the lower node
id (bytewise). Only ``alive`` and ``suspect`` nodes are on the ring.
"""

import bisect

import xxhash

__all__ = ["xxh32", "Ring", "ON_RING"]

ON_RING = ("alive", "suspect")


def xxh32(data):
    """XXH32 with seed 0 of bytes (str is encoded as UTF-8)."""
    if isinstance(data, str):
        data = data.encode()
    return xxhash.xxh32_intdigest(data, seed=0)


# What a ring reply may ask a client to build (docs/protocol.md, "ring"): a
# node takes 1-10000 vnodes and lists at most 4096 members; a reply past
# these is refused (ValueError) rather than built.
MAX_VNODES = 10000
MAX_NODES = 4096
MAX_POINTS = 1 << 22


class Ring:
    """An immutable ring built from a node's ``ring`` reply.

    ``nodes`` lists every node the reply named, as dicts with ``id``,
    ``service``, ``gossip`` and ``state``; only those in ``ON_RING`` own keys.
    """

    def __init__(self, reply):
        self.epoch = int(reply.get("epoch", 0))
        self.vnodes = int(reply.get("vnodes", 160))
        self.replicas = int(reply.get("replicas", 1))
        self.nodes = [dict(n) for n in reply.get("nodes", [])]
        if not 1 <= self.vnodes <= MAX_VNODES:
            raise ValueError(f"ring reply: vnodes {self.vnodes} is not 1-{MAX_VNODES}")
        if len(self.nodes) > MAX_NODES or len(self.nodes) * self.vnodes > MAX_POINTS:
            raise ValueError(f"ring reply: {len(self.nodes)} nodes x {self.vnodes} vnodes is too large")
        self._service = {n["id"]: n.get("service") or n["id"] for n in self.nodes}
        points = []
        for node in self.nodes:
            if node.get("state") in ON_RING:
                points.extend(_vnodes(node["id"], self.vnodes))
        self._set_points(points)

    @classmethod
    def from_points(cls, points):
        """A ring of explicit ``(position, node_id)`` points (for tests)."""
        ring = cls({"nodes": []})
        ring._set_points(points)
        return ring

    def _set_points(self, points):
        # Sorted by position, ties by id, so the first point of a run of equal
        # positions is the lower id that wins it.
        self._points = sorted((p, _id_bytes(i), i) for p, i in points)
        self._positions = [p for p, _, _ in self._points]

    def __len__(self):
        return len(self._points)

    def alive(self):
        """Ids of the nodes on the ring, in id order."""
        return sorted({i for _, _, i in self._points})

    def service(self, node_id):
        """The service endpoint of a node (its id when the reply named none)."""
        return self._service.get(node_id, node_id)

    def owner(self, key):
        """The owner's id of a key (str or bytes), or None on an empty ring."""
        return self.owner_of_position(xxh32(key))

    def owner_of_position(self, position):
        index = self._index_at_or_below(position)
        return None if index is None else self._points[index][2]

    def holders(self, key, n=None):
        """Up to ``n`` (default: ``replicas``) distinct holders, owner first."""
        return self.holders_of_position(xxh32(key), n)

    def holders_of_position(self, position, n=None):
        n = self.replicas if n is None else n
        index = self._index_at_or_below(position)
        chosen = []
        if index is None:
            return chosen
        for step in range(len(self._points)):
            node_id = self._points[(index - step) % len(self._points)][2]
            if node_id not in chosen:
                chosen.append(node_id)
                if len(chosen) == n:
                    break
        return chosen

    def _index_at_or_below(self, position):
        if not self._points:
            return None
        above = bisect.bisect_right(self._positions, position)
        if above == 0:  # below every position: wrap to the greatest
            above = len(self._positions)
        greatest = self._positions[above - 1]
        return bisect.bisect_left(self._positions, greatest)


def _vnodes(node_id, count):
    return [(xxh32(f"{node_id}#{i}"), node_id) for i in range(count)]


def _id_bytes(node_id):
    return node_id.encode() if isinstance(node_id, str) else node_id
