"""Shared pieces of the tests that run meshcached processes."""

import os
import unittest

from meshcache import Ring
from meshcache.testing import find_meshcached, wait_until


def require_meshcached():
    """Skips the test class when no meshcached binary is found; under CI=true
    fails it instead (AssertionError), since in CI a test must run, not skip."""
    try:
        find_meshcached()
    except FileNotFoundError as error:
        if os.environ.get("CI") == "true":
            raise AssertionError(f"{error} (CI=true: this test must run, not skip)") from None
        raise unittest.SkipTest(str(error))


def wait_for(condition, timeout_s=5.0, what="condition"):
    """Polls ``condition()`` until it returns a true value, which it returns;
    AssertionError at the deadline."""
    return wait_until(condition, timeout_s, what, interval_s=0.02)


def key_owned_by(ring, node_id, prefix="key"):
    """The first key ``prefix<i>`` that ``ring`` (a Ring) places on node_id."""
    for i in range(100000):
        key = f"{prefix}{i}"
        if ring.owner(key) == node_id:
            return key
    raise AssertionError(f"no key of {node_id}")


def mesh_ring(mesh, i=0):
    return Ring(mesh.ring(i))


def stats_delta(before, after, name):
    return after[name] - before[name]
