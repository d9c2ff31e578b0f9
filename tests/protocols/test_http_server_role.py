"""The server role: requests in, keep-alive decisions, 100-continue, pipelining."""

from __future__ import annotations

import pytest

from tests.protocols.test_http_kit import Received, agree, serve
from tidal.protocols.http import (
    DONE,
    IDLE,
    MIGHT_SWITCH_PROTOCOL,
    MUST_CLOSE,
    NEED_DATA,
    PAUSED,
    SEND_BODY,
    SERVER,
    SWITCHED_PROTOCOL,
    ConnectionClosed,
    Data,
    EndOfMessage,
    HTTPConnection,
    HTTPLocalProtocolError,
    InformationalResponse,
    Request,
    Response,
)


def received(connection: HTTPConnection, data: bytes) -> list[object]:
    """Feed ``data`` and collect events up to NEED_DATA or PAUSED (inclusive)."""
    connection.receive_data(data)
    events: list[object] = []
    while True:
        event = connection.next_event()
        events.append(event)
        if event is NEED_DATA or event is PAUSED or isinstance(event, ConnectionClosed):
            return events


def answer(connection: HTTPConnection, *headers: tuple[str, str]) -> bytes:
    """Send a bodiless 200 with ``headers`` and end the message."""
    data = connection.send(Response(status_code=200, headers=[("Content-Length", "0"), *headers]))
    return data + connection.send(EndOfMessage())


def test_request_fields_are_parsed() -> None:
    outcome = agree(serve, b"GET /search?q=tidal HTTP/1.1\r\nHost: tidal.example\r\nAccept:  text/html \r\n"
                           b"X-Empty:\r\nX-Obs: caf\xe9\r\n\r\n")
    request = outcome.events[0]
    assert isinstance(request, Request)
    assert request.method == b"GET" and request.target == b"/search?q=tidal" and request.http_version == b"1.1"
    assert list(request.headers) == [
        (b"host", b"tidal.example"), (b"accept", b"text/html"), (b"x-empty", b""), (b"x-obs", b"caf\xe9"),
    ]
    assert outcome.events[1:] == [EndOfMessage(), ConnectionClosed()]


@pytest.mark.parametrize("target", [b"*", b"http://tidal.example/a?b", b"tidal.example:443", b"/%7Euser"])
def test_request_target_forms(target: bytes) -> None:
    method = b"OPTIONS" if target == b"*" else b"CONNECT" if target.endswith(b":443") else b"GET"
    refused = Response(status_code=405, headers=[("Content-Length", "0")])  # a 2xx would open a CONNECT tunnel
    outcome = serve([method + b" " + target + b" HTTP/1.1\r\nHost: tidal.example\r\n\r\n"], response=refused)
    assert outcome.error is None
    assert outcome.events[0].target == target  # type: ignore[attr-defined]


