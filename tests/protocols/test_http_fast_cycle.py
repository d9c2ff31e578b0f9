"""The fast cycle changes nothing a caller can see.

Every scenario below runs twice, once with the fast cycle and once with every
cycle through h11, and the traces -- each event, each byte string sent, each
error with its message, and the connection's states after every step -- must
be identical.  The scenarios mix messages the fast cycle takes with messages
that make it hand over to h11 mid-cycle (bodies of every framing, 1xx,
protocol switches, Connection: close, HTTP/1.0, EOFs, refused sends), at
every split of the received bytes and with pipelining.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tidal.protocols import http
from tidal.protocols.http import (
    CLIENT,
    NEED_DATA,
    PAUSED,
    SERVER,
    ConnectionClosed,
    Data,
    EndOfMessage,
    HTTPConnection,
    InformationalResponse,
    Request,
    Response,
)

REQUEST_BYTES = {
    "get": b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
    "get-fields": b"GET /b?q=1 HTTP/1.1\r\nhost: x:80\r\nConnection: keep-alive\r\nAccept:  */* \r\nX-E:\r\n\r\n",
    "head": b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
    "delete": b"DELETE /d HTTP/1.1\r\nHost: x\r\n\r\n",
    "options": b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    "post": b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    "chunked": b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "expect": b"POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
    "expect-get": b"GET /e HTTP/1.1\r\nHost: x\r\nexpect: 100-continue\r\n\r\n",
    "upgrade": b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    "close": b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "http10": b"GET / HTTP/1.0\r\n\r\n",
    "no-host": b"GET / HTTP/1.1\r\nAccept: x\r\n\r\n",
    "two-hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHOST: a\r\n\r\n",
    "connect": b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n",
    "bad-field": b"GET / HTTP/1.1\r\nHost: x\r\nBad Field: y\r\n\r\n",
    "blank-line": b"\r\nGET /after-blank HTTP/1.1\r\nHost: x\r\n\r\n",
}

SERVER_REPLIES: dict[str, list[Any]] = {
    "length": [Response(status_code=200, headers=[("Content-Length", "5")]), Data(data=b"hello"), EndOfMessage()],
    "length-pieces": [
        Response(status_code=200, headers=[("content-length", "6"), ("X-A", "1")], reason=b"OK"),
        Data(data=b"abc"),
        Data(data=bytearray(b"def")),
        EndOfMessage(),
    ],
    "length-0": [Response(status_code=200, headers=[("content-length", "0")]), EndOfMessage()],
    "chunked": [Response(status_code=200, headers=[]), Data(data=b"abc"), EndOfMessage()],
    "trailers": [Response(status_code=200, headers=[]), Data(data=b"x"), EndOfMessage(headers=[("x-t", "1")])],
    "204": [Response(status_code=204, headers=[]), EndOfMessage()],
    "304-length": [Response(status_code=304, headers=[("content-length", "10")]), EndOfMessage()],
    "close": [Response(status_code=200, headers=[("connection", "close"), ("content-length", "1")]), Data(data=b"x"), EndOfMessage()],
    "too-much": [Response(status_code=200, headers=[("content-length", "1")]), Data(data=b"xy"), EndOfMessage()],
    "too-little": [Response(status_code=200, headers=[("content-length", "3")]), Data(data=b"x"), EndOfMessage()],
    "length-trailers": [
        Response(status_code=200, headers=[("content-length", "1")]),
        Data(data=b"x"),
        EndOfMessage(headers=[("x", "y")]),
    ],
    "continue": [InformationalResponse(status_code=100, headers=[]), Response(status_code=200, headers=[("content-length", "0")]), EndOfMessage()],
    "switch": [InformationalResponse(status_code=101, headers=[("upgrade", "websocket")])],
    "control-byte": [Response(status_code=200, headers=[("x-a", "a\x7fb"), ("content-length", "0")]), EndOfMessage()],
    "status-700": [Response(status_code=700, headers=[("content-length", "0")]), EndOfMessage()],
    "closed": [ConnectionClosed()],
    "send-failed": [Response(status_code=200, headers=[("content-length", "1")]), "send_failed"],
    "failed-at-once": ["send_failed"],
    "early-next-cycle": [Response(status_code=200, headers=[("content-length", "1")]), "start_next_cycle"],
}


def snapshot(connection: HTTPConnection) -> tuple[Any, ...]:
    return (
        connection.our_state,
        connection.their_state,
        connection.keep_alive,
        connection.must_close,
        connection.expects_continue,
        connection.their_http_version,
        connection.content_codings,
    )


def pull(connection: HTTPConnection, trace: list[Any]) -> None:
    """Pull events until the engine waits, recording each (and any error)."""
    for _ in range(20):
        try:
            event = connection.next_event()
        except http.HTTPRemoteProtocolError as exc:
            trace.append(("remote-error", str(exc), exc.status, snapshot(connection)))
            return
        if isinstance(event, Data):
            event = Data(data=bytes(event.data), chunk_start=event.chunk_start, chunk_end=event.chunk_end)
        trace.append(("event", event, snapshot(connection)))
        if event is NEED_DATA or event is PAUSED or isinstance(event, ConnectionClosed):
            return


def act(connection: HTTPConnection, step: Any, trace: list[Any]) -> None:
    """Send one event (or call the named method), recording bytes or error."""
    try:
        if step == "send_failed":
            connection.send_failed()
            result: Any = None
        elif step == "start_next_cycle":
            connection.start_next_cycle()
            result = None
        else:
            result = connection.send(step)
    except http.HTTPLocalProtocolError as exc:
        trace.append(("local-error", str(exc), snapshot(connection)))
        return
    trace.append(("sent", result, snapshot(connection)))


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:]) if b > a] or [data]


@st.composite
def server_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    cycles = draw(
        st.lists(
            st.tuples(st.sampled_from(sorted(REQUEST_BYTES)), st.sampled_from(sorted(SERVER_REPLIES)), st.booleans()),
            min_size=1,
            max_size=4,
        )
    )
    return {
        "cycles": cycles,
        "pipelined": draw(st.booleans()),
        "cuts": draw(st.lists(st.integers(min_value=0, max_value=400), max_size=6)),
        "eof_after": draw(st.sampled_from([None, "requests", "first-reply"])),
    }


def run_server(scenario: dict[str, Any], fast: bool) -> list[Any]:
    connection = HTTPConnection(SERVER)
    connection._fast_enabled = fast
    trace: list[Any] = []
    wire = b"".join(REQUEST_BYTES[name] for name, _, _ in scenario["cycles"])
    if scenario["pipelined"]:
        for piece in split(wire, scenario["cuts"]):
            connection.receive_data(piece)
            pull(connection, trace)
        if scenario["eof_after"] == "requests":
            connection.receive_data(b"")
    for index, (name, reply, pull_first) in enumerate(scenario["cycles"]):
        if not scenario["pipelined"]:
            for piece in split(REQUEST_BYTES[name], scenario["cuts"]):
                connection.receive_data(piece)
                pull(connection, trace)
            if scenario["eof_after"] == "requests" and index == len(scenario["cycles"]) - 1:
                connection.receive_data(b"")
        pull(connection, trace)
        for step in SERVER_REPLIES[reply]:
            act(connection, step, trace)
            if pull_first:
                pull(connection, trace)
        if scenario["eof_after"] == "first-reply" and index == 0:
            connection.receive_data(b"")
        pull(connection, trace)
        act(connection, "start_next_cycle", trace)
        last = index == len(scenario["cycles"]) - 1 or (scenario["eof_after"] == "first-reply" and not scenario["pipelined"])
        trace.append(("trailing", connection.trailing_data if last else None))
        if last:
            break
    return trace


@settings(max_examples=400, deadline=None)
@given(server_scenarios())
def test_server_role_traces_match_h11(scenario: dict[str, Any]) -> None:
    assert run_server(scenario, fast=True) == run_server(scenario, fast=False)


def _request(method: str, headers: list[tuple[str, str]], target: str = "/r") -> Request:
    return Request(method=method, target=target, headers=[("Host", "example.com"), *headers])


CLIENT_REQUESTS: dict[str, list[Any]] = {
    "get": [_request("GET", []), EndOfMessage()],
    "get-fields": [_request("GET", [("Accept", "*/*"), ("Connection", "keep-alive")]), EndOfMessage()],
    "head": [_request("HEAD", []), EndOfMessage()],
    "post": [_request("POST", [("Content-Length", "5")]), Data(data=b"he"), Data(data=memoryview(b"llo")), EndOfMessage()],
    "post-chunked": [_request("POST", []), Data(data=b"abc"), EndOfMessage()],
    "post-expect": [_request("POST", [("Expect", "100-continue"), ("content-length", "2")]), Data(data=b"hi"), EndOfMessage()],
    "close": [_request("GET", [("Connection", "close")]), EndOfMessage()],
    "upgrade": [_request("GET", [("Upgrade", "websocket"), ("Connection", "Upgrade")]), EndOfMessage()],
    "connect": [Request(method="CONNECT", target="example.com:443", headers=[("Host", "example.com:443")]), EndOfMessage()],
    "too-much": [_request("PUT", [("content-length", "1")]), Data(data=b"xy"), EndOfMessage()],
    "too-little": [_request("PUT", [("content-length", "3")]), Data(data=b"x"), EndOfMessage()],
    "unfinished": [_request("PUT", [("content-length", "3")]), Data(data=b"x")],
    "control-byte": [_request("GET", [("X-A", "a\x01b")]), EndOfMessage()],
    "http10": [Request(method="GET", target="/", headers=[], http_version="1.0"), EndOfMessage()],
    "failed": [_request("GET", []), "send_failed"],
}

RESPONSE_BYTES = {
    "length": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
    "length-0": b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
    "no-reason": b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok",
    "empty-reason": b"HTTP/1.1 404 \r\nContent-Length: 1\r\nX-W:  spaced value \r\n\r\nx",
    "gzip": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nx-t: 1\r\n\r\n",
    "204": b"HTTP/1.1 204 No Content\r\n\r\n",
    "304-length": b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
    "head-style": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
    "until-close": b"HTTP/1.1 200 OK\r\n\r\nstream until close",
    "continue": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz",
    "early-hints": b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "switch": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nframes",
    "close": b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nq",
    "http10": b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nq",
    "truncated": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
    "extra": b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nqEXTRA",
    "bad-status": b"HTTP/1.1 2x0 OK\r\n\r\n",
    "cl-and-te": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "too-large": b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
}


@st.composite
def client_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    cycles = draw(
        st.lists(
            st.tuples(st.sampled_from(sorted(CLIENT_REQUESTS)), st.sampled_from(sorted(RESPONSE_BYTES)), st.booleans()),
            min_size=1,
            max_size=4,
        )
    )
    return {
        "cycles": cycles,
        "cuts": draw(st.lists(st.integers(min_value=0, max_value=200), max_size=5)),
        "eof": draw(st.sampled_from([None, "after-response", "mid-response"])),
    }


def run_client(scenario: dict[str, Any], fast: bool) -> list[Any]:
    connection = HTTPConnection(CLIENT, limits=http.HTTPLimits(max_body_bytes=10**9))
    connection._fast_enabled = fast
    trace: list[Any] = []
    for name, response, early in scenario["cycles"]:
        steps = CLIENT_REQUESTS[name]
        head_steps, tail_steps = (steps[:1], steps[1:]) if early else (steps, [])
        for step in head_steps:
            act(connection, step, trace)
        wire = RESPONSE_BYTES[response]
        pieces = split(wire, scenario["cuts"])
        for number, piece in enumerate(pieces):
            connection.receive_data(piece)
            pull(connection, trace)
            if scenario["eof"] == "mid-response" and number == len(pieces) // 2:
                connection.receive_data(b"")
                pull(connection, trace)
                break
        for step in tail_steps:
            act(connection, step, trace)
            pull(connection, trace)
        if scenario["eof"] == "after-response":
            connection.receive_data(b"")
            pull(connection, trace)
        act(connection, "start_next_cycle", trace)
        trace.append(("trailing", connection.trailing_data))
        if scenario["eof"]:
            break
    return trace


@settings(max_examples=400, deadline=None)
@given(client_scenarios())
def test_client_role_traces_match_h11(scenario: dict[str, Any]) -> None:
    assert run_client(scenario, fast=True) == run_client(scenario, fast=False)


def test_the_usual_cycles_take_the_fast_path() -> None:
    """The plain GET and its Content-Length answer never reach h11 (both roles)."""
    server = HTTPConnection(SERVER)
    server.receive_data(REQUEST_BYTES["get-fields"] * 2)
    client = HTTPConnection(CLIENT)
    calls: list[str] = []
    for engine in (server, client):
        for name in ("receive_data", "next_event", "send", "start_next_cycle"):
            method = getattr(engine._h11, name)
            setattr(engine._h11, name, lambda *args, _name=name, _method=method: calls.append(_name) or _method(*args))
    for _ in range(2):
        assert isinstance(server.next_event(), Request)
        assert isinstance(server.next_event(), EndOfMessage)
        wire = server.send(Response(status_code=200, headers=[("content-length", "2")]))
        wire += server.send(Data(data=b"hi")) + server.send(EndOfMessage())
        server.start_next_cycle()
        client.send(_request("GET", []))
        client.send(EndOfMessage())
        client.receive_data(wire)
        assert isinstance(client.next_event(), Response)
        assert bytes(client.next_event().data) == b"hi"  # type: ignore[union-attr]
        assert isinstance(client.next_event(), EndOfMessage)
        client.start_next_cycle()
    assert calls == []  # h11 was never called
    assert server.their_http_version == client.their_http_version == b"1.1"
