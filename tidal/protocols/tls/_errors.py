"""Exceptions of the TLS engine.

Every error the engine raises is a :class:`TLSError`.  Misuse by our caller
is a :class:`TLSUsageError` (a :class:`~tidal.protocols.LocalProtocolError`);
anything the peer or the network did is a :class:`TLSRemoteError` (a
:class:`~tidal.protocols.RemoteProtocolError`), refined into handshake,
certificate and truncation failures.  ``ssl.SSLError`` never escapes the
engine: it is translated by :mod:`._translate` and chained as ``__cause__``.
"""

from __future__ import annotations

from .._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ._state import TLSState

__all__ = [
    "TLSError",
    "TLSUsageError",
    "TLSRemoteError",
    "TLSHandshakeError",
    "TLSCertificateError",
    "TLSTruncationError",
]


class TLSError(ProtocolError):
    """Base class of every error the TLS engine raises."""


class TLSUsageError(TLSError, LocalProtocolError):
    """The engine was called in a state that does not allow the operation."""

    def __init__(self, message: str, *, operation: str, state: TLSState) -> None:
        super().__init__(message)
        #: The method that was called, e.g. ``"send"``.
        self.operation = operation
        #: The engine's state at the time of the call.
        self.state = state


class TLSRemoteError(TLSError, RemoteProtocolError):
    """The peer (or the network between us) broke the TLS session."""

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        #: OpenSSL's reason code name (e.g. ``"WRONG_VERSION_NUMBER"``), or
        #: ``None`` when the failure did not come from OpenSSL.
        self.reason = reason


class TLSHandshakeError(TLSRemoteError):
    """The handshake failed: no common version, cipher or ALPN protocol, a
    peer that does not speak TLS, or a connection closed mid-handshake."""


class TLSCertificateError(TLSHandshakeError):
    """A certificate was refused: an untrusted CA, an expired certificate, a
    hostname mismatch, a missing client certificate, or the peer rejecting
    ours.

    ``verify_code`` and ``verify_message`` are OpenSSL's verification result
    when *we* refused the peer's certificate (``verify_code`` is ``None``
    otherwise); ``rejected_by_peer`` is true when the peer refused ours.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str | None,
        verify_code: int | None,
        verify_message: str,
        rejected_by_peer: bool,
    ) -> None:
        super().__init__(message, reason=reason)
        #: OpenSSL's X509 verification code (10 = expired, 20 = untrusted
        #: issuer, 62 = hostname mismatch ...), or ``None``.
        self.verify_code = verify_code
        #: OpenSSL's words for the problem, e.g. ``"certificate has expired"``.
        self.verify_message = verify_message
        #: True when the peer refused our certificate (or our lack of one).
        self.rejected_by_peer = rejected_by_peer


class TLSTruncationError(TLSRemoteError):
    """The transport hit EOF without a close_notify (a "ragged EOF").

    An attacker can cut a TCP stream at any point; without close_notify the
    receiver cannot tell a complete response from a truncated one, so by
    default this is an error (RFC 8446 §6.1, RFC 9110 §9.8 for HTTPS).
    """
