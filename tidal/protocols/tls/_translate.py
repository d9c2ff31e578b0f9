"""Translate ``ssl.SSLError`` into the engine's errors (STYLE.md #6).

OpenSSL names each failure with a reason code (``exc.reason``); the tables
below turn the ones users meet into a sentence that says what went wrong
and whose side it is on.  Alerts the *peer* sent arrive as reasons like
``TLSV1_ALERT_UNKNOWN_CA``: the peer refused something of ours.
"""

from __future__ import annotations

import ssl
from typing import Final

from ._errors import TLSCertificateError, TLSHandshakeError, TLSRemoteError

__all__ = ["translate_ssl_error"]

# Alerts by which a peer refuses our certificate (RFC 8446 §6.2), keyed by
# the alert's name as it ends OpenSSL's reason code.
_CERTIFICATE_ALERTS: Final = frozenset(
    {
        "BAD_CERTIFICATE",
        "UNSUPPORTED_CERTIFICATE",
        "CERTIFICATE_REVOKED",
        "CERTIFICATE_EXPIRED",
        "CERTIFICATE_UNKNOWN",
        "UNKNOWN_CA",
        "CERTIFICATE_REQUIRED",
    }
)

_HANDSHAKE_REASONS: Final = {
    "WRONG_VERSION_NUMBER": "the peer does not speak TLS (is it a plaintext service?)",
    "HTTP_REQUEST": "the peer sent a plaintext HTTP request to a TLS port",
    "UNSUPPORTED_PROTOCOL": "the two sides have no TLS version in common",
    "NO_PROTOCOLS_AVAILABLE": "the two sides have no TLS version in common",
    "TLSV1_ALERT_PROTOCOL_VERSION": "the peer supports none of the TLS versions we offered",
    "NO_SHARED_CIPHER": "the two sides have no cipher suite in common",
    "NO_APPLICATION_PROTOCOL": "the two sides have no ALPN protocol in common",
    "TLSV1_ALERT_NO_APPLICATION_PROTOCOL": "the peer supports none of the ALPN protocols we offered",
}

_RECORD_REASONS: Final = {
    "DECRYPTION_FAILED_OR_BAD_RECORD_MAC": "a TLS record failed its integrity check "
    "(the data was corrupted or tampered with)",
    "BAD_RECORD_MAC": "a TLS record failed its integrity check "
    "(the data was corrupted or tampered with)",
    "SSLV3_ALERT_BAD_RECORD_MAC": "the peer found one of our TLS records corrupted",
    "RECORD_LAYER_FAILURE": "the TLS record layer failed (malformed records from the peer)",
}

_EOF_ERRORS: Final = (ssl.SSLEOFError, ssl.SSLSyscallError)


def translate_ssl_error(
    exc: ssl.SSLError, *, during_handshake: bool, server_side: bool
) -> TLSRemoteError:
    """The engine's error for ``exc``; the caller raises it ``from exc``."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _we_refused_certificate(exc, server_side)
    reason: str | None = getattr(exc, "reason", None)
    if reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
        return TLSCertificateError(
            "the client sent no certificate, but this server requires one",
            reason=reason,
            verify_code=None,
            verify_message="peer did not return a certificate",
            rejected_by_peer=False,
        )
    alert = _alert_name(reason)
    if alert in _CERTIFICATE_ALERTS:
        return _peer_refused_certificate(reason, alert, server_side)
    if during_handshake:
        return TLSHandshakeError(f"TLS handshake failed: {_describe(exc)}", reason=reason)
    return TLSRemoteError(f"TLS session failed: {_describe(exc)}", reason=reason)


def _we_refused_certificate(
    exc: ssl.SSLCertVerificationError, server_side: bool
) -> TLSCertificateError:
    whose = "client's" if server_side else "server's"
    message = str(exc.verify_message)
    return TLSCertificateError(
        f"the {whose} certificate was rejected: {message}",
        reason=getattr(exc, "reason", None),
        verify_code=int(exc.verify_code),
        verify_message=message,
        rejected_by_peer=False,
    )


def _peer_refused_certificate(reason: str | None, alert: str, server_side: bool) -> TLSCertificateError:
    words = alert.lower().replace("_", " ")
    if alert == "CERTIFICATE_REQUIRED":
        sentence = "the server requires a client certificate, and none was sent"
    else:
        ours, peer = ("this server's", "client") if server_side else ("our client", "server")
        sentence = f"the {peer} rejected {ours} certificate: {words}"
    return TLSCertificateError(
        sentence, reason=reason, verify_code=None, verify_message=words, rejected_by_peer=True
    )


def _alert_name(reason: str | None) -> str | None:
    """``"TLSV1_ALERT_UNKNOWN_CA"`` -> ``"UNKNOWN_CA"``; None if not an alert."""
    if reason is None or "_ALERT_" not in reason:
        return None
    return reason.split("_ALERT_", 1)[1]


def _describe(exc: ssl.SSLError) -> str:
    if isinstance(exc, _EOF_ERRORS):
        return "the peer closed the connection in the middle of it"
    reason: str | None = getattr(exc, "reason", None)
    if reason is None:
        return str(exc)
    known = _HANDSHAKE_REASONS.get(reason) or _RECORD_REASONS.get(reason)
    if known is not None:
        return known
    alert = _alert_name(reason)
    if alert is not None:
        return f"the peer sent a fatal alert: {alert.lower().replace('_', ' ')}"
    return reason.lower().replace("_", " ")
