"""Feeding the same bytes in any split yields the same events and errors.

Each conversation below is fed whole, one byte at a time and cut at random
offsets chosen by hypothesis; the received events (body bytes merged) and
the final error, if any, must be identical.  The corpus mixes valid traffic
with inputs that fail part-way, so error positions are covered too.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.protocols.test_http_kit import Outcome, Received, agree, byte_by_byte, fetch, pieces, serve, whole
from tidal.protocols.http import (
    CLIENT,
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    EndOfMessage,
    HTTPConnection,
    HTTPLimits,
    HTTPRemoteProtocolError,
    Request,
)

SMALL = HTTPLimits(max_header_bytes=200, max_header_count=4, max_start_line_bytes=40, max_body_bytes=20,
                   max_chunk_line_bytes=16)

GET_A = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
POST_CL = b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
POST_CHUNKED = (
    b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;name=value;q=\"a\\\"b\"\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Checksum: 42\r\nX-Other: a b\r\n\r\n"
)
GET_10 = b"GET /d HTTP/1.0\r\n\r\n"

SERVER_CONVERSATIONS = {
    "one-get": GET_A,
    "pipelined-mixed": GET_A + POST_CL + POST_CHUNKED + GET_A,
    "leading-empty-line": b"\r\n" + GET_A + b"\r\n" + GET_A,
    "get-then-http10": GET_A + GET_10,
    "bad-second-head": GET_A + b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n",
    "bad-chunk-after-data": POST_CHUNKED.replace(b"1\r\n \r\n", b"1\r\n \r\nzz\r\n"),
    "nul-in-chunk-ext": POST_CHUNKED.replace(b"name=value", b"name=va\x00ue"),
    "cl-te": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "forbidden-trailer": POST_CHUNKED.replace(b"X-Other", b"Content-Length"),
    "truncated-body": POST_CL[:-3],
    "truncated-chunk": POST_CHUNKED[:-20],
    "over-limits-header": b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: 1\r\n" * 200 + b"\r\n",
    "over-limits-line": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n",
    "garbage-after-close": GET_10 + b"GET / HTTP/1.0\r\n\r\n",
}

SMALL_CONVERSATIONS = {
    "fits": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n" + b"b" * 20,
    "long-line": b"GET /" + b"a" * 40 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "line-at-limit": b"GET /" + b"a" * 24 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "many-fields": b"GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
    "big-section": b"GET / HTTP/1.1\r\nHost: x\r\nA: " + b"v" * 200 + b"\r\n\r\n",
    "chunk-line": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;abcdefghijklmn\r\nx\r\n0\r\n\r\n",
    "chunked-body": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n123456789\r\n9\r\n"
    + b"123456789\r\n9\r\n123456789\r\n0\r\n\r\n",
}

RESPONSES = {
    "length": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    "chunked-trailers": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3  \r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
    "until-close": b"HTTP/1.1 200 OK\r\n\r\nall of this until the end",
    "continue-then-final": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    b"HTTP/1.1 204 No Content\r\n\r\n",
    "no-reason": b"HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx",
    "bad-chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nq\r\n",
}
TWO_GETS = (
    Request(method="GET", target="/1", headers=[("Host", "x")]),
    Request(method="GET", target="/2", headers=[("Host", "x")]),
)

CUTS = st.lists(st.integers(0, 10_000), max_size=12)


@settings(deadline=None, max_examples=25)
@given(CUTS)
@pytest.mark.parametrize("data", SERVER_CONVERSATIONS.values(), ids=SERVER_CONVERSATIONS.keys())
def test_server_role_any_split(data: bytes, cuts: list[int]) -> None:
    agree(serve, data, cuts)


@settings(deadline=None, max_examples=25)
@given(CUTS)
@pytest.mark.parametrize("data", SMALL_CONVERSATIONS.values(), ids=SMALL_CONVERSATIONS.keys())
def test_small_limits_any_split(data: bytes, cuts: list[int]) -> None:
    agree(lambda reads: serve(reads, limits=SMALL), data, cuts)


def fetch_for(name: str) -> Callable[[list[bytes]], Outcome]:
    """The client driver for the response ``name`` (one GET)."""
    return lambda reads: fetch(reads, requests=TWO_GETS[:1])


@settings(deadline=None, max_examples=25)
@given(CUTS)
@pytest.mark.parametrize("name", RESPONSES.keys())
def test_client_role_any_split(name: str, cuts: list[int]) -> None:
    agree(fetch_for(name), RESPONSES[name], cuts)


# Keep-alive cycles: each response arrives only after its request was sent
# (bytes before that are unsolicited and refused), so each is cut on its own.
CYCLES = {
    "two-cycles": [b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
                   b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"],
    "bad-second-status": [b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", b"HTTP/1.1 2000 Odd\r\n\r\n"],
}


def fetch_in_cycles(responses: list[list[bytes]]) -> Outcome:
    """A client sending one GET per response, feeding each response's reads after its request."""
    connection = HTTPConnection(CLIENT)
    outcome = Outcome(connection=connection)
    try:
        for index, reads in enumerate(responses):
            if index:
                connection.start_next_cycle()
            connection.send(TWO_GETS[index % 2])
            connection.send(EndOfMessage())
            for read in reads:
                connection.receive_data(read)
                for _ in range(1000):
                    event = connection.next_event()
                    if event is NEED_DATA or event is PAUSED:
                        break
                    outcome.record(event)  # type: ignore[arg-type]
    except HTTPRemoteProtocolError as exc:
        outcome.error = (exc.status, str(exc))
    return outcome


