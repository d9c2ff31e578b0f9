"""Each limit holds exactly at its bound, whatever the split.

Every boundary is tested at the limit (accepted) and one past it (refused),
whole and one byte at a time, so the fast whole-section match and the
line-by-line walk are held to the same numbers.
"""

from __future__ import annotations

import pytest

from tests.protocols.test_http_kit import agree, fetch, serve
from tidal.protocols.http import EndOfMessage, HTTPLimits, Request, Response
from tidal.protocols.http._limits import DEFAULT_LIMITS


def request_of_size(size: int, *, fields: int = 2) -> bytes:
    """A GET of ``fields`` field lines whose header section is exactly ``size`` bytes.

    The fields are Host, ``fields - 2`` short ones and a padding field.
    """
    head = b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: v\r\n" % index for index in range(fields - 2))
    padding = size - len(head) - len(b"X-Pad: \r\n\r\n")
    assert padding >= 0
    return head + b"X-Pad: " + b"p" * padding + b"\r\n\r\n"


def serve_with(limits: HTTPLimits):  # type: ignore[no-untyped-def]
    return lambda reads: serve(reads, limits=limits)


def fetch_with(limits: HTTPLimits):  # type: ignore[no-untyped-def]
    return lambda reads: fetch(reads, limits=limits)


