"""meshcache: a Python client of the meshcache cache mesh.

    import meshcache
    with meshcache.Client(["tcp://127.0.0.1:7400"]) as c:
        c.set("user:1", b"alice", ttl_ms=60_000)
        c.get("user:1")          # b"alice"
        c.mget(["user:1", "x"])  # [b"alice", None]

``meshcache.testing`` starts local meshes of meshcached processes for tests.
"""

from .client import Client
from .errors import (
    BadRequest,
    Error,
    LoadFailed,
    Overloaded,
    Timeout,
    TooLarge,
    Unavailable,
)
from .ring import Ring, xxh32

__all__ = [
    "Client",
    "Ring",
    "xxh32",
    "Error",
    "BadRequest",
    "TooLarge",
    "Unavailable",
    "Timeout",
    "LoadFailed",
    "Overloaded",
]

PROTOCOL_VERSION = 1
