"""Malformed, ambiguous and over-limit input: refused with the right status.

Every case is fed whole and one byte at a time (the outcomes must agree),
and asserts the exception type, the ``status`` a server should answer and a
message that names the offending line, field or number.  After the error the
peer's side is in ``ERROR``, every later call fails fast, and a server can
still answer with an error response that closes the connection.
"""

from __future__ import annotations

import re

import pytest

from tests.protocols.test_http_kit import byte_by_byte, fetch, serve, whole
from tidal.protocols.http import (
    ERROR,
    EndOfMessage,
    HTTPConnection,
    HTTPLimits,
    HTTPRemoteProtocolError,
    Request,
    Response,
    SERVER,
)


def post(*fields: bytes, body: bytes = b"", start: bytes = b"POST /upload HTTP/1.1") -> bytes:
    """A request head with a Host field, the given field lines, and ``body``."""
    return b"\r\n".join([start, b"Host: tidal.example", *fields]) + b"\r\n\r\n" + body


def chunked(body: bytes) -> bytes:
    """A chunked POST whose body bytes are ``body`` (framing included)."""
    return post(b"Transfer-Encoding: chunked", body=body)


# (label, bytes, status, message pattern)
SERVER_CASES = [
    # --- framing and request smuggling (RFC 9112 §6) ---
    ("cl-and-te", post(b"Content-Length: 5", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"), 400,
     r"both Content-Length and Transfer-Encoding"),
    ("te-and-cl", post(b"Transfer-Encoding: chunked", b"Content-Length: 5", body=b"0\r\n\r\n"), 400,
     r"both Content-Length and Transfer-Encoding"),
    ("duplicate-cl-equal", post(b"Content-Length: 3", b"Content-Length: 3", body=b"abc"), 400,
     r"message has 2 Content-Length fields"),
    ("duplicate-cl-conflicting", post(b"Content-Length: 3", b"Content-Length: 4", body=b"abcd"), 400,
     r"message has 2 Content-Length fields"),
    ("cl-list", post(b"Content-Length: 3, 3", body=b"abc"), 400, r"invalid Content-Length b'3, 3'"),
    ("cl-plus-sign", post(b"Content-Length: +3", body=b"abc"), 400, r"invalid Content-Length b'\+3'"),
    ("cl-minus-sign", post(b"Content-Length: -3"), 400, r"invalid Content-Length b'-3'"),
    ("cl-inner-space", post(b"Content-Length: 1 2"), 400, r"invalid Content-Length b'1 2'"),
    ("cl-hex", post(b"Content-Length: 0x10"), 400, r"invalid Content-Length b'0x10'"),
    ("cl-empty", post(b"Content-Length:"), 400, r"invalid Content-Length b''"),
    ("cl-19-digits", post(b"Content-Length: " + b"1" * 19), 400,
     r"Content-Length of 19 digits exceeds the 18-digit limit"),
    ("cl-1000-digits", post(b"Content-Length: " + b"9" * 1000), 400,
     r"Content-Length of 1000 digits exceeds the 18-digit limit"),
    ("te-gzip-chunked", post(b"Transfer-Encoding: gzip, chunked"), 501, r"unsupported transfer coding 'gzip'"),
    ("te-unknown-chunked", post(b"Transfer-Encoding: x-custom, chunked"), 501,
     r"unsupported transfer coding 'x-custom'"),
    ("te-not-chunked-last", post(b"Transfer-Encoding: chunked, gzip"), 400, r"does not end in chunked"),
    ("te-identity", post(b"Transfer-Encoding: identity"), 400, r"b'identity' does not end in chunked"),
    ("te-chunked-twice", post(b"Transfer-Encoding: chunked, chunked"), 400, r"applies chunked more than once"),
    ("te-two-fields", post(b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"), 400,
     r"message has 2 Transfer-Encoding fields"),
    ("te-empty", post(b"Transfer-Encoding:"), 400, r"Transfer-Encoding b'' does not end in chunked"),
    ("te-in-http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400,
     r"HTTP/1\.0 message has Transfer-Encoding, which HTTP/1\.0 does not define"),
    ("te-in-http10-target-lies", b"POST /HTTP/1.1 HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
     r"HTTP/1\.0 message has Transfer-Encoding"),
    ("te-obs-fold", post(b"Transfer-Encoding:", b" chunked"), 400, r"line 4 starts with whitespace: obs-fold"),
    ("te-obs-fold-tab", post(b"Transfer-Encoding: gzip,", b"\tchunked"), 400,
     r"line 4 starts with whitespace: obs-fold"),
    # --- line endings, obs-fold, names and values (RFC 9112 §2.2, §5) ---
    ("obs-fold", post(b"X-Long: first", b" continued"), 400, r"header section line 4 starts with whitespace"),
    ("obs-fold-first-field", post(start=b"POST / HTTP/1.1\r\n Host: x"), 400,
     r"header section line 2 starts with whitespace"),
    ("bare-lf-request-line", b"GET / HTTP/1.1\nHost: a\r\n\r\n", 400, r"request line ends in a bare LF"),
    ("bare-lf-field", b"GET / HTTP/1.1\r\nHost: a\n\r\n", 400, r"header section line 2 ends in a bare LF"),
    ("bare-lf-end", b"GET / HTTP/1.1\r\nHost: a\r\n\n", 400, r"header section line 3 ends in a bare LF"),
    ("bare-cr-value", post(b"X-A: 1\r2"), 400, r"header section line 3 has a bare CR at byte 6"),
    ("bare-cr-request-line", b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400, r"request line has a bare CR at byte 5"),
    ("space-before-colon", post(b"Content-Length : 0"), 400, r"line 3 has whitespace between the field name"),
    ("no-colon", post(b"X-Nothing"), 400, r"header section line 3 has no colon"),
    ("empty-name", post(b": value"), 400, r"header section line 3 has an empty field name"),
    ("name-with-space", post(b"X Y: 1"), 400, r"line 3 has the invalid byte 0x20 in the field name b'X Y'"),
    ("name-with-nul", post(b"X\x00Y: 1"), 400, r"line 3 has the invalid byte 0x00 in the field name"),
    ("name-with-paren", post(b"X(Y): 1"), 400, r"line 3 has the invalid byte 0x28 in the field name"),
    ("name-non-ascii", post(b"X\xe9: 1"), 400, r"line 3 has the invalid byte 0xe9 in the field name"),
    ("value-nul", post(b"X-A: a\x00b"), 400, r"line 3 has a NUL byte in the value of 'X-A'"),
    ("value-control", post(b"X-A: a\x01b"), 400, r"line 3 has the control character 0x01 in the value of 'X-A'"),
    ("value-escape", post(b"X-A: \x1b[31m"), 400, r"line 3 has the control character 0x1b"),
    ("value-del", post(b"X-A: a\x7fb"), 400, r"line 3 has the control character 0x7f"),
    ("value-vertical-tab", post(b"Host2: a\x0bb"), 400, r"line 3 has the control character 0x0b"),
    ("host-missing", b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, r"Missing mandatory Host: header"),
    ("host-space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, r"invalid Host b'a b' \(RFC 9112 §3\.2"),
    ("host-path", b"GET / HTTP/1.1\r\nHost: a.example/admin\r\n\r\n", 400, r"invalid Host b'a\.example/admin'"),
    ("host-userinfo", b"GET / HTTP/1.1\r\nHost: user@a.example\r\n\r\n", 400, r"invalid Host b'user@a\.example'"),
    ("host-bad-port", b"GET / HTTP/1.1\r\nHost: a.example:http\r\n\r\n", 400, r"invalid Host b'a\.example:http'"),
    ("host-two-ports", b"GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", 400, r"invalid Host b'a:1:2'"),
    ("host-open-bracket", b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, r"invalid Host b'\[::1'"),
    ("host-bad-escape", b"GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", 400, r"invalid Host b'a%zz'"),
    ("host-invalid-with-body", b"POST / HTTP/1.1\r\nHost: a,b/c\r\nContent-Length: 1\r\n\r\nx", 400,
     r"invalid Host b'a,b/c'"),
    ("host-twice", post(b"Host: other.example"), 400, r"Found multiple Host: headers"),
    # --- request line and versions (RFC 9112 §3, §2.3) ---
    ("http-2.0", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, r"request line asks for HTTP/2\.0; only HTTP/1\.0 and"),
    ("http-9.9", b"GET / HTTP/9.9\r\nHost: a\r\n\r\n", 505, r"request line asks for HTTP/9\.9"),
    ("http-1.2", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, r"request line asks for HTTP/1\.2"),
    ("http-0.9", b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, r"request line asks for HTTP/0\.9"),
    ("http-2-short", b"GET / HTTP/2\r\nHost: a\r\n\r\n", 400, r"has a malformed HTTP version b'HTTP/2'"),
    ("http-lowercase", b"GET / http/1.1\r\nHost: a\r\n\r\n", 400, r"malformed HTTP version b'http/1\.1'"),
    ("http-10.0", b"GET / HTTP/10.0\r\nHost: a\r\n\r\n", 400, r"malformed HTTP version b'HTTP/10\.0'"),
    ("http-0.9-style", b"GET /\r\n\r\n", 400, r"request line is not 'method SP request-target SP HTTP-version'"),
    ("double-space", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, r"is not 'method SP request-target SP"),
    ("trailing-space", b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, r"is not 'method SP request-target SP"),
    ("bad-method", b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, r"request line has an invalid method"),
    ("target-del", b"GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n", 400, r"invalid byte in the request-target"),
    ("target-non-ascii", b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, r"invalid byte in the request-target"),
    ("two-empty-lines-first", b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, r"request line is not 'method"),
    ("binary-garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, r"request line"),
    # --- chunked framing (RFC 9112 §7.1) ---
    ("chunk-ext-nul", chunked(b"5;a=\x00\r\nhello\r\n0\r\n\r\n"), 400, r"chunk-size line has a NUL byte at byte 4"),
    ("chunk-ext-bare-cr", chunked(b"5;a\rb\r\nhello\r\n0\r\n\r\n"), 400, r"chunk-size line has a bare CR at byte 3"),
    ("chunk-ext-control", chunked(b"5;a=\x01\r\nhello\r\n0\r\n\r\n"), 400, r"chunk-size line has a malformed chunk extension"),
    ("chunk-ext-bad-quote", chunked(b'5;a="x\r\nhello\r\n0\r\n\r\n'), 400, r"malformed chunk extension"),
    ("chunk-size-bare-lf", chunked(b"5\nhello\r\n0\r\n\r\n"), 400, r"chunk-size line ends in a bare LF"),
    ("chunk-size-17-digits", chunked(b"1" + b"0" * 16 + b"\r\n"), 400,
     r"chunk size of 17 hex digits exceeds the 16-digit limit"),
    ("chunk-size-20-digits", chunked(b"0" * 19 + b"5\r\nhello\r\n0\r\n\r\n"), 400,
     r"chunk size of 20 hex digits exceeds the 16-digit limit"),
    ("chunk-size-overflow", chunked(b"ffffffffffffffff\r\nhello\r\n0\r\n\r\n"), 400,
     r"chunk size 0xffffffffffffffff exceeds the largest size, 2\*\*63 - 1"),
    ("chunk-size-sign", chunked(b"-5\r\nhello\r\n0\r\n\r\n"), 400, r"does not start with a hexadecimal chunk size"),
    ("chunk-size-0x", chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), 400, r"malformed chunk extension"),
    ("chunk-size-leading-space", chunked(b" 5\r\nhello\r\n0\r\n\r\n"), 400, r"does not start with a hexadecimal"),
    ("chunk-size-trailing-space", chunked(b"5 \r\nhello\r\n0\r\n\r\n"), 400, r"malformed chunk extension"),
    ("chunk-size-empty", chunked(b"\r\nhello\r\n0\r\n\r\n"), 400, r"does not start with a hexadecimal"),
    ("chunk-data-too-long", chunked(b"3\r\nhello\r\n0\r\n\r\n"), 400,
     r"chunk data is followed by 0x6c instead of CRLF"),
    ("chunk-data-bare-lf", chunked(b"5\r\nhello\n0\r\n\r\n"), 400, r"chunk data is followed by 0x0a instead of CRLF"),
    ("chunk-line-too-long", chunked(b"5;" + b"a" * 5000 + b"\r\nhello\r\n0\r\n\r\n"), 400,
     r"chunk-size line exceeds the 4096-byte limit"),
    # --- trailer sections (RFC 9110 §6.5.1, RFC 9112 §7.1.2) ---
    ("trailer-content-length", chunked(b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n"), 400,
     r"trailer field 'content-length' is not allowed in a trailer section"),
    ("trailer-transfer-encoding", chunked(b"0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400,
     r"trailer field 'transfer-encoding' is not allowed"),
    ("trailer-host", chunked(b"0\r\nX-Ok: 1\r\nHost: evil.example\r\n\r\n"), 400, r"trailer field 'host' is not allowed"),
    ("trailer-request-line", chunked(b"0\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n"), 400,
     r"trailer section line 1 has no colon: b'GET /admin HTTP/1\.1\\r\\n'"),
    ("trailer-obs-fold", chunked(b"0\r\nX-A: 1\r\n 2\r\n\r\n"), 400, r"trailer section line 2 starts with whitespace"),
    ("trailer-bare-lf", chunked(b"0\r\nX-A: 1\n\r\n"), 400, r"trailer section line 1 ends in a bare LF"),
    ("trailer-control", chunked(b"0\r\nX-A: \x00\r\n\r\n"), 400, r"trailer section line 1 has a NUL byte"),
    # --- content-codings (RFC 9110 §8.4) ---
    ("coding-malformed", post(b"Content-Encoding: gzip;q=1"), 415, r"malformed content-coding b'gzip;q=1'"),
    ("coding-too-many", post(b"Content-Encoding: gzip, gzip, gzip, gzip, gzip, gzip"), 415,
     r"6 content-codings exceed the limit of 5 chained codings"),
    ("coding-too-many-fields", post(*[b"Content-Encoding: br"] * 6), 415, r"6 content-codings exceed the limit of 5"),
    # --- limits with their defaults (RFC 9110 §15.5.14, §15.5.15; RFC 6585 §5) ---
    ("request-line-too-long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414,
     r"request line exceeds the 8192-byte limit"),
    ("too-many-fields", post(*[b"X-F%d: 1" % index for index in range(100)]), 431,
     r"header section has more than 100 fields, the limit \(field 101 on line 102\)"),
    ("header-block-too-big", post(b"X-Big: " + b"b" * 70000), 431, r"header section exceeds the 65536-byte limit"),
    ("header-block-many-medium", post(*[b"X-F%d: " % index + b"v" * 700 for index in range(99)]), 431,
     r"header section exceeds the 65536-byte limit"),
    ("trailer-too-many-fields", chunked(b"0\r\n" + b"".join(b"X-T%d: 1\r\n" % i for i in range(101)) + b"\r\n"), 431,
     r"trailer section has more than 100 fields, the limit \(field 101 on line 101\)"),
    ("trailer-too-big", chunked(b"0\r\nX-T: " + b"t" * 70000 + b"\r\n\r\n"), 431,
     r"trailer section exceeds the 65536-byte limit"),
    # --- truncation ---
    ("eof-in-head", b"GET / HTTP/1.1\r\nHost: a\r\n", 400,
     r"peer closed the connection after 25 bytes of an incomplete request head"),
    ("eof-in-length-body", post(b"Content-Length: 10", body=b"abc"), 400,
     r"peer closed the connection 3 bytes into a 10-byte body"),
    ("eof-in-chunked-body", chunked(b"5\r\nhel"), 400, r"peer closed the connection in the middle of a chunked body"),
]


@pytest.mark.parametrize(("data", "status", "pattern"), [case[1:] for case in SERVER_CASES],
                         ids=[case[0] for case in SERVER_CASES])
def test_server_refuses(data: bytes, status: int, pattern: str) -> None:
    outcome = serve(whole(data))
    assert outcome.error is not None, f"accepted: {outcome.events}"
    assert outcome.error[0] == status
    assert re.search(pattern, outcome.error[1]), outcome.error[1]
    assert serve(byte_by_byte(data)).comparable() == outcome.comparable()
    assert not any(isinstance(event, EndOfMessage) for event in outcome.events), "message was delivered"
    _assert_failed_fast(outcome.connection, status)


LIMITED = HTTPLimits(max_body_bytes=10)
BODY_CASES = [
    ("content-length-over", post(b"Content-Length: 11", body=b"x" * 11), 413,
     r"Content-Length of 11 bytes exceeds the 10-byte limit"),
    ("chunked-one-chunk-over", chunked(b"b\r\n" + b"x" * 11 + b"\r\n0\r\n\r\n"), 413,
     r"chunked body of at least 11 bytes exceeds the 10-byte limit"),
    ("chunked-sum-over", chunked(b"6\r\nxxxxxx\r\n6\r\nxxxxxx\r\n0\r\n\r\n"), 413,
     r"chunked body of at least 12 bytes exceeds the 10-byte limit"),
]


@pytest.mark.parametrize(("data", "status", "pattern"), [case[1:] for case in BODY_CASES],
                         ids=[case[0] for case in BODY_CASES])
def test_server_refuses_bodies_over_the_limit(data: bytes, status: int, pattern: str) -> None:
    outcome = serve(whole(data), limits=LIMITED)
    assert outcome.error is not None and outcome.error[0] == status
    assert re.search(pattern, outcome.error[1]), outcome.error[1]
    assert serve(byte_by_byte(data), limits=LIMITED).comparable() == outcome.comparable()
    _assert_failed_fast(outcome.connection, status)


def test_body_exactly_at_the_limit_is_accepted() -> None:
    for data in (post(b"Content-Length: 10", body=b"x" * 10), chunked(b"a\r\n" + b"x" * 10 + b"\r\n0\r\n\r\n")):
        outcome = serve(whole(data), limits=LIMITED)
        assert outcome.error is None
        assert isinstance(outcome.events[-2], EndOfMessage)


def _assert_failed_fast(connection: HTTPConnection | None, status: int) -> None:
    assert connection is not None
    assert connection.their_state is ERROR
    assert not connection.keep_alive
    assert connection.must_close
    for _ in range(2):
        with pytest.raises(HTTPRemoteProtocolError, match="the peer's side is in ERROR") as info:
            connection.next_event()
        assert info.value.status == status
    # The server can still answer; the answer closes the connection.
    data = connection.send(Response(status_code=status, headers=[("Content-Length", "0")]))
    assert data.startswith(b"HTTP/1.1 %d " % status)
    assert b"\r\nConnection: close\r\n" in data
    connection.send(EndOfMessage())
    assert connection.must_close


def test_error_response_keeps_an_existing_connection_close() -> None:
    connection = HTTPConnection(SERVER)
    connection.receive_data(b"GET / HTTP/9.9\r\n\r\n")
    with pytest.raises(HTTPRemoteProtocolError):
        connection.next_event()
    data = connection.send(Response(status_code=505, headers=[("Connection", "close"), ("Content-Length", "0")]))
    assert data.lower().count(b"connection: close") == 1


def test_bad_request_after_a_good_one_is_refused_at_its_own_turn() -> None:
    good = b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
    bad = b"GET /two HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
    outcome = serve(whole(good + bad))
    assert [type(event).__name__ for event in outcome.events] == ["Request", "EndOfMessage"]
    assert outcome.error == (400, "message has 2 Content-Length fields; duplicates are refused (RFC 9112 §6.3)")
    assert serve(byte_by_byte(good + bad)).comparable() == outcome.comparable()


def status_response(*fields: bytes, start: bytes = b"HTTP/1.1 200 OK", body: bytes = b"") -> bytes:
    """A response head with the given field lines, and ``body``."""
    return b"\r\n".join([start, *fields]) + b"\r\n\r\n" + body


# In the client role every remote error is a bad gateway (502).
CLIENT_CASES = [
    ("status-99", status_response(start=b"HTTP/1.1 99 Odd"), r"status line has no three-digit status code"),
    ("status-600", status_response(start=b"HTTP/1.1 600 Odd"), r"status line has the status code 600, outside 100-599"),
    ("status-1000", status_response(start=b"HTTP/1.1 1000 Odd"), r"status line has no three-digit status code"),
    ("status-http2", status_response(start=b"HTTP/2.0 200 OK"), r"status line asks for HTTP/2\.0"),
    ("status-http2-short", status_response(start=b"HTTP/2 200"), r"malformed HTTP version b'HTTP/2'"),
    ("status-icy", status_response(start=b"ICY 200 OK"), r"malformed HTTP version b'ICY'"),
    ("status-reason-control", status_response(start=b"HTTP/1.1 200 O\x01K"),
     r"status line has the control character 0x01 in its reason phrase"),
    ("status-bare-lf", b"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", r"status line ends in a bare LF"),
    ("cl-and-te", status_response(b"Content-Length: 5", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
     r"both Content-Length and Transfer-Encoding"),
    ("duplicate-cl", status_response(b"Content-Length: 1", b"Content-Length: 1", body=b"a"),
     r"message has 2 Content-Length fields"),
    ("field-obs-fold", status_response(b"X-A: 1", b" 2"), r"header section line 3 starts with whitespace"),
    ("field-nul", status_response(b"X-A: \x00"), r"header section line 2 has a NUL byte"),
    ("te-gzip", status_response(b"Transfer-Encoding: gzip, chunked"), r"unsupported transfer coding 'gzip'"),
    ("te-in-http10", status_response(b"Transfer-Encoding: chunked", start=b"HTTP/1.0 200 HTTP/1.1", body=b"0\r\n\r\n"),
     r"HTTP/1\.0 message has Transfer-Encoding"),
    ("chunk-nul", status_response(b"Transfer-Encoding: chunked", body=b"5;x=\x00\r\nhello\r\n0\r\n\r\n"),
     r"chunk-size line has a NUL byte at byte 4"),
    ("trailer-forbidden", status_response(b"Transfer-Encoding: chunked", body=b"0\r\nSet-Cookie: a=b\r\n\r\n"),
     r"trailer field 'set-cookie' is not allowed"),
    ("status-line-too-long", status_response(start=b"HTTP/1.1 200 " + b"O" * 9000), r"status line exceeds the 8192-byte"),
    ("no-response", b"", r"server closed the connection without sending a response"),
    ("eof-in-head", b"HTTP/1.1 200 OK\r\n", r"peer closed the connection after 17 bytes of an incomplete status head"),
    ("eof-in-body", status_response(b"Content-Length: 4", body=b"ab"), r"peer closed the connection 2 bytes into a 4-byte"),
    ("http-request-as-response", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", r"malformed HTTP version b'GET'"),
]


@pytest.mark.parametrize(("data", "pattern"), [case[1:] for case in CLIENT_CASES],
                         ids=[case[0] for case in CLIENT_CASES])
def test_client_refuses(data: bytes, pattern: str) -> None:
    outcome = fetch(whole(data))
    assert outcome.error is not None, f"accepted: {outcome.events}"
    assert outcome.error[0] == 502
    assert re.search(pattern, outcome.error[1]), outcome.error[1]
    assert fetch(byte_by_byte(data)).comparable() == outcome.comparable()
    connection = outcome.connection
    assert connection is not None and connection.their_state is ERROR and connection.must_close
    with pytest.raises(HTTPRemoteProtocolError, match="the peer's side is in ERROR") as info:
        connection.next_event()
    assert info.value.status == 502


def test_data_after_a_closing_message_is_refused() -> None:
    data = b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n"
    connection = HTTPConnection(SERVER)
    connection.receive_data(data)
    assert isinstance(connection.next_event(), Request)
    assert isinstance(connection.next_event(), EndOfMessage)
    with pytest.raises(HTTPRemoteProtocolError, match="peer sent more data after a message that closes the connection"):
        connection.next_event()
    assert connection.their_state is ERROR