def test_defaults() -> None:
    limits = HTTPLimits()
    assert limits == DEFAULT_LIMITS
    assert (limits.max_header_bytes, limits.max_header_count, limits.max_start_line_bytes) == (65536, 100, 8192)
    assert (limits.max_body_bytes, limits.max_chunk_line_bytes, limits.max_content_codings) == (None, 4096, 5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_header_bytes": 0}, "max_header_bytes must be a positive int, not 0"),
        ({"max_header_count": -1}, "max_header_count must be a positive int, not -1"),
        ({"max_chunk_line_bytes": 1.5}, "max_chunk_line_bytes must be a positive int, not 1.5"),
        ({"max_content_codings": "5"}, "max_content_codings must be a positive int, not '5'"),
        ({"max_body_bytes": -1}, "max_body_bytes must be None or an int >= 0, not -1"),
        ({"max_header_bytes": 100, "max_start_line_bytes": 101},
         r"max_start_line_bytes \(101\) cannot exceed max_header_bytes \(100\)"),
    ],
)
def test_invalid_limits(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HTTPLimits(**kwargs)  # type: ignore[arg-type]


def test_limits_are_immutable() -> None:
    with pytest.raises(AttributeError):
        HTTPLimits().max_header_bytes = 1  # type: ignore[misc]


@pytest.mark.parametrize("size", [200, 4096, 65536])
def test_header_bytes_at_the_limit(size: int) -> None:
    limits = HTTPLimits(max_header_bytes=size, max_start_line_bytes=min(size, 8192))
    assert agree(serve_with(limits), request_of_size(size)).error is None
    over = agree(serve_with(limits), request_of_size(size + 1))
    assert over.error == (431, f"header section exceeds the {size}-byte limit (no end within its first {size} bytes)")


def test_h11_issue_182_a_big_section_in_one_read() -> None:
    # h11 checks its limit only while waiting for data, so 1000 fields that
    # arrive in one read pass a 100-byte limit there.  Here they do not.
    limits = HTTPLimits(max_header_bytes=100, max_start_line_bytes=100, max_header_count=2000)
    data = b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: 1\r\n" * 1000 + b"\r\n"
    outcome = serve([data], limits=limits)
    assert outcome.error == (431, "header section exceeds the 100-byte limit (no end within its first 100 bytes)")
    assert outcome.events == []


@pytest.mark.parametrize("count", [2, 5, 100])
def test_header_count_at_the_limit(count: int) -> None:
    limits = HTTPLimits(max_header_count=count)
    assert agree(serve_with(limits), request_of_size(400 + 20 * count, fields=count)).error is None
    over = agree(serve_with(limits), request_of_size(400 + 20 * count, fields=count + 1))
    assert over.error == (
        431, f"header section has more than {count} fields, the limit (field {count + 1} on line {count + 2})"
    )


def test_start_line_at_the_limit() -> None:
    limits = HTTPLimits(max_start_line_bytes=64)
    line = b"GET /" + b"a" * (64 - len(b"GET / HTTP/1.1\r\n")) + b" HTTP/1.1\r\n"
    assert len(line) == 64
    assert agree(serve_with(limits), line + b"Host: a\r\n\r\n").error is None
    longer = line.replace(b"/a", b"/aa")
    over = agree(serve_with(limits), longer + b"Host: a\r\n\r\n")
    assert over.error == (414, "request line exceeds the 64-byte limit (no line end within its first 64 bytes)")


def test_start_line_limit_without_a_line_end_yet() -> None:
    limits = HTTPLimits(max_start_line_bytes=64)
    outcome = serve([b"GET /" + b"a" * 100], limits=limits, eof=False)
    assert outcome.error == (414, "request line exceeds the 64-byte limit (no line end within its first 64 bytes)")


def test_status_line_at_the_limit() -> None:
    limits = HTTPLimits(max_start_line_bytes=32)
    line = b"HTTP/1.1 200 " + b"R" * (32 - 15) + b"\r\n"
    assert len(line) == 32
    ok = agree(fetch_with(limits), line + b"Content-Length: 0\r\n\r\n")
    assert ok.error is None and isinstance(ok.events[0], Response)
    over = agree(fetch_with(limits), line.replace(b"RR", b"RRR") + b"Content-Length: 0\r\n\r\n")
    assert over.error == (502, "status line exceeds the 32-byte limit (no line end within its first 32 bytes)")


def test_response_header_limits() -> None:
    limits = HTTPLimits(max_header_count=2)
    outcome = agree(fetch_with(limits), b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n")
    assert outcome.error == (502, "header section has more than 2 fields, the limit (field 3 on line 4)")


@pytest.mark.parametrize("limit", [0, 1, 1000])
def test_content_length_body_at_the_limit(limit: int) -> None:
    limits = HTTPLimits(max_body_bytes=limit)
    at = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % limit + b"x" * limit
    assert agree(serve_with(limits), at).error is None
    over = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % (limit + 1) + b"x" * (limit + 1)
    outcome = agree(serve_with(limits), over)
    assert outcome.error == (413, f"Content-Length of {limit + 1} bytes exceeds the {limit}-byte limit")
    assert outcome.events == []  # refused before the request is delivered


def test_chunked_body_at_the_limit() -> None:
    limits = HTTPLimits(max_body_bytes=10)
    at = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nxxxx\r\n6\r\nxxxxxx\r\n0\r\n\r\n"
    assert agree(serve_with(limits), at).error is None
    over = at.replace(b"6\r\nxxxxxx", b"7\r\nxxxxxxx")
    outcome = agree(serve_with(limits), over)
    assert outcome.error == (413, "chunked body of at least 11 bytes exceeds the 10-byte limit")


def test_chunk_line_at_the_limit() -> None:
    limits = HTTPLimits(max_chunk_line_bytes=16)
    line = b"5;" + b"e" * 12 + b"\r\n"
    assert len(line) == 16
    body = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n%shello\r\n0\r\n\r\n"
    assert agree(serve_with(limits), body % line).error is None
    outcome = agree(serve_with(limits), body % line.replace(b";e", b";ee"))
    assert outcome.error == (400, "chunk-size line exceeds the 16-byte limit")


def test_trailer_section_has_its_own_budget() -> None:
    limits = HTTPLimits(max_header_count=3, max_header_bytes=120, max_start_line_bytes=60)
    head = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    three = b"0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
    outcome = agree(serve_with(limits), head + three)
    assert outcome.error is None
    assert outcome.events[1] == EndOfMessage(headers=[("A", "1"), ("B", "2"), ("C", "3")])
    outcome = agree(serve_with(limits), head + three.replace(b"\r\n\r\n", b"\r\nD: 4\r\n\r\n"))
    assert outcome.error == (431, "trailer section has more than 3 fields, the limit (field 4 on line 4)")
    big = b"0\r\nA: " + b"a" * 120 + b"\r\n\r\n"
    outcome = agree(serve_with(limits), head + big)
    assert outcome.error == (431, "trailer section exceeds the 120-byte limit (no end within its first 120 bytes)")


def test_content_coding_count_at_the_limit() -> None:
    limits = HTTPLimits(max_content_codings=2)
    ok = agree(serve_with(limits), b"POST / HTTP/1.1\r\nHost: a\r\nContent-Encoding: gzip, br, identity\r\n\r\n")
    assert ok.error is None
    over = agree(serve_with(limits), b"POST / HTTP/1.1\r\nHost: a\r\nContent-Encoding: gzip, br, zstd\r\n\r\n")
    assert over.error == (415, "3 content-codings exceed the limit of 2 chained codings")


def test_limits_apply_again_on_every_cycle() -> None:
    limits = HTTPLimits(max_header_bytes=200, max_start_line_bytes=100)
    data = request_of_size(200) + request_of_size(200) + request_of_size(201)
    outcome = agree(serve_with(limits), data)
    assert [type(event) for event in outcome.events] == [Request, EndOfMessage] * 2
    assert outcome.error is not None and outcome.error[0] == 431
