"""The per-request short cuts agree with the general code they skip.

* ``PoolState.take_idle`` hands out exactly what ``checkout`` would, and
  otherwise leaves the pool untouched (random operation sequences).
* ``ClientResponse.received`` builds the same response as the keyword
  constructor; trailers are decoded only when asked for, identity bodies
  skip the decoder, and both read the same bytes as an encoded body would.
* ``Connection.receive_rest`` returns the pieces ``receive_body`` returns
  one by one, whatever the split, and a truncated body still fails and
  closes.
* ``get()`` without options and ``request("GET")`` with them send the same
  bytes and see the same response.
"""

from __future__ import annotations

import asyncio
import copy
import gzip
import socket
import struct
from collections.abc import Callable
from http.cookiejar import CookieJar
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tidal.http as http
from tidal.http import Client, ClientRequest, ClientResponse, Limits, Timing
from tidal.http._client._client import _jar_is_empty
from tidal.http._client._connection import Connection, ConnectTiming
from tidal.http._client._decoding import BodyDecoder
from tidal.http._client._models import sets_cookies
from tidal.http._client._pool import PoolState
from tidal.http._client._timeouts import Deadlines, Timeout
from tidal.http._client._urls import parse_url
from tidal.http._headers import Headers
from tidal.protocols.http import HTTPLimits
from tidal.streams import wrap_socket
from tidal.testing import lockstep_stream_pair

from .conftest import SMALL_BODY, Nginx
from .scripted import ScriptedServer, read_head
from .test_connection_splits import HEAD, frame

Run = Callable[..., Any]


class FakeConnection:
    """A pooled connection that is never stale."""

    def __init__(self, origin: tuple[str, str, int]) -> None:
        self.origin = origin
        self.idle_since = 0.0

    def __repr__(self) -> str:
        return f"<Fake {self.origin[1]} {id(self):x}>"

    def is_stale(self) -> bool:
        return False

    async def aclose(self) -> None:
        pass


ORIGINS = [("http", "a", 80), ("http", "b", 80)]
operations = st.lists(
    st.tuples(st.sampled_from(["checkout", "checkin", "discard", "wait", "close"]), st.integers(0, 1),
              st.integers(0, 3)),
    max_size=25,
)


def _snapshot(state: PoolState[FakeConnection]) -> tuple[Any, ...]:
    return (state.open_count, state.idle_count, state.waiting_count, state.closed,
            {origin: list(idle) for origin, idle in state._idle.items()}, list(state._idle_all))


