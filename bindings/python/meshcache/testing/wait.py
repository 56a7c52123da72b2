"""Waiting in tests without sleeping as synchronisation."""

import time


def wait_until(condition, timeout_s=5.0, what="condition", interval_s=0.01):
    """Polls ``condition()`` every ``interval_s`` until it returns a true
    value, which it returns; raises AssertionError naming ``what`` once
    ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)  # poll interval
