"""The TLS engine against itself, in memory: handshake, data, close, EOF."""

from __future__ import annotations

import ssl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidal.protocols.tls import (
    NEED_DATA,
    CloseNotify,
    Data,
    Event,
    HandshakeComplete,
    RaggedEOF,
    TLSEngine,
    TLSHandshakeError,
    TLSState,
    TLSTruncationError,
    TLSUsageError,
)

from .test_tls_kit import (
    HOSTNAME,
    Peer,
    byte_by_byte,
    client_cert,
    client_context,
    connected,
    converse,
    cycling,
    make_peers,
    server_cert,
    server_context,
    transfer,
    whole,
)

VERSIONS = [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.name)
def test_handshake_then_data_both_ways_then_close(version: ssl.TLSVersion) -> None:
    client, server = connected(server_ctx=server_context(version=version))
    expected = HandshakeComplete(alpn_protocol=None, tls_version=version.name.replace("_", "."))
    assert client.events == [expected] and server.events == [expected]
    client.engine.send(b"ping")
    server.engine.send(b"pong")
    converse(client, server)
    assert (bytes(server.received), bytes(client.received)) == (b"ping", b"pong")
    client.engine.start_close()
    converse(client, server)
    server.engine.start_close()
    converse(client, server)
    assert client.events[-1] == server.events[-1] == CloseNotify()
    assert client.engine.state is server.engine.state is TLSState.CLOSED


def test_negotiated_parameters_are_exposed() -> None:
    client, server = connected()
    assert client.engine.tls_version == server.engine.tls_version == "TLSv1.3"
    assert client.engine.cipher == server.engine.cipher
    assert client.engine.cipher is not None and client.engine.cipher[2] >= 128
    assert client.engine.server_hostname == HOSTNAME and not client.engine.server_side
    assert server.engine.server_hostname is None and server.engine.server_side
    certificate = client.engine.peer_certificate
    assert certificate is not None
    assert ("DNS", HOSTNAME) in certificate["subjectAltName"]
    expected_der = ssl.PEM_cert_to_DER_cert(server_cert().cert_chain_pems[0].bytes().decode())
    assert client.engine.peer_certificate_der == expected_der
    # The server asked for no client certificate.
    assert server.engine.peer_certificate is None and server.engine.peer_certificate_der is None
    assert not client.engine.session_reused
    assert repr(client.engine) == "<TLSEngine client OPEN TLSv1.3>"


def test_nothing_negotiated_is_reported_before_the_handshake() -> None:
    client, _ = make_peers()
    engine = client.engine
    assert engine.state is TLSState.HANDSHAKING
    assert (engine.tls_version, engine.cipher, engine.alpn_protocol) == (None, None, None)
    assert engine.peer_certificate is None and engine.peer_certificate_der is None
    assert repr(engine) == "<TLSEngine client HANDSHAKING>"


def test_do_handshake_reports_progress_and_next_event_reports_completion_once() -> None:
    client = TLSEngine.client(client_context(), HOSTNAME)
    server = TLSEngine.server(server_context())
    assert client.do_handshake() is False
    server.receive_data(client.data_to_send())
    assert server.do_handshake() is False  # waits for the client's Finished
    client.receive_data(server.data_to_send())
    assert client.do_handshake() is True
    server.receive_data(client.data_to_send())
    assert server.do_handshake() is True and server.do_handshake() is True
    assert isinstance(server.next_event(), HandshakeComplete)
    assert server.next_event() is NEED_DATA


def test_sni_reaches_the_server() -> None:
    seen: list[str | None] = []
    context = server_context()
    context.sni_callback = lambda _obj, name, _ctx: seen.append(name)
    connected(server_ctx=context)
    assert seen == [HOSTNAME]


def test_mutual_tls_exposes_the_client_certificate() -> None:
    client, server = connected(
        client_context(cert=client_cert()), server_context(require_client_cert=True)
    )
    client.engine.send(b"hi")
    converse(client, server)
    assert server.received == b"hi"
    certificate = server.engine.peer_certificate
    assert certificate is not None
    assert ("email", "client@tidal.example") in certificate["subjectAltName"]


