"""Pure parts of the client: URLs, bodies, redirect rules, timeouts, errors, pool decisions, auth."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import Any

import pytest

import tidal.http as http
from tidal.http import ClientRequest, ClientResponse, Limits, Timeout
from tidal.http._client._auth import DigestAuth
from tidal.http._client._body import encode_request_body
from tidal.http._client._pool import CONNECT, PoolState
from tidal.http._client._redirects import next_request
from tidal.http._client._urls import parse_url

Run = Callable[..., Any]


# -- URLs -----------------------------------------------------------------------------


def test_url_parts_and_normalization() -> None:
    url = parse_url("HTTP://User:p%40ss@Bücher.Example:8080/a%20b/ü?q=1%202#frag")
    assert (url.scheme, url.host, url.port) == ("http", "xn--bcher-kva.example", 8080)
    assert url.target == "/a%20b/%C3%BC?q=1%202" and url.fragment == "frag"
    assert (url.username, url.password) == ("User", "p@ss")
    assert url.host_header == "xn--bcher-kva.example:8080"
    assert parse_url("https://[::1]/").host_header == "[::1]" and parse_url("https://[::1]/").port == 443
    assert parse_url("http://h").target == "/"
    assert str(parse_url("/x?a=1", base=parse_url("http://h/dir/"), params={"b": [1, 2]})) == "http://h/x?a=1&b=1&b=2"
    assert str(parse_url("http://h/a/b").join("../c")) == "http://h/c"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http://h/a\r\nX-Injected: 1", "control character"),
        ("http://h/a b", "whitespace"),
        ("ftp://h/", "scheme 'ftp'"),
        ("//h/", "no scheme"),
        ("http:///path", "no host"),
        ("http://h:99999/", "malformed URL"),
        ("http://[::zz]/", "malformed URL|invalid IPv6"),
    ],
)
def test_bad_urls(text: str, message: str) -> None:
    with pytest.raises(http.InvalidURL, match=message):
        parse_url(text)


# -- request bodies ---------------------------------------------------------------------


def collect(body: Any) -> Any:
    async def gather() -> bytes:
        return b"".join([chunk async for chunk in body.chunks()])

    return asyncio.run(gather())


def test_body_kinds_and_framing(tmp_path: Any) -> None:
    headers, body = encode_request_body(json={"a": "é"})
    assert headers == [("Content-Type", "application/json")] and collect(body) == '{"a":"é"}'.encode()
    headers, body = encode_request_body(data={"k": ["1", "2"], "s": "a b"})
    assert headers[0][1] == "application/x-www-form-urlencoded" and collect(body) == b"k=1&k=2&s=a+b"
    assert encode_request_body() == ([], None)
    path = tmp_path / "f.bin"
    path.write_bytes(b"0123456789")
    with path.open("rb") as file:
        file.read(3)
        _, body = encode_request_body(content=file)
        assert body is not None and body.length == 7 and body.replayable
        assert collect(body) == b"3456789" and collect(body) == b"3456789"
    _, body = encode_request_body(content=iter([b"a", b"b"]))
    assert body is not None and body.length is None and not body.replayable
    assert collect(body) == b"ab"
    with pytest.raises(RuntimeError, match="already sent"):
        collect(body)
    with pytest.raises(TypeError, match="only one of"):
        encode_request_body(content=b"x", json=1)
    with pytest.raises(TypeError, match="binary mode"):
        encode_request_body(content=io.StringIO("x"))  # type: ignore[arg-type]


def test_multipart_body(tmp_path: Any) -> None:
    path = tmp_path / "report.csv"
    path.write_bytes(b"a,b\n1,2\n")
    with path.open("rb") as file:
        headers, body = encode_request_body(data={"title": "Q3"}, files={"report": file, "raw": ("r.bin", b"\0\1")})
        assert body is not None
        boundary = headers[0][1].split("boundary=")[1]
        content = collect(body)
    assert body.length == len(content)
    assert content.startswith(f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nQ3\r\n".encode())
    assert b'name="report"; filename="report.csv"\r\nContent-Type: application/octet-stream\r\n\r\na,b\n1,2\n\r\n' in content
    assert b'filename="r.bin"' in content and content.endswith(f"--{boundary}--\r\n".encode())


# -- redirects ----------------------------------------------------------------------------


def redirect(run: Run, method: str, status: int, location: str, **request_options: Any) -> ClientRequest | None:
    async def build() -> ClientRequest | None:
        request = ClientRequest(method, "http://a.test/start#top", **request_options)
        response = ClientResponse(status, {"Location": location}, request=request)
        return next_request(request, response)

    result: ClientRequest | None = run(build())
    return result


def test_redirect_rules(run: Run) -> None:
    same = redirect(run, "POST", 307, "/next", content=b"x", headers={"Authorization": "a", "Cookie": "c"})
    assert same is not None and same.method == "POST" and same.body is not None
    assert same.headers["authorization"] == "a" and str(same.url) == "http://a.test/next#top"
    moved = redirect(run, "POST", 302, "https://b.test/", json=1, headers={"Authorization": "a", "Cookie": "c"})
    assert moved is not None and moved.method == "GET" and moved.body is None
    assert "authorization" not in moved.headers and "cookie" not in moved.headers
    assert "content-type" not in moved.headers
    assert redirect(run, "PUT", 301, "/x").method == "PUT"  # type: ignore[union-attr]
    assert redirect(run, "HEAD", 303, "/x").method == "HEAD"  # type: ignore[union-attr]
    assert redirect(run, "DELETE", 303, "/x").method == "GET"  # type: ignore[union-attr]
    assert redirect(run, "POST", 308, "/x", content=iter([b"once"])) is None  # a stream cannot be replayed
    assert redirect(run, "GET", 304, "/x") is None
    with pytest.raises(http.InvalidURL, match="unusable location"):
        redirect(run, "GET", 302, "ftp://x/")


# -- timeouts and errors ------------------------------------------------------------------


def test_timeout_values() -> None:
    assert Timeout.coerce(3) == Timeout(connect=3, read=3, write=3, pool=3, total=None)
    assert Timeout.coerce(None).read is None
    with pytest.raises(ValueError, match="Timeout.read must be a positive number"):
        Timeout(read=0)
    with pytest.raises(TypeError):
        Timeout.coerce("3")  # type: ignore[arg-type]


def test_error_hierarchy() -> None:
    for kind in (http.ConnectTimeout, http.ReadTimeout, http.WriteTimeout, http.PoolTimeout, http.TotalTimeout):
        error = kind("x")
        assert isinstance(error, TimeoutError) and isinstance(error, http.HTTPTimeout)
        assert isinstance(error, http.RequestError) and isinstance(error, http.HTTPError)
    assert issubclass(http.TLSError, http.ConnectError) and issubclass(http.ConnectError, http.TransportError)
    assert issubclass(http.InvalidURL, ValueError) and issubclass(http.DecodingError, http.RequestError)


CLIENT_NAMES = {
    "Client", "ClientRequest", "ClientResponse", "Timing", "Timeout", "Limits", "URL", "Auth", "BasicAuth",
    "DigestAuth", "request", "get", "head", "options", "post", "put", "patch", "delete", "urlopen", "HTTPError",
    "RequestError", "TransportError", "ConnectError", "TLSError", "ProxyError", "ReadError", "WriteError",
    "RemoteProtocolError", "DecodingError", "TooManyRedirects", "HTTPTimeout", "ConnectTimeout", "ReadTimeout",
    "WriteTimeout", "PoolTimeout", "TotalTimeout", "HTTPStatusError", "InvalidURL", "ClientClosed",
    "ResponseConsumed",
}


def test_public_names() -> None:
    from tidal.http import _client

    assert set(_client.__all__) == CLIENT_NAMES  # the client's public surface, pinned
    assert set(_client.__all__) <= set(http.__all__)
    for name in _client.__all__:
        assert getattr(http, name).__doc__, name


# -- pool decisions ---------------------------------------------------------------------------


class FakeConnection:
    def __init__(self, origin: tuple[str, str, int]) -> None:
        self.origin = origin
        self.idle_since = 0.0

    def is_stale(self) -> bool:
        return False

    async def aclose(self) -> None:
        pass


A = ("http", "a", 80)
B = ("http", "b", 80)


def test_pool_limits_reuse_and_eviction(run: Run) -> None:
    async def main() -> None:
        state: PoolState[FakeConnection] = PoolState(Limits(max_connections=2, max_connections_per_host=1,
                                                            max_idle_connections=1, idle_expiry=10))
        assert state.checkout(A, 0) == (CONNECT, [])
        assert state.checkout(A, 0) == (None, [])  # per-host limit
        first = FakeConnection(A)
        assert state.checkin(first, 1) == []
        assert state.checkout(A, 2) == (first, [])  # reused, LIFO
        assert state.checkout(B, 2) == (CONNECT, [])
        assert state.open_count == 2 and state.checkout(B, 2) == (None, [])
        assert state.checkin(first, 3) == []
        other = FakeConnection(B)
        assert state.checkin(other, 4) == [first]  # max_idle_connections=1: the oldest goes
        assert state.open_count == 1 and state.idle_count == 1
        assert state.checkout(A, 20) == (CONNECT, [other])  # expired lazily at the next checkout
        assert state.open_count == 1

    run(main())


def test_pool_waiters_are_served_in_order_and_not_blocked_by_others(run: Run) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        state: PoolState[FakeConnection] = PoolState(Limits(max_connections=3, max_connections_per_host=1))
        assert state.checkout(A, 0)[0] is CONNECT
        waiting_a: asyncio.Future[Any] = loop.create_future()
        state.add_waiter(A, waiting_a)
        assert not waiting_a.done()
        waiting_b: asyncio.Future[Any] = loop.create_future()
        state.add_waiter(B, waiting_b)  # B is not held up by A's per-host limit
        assert waiting_b.result() is CONNECT
        connection = FakeConnection(A)
        state.checkin(connection, 1)
        assert waiting_a.result() is connection and state.idle_count == 0
        cancelled: asyncio.Future[Any] = loop.create_future()
        state.add_waiter(A, cancelled)
        cancelled.cancel()
        assert state.discard(connection) == [] and state.open_count == 1 and state.waiting_count == 0
        assert state.close() == [] and state.closed
        late = FakeConnection(B)
        assert state.checkin(late, 2) == [late] and state.open_count == 0

    run(main())


# -- auth ----------------------------------------------------------------------------------------


def test_digest_answer_matches_rfc_2617_example() -> None:
    class FixedNonce(DigestAuth):
        def _client_nonce(self) -> str:
            return "0a4f113b"

    challenge = http.Headers({"WWW-Authenticate": 'Digest realm="testrealm@host.com", qop="auth,auth-int", '
                              'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'})
    headers = FixedNonce("Mufasa", "Circle Of Life").retry_headers("GET", "/dir/index.html", http.Headers(), challenge)
    assert headers is not None
    assert 'response="6629fae49393a05397450978507c4ef1"' in headers["authorization"]
    assert "nc=00000001" in headers["authorization"]


# -- urlopen for file: and data: ---------------------------------------------------------------------


def test_urlopen_file_and_data(run: Run, tmp_path: Any) -> None:
    path = tmp_path / "page.html"
    path.write_bytes(b"<p>hi</p>")

    async def main() -> None:
        response = await http.urlopen(path.as_uri())
        assert response.status == 200 and response.content == b"<p>hi</p>"
        assert response.headers["content-type"] == "text/html"
        with pytest.raises(FileNotFoundError):
            await http.urlopen((tmp_path / "missing").as_uri())
        data = await http.urlopen("data:text/plain;charset=utf-8;base64,w6lsYW4=")
        assert await data.text() == "élan"
        plain = await http.urlopen("data:,a%20b")
        assert plain.content == b"a b" and plain.headers["content-type"] == "text/plain;charset=US-ASCII"
        with pytest.raises(http.InvalidURL, match="without a comma"):
            await http.urlopen("data:text/plain")

    run(main())


def test_headers_from_raw_decodes_wire_pairs_as_latin_1() -> None:
    headers = http.Headers.from_raw([(b"Content-Type", b"text/plain"), (b"X-Name", b"caf\xe9"), (b"x-name", b"2")])
    assert headers.fields() == [("Content-Type", "text/plain"), ("X-Name", "café"), ("x-name", "2")]
    assert headers.get_all("X-NAME") == ["café", "2"] and headers.raw()[1] == (b"X-Name", b"caf\xe9")


def test_headers_contains_any_matches_whole_names_in_any_case() -> None:
    from tidal.http import Headers

    headers = Headers([("X-Set-Cookie", "a"), ("SET-COOKIE2", "b")])
    assert headers.contains_any(("set-cookie", "set-cookie2"))
    assert not headers.contains_any(("set-cookie",))
    assert not Headers().contains_any(("set-cookie",))
    assert not Headers([("Set-Cookie-Extra", "c")]).contains_any(("set-cookie",))
