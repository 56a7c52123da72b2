"""meshcache: a Python client of the meshcache cache mesh.

    import meshcache
    with meshcache.Client(["tcp://127.0.0.1:7400"]) as c:
        c.set("user:1", b"alice", ttl_ms=60_000)
        c.get("user:1")          # b"alice"
        c.mget(["user:1", "x"])  # [b"alice", None]

``meshcache.testing`` starts local meshes of meshcached processes for tests.
"""

try:
    import msgpack  # noqa: F401
    import xxhash  # noqa: F401
    import zmq  # noqa: F401
except ImportError as missing:  # a Python without Debian's modules (e.g. a venv or /usr/local)
    import sys

    raise ImportError(
        f"meshcache needs pyzmq, msgpack and xxhash; {missing} in {sys.executable}. "
        "On Debian 12 they are python3-zmq, python3-msgpack and python3-xxhash, "
        "for /usr/bin/python3 (or `pip install` them into this Python)"
    ) from missing

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
# The project's version (CMakeLists.txt; tests/install checks they agree).
__version__ = "0.1.0"