@pytest.mark.parametrize(
    ("client_offer", "server_offer", "selected"),
    [
        (["h2", "http/1.1"], ["http/1.1", "h2"], "http/1.1"),  # the server's preference wins
        (["http/1.1"], ["h2", "http/1.1"], "http/1.1"),
        (["h2"], ["http/1.1"], None),  # Python's server then continues without ALPN
        (None, ["h2"], None),
    ],
)
def test_alpn_negotiation(
    client_offer: list[str] | None, server_offer: list[str], selected: str | None
) -> None:
    client, server = connected(
        client_context(alpn=client_offer), server_context(alpn=server_offer)
    )
    assert client.engine.alpn_protocol == server.engine.alpn_protocol == selected
    assert client.handshake_events[0].alpn_protocol == selected


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.name)
def test_megabytes_both_ways_in_records_larger_than_16_kib(version: ssl.TLSVersion) -> None:
    upload = bytes(range(256)) * (4 * 4096)  # 4 MiB
    download = b"tidal" * 600_000  # ~3 MiB
    client, server = connected(server_ctx=server_context(version=version))
    client.engine.send(upload)
    server.engine.send(download)
    converse(client, server)
    assert server.received == upload and client.received == download


def test_next_event_honours_max_bytes_without_losing_plaintext() -> None:
    client, server = connected()
    message = bytes(range(256)) * 200  # 51200 bytes: several full records
    server.engine.send(message)
    client.engine.receive_data(server.engine.data_to_send())
    pieces = []
    while (event := client.engine.next_event(max_bytes=1000)) is not NEED_DATA:
        assert isinstance(event, Data) and 0 < len(event.data) <= 1000
        pieces.append(event.data)
    assert b"".join(pieces) == message
    with pytest.raises(ValueError, match="max_bytes must be at least 1, not 0"):
        client.engine.next_event(max_bytes=0)


def test_send_accepts_bytearray_and_memoryview_and_ignores_empty() -> None:
    client, server = connected()
    client.engine.send(b"")
    assert client.engine.data_to_send() == b""
    buffer = bytearray(b"abc")
    client.engine.send(buffer)
    buffer[:] = b"xyz"  # the engine took its own copy
    client.engine.send(memoryview(b"def"))
    converse(client, server)
    assert server.received == b"abcdef"


def test_data_to_send_honours_max_bytes() -> None:
    client, server = connected()
    client.engine.send(b"x" * 5000)
    first = client.engine.data_to_send(100)
    assert len(first) == 100
    server.feed(first + client.engine.data_to_send())
    assert server.received == b"x" * 5000


# -- the same bytes in any split give the same results ---------------------------


def scripted_session(splitter: object) -> tuple[bytes, bytes, list[Event], list[Event]]:
    """Handshake, data both ways (one message above a record), close both ways."""
    client, server = make_peers(
        client_context(alpn=["h2", "http/1.1"]),
        server_context(alpn=["http/1.1"]),
        splitter=splitter,  # type: ignore[arg-type]
    )
    converse(client, server)
    client.engine.send(b"GET / HTTP/1.1\r\n\r\n")
    server.engine.send(b"x" * 20_000)
    server.engine.send(b"end")
    converse(client, server)
    client.engine.start_close()
    converse(client, server)
    server.engine.start_close()
    converse(client, server)
    return bytes(client.received), bytes(server.received), client.events, server.events


EXPECTED_SESSION = (
    b"x" * 20_000 + b"end",
    b"GET / HTTP/1.1\r\n\r\n",
    [HandshakeComplete("http/1.1", "TLSv1.3"), CloseNotify()],
    [HandshakeComplete("http/1.1", "TLSv1.3"), CloseNotify()],
)


@pytest.mark.parametrize("splitter", [whole, byte_by_byte, cycling([1, 2, 3, 5, 8, 13])])
def test_session_result_does_not_depend_on_how_bytes_are_split(splitter: object) -> None:
    assert scripted_session(splitter) == EXPECTED_SESSION


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=20_000), min_size=1, max_size=8))
def test_session_result_survives_random_splits(sizes: list[int]) -> None:
    assert scripted_session(cycling(sizes)) == EXPECTED_SESSION


# -- closing ---------------------------------------------------------------------


@pytest.mark.parametrize("initiator", ["client", "server"])
def test_close_notify_in_either_direction(initiator: str) -> None:
    client, server = connected()
    closer, other = (client, server) if initiator == "client" else (server, client)
    closer.engine.start_close()
    assert closer.engine.state is TLSState.CLOSING
    alert = closer.engine.data_to_send()
    assert alert, "start_close() produces the close_notify bytes at once"
    other.feed(alert)
    assert other.events[-1] == CloseNotify() and other.engine.state is TLSState.CLOSING
    assert other.engine.next_event() == CloseNotify()  # repeated, like read() at EOF
    other.engine.start_close()
    assert other.engine.state.name == "CLOSED"  # (.name: mypy over-narrows the property)
    closer.feed(other.engine.data_to_send())
    assert closer.events[-1] == CloseNotify() and closer.engine.state.name == "CLOSED"
    closer.engine.start_close()  # idempotent
    assert closer.engine.data_to_send() == b""


