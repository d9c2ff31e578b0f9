"""Errors the server raises into handlers, each carrying the status it answers with."""

from __future__ import annotations

from tidal.protocols.http import HTTPRemoteProtocolError

__all__ = ["RequestTimeout", "ClientDisconnected"]


class RequestTimeout(HTTPRemoteProtocolError):
    """The client was too slow sending its request head or body (status 408).

    Raised from ``request.read()`` / ``request.stream()`` when the body-read
    timeout passes; a handler that lets it propagate makes the server answer
    408 and close the connection.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, status=408)


class ClientDisconnected(HTTPRemoteProtocolError):
    """The client closed or reset the connection before the request body ended.

    Nobody is left to answer; the server closes the connection quietly.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, status=400)
