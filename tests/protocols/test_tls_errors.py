"""Certificate, handshake and record failures, as each side sees them."""

from __future__ import annotations

import datetime
import ssl

import pytest
import trustme

from tidal.protocols import LocalProtocolError, RemoteProtocolError
from tidal.protocols.tls import (
    HandshakeComplete,
    TLSCertificateError,
    TLSError,
    TLSHandshakeError,
    TLSRemoteError,
    TLSState,
    TLSTruncationError,
    TLSUsageError,
)
from tidal.protocols.tls._translate import translate_ssl_error

from .test_tls_kit import (
    HOSTNAME,
    Peer,
    ca,
    client_context,
    connected,
    make_peers,
    server_context,
)


def run_until_failure(client: Peer, server: Peer, *, max_rounds: int = 20) -> dict[str, Exception]:
    """Shuttle bytes (alerts included) until no side has more; the errors by side."""
    errors: dict[str, Exception] = {}
    peers = {"client": client, "server": server}
    for _ in range(max_rounds):
        moved = 0
        for name, peer in peers.items():
            if name not in errors:
                try:
                    peer.pump()
                except TLSError as exc:
                    errors[name] = exc
            other = peers["server" if name == "client" else "client"]
            data = peer.engine.data_to_send()
            moved += len(data)
            if data and other.engine.state is not TLSState.ERROR:
                other.engine.receive_data(data)
        if not moved:
            break
    for name, peer in peers.items():  # a side that failed stays failed
        if name in errors:
            assert peer.engine.state is TLSState.ERROR
            with pytest.raises(TLSUsageError, match="in state ERROR"):
                peer.engine.next_event()
    return errors


def expired_cert() -> trustme.LeafCert:
    past = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
    return ca().issue_cert(HOSTNAME, not_before=past - datetime.timedelta(days=1), not_after=past)


@pytest.mark.parametrize(
    ("scenario", "verify_code", "client_message", "server_message"),
    [
        (
            "wrong hostname",
            62,
            "the server's certificate was rejected: Hostname mismatch, certificate is not valid for 'other.example'.",
            "the client rejected this server's certificate: bad certificate",
        ),
        (
            "untrusted CA",
            20,
            "the server's certificate was rejected: unable to get local issuer certificate",
            "the client rejected this server's certificate: unknown ca",
        ),
        (
            "expired",
            10,
            "the server's certificate was rejected: certificate has expired",
            "the client rejected this server's certificate: certificate expired",
        ),
    ],
)
def test_server_certificate_failures(
    scenario: str, verify_code: int, client_message: str, server_message: str
) -> None:
    client_ctx, server_ctx, hostname = client_context(), server_context(), HOSTNAME
    if scenario == "wrong hostname":
        hostname = "other.example"
    elif scenario == "untrusted CA":
        client_ctx = client_context(authority=trustme.CA())
    else:
        server_ctx = server_context(expired_cert())
    client, server = make_peers(client_ctx, server_ctx, hostname=hostname)
    errors = run_until_failure(client, server)
    client_error, server_error = errors["client"], errors["server"]
    assert isinstance(client_error, TLSCertificateError)
    assert isinstance(client_error, RemoteProtocolError)
    assert str(client_error) == client_message
    assert client_error.verify_code == verify_code
    assert client_error.verify_message in client_message
    assert not client_error.rejected_by_peer
    assert isinstance(client_error.__cause__, ssl.SSLCertVerificationError)
    assert isinstance(server_error, TLSCertificateError) and server_error.rejected_by_peer
    assert str(server_error) == server_message and server_error.verify_code is None


def test_missing_client_certificate_tls13() -> None:
    # TLS 1.3: the client finishes its handshake before the server checks the
    # client's certificate, so the client learns of the refusal on its next read.
    client, server = make_peers(server_ctx=server_context(require_client_cert=True))
    errors = run_until_failure(client, server)
    assert str(errors["server"]) == "the client sent no certificate, but this server requires one"
    assert isinstance(errors["server"], TLSCertificateError) and not errors["server"].rejected_by_peer
    assert isinstance(client.events[0], HandshakeComplete)
    client_error = errors["client"]
    assert isinstance(client_error, TLSCertificateError) and client_error.rejected_by_peer
    assert str(client_error) == "the server requires a client certificate, and none was sent"
    assert client_error.reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED"


def test_missing_client_certificate_tls12() -> None:
    server_ctx = server_context(require_client_cert=True, version=ssl.TLSVersion.TLSv1_2)
    client, server = make_peers(server_ctx=server_ctx)
    errors = run_until_failure(client, server)
    assert isinstance(errors["server"], TLSCertificateError)
    assert type(errors["client"]) is TLSHandshakeError  # TLS 1.2 only says "handshake failure"
    assert str(errors["client"]) == "TLS handshake failed: the peer sent a fatal alert: handshake failure"


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=lambda v: v.name)
def test_untrusted_client_certificate(version: ssl.TLSVersion) -> None:
    stranger = trustme.CA().issue_cert("mallory@tidal.example")
    client, server = make_peers(
        client_context(cert=stranger), server_context(require_client_cert=True, version=version)
    )
    errors = run_until_failure(client, server)
    server_error, client_error = errors["server"], errors["client"]
    assert isinstance(server_error, TLSCertificateError)
    assert str(server_error) == "the client's certificate was rejected: unable to get local issuer certificate"
    assert server_error.verify_code == 20
    assert isinstance(client_error, TLSCertificateError) and client_error.rejected_by_peer
    assert str(client_error) == "the server rejected our client certificate: unknown ca"