def test_data_in_flight_when_we_close_is_still_delivered() -> None:
    client, server = connected()
    server.engine.send(b"late data")
    server.engine.send(b"x" * 40_000)
    client.engine.receive_data(server.engine.data_to_send())  # not read yet
    client.engine.start_close()
    client.pump()
    assert client.received == b"late data" + b"x" * 40_000
    assert client.engine.state is TLSState.CLOSING
    transfer(client, server)
    server.engine.start_close()
    transfer(server, client)
    assert client.events[-1] == CloseNotify() and client.engine.state.name == "CLOSED"


def test_start_close_keeps_a_partly_read_record() -> None:
    client, server = connected()
    server.engine.send(b"abcdef" * 1000)
    client.engine.receive_data(server.engine.data_to_send())
    first = client.engine.next_event(max_bytes=10)
    client.engine.start_close()
    rest = client.engine.next_event()
    assert isinstance(first, Data) and isinstance(rest, Data)
    assert first.data + rest.data == b"abcdef" * 1000


def test_sending_after_close_is_refused_and_names_the_state() -> None:
    client, _ = connected()
    client.engine.start_close()
    with pytest.raises(TLSUsageError, match=r"TLS client engine: send\(\) is not allowed in state CLOSING") as info:
        client.engine.send(b"more")
    assert info.value.state is TLSState.CLOSING and info.value.operation == "send"


def test_start_close_answers_a_close_notify_already_received() -> None:
    client, server = connected()
    server.engine.start_close()
    client.engine.receive_data(server.engine.data_to_send())  # not read yet
    client.engine.start_close()
    client.pump()
    assert client.events[-1] == CloseNotify()
    assert client.engine.state is TLSState.CLOSED
    server.feed(client.engine.data_to_send())
    assert server.events[-1] == CloseNotify() and server.engine.state is TLSState.CLOSED


# -- EOF policy -------------------------------------------------------------------


def test_ragged_eof_is_a_truncation_error_by_default() -> None:
    client, server = connected()
    server.engine.send(b"partial response")
    client.feed(server.engine.data_to_send())
    client.engine.receive_data(b"")
    with pytest.raises(TLSTruncationError, match="without a TLS close_notify") as info:
        client.engine.next_event()
    assert isinstance(info.value.__cause__, ssl.SSLError)
    assert client.received == b"partial response"
    assert client.engine.state is TLSState.ERROR
    with pytest.raises(TLSUsageError, match="next_event\\(\\) is not allowed in state ERROR"):
        client.engine.next_event()


def test_ragged_eof_policy_turns_it_into_an_end_of_stream() -> None:
    client, server = connected(allow_ragged_eof=True)
    server.engine.send(b"all of it")
    client.feed(server.engine.data_to_send())
    client.feed(b"")
    client.engine.receive_data(b"")  # a repeated EOF is harmless
    assert client.received == b"all of it"
    assert client.events[-1] == RaggedEOF() and client.engine.state is TLSState.CLOSED
    assert client.engine.next_event() == RaggedEOF()
    client.engine.data_to_send()  # OpenSSL's alert about the EOF, for a half-open peer
    client.engine.start_close()  # nothing left to close
    assert client.engine.data_to_send() == b""


def test_eof_after_our_close_notify_is_not_an_error() -> None:
    client, server = connected()
    client.engine.start_close()
    transfer(client, server)
    client.feed(b"")  # the server hung up without answering
    assert client.events[-1] == RaggedEOF() and client.engine.state is TLSState.CLOSED


def test_eof_during_the_handshake_is_a_handshake_error() -> None:
    client, server = make_peers()
    client.pump()
    transfer(client, server)
    client.engine.receive_data(b"")
    with pytest.raises(TLSHandshakeError, match="closed the connection in the middle of it"):
        client.engine.do_handshake()
    assert client.engine.state is TLSState.ERROR


def test_eof_during_the_handshake_is_an_error_even_with_the_ragged_policy() -> None:
    client = TLSEngine.client(client_context(), HOSTNAME, allow_ragged_eof=True)
    client.receive_data(b"")
    with pytest.raises(TLSHandshakeError):
        client.next_event()


def test_bytes_after_the_eof_are_refused() -> None:
    client, _ = connected()
    client.engine.receive_data(b"")
    with pytest.raises(TLSUsageError, match="got more bytes after the transport's EOF"):
        client.engine.receive_data(b"x")


def test_ignore_unexpected_eof_is_cleared_on_the_context() -> None:
    context = client_context()
    context.options |= ssl.OP_IGNORE_UNEXPECTED_EOF
    client, server = connected(context)
    assert not context.options & ssl.OP_IGNORE_UNEXPECTED_EOF
    client.engine.receive_data(b"")
    with pytest.raises(TLSTruncationError):
        client.engine.next_event()


