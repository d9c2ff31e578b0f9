"""The client role: status lines, 1xx, bodies without a body, read-until-close, reuse."""

from __future__ import annotations

import pytest

from tests.protocols.test_http_kit import GET, Received, agree, fetch
from tidal.protocols.http import (
    CLIENT,
    DONE,
    IDLE,
    MUST_CLOSE,
    NEED_DATA,
    PAUSED,
    SEND_BODY,
    SWITCHED_PROTOCOL,
    ConnectionClosed,
    Data,
    EndOfMessage,
    HTTPConnection,
    HTTPLimits,
    HTTPLocalProtocolError,
    HTTPRemoteProtocolError,
    InformationalResponse,
    Request,
    Response,
)


def client(request: Request = GET, *, limits: HTTPLimits | None = None, end: bool = True) -> HTTPConnection:
    """A client connection that has sent ``request`` (and ended it, unless ``end`` is false)."""
    connection = HTTPConnection(CLIENT, limits=limits)
    connection.send(request)
    if end:
        connection.send(EndOfMessage())
    return connection


def received(connection: HTTPConnection, data: bytes) -> list[object]:
    """Feed ``data`` and collect events up to NEED_DATA, PAUSED or ConnectionClosed (inclusive)."""
    connection.receive_data(data)
    events: list[object] = []
    while True:
        event = connection.next_event()
        events.append(event)
        if event is NEED_DATA or event is PAUSED or isinstance(event, ConnectionClosed):
            return events


@pytest.mark.parametrize(
    ("status_line", "status", "reason", "version"),
    [
        (b"HTTP/1.1 200 OK", 200, b"OK", b"1.1"),
        (b"HTTP/1.1 404 Not Found", 404, b"Not Found", b"1.1"),
        (b"HTTP/1.1 200", 200, b"", b"1.1"),
        (b"HTTP/1.1 200 ", 200, b"", b"1.1"),
        (b"HTTP/1.1 599 Any\tthing \xe9", 599, b"Any\tthing \xe9", b"1.1"),
        (b"HTTP/1.0 200 OK", 200, b"OK", b"1.0"),
    ],
)
def test_status_lines(status_line: bytes, status: int, reason: bytes, version: bytes) -> None:
    outcome = agree(fetch, status_line + b"\r\nContent-Length: 0\r\n\r\n")
    response = outcome.events[0]
    assert isinstance(response, Response)
    assert (response.status_code, response.reason, response.http_version) == (status, reason, version)


