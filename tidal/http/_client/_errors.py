"""The client's exceptions: one small hierarchy, and the one place foreign errors become it.

STYLE.md #3 and #6: every failure a caller can see is an :class:`HTTPError`
whose type says what went wrong and whose message says it in a sentence.
Errors from the layers below (``OSError``, stream errors, the HTTP engine's
protocol errors, decompression and text errors, ``ssl`` errors) are turned
into these types by :func:`translate` and nowhere else.

::

    HTTPError
    ├── RequestError                 the request did not complete
    │   ├── TransportError
    │   │   ├── ConnectError         no connection (refused, DNS, unreachable)
    │   │   │   ├── TLSError         handshake or certificate check failed
    │   │   │   └── ProxyError       the proxy refused the tunnel
    │   │   ├── ReadError            the connection broke while receiving
    │   │   ├── WriteError           the connection broke while sending
    │   │   └── RemoteProtocolError  the server broke HTTP/1.1
    │   ├── DecodingError            a content-coding or charset could not be undone
    │   ├── TooManyRedirects
    │   └── HTTPTimeout (also a TimeoutError)
    │       ├── ConnectTimeout, ReadTimeout, WriteTimeout, PoolTimeout
    │       └── TotalTimeout
    ├── HTTPStatusError              raise_for_status() on a 4xx/5xx response
    ├── InvalidURL (also a ValueError)
    ├── ClientClosed (also a RuntimeError)
    └── ResponseConsumed (also a RuntimeError)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...protocols import LocalProtocolError, RemoteProtocolError as EngineRemoteError
from ...protocols.compression import DecompressionError
from ...protocols.text import TextError
from ...protocols.tls import TLSCertificateError, TLSHandshakeError
from ...streams import ConnectError as StreamConnectError, StreamBroken, StreamError

if TYPE_CHECKING:
    from ._models import ClientRequest, ClientResponse

__all__ = [
    "HTTPError",
    "RequestError",
    "TransportError",
    "ConnectError",
    "TLSError",
    "ProxyError",
    "ReadError",
    "WriteError",
    "RemoteProtocolError",
    "DecodingError",
    "TooManyRedirects",
    "HTTPTimeout",
    "ConnectTimeout",
    "ReadTimeout",
    "WriteTimeout",
    "PoolTimeout",
    "TotalTimeout",
    "HTTPStatusError",
    "InvalidURL",
    "ClientClosed",
    "ResponseConsumed",
    "translate",
]


class HTTPError(Exception):
    """Base class of every exception the HTTP client raises."""


class RequestError(HTTPError):
    """The request could not be completed; ``request`` is the one that failed (or None)."""

    def __init__(self, message: str, *, request: ClientRequest | None = None) -> None:
        super().__init__(message)
        self.request = request


class TransportError(RequestError):
    """The connection failed or the server broke the protocol."""


class ConnectError(TransportError):
    """No connection could be made: name resolution, refusal, unreachable host."""


class TLSError(ConnectError):
    """The TLS handshake failed: an untrusted, expired or wrong-host certificate, or no common protocol."""


class ProxyError(ConnectError):
    """The proxy refused or broke the ``CONNECT`` tunnel."""


class ReadError(TransportError):
    """The connection broke while the response was being received."""


class WriteError(TransportError):
    """The connection broke while the request was being sent."""


class RemoteProtocolError(TransportError):
    """The server sent something HTTP/1.1 does not allow, or closed at the wrong moment."""


class DecodingError(RequestError):
    """The body's content-coding or charset could not be decoded (corrupt, truncated, a bomb)."""


class TooManyRedirects(RequestError):
    """More redirects than ``max_redirects`` (or a redirect loop)."""


class HTTPTimeout(RequestError, TimeoutError):
    """Base of the five timeouts; also a builtin :class:`TimeoutError`."""

    def __init__(self, message: str, *, request: ClientRequest | None = None) -> None:
        RequestError.__init__(self, message, request=request)


class ConnectTimeout(HTTPTimeout):
    """Resolving, connecting and the TLS handshake took longer than ``Timeout.connect``."""


class ReadTimeout(HTTPTimeout):
    """No byte of the response arrived for ``Timeout.read`` seconds."""


class WriteTimeout(HTTPTimeout):
    """Sending part of the request waited longer than ``Timeout.write``."""


class PoolTimeout(HTTPTimeout):
    """No connection became available within ``Timeout.pool``."""


class TotalTimeout(HTTPTimeout):
    """The whole exchange, body included, took longer than ``Timeout.total``."""


class HTTPStatusError(HTTPError):
    """``raise_for_status()`` on a 4xx or 5xx response; carries ``request`` and ``response``."""

    def __init__(self, message: str, *, request: ClientRequest, response: ClientResponse) -> None:
        super().__init__(message)
        self.request = request
        self.response = response


class InvalidURL(HTTPError, ValueError):
    """The URL cannot be requested (malformed, no host, unsupported scheme)."""


class ClientClosed(HTTPError, RuntimeError):
    """The client was used after ``aclose()``."""


class ResponseConsumed(HTTPError, RuntimeError):
    """A streamed body was read twice, or read after the response was closed."""


def translate(error: BaseException, phase: str, request: ClientRequest | None = None) -> BaseException:
    """The client exception for a foreign ``error`` raised during ``phase``.

    ``phase`` is ``"connect"``, ``"write"`` or ``"read"``.  Errors that are
    already ours, and ``BaseException`` subclasses that are not errors
    (cancellation), come back unchanged.  The result is raised ``from`` the
    original by the caller.
    """
    if isinstance(error, HTTPError) or not isinstance(error, Exception):
        return error
    if isinstance(error, (DecompressionError, TextError)):
        return DecodingError(f"cannot decode the response body: {error}", request=request)
    if isinstance(error, EngineRemoteError):
        return RemoteProtocolError(_remote_message(str(error)), request=request)
    if isinstance(error, LocalProtocolError):
        return RemoteProtocolError(f"request refused by the HTTP engine: {error}", request=request)
    tls_cause = _tls_cause(error)
    if tls_cause is not None:
        return TLSError(f"TLS handshake failed: {_tls_reason(tls_cause)}", request=request)
    if phase == "connect" or isinstance(error, StreamConnectError):
        return ConnectError(f"cannot connect: {_os_reason(error)}", request=request)
    kind: type[TransportError] = WriteError if phase == "write" else ReadError
    if isinstance(error, (OSError, StreamError)):
        verb = "sending the request" if phase == "write" else "receiving the response"
        return kind(f"connection broken while {verb}: {_os_reason(error)}", request=request)
    return error


def _remote_message(text: str) -> str:
    # The engine says "without sending a response"; say it as users expect.
    return text.replace("closed the connection without sending", "closed the connection before sending")


def _tls_cause(error: BaseException) -> TLSHandshakeError | None:
    """The TLS handshake failure somewhere in ``error``'s chain of causes, if any."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TLSHandshakeError):
            return current
        current = current.__cause__ or current.__context__
    return None


def _tls_reason(error: TLSHandshakeError) -> str:
    if isinstance(error, TLSCertificateError) and error.verify_code is not None:
        return f"the server's certificate was refused: {error.verify_message} ({error})"
    return str(error)


def _os_reason(error: BaseException) -> str:
    if isinstance(error, StreamBroken) and error.__cause__ is not None:
        return str(error.__cause__) or type(error.__cause__).__name__
    return str(error) or type(error).__name__