# -- TLS 1.3 post-handshake tickets and resumption -------------------------------


def test_tickets_after_the_handshake_are_neither_data_nor_eof() -> None:
    client = TLSEngine.client(client_context(), HOSTNAME)
    server = TLSEngine.server(server_context())
    client.do_handshake()
    server.receive_data(client.data_to_send())
    server.do_handshake()
    client.receive_data(server.data_to_send())
    assert client.do_handshake() is True  # complete before any ticket arrived
    assert client.session is not None and not client.session.has_ticket
    server.receive_data(client.data_to_send())
    assert server.do_handshake() is True
    tickets = server.data_to_send()
    assert tickets, "a TLS 1.3 server sends its tickets right after the handshake"
    client.receive_data(tickets)
    assert isinstance(client.next_event(), HandshakeComplete)
    assert client.next_event() is NEED_DATA
    assert client.session.has_ticket
    client.receive_data(b"")
    with pytest.raises(TLSTruncationError):
        client.next_event()


def test_a_ticket_resumes_the_session() -> None:
    client_ctx, server_ctx = client_context(), server_context()
    first, first_server = connected(client_ctx, server_ctx)
    session = first.engine.session
    assert session is not None and session.has_ticket
    second, second_server = connected(client_ctx, server_ctx, session=session)
    assert second.engine.session_reused and second_server.engine.session_reused
    second.engine.send(b"resumed")
    converse(second, second_server)
    assert second_server.received == b"resumed"


# -- unwrap ------------------------------------------------------------------------


def test_unwrap_hands_back_the_cleartext_after_close_notify() -> None:
    client, server = connected()
    client.engine.start_close()
    transfer(client, server)
    server.engine.start_close()
    # The server switches to cleartext right after its close_notify, in one write.
    client.feed(server.engine.data_to_send() + b"PLAIN ")
    assert client.engine.state is TLSState.CLOSED
    client.engine.receive_data(b"TEXT")
    assert client.engine.unwrap() == b"PLAIN TEXT"
    assert server.engine.unwrap() == b""


def test_unwrap_needs_a_close_notify_exchange() -> None:
    client, _ = connected(allow_ragged_eof=True)
    with pytest.raises(TLSUsageError, match=r"unwrap\(\) is not allowed in state OPEN"):
        client.engine.unwrap()
    client.feed(b"")
    with pytest.raises(TLSUsageError, match="ended without the peer's close_notify"):
        client.engine.unwrap()


# -- the state table ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "state_name"),
    [
        ("send", "HANDSHAKING"),
        ("start_close", "HANDSHAKING"),
        ("unwrap", "HANDSHAKING"),
        ("do_handshake", "CLOSING"),
        ("do_handshake", "CLOSED"),
        ("send", "CLOSED"),
    ],
)
def test_operations_the_state_forbids(operation: str, state_name: str) -> None:
    client, server = make_peers(allow_ragged_eof=True)
    if state_name != "HANDSHAKING":
        converse(client, server)
        client.engine.start_close()
        if state_name == "CLOSED":
            client.feed(b"")
    assert client.engine.state.name == state_name
    call = getattr(client.engine, operation)
    with pytest.raises(TLSUsageError, match=f"{operation}\\(\\) is not allowed in state {state_name}"):
        call(b"x") if operation == "send" else call()


def test_a_failed_engine_still_flushes_its_alert() -> None:
    client, server = make_peers(client_context(authority=None), server_context())
    server.engine.receive_data(b"\x16\x03\x01\x00\x05hello")  # a malformed ClientHello
    with pytest.raises(TLSHandshakeError):
        server.engine.next_event()
    assert server.engine.state is TLSState.ERROR
    assert server.engine.data_to_send().startswith(b"\x15\x03")  # a fatal alert record
    for operation in ("receive_data", "do_handshake", "next_event", "send", "start_close", "unwrap"):
        with pytest.raises(TLSUsageError, match="in state ERROR"):
            method = getattr(server.engine, operation)
            method(b"x") if operation in ("receive_data", "send") else method()


def test_close_with_unread_data_and_a_pending_eof() -> None:
    # The transport's EOF is handed to OpenSSL lazily, so start_close() can
    # still set the unread records aside and put them back.
    client, server = connected()
    server.engine.send(b"last words")
    client.engine.receive_data(server.engine.data_to_send())
    client.engine.receive_data(b"")
    client.engine.start_close()
    client.pump()
    assert client.received == b"last words"
    assert client.events[-1] == RaggedEOF() and client.engine.state is TLSState.CLOSED