def test_content_length_body() -> None:
    outcome = agree(fetch, b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello, world")
    assert outcome.events[1:] == [Received(b"hello, world"), EndOfMessage(), ConnectionClosed()]


def test_chunked_body_with_trailers() -> None:
    outcome = agree(fetch, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"6\r\nhello,\r\n6;last\r\n world\r\n0\r\nServer-Timing: db;dur=53\r\n\r\n")
    assert outcome.events[1:] == [
        Received(b"hello, world"), EndOfMessage(headers=[("Server-Timing", "db;dur=53")]), ConnectionClosed(),
    ]


def test_client_accepts_padded_chunk_size_lines() -> None:
    # Some servers pad the size line; a client is lenient there, a server is not.
    outcome = agree(fetch, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \t\r\nhello\r\n0\r\n\r\n")
    assert outcome.error is None and outcome.events[1] == Received(b"hello")


def test_read_until_close() -> None:
    connection = client()
    events = received(connection, b"HTTP/1.1 200 OK\r\n\r\npart one, ")
    assert bytes(events[1].data) == b"part one, "  # type: ignore[attr-defined]
    assert not connection.keep_alive and connection.must_close
    events = received(connection, b"part two")
    assert bytes(events[0].data) == b"part two"  # type: ignore[attr-defined]
    assert received(connection, b"") == [EndOfMessage(), ConnectionClosed()]


def test_read_until_close_respects_the_body_limit() -> None:
    limits = HTTPLimits(max_body_bytes=8)
    outcome = agree(lambda reads: fetch(reads, limits=limits), b"HTTP/1.1 200 OK\r\n\r\n0123456789")
    assert outcome.events[1:] == [Received(b"01234567")]
    assert outcome.error == (502, "body exceeds the 8-byte limit")


def test_response_with_content_length_zero_has_no_body() -> None:
    connection = client()
    events = received(connection, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert events[1:] == [EndOfMessage(), NEED_DATA]
    assert connection.keep_alive


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(status: int) -> None:
    connection = client()
    events = received(connection, b"HTTP/1.1 %d X\r\nContent-Length: 50\r\n\r\n" % status)
    assert events[1:] == [EndOfMessage(), NEED_DATA]
    assert connection.their_state is DONE and connection.keep_alive


def test_head_response_has_no_body() -> None:
    connection = client(Request(method="HEAD", target="/", headers=[("Host", "a")]))
    events = received(connection, b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nTransfer-Encoding-X: y\r\n\r\n")
    assert events[1:] == [EndOfMessage(), NEED_DATA]
    assert connection.keep_alive
    connection.start_next_cycle()
    assert connection.our_state is IDLE


def test_head_response_without_length_does_not_read_until_close() -> None:
    connection = client(Request(method="HEAD", target="/", headers=[("Host", "a")]))
    events = received(connection, b"HTTP/1.1 200 OK\r\n\r\n")
    assert events[1:] == [EndOfMessage(), NEED_DATA]
    assert connection.keep_alive


def test_informational_responses_before_the_final_one() -> None:
    outcome = agree(fetch, b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                           b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert [type(event) for event in outcome.events] == [
        InformationalResponse, InformationalResponse, Response, Received, EndOfMessage, ConnectionClosed,
    ]
    assert [event.status_code for event in outcome.events[:3]] == [103, 102, 200]  # type: ignore[attr-defined]


def test_100_continue() -> None:
    request = Request(method="POST", target="/", headers=[("Host", "a"), ("Expect", "100-continue"),
                                                          ("Content-Length", "4")])
    connection = client(request, end=False)
    assert connection.expects_continue
    events = received(connection, b"HTTP/1.1 100 Continue\r\n\r\n")
    assert events[0].status_code == 100 and events[1] is NEED_DATA  # type: ignore[attr-defined]
    assert not connection.expects_continue
    assert connection.send(Data(data=b"body")) == b"body"
    connection.send(EndOfMessage())
    events = received(connection, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    assert events[0].status_code == 201  # type: ignore[attr-defined]
    assert connection.keep_alive


def test_early_final_response_while_we_send_the_body() -> None:
    request = Request(method="POST", target="/", headers=[("Host", "a"), ("Content-Length", "10")])
    connection = client(request, end=False)
    connection.send(Data(data=b"abc"))
    events = received(connection, b"HTTP/1.1 413 Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    assert events[0].status_code == 413 and events[1] == EndOfMessage()  # type: ignore[attr-defined]
    assert connection.our_state is SEND_BODY and connection.their_state is MUST_CLOSE
    assert not connection.keep_alive and connection.must_close


@pytest.mark.parametrize(
    ("response", "keep_alive"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nconnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\n\r\n", False),
    ],
)
def test_keep_alive_decision(response: bytes, keep_alive: bool) -> None:
    connection = client()
    received(connection, response)
    assert connection.keep_alive is keep_alive
    assert connection.must_close is not keep_alive


def test_our_connection_close_ends_keep_alive() -> None:
    connection = client(Request(method="GET", target="/", headers=[("Host", "a"), ("Connection", "close")]))
    assert not connection.keep_alive
    received(connection, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert connection.must_close


def test_requests_are_always_sent_as_http11() -> None:
    connection = HTTPConnection(CLIENT)
    with pytest.raises(HTTPLocalProtocolError, match="I only send HTTP/1.1"):
        connection.send(Request(method="GET", target="/", headers=[], http_version="1.0"))


@pytest.mark.parametrize(
    ("fields", "codings"),
    [
        (b"", ()),
        (b"Content-Encoding: gzip\r\n", ("gzip",)),
        (b"Content-Encoding: deflate, GZIP\r\n", ("deflate", "gzip")),
        (b"Content-Encoding: identity\r\n", ()),
        (b"Content-Encoding: gzip,,  br ,\r\n", ("gzip", "br")),
        (b"Content-Encoding: zstd\r\ncontent-encoding: x-custom\r\n", ("zstd", "x-custom")),
    ],
)
def test_content_codings(fields: bytes, codings: tuple[str, ...]) -> None:
    connection = client()
    received(connection, b"HTTP/1.1 200 OK\r\n" + fields + b"Content-Length: 0\r\n\r\n")
    assert connection.content_codings == codings


def test_bytes_past_the_response_wait_paused() -> None:
    # They cannot answer a request we have not sent; see the unsolicited tests.
    connection = client()
    events = received(connection, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\n")
    assert [type(event) for event in events] == [Response, Data, EndOfMessage, type(PAUSED)]
    assert connection.next_event() is PAUSED


def test_two_cycles_on_one_connection() -> None:
    connection = client()
    events = received(connection, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")
    assert [type(event) for event in events] == [Response, Data, EndOfMessage, type(NEED_DATA)]
    connection.start_next_cycle()
    connection.send(Request(method="GET", target="/2", headers=[("Host", "a")]))
    connection.send(EndOfMessage())
    events = received(connection, b"HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nb")
    assert [type(event) for event in events] == [Response, Data, EndOfMessage, type(NEED_DATA)]
    assert events[0].status_code == 404  # type: ignore[attr-defined]


def test_response_before_the_request_is_refused() -> None:
    connection = HTTPConnection(CLIENT)
    assert received(connection, b"") == [ConnectionClosed()]  # an idle close is not an error
    connection = HTTPConnection(CLIENT)
    connection.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(HTTPRemoteProtocolError, match="server sent data before any request") as info:
        connection.next_event()
    assert info.value.status == 502


STALE_408 = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


@pytest.mark.parametrize("when", ["between-cycles", "with-the-last-response"])
def test_unsolicited_response_on_an_idle_kept_alive_connection_is_refused(when: str) -> None:
    # A server that times out an idle connection may send 408 and close; the
    # 408 must not be mistaken for the answer to the next request, even when
    # that request is sent before the engine is asked for an event.
    connection = client()
    first = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    if when == "with-the-last-response":
        events = received(connection, first + STALE_408)
        assert events[-1] is PAUSED
        connection.start_next_cycle()
    else:
        received(connection, first)
        connection.start_next_cycle()
        connection.receive_data(STALE_408)
    connection.send(GET)
    connection.send(EndOfMessage())
    with pytest.raises(HTTPRemoteProtocolError, match="server sent data before any request") as info:
        connection.next_event()
    assert info.value.status == 502
    assert not connection.keep_alive and connection.must_close


def test_response_bytes_after_the_request_head_are_not_unsolicited() -> None:
    # An early response while we still send the body is legitimate.
    request = Request(method="PUT", target="/", headers=[("Host", "a"), ("Content-Length", "100")])
    connection = client(request, end=False)
    events = received(connection, b"HTTP/1.1 507 Insufficient Storage\r\nContent-Length: 0\r\n\r\n")
    assert events[0].status_code == 507  # type: ignore[attr-defined]


def test_switching_protocols() -> None:
    request = Request(method="GET", target="/chat", headers=[("Host", "a"), ("Upgrade", "websocket"),
                                                             ("Connection", "Upgrade")])
    connection = client(request)
    events = received(connection, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                  b"Connection: Upgrade\r\n\r\n\x81\x02hi")
    assert events[0].status_code == 101 and events[1] is PAUSED  # type: ignore[attr-defined]
    assert connection.their_state is SWITCHED_PROTOCOL
    assert connection.trailing_data == (b"\x81\x02hi", False)
    assert not connection.keep_alive and not connection.must_close


def test_connect_tunnel() -> None:
    connection = client(Request(method="CONNECT", target="a:443", headers=[("Host", "a:443")]))
    events = received(connection, b"HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03\x03")
    assert events[0].status_code == 200 and events[1] is PAUSED  # type: ignore[attr-defined]
    assert connection.their_state is SWITCHED_PROTOCOL
    assert connection.trailing_data == (b"\x16\x03\x03", False)


def test_refused_connect_is_an_ordinary_response() -> None:
    connection = client(Request(method="CONNECT", target="a:443", headers=[("Host", "a:443")]))
    events = received(connection, b"HTTP/1.1 407 Proxy Auth\r\nContent-Length: 2\r\n\r\nno")
    assert [type(event) for event in events] == [Response, Data, EndOfMessage, type(NEED_DATA)]
    assert connection.keep_alive


def test_start_next_cycle_too_early_is_a_local_error() -> None:
    connection = client()
    with pytest.raises(HTTPLocalProtocolError, match="our side is DONE and the peer's is SEND_RESPONSE"):
        connection.start_next_cycle()
    assert connection.our_state.__name__ == "ERROR"


def test_version_is_read_from_its_place_in_the_status_line() -> None:
    outcome = agree(fetch, b"HTTP/1.1 200 HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
    assert outcome.error is None and outcome.events[1] == Received(b"ok")