def test_content_length_body_in_pieces() -> None:
    connection = HTTPConnection(SERVER)
    events = received(connection, b"PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
    assert [type(event) for event in events[:2]] == [Request, Data]
    assert bytes(events[1].data) == b"abc"  # type: ignore[attr-defined]
    # Later reads that fit the announced length take the no-copy path.
    events = received(connection, memoryview(b"defg"))
    assert bytes(events[0].data) == b"defg"  # type: ignore[attr-defined]
    events = received(connection, bytearray(b"hij"))
    assert bytes(events[0].data) == b"hij"  # type: ignore[attr-defined]
    assert events[1] == EndOfMessage()
    assert connection.their_state is DONE


def test_chunked_request_with_extensions_and_trailers() -> None:
    data = (b"POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
            b"4;ext\r\nWiki\r\n5; a = \"q s\";b=c\r\npedia\r\n0\r\nDigest: sha-256=x\r\n\r\n")
    outcome = agree(serve, data)
    assert outcome.events[1:] == [
        Received(b"Wikipedia"), EndOfMessage(headers=[("Digest", "sha-256=x")]), ConnectionClosed(),
    ]


@pytest.mark.parametrize("line", [b"4  ", b"4 ;a", b"4\t;a"])
def test_server_refuses_whitespace_after_the_chunk_size(line: bytes) -> None:
    outcome = serve([b"POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + line + b"\r\nWiki\r\n0\r\n\r\n"])
    assert outcome.error == (400, "chunk-size line has a malformed chunk extension: " + repr(line + b"\r\n"))


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", True),
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", False),
    ],
)
def test_keep_alive_decision(head: bytes, keep_alive: bool) -> None:
    connection = HTTPConnection(SERVER)
    received(connection, head)
    assert connection.keep_alive is keep_alive
    answer(connection)
    assert connection.keep_alive is keep_alive
    assert connection.must_close is not keep_alive
    if keep_alive:
        connection.start_next_cycle()
        assert connection.our_state is IDLE and connection.their_state is IDLE
    else:
        assert connection.our_state is MUST_CLOSE


def test_our_connection_close_ends_keep_alive() -> None:
    connection = HTTPConnection(SERVER)
    received(connection, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert connection.keep_alive and not connection.must_close
    data = answer(connection, ("Connection", "close"))
    assert b"Connection: close" in data
    assert not connection.keep_alive and connection.must_close


def test_response_to_http10_is_written_so_the_client_can_frame_it() -> None:
    connection = HTTPConnection(SERVER)
    received(connection, b"GET / HTTP/1.0\r\n\r\n")
    data = connection.send(Response(status_code=200, headers=[])) + connection.send(Data(data=b"body"))
    data += connection.send(EndOfMessage())
    assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"\r\n\r\nbody")
    assert b"connection: close" in data.lower()
    assert connection.must_close


def test_pipelined_requests_wait_for_the_next_cycle() -> None:
    connection = HTTPConnection(SERVER)
    events = received(connection, b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
    assert [type(event) for event in events] == [Request, EndOfMessage, type(PAUSED)]
    assert connection.next_event() is PAUSED  # still paused: nothing sent yet
    with pytest.raises(HTTPLocalProtocolError, match="our side is SEND_RESPONSE and the peer's is DONE"):
        connection.start_next_cycle()


def test_pipelined_requests_are_served_in_order() -> None:
    connection = HTTPConnection(SERVER)
    events = received(connection, b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
    answer(connection)
    assert connection.next_event() is PAUSED
    connection.start_next_cycle()
    second = connection.next_event()
    assert second.target == b"/2"  # type: ignore[union-attr]
    assert connection.next_event() == EndOfMessage()
    assert connection.next_event() is NEED_DATA
    answer(connection)
    connection.start_next_cycle()
    assert received(connection, b"") == [ConnectionClosed()]


def test_one_empty_line_before_a_request_is_ignored() -> None:
    # RFC 9112 §2.2: clients sometimes send CRLF after a POST body.
    data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n"
    outcome = agree(serve, data)
    assert outcome.error is None
    assert [event.target for event in outcome.events if isinstance(event, Request)] == [b"/", b"/next"]


def test_expect_100_continue() -> None:
    connection = HTTPConnection(SERVER)
    events = received(connection, b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    assert [type(event) for event in events] == [Request, type(NEED_DATA)]
    assert connection.expects_continue
    assert connection.send(InformationalResponse(status_code=100, headers=[])) == b"HTTP/1.1 100 \r\n\r\n"
    assert not connection.expects_continue
    events = received(connection, b"body")
    assert bytes(events[0].data) == b"body" and events[1] == EndOfMessage()  # type: ignore[attr-defined]


def test_expect_100_continue_ends_when_the_body_arrives_anyway() -> None:
    connection = HTTPConnection(SERVER)
    received(connection, b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    received(connection, b"bo")
    assert not connection.expects_continue


def test_final_response_instead_of_continue() -> None:
    connection = HTTPConnection(SERVER)
    received(connection, b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 99\r\n\r\n")
    connection.send(Response(status_code=417, headers=[("Content-Length", "0"), ("Connection", "close")]))
    assert not connection.expects_continue
    connection.send(EndOfMessage())
    assert connection.must_close


def test_request_content_codings() -> None:
    connection = HTTPConnection(SERVER)
    assert connection.content_codings == ()
    received(connection, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Encoding: GZip, identity\r\n"
                         b"Content-Encoding: br\r\nContent-Length: 0\r\n\r\n")
    assert connection.content_codings == ("gzip", "br")
    answer(connection)
    connection.start_next_cycle()
    received(connection, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert connection.content_codings == ()


def test_upgrade_hands_the_rest_of_the_bytes_over() -> None:
    connection = HTTPConnection(SERVER)
    events = received(connection, b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                                  b"Connection: Upgrade\r\n\r\n\x81\x05hello")
    assert [type(event) for event in events] == [Request, EndOfMessage, type(PAUSED)]
    assert connection.their_state is MIGHT_SWITCH_PROTOCOL
    connection.send(InformationalResponse(status_code=101, headers=[("Upgrade", "websocket"),
                                                                    ("Connection", "Upgrade")]))
    assert connection.our_state is SWITCHED_PROTOCOL and connection.their_state is SWITCHED_PROTOCOL
    assert connection.trailing_data == (b"\x81\x05hello", False)
    assert not connection.keep_alive and not connection.must_close
    assert connection.next_event() is PAUSED


def test_declined_upgrade_continues_as_http() -> None:
    connection = HTTPConnection(SERVER)
    received(connection, b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n")
    answer(connection)
    assert connection.keep_alive
    connection.start_next_cycle()
    assert connection.their_state is IDLE


def test_connect_tunnel() -> None:
    connection = HTTPConnection(SERVER)
    events = received(connection, b"CONNECT tidal.example:443 HTTP/1.1\r\nHost: tidal.example:443\r\n\r\n\x16\x03\x01")
    assert events[0].method == b"CONNECT"  # type: ignore[attr-defined]
    connection.send(Response(status_code=200, headers=[]))
    assert connection.our_state is SWITCHED_PROTOCOL
    assert connection.trailing_data == (b"\x16\x03\x01", False)
    assert not connection.must_close


def test_peer_close_between_requests() -> None:
    connection = HTTPConnection(SERVER)
    assert received(connection, b"") == [ConnectionClosed()]
    assert connection.next_event() == ConnectionClosed()  # repeated, not an error
    assert connection.trailing_data == (b"", True)
    with pytest.raises(HTTPLocalProtocolError, match=r"receive_data\(\) called with data after the end"):
        connection.receive_data(b"GET")


def test_peer_half_close_after_a_request() -> None:
    connection = HTTPConnection(SERVER)
    events = received(connection, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    connection.receive_data(b"")
    assert connection.next_event() == ConnectionClosed()
    assert events[:2] == [events[0], EndOfMessage()]
    # We may still answer a peer that half-closed.
    assert connection.our_state is SEND_BODY or connection.our_state.__name__ == "SEND_RESPONSE"
    data = answer(connection)
    assert data.startswith(b"HTTP/1.1 200 ")
    assert connection.must_close


def test_version_is_read_from_its_place_in_the_request_line() -> None:
    # "HTTP/1.0" inside the target does not make an HTTP/1.1 request 1.0.
    data = b"POST /HTTP/1.0 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    outcome = agree(serve, data)
    assert outcome.error is None
    assert outcome.events[1] == Received(b"ok")


@pytest.mark.parametrize("host", [b"", b"tidal.example", b"TIDAL.example.:8080", b"127.0.0.1:0", b"[::1]:443",
                                  b"[v1.fe80::a+en1]", b"xn--caf-dma.example", b"caf%C3%A9.example", b"a_b-c~d"])
def test_valid_host_values(host: bytes) -> None:
    for extra in (b"", b"Content-Length: 0\r\n"):  # the plain path and the analysed one
        outcome = serve([b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n" + extra + b"\r\n"])
        assert outcome.error is None, outcome.error
        assert outcome.events[0].headers == [(b"host", host)] + ([(b"content-length", b"0")] if extra else [])  # type: ignore[attr-defined]
