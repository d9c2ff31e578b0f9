"""The two exception types of the HTTP/1.1 engine.

STYLE.md #3: a :class:`HTTPRemoteProtocolError` means the peer sent bytes
HTTP/1.1 forbids (or that exceed a configured limit) and carries the status a
server should answer with; a :class:`HTTPLocalProtocolError` means the caller
misused the engine (sent an event the state machine does not allow, or a
header that would put invalid bytes on the wire).  h11's own exceptions never
escape: :mod:`._connection` translates them at the boundary.
"""

from __future__ import annotations

from .._errors import LocalProtocolError, RemoteProtocolError

__all__ = ["HTTPLocalProtocolError", "HTTPRemoteProtocolError"]


class HTTPLocalProtocolError(LocalProtocolError):
    """The caller broke HTTP/1.1 or the engine's API contract.

    After this error the local side of the connection is in the ``ERROR``
    state and every later :meth:`~tidal.protocols.http.HTTPConnection.send`
    fails fast.
    """


class HTTPRemoteProtocolError(RemoteProtocolError):
    """The peer sent a malformed or over-limit message.

    ``status`` is the response a server should send before closing: 400 (bad
    syntax or framing), 413 (body too large), 414 (request line too long), 415
    (too many or invalid content-codings), 431 (header section too large), 501
    (unsupported transfer coding) or 505 (unsupported HTTP version).  In the
    client role every remote error has status 502, the answer a gateway gives
    when its upstream misbehaves.
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