def test_plaintext_http_request_to_a_tls_server() -> None:
    _, server = make_peers()
    server.engine.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(TLSHandshakeError) as info:
        server.engine.next_event()
    assert str(info.value) == "TLS handshake failed: the peer sent a plaintext HTTP request to a TLS port"
    assert info.value.reason == "HTTP_REQUEST"


def test_tls_client_meeting_a_plaintext_server() -> None:
    client, _ = make_peers()
    client.pump()
    client.engine.receive_data(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(TLSHandshakeError, match=r"the peer does not speak TLS \(is it a plaintext service\?\)"):
        client.engine.next_event()


def test_no_common_tls_version() -> None:
    client, server = make_peers(
        client_context(version=ssl.TLSVersion.TLSv1_2), server_context(version=ssl.TLSVersion.TLSv1_3)
    )
    errors = run_until_failure(client, server)
    assert str(errors["server"]) == "TLS handshake failed: the two sides have no TLS version in common"
    assert str(errors["client"]) == (
        "TLS handshake failed: the peer supports none of the TLS versions we offered"
    )


def test_no_common_cipher_suite() -> None:
    client_ctx = client_context(version=ssl.TLSVersion.TLSv1_2)
    server_ctx = server_context(version=ssl.TLSVersion.TLSv1_2)
    client_ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    server_ctx.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
    errors = run_until_failure(*make_peers(client_ctx, server_ctx))
    assert str(errors["server"]) == "TLS handshake failed: the two sides have no cipher suite in common"
    assert isinstance(errors["client"], TLSHandshakeError)


def test_a_tampered_record_fails_its_integrity_check() -> None:
    client, server = connected()
    client.engine.send(b"transfer 100 coins to alice")
    record = bytearray(client.engine.data_to_send())
    record[-1] ^= 0x01
    server.engine.receive_data(bytes(record))
    with pytest.raises(TLSRemoteError) as info:
        server.engine.next_event()
    assert type(info.value) is TLSRemoteError  # after the handshake: not a handshake error
    assert str(info.value) == (
        "TLS session failed: a TLS record failed its integrity check "
        "(the data was corrupted or tampered with)"
    )
    client.engine.receive_data(server.engine.data_to_send())
    with pytest.raises(TLSRemoteError, match="the peer found one of our TLS records corrupted"):
        client.engine.next_event()


def test_every_error_is_a_tls_error_of_the_right_side() -> None:
    assert issubclass(TLSUsageError, LocalProtocolError) and issubclass(TLSUsageError, TLSError)
    for remote in (TLSRemoteError, TLSHandshakeError, TLSCertificateError, TLSTruncationError):
        assert issubclass(remote, RemoteProtocolError) and issubclass(remote, TLSError)
    assert issubclass(TLSCertificateError, TLSHandshakeError)


def ssl_error(reason: str | None, kind: type[ssl.SSLError] = ssl.SSLError) -> ssl.SSLError:
    error = kind(1, f"[SSL: {reason}] something ({reason})")
    setattr(error, "reason", reason)  # as _ssl.c does for real errors
    return error


@pytest.mark.parametrize(
    ("error", "during_handshake", "expected_type", "message"),
    [
        (ssl_error("NO_APPLICATION_PROTOCOL"), True, TLSHandshakeError,
         "TLS handshake failed: the two sides have no ALPN protocol in common"),
        (ssl_error("TLSV1_ALERT_NO_APPLICATION_PROTOCOL"), True, TLSHandshakeError,
         "TLS handshake failed: the peer supports none of the ALPN protocols we offered"),
        (ssl_error("SSLV3_ALERT_CERTIFICATE_REVOKED"), True, TLSCertificateError,
         "the server rejected our client certificate: certificate revoked"),
        (ssl_error("SOME_NEW_REASON"), False, TLSRemoteError, "TLS session failed: some new reason"),
        (ssl_error("TLSV1_ALERT_INTERNAL_ERROR"), False, TLSRemoteError,
         "TLS session failed: the peer sent a fatal alert: internal error"),
        (ssl_error(None, ssl.SSLSyscallError), True, TLSHandshakeError,
         "TLS handshake failed: the peer closed the connection in the middle of it"),
    ],
)
def test_translation_of_other_openssl_reasons(
    error: ssl.SSLError, during_handshake: bool, expected_type: type[TLSError], message: str
) -> None:
    translated = translate_ssl_error(error, during_handshake=during_handshake, server_side=False)
    assert type(translated) is expected_type
    assert str(translated) == message
    assert translated.reason == error.reason


def test_translation_keeps_unnamed_errors_readable() -> None:
    error = ssl.SSLError(1, "a message from OpenSSL")
    translated = translate_ssl_error(error, during_handshake=False, server_side=True)
    assert str(translated) == f"TLS session failed: {error}"
    assert translated.reason is None