@settings(max_examples=150, deadline=None)
@given(history=operations, origin_index=st.integers(0, 1), now_step=st.integers(0, 3))
def test_take_idle_is_checkout_when_it_answers_and_a_no_op_otherwise(
    history: list[tuple[str, int, int]], origin_index: int, now_step: int
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        state: PoolState[FakeConnection] = PoolState(Limits(max_connections=3, max_connections_per_host=2,
                                                            max_idle_connections=2, idle_expiry=5))
        held: list[FakeConnection] = []
        now = 0.0
        for operation, which, step in history:
            now += step
            origin = ORIGINS[which]
            if operation == "checkout" and not state.closed:
                grant, _ = state.checkout(origin, now)
                if isinstance(grant, FakeConnection):
                    held.append(grant)
                elif grant is not None:
                    held.append(FakeConnection(origin))
            elif operation == "checkin" and held:
                state.checkin(held.pop(0), now)
            elif operation == "discard" and held:
                state.discard(held.pop())
            elif operation == "wait" and not state.closed:
                future: asyncio.Future[Any] = loop.create_future()
                state.add_waiter(origin, future)
            elif operation == "close" and step == 3:
                state.close()
        now += now_step
        origin = ORIGINS[origin_index]
        general = copy.copy(state)
        general._idle = {key: dict(idle) for key, idle in state._idle.items()}
        general._idle_all = dict(state._idle_all)
        general._open = dict(state._open)
        general._waiters = copy.copy(state._waiters)
        general._live_waiters = set(state._live_waiters)
        before = _snapshot(state)
        taken = state.take_idle(origin, now)
        if taken is None:
            assert _snapshot(state) == before
        else:
            assert general.checkout(origin, now) == (taken, [])
            assert _snapshot(state) == _snapshot(general)
        for future in state._live_waiters:
            future.cancel()

    asyncio.run(main())


def test_take_idle_hands_out_the_newest_idle_connection_and_declines_the_rest(run: Run) -> None:
    async def main() -> None:
        a, b = ORIGINS
        state: PoolState[FakeConnection] = PoolState(Limits(max_connections=10, max_connections_per_host=2,
                                                            idle_expiry=5))
        older, newer = FakeConnection(a), FakeConnection(a)
        state.checkout(a, 0)
        state.checkout(a, 0)
        state.checkin(older, 1)
        state.checkin(newer, 1)
        assert state.take_idle(b, 2) is None  # no idle connection for b: checkout reserves a slot
        assert state.take_idle(a, 2) is newer and state.idle_count == 1 and state.open_count == 2
        assert state.take_idle(a, 6) is None and state.idle_count == 1  # older expired: checkout closes it
        state.checkout(b, 2)
        state.checkout(b, 2)
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        state.add_waiter(b, waiter)  # b is at its limit and waits: a waiter is served first
        assert state.take_idle(a, 2) is None
        state.abandon_wait(waiter)
        assert state.take_idle(a, 2) is older and state.idle_count == 0
        state.checkin(older, 3)
        state.close()
        assert state.take_idle(a, 3) is None

    run(main())


def test_received_builds_what_the_constructor_builds(run: Run) -> None:
    async def main() -> None:
        request = ClientRequest("GET", "http://h/x")
        loop = asyncio.get_running_loop()
        timing = Timing(ttfb=0.5)
        started = loop.time() - 0.5
        raw = [(b"Content-Length", b"0"), (b"X-Latin", "é".encode("latin-1"))]
        built = ClientResponse(204, Headers.from_raw(raw), request=request, timing=timing)
        received = ClientResponse.received(204, raw, "", "HTTP/1.1", request, built._source, None, timing,
                                           started, loop)
        assert received._headers is None  # not decoded until asked for
        for name in ("status", "reason", "http_version", "headers", "request", "url", "history", "timing",
                     "is_closed", "trailers"):
            assert getattr(received, name) == getattr(built, name), name
        assert abs(received._started - built._started) < 0.5
        assert await received.read() == await built.read() == b""
        assert received.is_closed and built.is_closed and received.trailers == {}
        assert received.headers.fields() == built.headers.fields() == [("Content-Length", "0"), ("X-Latin", "é")]
        received.headers = Headers([("a", "1")])
        assert received.headers == {"a": "1"}

    run(main())


def test_trailers_are_empty_until_the_end_and_then_the_sources(run: Run) -> None:
    class Source:
        def __init__(self) -> None:
            self.pieces = [b"ab", b"", b"cd"]
            self.trailers = Headers([("Digest", "x")])

        async def next_chunk(self) -> bytes | None:
            return self.pieces.pop(0) if self.pieces else None

        async def aclose(self) -> None:
            pass

    async def main() -> None:
        request = ClientRequest("GET", "http://h/")
        identity = ClientResponse(200, {}, request=request, source=Source())
        assert identity.trailers == {}  # asked before the end: empty, as before
        assert [chunk async for chunk in identity.iter_bytes()] == [b"ab", b"cd"]  # no empty pieces
        assert identity.trailers == {"digest": "x"}
        encoded = ClientResponse(200, {}, request=request, source=Source(),
                                 decoder=BodyDecoder((), None))
        assert await encoded.read() == b"abcd" and encoded.trailers == {"digest": "x"}
        replaced = ClientResponse(200, {}, request=request)
        replaced.trailers = Headers([("a", "1")])
        assert replaced.trailers == {"a": "1"}

    run(main())


def test_jar_emptiness_matches_len() -> None:
    jar = CookieJar()
    assert _jar_is_empty(jar) and not len(jar)

    class Counting(CookieJar):
        pass

    assert _jar_is_empty(Counting())


def test_get_without_options_sends_what_request_sends(run: Run) -> None:
    async def main() -> None:
        heads: list[bytes] = []

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while head := await read_head(reader):
                heads.append(head)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()

        async with ScriptedServer(answer) as server, Client() as client:
            url = server.url("/p?q=1")
            short = await client.get(url)
            general = await client.request("GET", url, params={})
            assert heads[0] == heads[1]
            assert (short.status, short.headers, short.content, short.http_version, short.reason) == (
                general.status, general.headers, general.content, general.http_version, general.reason)
            assert short.url == general.url == parse_url(url)

    run(main())


def test_identity_and_gzip_bodies_from_nginx(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        async with Client() as client:
            small = await client.get(nginx.url("/small.bin"))
            assert small.content == SMALL_BODY and small._decoder is None and small.trailers == {}
            async with client.stream("GET", nginx.url("/small.bin")) as streamed:
                assert b"".join([piece async for piece in streamed.iter_bytes()]) == SMALL_BODY
            assert client.pool_state["idle"] == 1
            text = await client.get(nginx.url("/log.gz"))
            assert text._decoder is not None
            assert text.content == gzip.decompress(await _raw(client, nginx.url("/log.gz")))

    run(main())


async def _raw(client: Client, url: str) -> bytes:
    async with client.stream("GET", url) as response:
        return b"".join([piece async for piece in response.iter_raw()])


async def _read_body(raw: bytes, cuts: list[int], whole: bool) -> tuple[list[bytes], list[tuple[bytes, bytes]], bool]:
    """The body pieces, trailers and reusability of one exchange, read piece by piece or in one call."""
    client_stream, server_stream = lockstep_stream_pair()
    connection = Connection(client_stream, ("http", "h", 80), HTTPLimits(), ConnectTiming())
    deadlines = Deadlines(Timeout())

    async def serve() -> None:
        await server_stream.receive_some()
        edges = [0, *sorted(set(cuts)), len(raw)]
        for start, end in zip(edges, edges[1:]):
            if end > start:
                await server_stream.send_all(raw[start:end])

    server = asyncio.ensure_future(serve())
    try:
        await connection.send_request(HEAD, None, deadlines)
        await connection.receive_head(deadlines)
        if whole:
            pieces = await connection.receive_rest(deadlines)
        else:
            pieces = []
            while (piece := await connection.receive_body(deadlines)) is not None:
                pieces.append(piece)
        await server
        return pieces, connection.trailers, connection.finish_cycle()
    finally:
        server.cancel()
        await connection.aclose()
        await server_stream.aclose()


@settings(max_examples=60, deadline=None)
@given(
    body=st.binary(max_size=600),
    chunk_sizes=st.none() | st.lists(st.integers(1, 200), min_size=1, max_size=4),
    data=st.data(),
)
def test_receive_rest_gives_the_pieces_receive_body_gives(
    body: bytes, chunk_sizes: list[int] | None, data: st.DataObject
) -> None:
    raw = frame(body, "identity", chunk_sizes)
    cuts = data.draw(st.lists(st.integers(1, max(1, len(raw) - 1)), max_size=8))
    one_by_one = asyncio.run(_read_body(raw, cuts, whole=False))
    whole = asyncio.run(_read_body(raw, cuts, whole=True))
    assert whole == one_by_one
    assert b"".join(whole[0]) == body
    assert whole[1] == ([] if chunk_sizes is None else [(b"checksum", b"abc")])


def test_read_all_of_a_truncated_body_closes_the_connection(run: Run) -> None:
    async def main() -> None:
        async def truncated(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_head(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            await writer.drain()

        async with ScriptedServer(truncated) as server, Client() as client:
            with pytest.raises(http.RemoteProtocolError, match="3 bytes into a 10-byte body"):
                await client.get(server.url())
            assert client.pool_state == {"open": 0, "idle": 0, "waiting": 0}

    run(main())


field_names = st.sampled_from(["Set-Cookie", "set-cookie2", "SET-COOKIE", "Set-Cookies", "X-Set-Cookie", "Via",
                               "Content-Length", "set-cookie3", "Set-Cooki"])


@given(names=st.lists(field_names, max_size=6))
def test_sets_cookies_agrees_with_the_decoded_headers(names: list[str]) -> None:
    raw = [(name.encode("ascii"), b"v") for name in names]
    assert sets_cookies(raw) == Headers.from_raw(raw).contains_any(("set-cookie", "set-cookie2"))


def test_staleness_by_poll_agrees_with_the_peek(run: Run) -> None:
    async def main() -> None:
        states = []
        for ending in ("silent", "bytes", "eof", "reset"):
            server_socket, client_socket = socket.socketpair()
            client_socket.setblocking(False)
            stream = await wrap_socket(client_socket)
            connection = Connection(stream, ("http", "h", 80), HTTPLimits(), ConnectTiming())
            if ending == "bytes":
                server_socket.send(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
            elif ending == "eof":
                server_socket.shutdown(socket.SHUT_WR)
            elif ending == "reset":
                server_socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                server_socket.close()
            by_poll = connection.is_stale()
            poll, connection._idle_poll = connection._idle_poll, None
            by_peek = connection.is_stale()
            assert poll is not None and by_poll == by_peek, ending
            states.append(by_poll)
            connection._idle_poll = poll
            await connection.aclose()
            assert connection.is_stale()  # closed
            server_socket.close()
        assert states == [False, True, True, True]

    run(main())


def test_a_plain_url_string_is_parsed_once_and_checked_like_any_other() -> None:
    first = parse_url("http://Example.org:80/a")
    assert parse_url("http://Example.org:80/a") is first  # cached by the string
    assert first == parse_url("http://example.org/a", params={}) == parse_url("/a", base=parse_url("http://example.org/"))
    for bad in ("http://h/a b", "http://h/\r\nX: y", " http://h/\x00"):
        with pytest.raises(http.InvalidURL, match="whitespace or a control character") as caught:
            parse_url(bad)
        assert repr(bad) in str(caught.value)
        with pytest.raises(http.InvalidURL):
            parse_url(bad)  # refused again: errors are not cached
    assert parse_url("  http://h/x  ") == parse_url("http://h/x")  # surrounding spaces stripped, as before


def test_headers_as_key_tells_apart_what_the_wire_tells_apart() -> None:
    one = Headers([("Accept", "*/*"), ("X-A", "1")])
    assert one.as_key() == one.copy().as_key() and hash(one.as_key()) == hash(one.copy().as_key())
    assert one.as_key() != Headers([("accept", "*/*"), ("X-A", "1")]).as_key()  # spelling is sent as is
    assert one.as_key() != Headers([("X-A", "1"), ("Accept", "*/*")]).as_key()  # so is the order
    copied = one.copy()
    copied["X-A"] = "2"
    assert one["x-a"] == "1" and type(copied) is Headers


def test_a_wait_that_finishes_despite_its_deadline_leaves_no_cancellation_behind(run: Run) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(Timeout(read=0.05))
        gate: asyncio.Future[None] = loop.create_future()

        async def stubborn() -> str:
            try:
                await gate
            except asyncio.CancelledError:
                return "finished anyway"  # swallows the deadline's cancellation
            return "answered"

        assert await deadlines.run("read", stubborn()) == "finished anyway"
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0  # the deadline's cancel request was taken back
        await asyncio.sleep(0)  # and no cancellation is pending for the next await

    run(main())


def test_a_url_parsed_anew_still_finds_its_cached_head() -> None:
    from tidal.http._client._exchange import head_fields, request_head

    client = Client()
    first = client.build_request("GET", "http://a.test/x", params={"q": "1"})
    again = client.build_request("GET", "http://a.test/x", params={"q": "1"})
    other = client.build_request("GET", "http://a.test/x", params={"q": "2"})
    assert first.url == again.url and first.url is not again.url  # params build a new URL each time
    head = client._head_for(first, None)
    assert client._head_for(again, None) is head  # found by value
    assert client._head_for(other, None) is not head
    assert head == request_head(first, None, head_fields(first, None)) and head.target == b"/x?q=1"
