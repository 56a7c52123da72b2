"""Exceptions, one per error code of the meshcache protocol.

A node's ``["err", id, code, message]`` reply raises the class named after
``code``; a code this client does not know raises the base class ``Error``
with ``code`` set. A request that gets no reply at all within the client's
timeout (the node is down, paused or unreachable) raises ``Unavailable``,
the same class a node uses when an owner does not answer it.
"""

__all__ = [
    "Error",
    "BadRequest",
    "TooLarge",
    "Unavailable",
    "Timeout",
    "LoadFailed",
    "Overloaded",
    "error_for",
]


class Error(Exception):
    """Base of every meshcache error. ``code`` is the protocol's code."""

    code = "error"

    def __init__(self, message="", code=None):
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self):
        return self.args[0] if self.args else ""


class BadRequest(Error, ValueError):
    """The node could not parse the request (``bad_request``)."""

    code = "bad_request"


class TooLarge(Error, ValueError):
    """The key or the value is over the node's limit (``too_large``)."""

    code = "too_large"


class Unavailable(Error, ConnectionError):
    """No node could answer (``unavailable``), or no reply came in time."""

    code = "unavailable"


class Timeout(Error, TimeoutError):
    """The node's loader took longer than its deadline (``timeout``)."""

    code = "timeout"


class LoadFailed(Error):
    """The node's loader reported an error (``load_failed``)."""

    code = "load_failed"


class Overloaded(Error):
    """The node sheds load (``overloaded``)."""

    code = "overloaded"


_BY_CODE = {
    cls.code: cls
    for cls in (BadRequest, TooLarge, Unavailable, Timeout, LoadFailed, Overloaded)
}


def error_for(code, message=""):
    """The exception for a protocol error code (``Error`` for unknown codes)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return Error(message, code=code)
    return cls(message)