@settings(deadline=None, max_examples=25)
@given(st.lists(CUTS, min_size=2, max_size=2))
@pytest.mark.parametrize("name", CYCLES.keys())
def test_cycles_any_split(name: str, cuts: list[list[int]]) -> None:
    responses = CYCLES[name]
    reference = fetch_in_cycles([whole(data) for data in responses])
    for reads in ([byte_by_byte(data) for data in responses],
                  [pieces(data, cut) for data, cut in zip(responses, cuts)]):
        assert fetch_in_cycles(reads).comparable() == reference.comparable()


# The status each conversation ends with (None: no error).
EXPECTED_SERVER_STATUS = {
    "one-get": None, "pipelined-mixed": None, "leading-empty-line": None, "get-then-http10": None,
    "bad-second-head": 400, "bad-chunk-after-data": 400, "nul-in-chunk-ext": 400, "cl-te": 400,
    "forbidden-trailer": 400, "truncated-body": 400, "truncated-chunk": 400, "over-limits-header": 431,
    "over-limits-line": 414, "garbage-after-close": 400,
}
EXPECTED_SMALL_STATUS = {
    "fits": None, "long-line": 414, "line-at-limit": None, "many-fields": 431, "big-section": 431,
    "chunk-line": 400, "chunked-body": 413,
}
EXPECTED_CLIENT_STATUS = {
    "length": None, "chunked-trailers": None, "until-close": None, "continue-then-final": None,
    "no-reason": None, "bad-chunk": 502,
}


def test_every_conversation_ends_as_expected() -> None:
    for name, data in SERVER_CONVERSATIONS.items():
        error = serve(whole(data)).error
        assert (error and error[0]) == EXPECTED_SERVER_STATUS[name], (name, error)
    for name, data in SMALL_CONVERSATIONS.items():
        error = serve(whole(data), limits=SMALL).error
        assert (error and error[0]) == EXPECTED_SMALL_STATUS[name], (name, error)
    for name, data in RESPONSES.items():
        outcome = fetch_for(name)(whole(data))
        assert (outcome.error and outcome.error[0]) == EXPECTED_CLIENT_STATUS[name], (name, outcome.error)
        if outcome.error is None:
            assert isinstance(outcome.events[-1], ConnectionClosed)


def test_corpus_outcomes() -> None:
    """Pin what the corpus produces, so 'all splits agree' cannot mean 'all fail'."""
    pipelined = agree(serve, SERVER_CONVERSATIONS["pipelined-mixed"])
    assert pipelined.error is None
    assert [e.target for e in pipelined.events if isinstance(e, Request)] == [b"/a", b"/b", b"/c", b"/a"]
    assert [e.data for e in pipelined.events if isinstance(e, Received)] == [b"hello world", b"hello world"]
    trailers = [e.headers for e in pipelined.events if isinstance(e, EndOfMessage) and e.headers]
    assert trailers == [[(b"x-checksum", b"42"), (b"x-other", b"a b")]]
    bad = agree(serve, SERVER_CONVERSATIONS["bad-chunk-after-data"])
    assert bad.events[-1] == Received(b"hello ")
    assert bad.error == (400, "chunk-size line does not start with a hexadecimal chunk size: b'zz\\r\\n'")
    fits = agree(lambda reads: serve(reads, limits=SMALL), SMALL_CONVERSATIONS["fits"])
    assert fits.error is None and fits.events[1] == Received(b"b" * 20)
    at_limit = agree(lambda reads: serve(reads, limits=SMALL), SMALL_CONVERSATIONS["line-at-limit"])
    assert at_limit.error is None
    chunked = agree(lambda reads: serve(reads, limits=SMALL), SMALL_CONVERSATIONS["chunked-body"])
    assert chunked.error is not None and chunked.error[0] == 413
    assert chunked.events[-1] == Received(b"123456789" * 2)
    two = fetch_in_cycles([whole(data) for data in CYCLES["two-cycles"]])
    assert two.error is None
    assert [e.status_code for e in two.events if hasattr(e, "status_code")] == [200, 404]
    bad = fetch_in_cycles([whole(data) for data in CYCLES["bad-second-status"]])
    assert bad.error == (502, "status line has no three-digit status code: b'HTTP/1.1 2000 Odd\\r\\n'")
