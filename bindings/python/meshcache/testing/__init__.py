"""Test helpers: LocalMesh (meshcached processes on loopback) and Origin (an
origin service for ``meshcached --loader``), and wait_until (polling with a
deadline). ``python3 -m meshcache.testing``
runs a mesh driven over stdin (see __main__.py)."""

from .mesh import LocalMesh, MeshError, find_meshcached, free_port_pair
from .origin import Origin, OriginError
from .wait import wait_until

__all__ = [
    "LocalMesh",
    "MeshError",
    "Origin",
    "OriginError",
    "find_meshcached",
    "free_port_pair",
    "wait_until",
]
