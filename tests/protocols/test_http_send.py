"""The outgoing side: what we send obeys the grammar we demand of the peer.

A client engine and a server engine talk to each other here: whatever one
sends, the other must accept unchanged (a hypothesis round trip).  What the
grammar forbids is refused with :class:`HTTPLocalProtocolError`, our side
moves to ``ERROR`` and every later send fails fast.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidal.protocols.http import (
    CLIENT,
    CLOSED,
    ERROR,
    NEED_DATA,
    PAUSED,
    SERVER,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    HTTPConnection,
    HTTPLocalProtocolError,
    InformationalResponse,
    Request,
    Response,
)

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
TOKENS = st.text(alphabet=TCHARS, min_size=1, max_size=12)
# Field values as h11 hands them back: no leading or trailing whitespace.
VALUE_BYTES = st.sampled_from([bytes([byte]) for byte in [*range(0x21, 0x7F), *range(0x80, 0x100)]])
VALUES = st.builds(
    lambda first, middle, last: first + middle + last if middle or last else first,
    VALUE_BYTES,
    st.lists(st.sampled_from([b" ", b"\t", b"a", b"\xe9", b"~"]), max_size=8).map(b"".join),
    st.one_of(st.just(b""), VALUE_BYTES),
).filter(lambda value: value == value.strip(b" \t")) | st.just(b"")
# Framing and connection fields are left to the engine.
RESERVED = {"host", "content-length", "transfer-encoding", "connection", "expect", "upgrade", "te", "trailer"}
FIELDS = st.lists(st.tuples(TOKENS.filter(lambda name: name.lower() not in RESERVED), VALUES), max_size=6)
TARGETS = st.text(alphabet=[chr(code) for code in range(0x21, 0x7F)], min_size=1, max_size=30).map(
    lambda text: "/" + text
)
BODIES = st.lists(st.binary(min_size=1, max_size=50), max_size=4)


def deliver(sender: HTTPConnection, receiver: HTTPConnection, events: list[Event]) -> list[Event]:
    """Send ``events`` from one engine to the other; return what the receiver reports."""
    for event in events:
        data = sender.send(event)
        if data:  # b"" would mean end of stream
            receiver.receive_data(data)
    received: list[Event] = []
    for _ in range(1000):
        event = receiver.next_event()
        if event is NEED_DATA or event is PAUSED:
            return received
        received.append(event)  # type: ignore[arg-type]
    raise AssertionError("no NEED_DATA after 1000 events")


def merged(events: list[Event]) -> list[object]:
    """``events`` with consecutive Data joined into bytes."""
    out: list[object] = []
    for event in events:
        if isinstance(event, Data):
            if out and isinstance(out[-1], bytes):
                out[-1] += bytes(event.data)
            else:
                out.append(bytes(event.data))
        else:
            out.append(event)
    return out


def without_framing(event: object) -> object:
    """``event`` as compared after the round trip: h11 adds Transfer-Encoding itself."""
    if isinstance(event, (Request, Response, InformationalResponse)):
        headers = [(name, value) for name, value in event.headers if name != b"transfer-encoding"]
        return (type(event).__name__, getattr(event, "method", None), getattr(event, "target", None),
                getattr(event, "status_code", None), getattr(event, "reason", None), headers)
    return event


def expected(events: list[Event]) -> list[object]:
    """What the peer should report for ``events``."""
    return [without_framing(event) for event in merged(events)]


@settings(deadline=None, max_examples=60)
@given(TOKENS, TARGETS, FIELDS, BODIES, st.booleans(), FIELDS, st.integers(100, 599).filter(lambda code: code != 101),
       BODIES)
def test_round_trip(method: str, target: str, fields: list[tuple[str, bytes]], body: list[bytes],
                    declare_length: bool, response_fields: list[tuple[str, bytes]], status: int,
                    response_body: list[bytes]) -> None:
    client, server = HTTPConnection(CLIENT), HTTPConnection(SERVER)
    framing = ("Content-Length", str(sum(map(len, body)))) if declare_length else ("Transfer-Encoding", "chunked")
    request = Request(method=method, target=target, headers=[("Host", "tidal.example"), framing, *fields])
    events: list[Event] = [request, *(Data(data=piece) for piece in body), EndOfMessage()]
    assert expected(deliver(client, server, events)) == expected(events)

    answer: list[Event] = []
    if status < 200:
        answer.append(InformationalResponse(status_code=status, headers=response_fields))
        status, response_fields = 200, []
    answer.append(Response(status_code=status, headers=response_fields, reason=b"Some \xe9 Reason"))
    if status in (204, 304):
        answer.append(EndOfMessage())
    else:
        answer += [Data(data=piece) for piece in response_body] + [EndOfMessage(headers=[("X-Trailer", "1")])]
    assert expected(deliver(server, client, answer)) == expected(answer)
    assert client.keep_alive and server.keep_alive
    server.start_next_cycle()
    client.start_next_cycle()


def served() -> HTTPConnection:
    """A server connection that has received a complete GET."""
    connection = HTTPConnection(SERVER)
    connection.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    while connection.next_event() is not NEED_DATA:
        pass
    return connection


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([Response(status_code=600, headers=[])], "status line has the status code 600, outside 100-599"),
        ([Response(status_code=999, headers=[])], "status line has the status code 999, outside 100-599"),
        ([Response(status_code=200, headers=[], reason=b"O\x01K")],
         "status line has the control character 0x01 in its reason phrase"),
        ([Response(status_code=200, headers=[("X-A", "a\x7fb")])],
         "header line 2 has the control character 0x7f in the value of 'X-A'"),
        ([Response(status_code=200, headers=[("Server", "x"), ("X-B", "\x1b[1m")])],
         "header line 3 has the control character 0x1b in the value of 'X-B'"),
        ([InformationalResponse(status_code=103, headers=[("Link", "a\x08")])],
         "header line 2 has the control character 0x08 in the value of 'Link'"),
        ([Response(status_code=200, headers=[]), EndOfMessage(headers=[("Content-Length", "5")])],
         "refusing to send the trailer field 'Content-Length': it is not allowed in a trailer section"),
        ([Response(status_code=200, headers=[]), EndOfMessage(headers=[("X-T", "a\x01")])],
         "refusing to send the trailer field 'X-T': it has the control character 0x01 in its value"),
        ([Response(status_code=200, headers=[("Content-Length", "1")]), Data(data=b"ab")],
         "Too much data for declared Content-Length"),
        ([Response(status_code=200, headers=[("Content-Length", "3")]), Data(data=b"ab"), EndOfMessage()],
         "Too little data for declared Content-Length"),
        ([Response(status_code=200, headers=[("Content-Length", "0")]), EndOfMessage(headers=[("X-T", "1")])],
         "Content-Length and trailers don't mix"),
        ([Request(method="GET", target="/", headers=[("Host", "a")])],
         "can't handle event type Request when role=SERVER and state=SEND_RESPONSE"),
    ],
)
def test_server_refuses_to_send(events: list[Event], message: str) -> None:
    connection = served()
    with pytest.raises(HTTPLocalProtocolError, match=message.replace("(", r"\(").replace(")", r"\)")):
        for event in events:
            connection.send(event)
    assert connection.our_state is ERROR
    assert not connection.keep_alive and connection.must_close
    with pytest.raises(HTTPLocalProtocolError, match="Can't send data when our state is ERROR"):
        connection.send(Response(status_code=500, headers=[]))


def test_client_refuses_to_send() -> None:
    connection = HTTPConnection(CLIENT)
    with pytest.raises(HTTPLocalProtocolError, match="header line 3 has the control character 0x1f in the value"):
        connection.send(Request(method="GET", target="/", headers=[("Host", "a"), ("X", "\x1f")]))
    assert connection.our_state is ERROR
    connection = HTTPConnection(CLIENT)
    with pytest.raises(HTTPLocalProtocolError, match="can't handle event type Response when role=CLIENT"):
        connection.send(Response(status_code=200, headers=[]))


def test_local_error_leaves_the_receive_side_alone() -> None:
    connection = HTTPConnection(SERVER)
    connection.receive_data(b"GET /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
    assert isinstance(connection.next_event(), Request)
    with pytest.raises(HTTPLocalProtocolError):
        connection.send(Response(status_code=200, headers=[("X", "\x01")]))
    assert bytes(connection.next_event().data) == b"hi"  # type: ignore[union-attr]
    assert connection.next_event() == EndOfMessage()


def test_chunked_response_with_trailers_is_framed_by_the_engine() -> None:
    connection = served()
    data = connection.send(Response(status_code=200, headers=[]))
    assert data == b"HTTP/1.1 200 \r\nTransfer-Encoding: chunked\r\n\r\n"
    assert connection.send(Data(data=b"abc")) == b"3\r\nabc\r\n"
    assert connection.send(Data(data=b"")) == b""
    assert connection.send(EndOfMessage(headers=[("X-Digest", "1")])) == b"0\r\nX-Digest: 1\r\n\r\n"
    assert connection.keep_alive


def test_send_connection_closed() -> None:
    connection = HTTPConnection(CLIENT)
    assert connection.send(ConnectionClosed()) == b""
    assert connection.our_state is CLOSED
    assert not connection.keep_alive and connection.must_close


def test_send_failed_moves_our_side_to_error() -> None:
    connection = served()
    connection.send(Response(status_code=200, headers=[("Content-Length", "0")]))
    connection.send_failed()
    assert connection.our_state is ERROR and connection.must_close
