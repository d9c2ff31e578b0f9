"""SSLObject.write semantics: a WANT_READ retry repeats the same bytes.

Python offers no way to start a TLS 1.2 renegotiation (the real cause of a
write wanting to read), so these tests plug an ``SSLObject`` subclass into
the context through the documented ``SSLContext.sslobject_class`` hook; it
refuses writes while told to, exactly as OpenSSL would, and records every
call the engine makes.
"""

from __future__ import annotations

import ssl

import pytest

from tidal.protocols.tls import NEED_DATA, CloseNotify, TLSUsageError

from .test_tls_kit import client_context, connected, converse


class RecordingSSLObject(ssl.SSLObject):
    """Records each write; raises WANT_READ while ``blocked``."""

    blocked = False
    calls: list[bytes] = []

    def write(self, data: bytes) -> int:  # type: ignore[override]
        type(self).calls.append(bytes(data))
        if type(self).blocked:
            raise ssl.SSLWantReadError(ssl.SSL_ERROR_WANT_READ, "The operation did not complete (read)")
        return super().write(data)


class HalfWritingSSLObject(ssl.SSLObject):
    """Accepts only half of each write, as SSL_MODE_ENABLE_PARTIAL_WRITE allows."""

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return super().write(data[: max(1, len(data) // 2)])


def recording_context() -> tuple[ssl.SSLContext, type[RecordingSSLObject]]:
    recorder = type("Recorder", (RecordingSSLObject,), {"calls": [], "blocked": False})
    context = client_context()
    context.sslobject_class = recorder
    return context, recorder


def test_a_refused_write_is_retried_with_the_same_bytes_and_nothing_is_lost() -> None:
    context, recorder = recording_context()
    client, server = connected(context)
    recorder.blocked = True
    client.engine.send(b"first")
    assert client.engine.send_blocked and client.engine.data_to_send() == b""
    later = bytearray(b"second")
    client.engine.send(later)
    later[:] = b"XXXXXX"  # the queued plaintext is the engine's own copy
    assert recorder.calls == [b"first", b"first"]  # the head is retried, not skipped
    recorder.blocked = False
    assert client.engine.next_event() is NEED_DATA  # reading retries the queue
    assert not client.engine.send_blocked
    assert recorder.calls == [b"first", b"first", b"first", b"second"]
    converse(client, server)
    assert server.received == b"firstsecond"


def test_closing_while_a_send_is_blocked_is_refused() -> None:
    context, recorder = recording_context()
    client, server = connected(context)
    recorder.blocked = True
    client.engine.send(b"must not be lost")
    with pytest.raises(TLSUsageError, match="waits for the peer \\(send_blocked\\)"):
        client.engine.start_close()
    recorder.blocked = False
    client.engine.next_event()
    client.engine.start_close()
    converse(client, server)
    assert server.received == b"must not be lost" and server.events[-1] == CloseNotify()


def test_empty_sends_never_reach_openssl() -> None:
    context, recorder = recording_context()
    client, _ = connected(context)
    client.engine.send(b"")
    client.engine.send(bytearray())
    client.engine.send(memoryview(b""))
    assert recorder.calls == []


def test_partial_writes_are_completed_in_order() -> None:
    context = client_context()
    context.sslobject_class = HalfWritingSSLObject
    client, server = connected(context)
    message = bytes(range(256)) * 40
    client.engine.send(message)
    client.engine.send(b"tail")
    converse(client, server)
    assert server.received == message + b"tail"
