"""Misbehaving servers: each case gives a clear typed error and leaks no descriptor or pool slot."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import Callable
from typing import Any

import pytest

import tidal.http as http
from tidal.http import Client, Limits, Timeout

from .scripted import OK_HEAD, ScriptedServer, read_head, respond_forever, respond_once

Run = Callable[..., Any]


def assert_pool_clean(client: Client) -> None:
    state = client.pool_state
    assert state["open"] == state["idle"] and state["waiting"] == 0, state


@pytest.mark.parametrize(
    ("response", "error", "message"),
    [
        (b"", http.RemoteProtocolError, "server closed the connection before sending a response"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", http.RemoteProtocolError,
         "peer closed the connection 5 bytes into a 10-byte body"),
        (b"HTPT/1.1 200 OK\r\n\r\n", http.RemoteProtocolError, "status line"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", http.RemoteProtocolError, "status line"),
        (b"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n", http.RemoteProtocolError, "header"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", http.RemoteProtocolError,
         "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", http.RemoteProtocolError,
         "chunk"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", http.RemoteProtocolError,
         "in the middle of a chunked body"),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 10\r\n\r\n" + gzip.compress(b"x" * 100)[:10],
         http.DecodingError, "gzip"),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello", http.DecodingError,
         "gzip"),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: compress\r\nContent-Length: 5\r\n\r\nhello", http.DecodingError,
         "unsupported content-coding 'compress'"),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip, gzip, gzip, gzip, gzip, gzip\r\nContent-Length: 0\r\n\r\n",
         http.RemoteProtocolError, "coding"),
    ],
    ids=["no-response", "lying-length", "bad-version", "bad-status", "bad-header", "double-length",
         "bad-chunk-size", "truncated-chunked", "truncated-gzip", "corrupt-gzip", "unknown-coding", "six-codings"],
)
def test_malformed_responses(run: Run, response: bytes, error: type[Exception], message: str) -> None:
    async def main() -> None:
        async with ScriptedServer(respond_once(response)) as server, Client() as client:
            with pytest.raises(error, match=message):
                await client.get(server.url())
            assert_pool_clean(client)  # a fully received body may keep its connection

    run(main())


def test_gzip_bomb_is_refused(run: Run) -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(bomb)

    async def main() -> None:
        async with ScriptedServer(respond_once(head + bomb)) as server:
            async with Client() as client:
                with pytest.raises(http.DecodingError, match="ratio"):
                    await client.get(server.url())
                assert client.pool_state["open"] == 0
            async with Client(limits=Limits(max_decoded_body_bytes=1000)) as client:
                with pytest.raises(http.DecodingError, match="max_output=1000"):
                    await client.get(server.url())

    run(main())


def test_reset_in_the_middle_of_the_body(run: Run) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.transport.abort()  # RST: SO_LINGER is not needed, unread data makes Linux reset

    async def main() -> None:
        async with ScriptedServer(script) as server, Client() as client:
            async with client.stream("GET", server.url()) as response:
                with pytest.raises((http.ReadError, http.RemoteProtocolError)):
                    async for _ in response.iter_bytes():
                        pass
            assert client.pool_state["open"] == 0

    run(main())


def test_idle_connection_closed_at_reuse_is_retried_once(run: Run) -> None:
    requests_seen = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # First connection: answer one request, then close on the next one
        # without answering -- the keep-alive race of RFC 9112 §9.3.1.
        while head := await read_head(reader):
            requests_seen.append(head.split(b" ", 1)[0])
            if len(requests_seen) == 2:
                return
            writer.write(OK_HEAD)
            await writer.drain()

    async def main() -> None:
        async with ScriptedServer(script) as server, Client() as client:
            assert (await client.get(server.url())).content == b"ok"
            assert (await client.get(server.url())).content == b"ok"
            assert server.accepted == 2 and requests_seen == [b"GET", b"GET", b"GET"]
            assert_pool_clean(client)

    run(main())


def test_post_is_not_retried(run: Run) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if await read_head(reader):
            await reader.readexactly(1)
            writer.write(OK_HEAD)
            await writer.drain()
        await read_head(reader)

    async def main() -> None:
        async with ScriptedServer(script) as server, Client() as client:
            await client.post(server.url(), content=b"a")
            with pytest.raises(http.RemoteProtocolError, match="before sending a response"):
                await client.post(server.url(), content=b"a")
            assert server.accepted == 1 and client.pool_state["open"] == 0

    run(main())


def test_stale_idle_connection_is_detected_before_reuse(run: Run) -> None:
    closed = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(OK_HEAD)
        await writer.drain()
        if not closed.is_set():
            writer.close()
            closed.set()
            return
        await read_head(reader)

    async def main() -> None:
        async with ScriptedServer(script) as server, Client() as client:
            await client.get(server.url())
            await closed.wait()
            [idle] = client._pool.state._idle_all  # the pooled connection the server closed
            for _ in range(100):  # the FIN is on its way through loopback
                if idle.is_stale():
                    break
                await asyncio.sleep(0.001)
            assert idle.is_stale()
            assert (await client.get(server.url())).content == b"ok"
            assert server.accepted == 2
            assert_pool_clean(client)

    run(main())


def test_drip_feed_is_cut_off_by_the_total_timeout(run: Run) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        for byte in OK_HEAD[:-2] + b"x" * 1000:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.01)

    async def main() -> None:
        async with ScriptedServer(script) as server, Client(timeout=Timeout(read=5, total=0.3)) as client:
            started = asyncio.get_running_loop().time()
            with pytest.raises(http.TotalTimeout, match="total timeout of 0.3 s expired while waiting for response"):
                await client.get(server.url())
            assert asyncio.get_running_loop().time() - started < 2
            assert client.pool_state["open"] == 0

    run(main())


def test_streamed_body_counts_against_the_total_timeout(run: Run) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.01)

    async def main() -> None:
        async with ScriptedServer(script) as server, Client(timeout=Timeout(total=0.3)) as client:
            async with client.stream("GET", server.url()) as response:
                assert response.status == 200
                with pytest.raises(http.TotalTimeout):
                    await response.read()
            assert client.pool_state["open"] == 0

    run(main())


def test_read_timeout(run: Run) -> None:
    async def main() -> None:
        async with ScriptedServer(respond_once(b"", then_close=False)) as server:
            async with Client(timeout=Timeout(read=0.1)) as client:
                with pytest.raises(http.ReadTimeout, match="read timeout of 0.1 s") as caught:
                    await client.get(server.url())
                assert isinstance(caught.value, TimeoutError) and caught.value.request is not None
                assert client.pool_state["open"] == 0

    run(main())


def test_connect_timeout_covers_the_tls_handshake(run: Run) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async def main() -> None:
        async with ScriptedServer(silent) as server, Client(timeout=Timeout(connect=0.1)) as client:
            with pytest.raises(http.ConnectTimeout, match="connect timeout of 0.1 s"):
                await client.get(server.url(scheme="https"))
            assert client.pool_state["open"] == 0

    run(main())


def test_pool_timeout_when_every_connection_is_busy(run: Run) -> None:
    async def main() -> None:
        async with ScriptedServer(respond_forever(OK_HEAD)) as server:
            async with Client(limits=Limits(max_connections=1), timeout=Timeout(pool=0.1)) as client:
                async with client.stream("GET", server.url()):
                    with pytest.raises(http.PoolTimeout, match="pool timeout of 0.1 s"):
                        await client.get(server.url())
                assert (await client.get(server.url())).content == b"ok"
                assert_pool_clean(client)

    run(main())


def test_connection_refused(run: Run) -> None:
    async def main() -> None:
        async with ScriptedServer(respond_forever(OK_HEAD)) as server:
            port = server.port
        async with Client(retries=1) as client:
            with pytest.raises(http.ConnectError, match="cannot connect"):
                await client.get(f"http://127.0.0.1:{port}/")
            assert client.pool_state["open"] == 0

    run(main())


def test_closing_a_stream_early_closes_its_connection(run: Run) -> None:
    async def main() -> None:
        body = b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" + b"y" * 200000
        async with ScriptedServer(respond_forever(body)) as server, Client() as client:
            async with client.stream("GET", server.url()) as response:
                async for _ in response.iter_raw():
                    break
            assert client.pool_state["open"] == 0
            with pytest.raises(http.ResponseConsumed):
                await response.read()
            assert len((await client.get(server.url())).content) == 200000
            assert server.accepted == 2

    run(main())


def test_deflate_and_multiple_codings(run: Run) -> None:
    text = b"line\n" * 1000
    deflated = zlib.compress(gzip.compress(text))
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip, deflate\r\nContent-Length: %d\r\n\r\n" % len(deflated)

    async def main() -> None:
        async with ScriptedServer(respond_forever(head + deflated)) as server, Client() as client:
            assert (await client.get(server.url())).content == text

    run(main())


def test_trailers_and_interim_responses(run: Run) -> None:
    response = (b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3\r\nabc\r\n0\r\nChecksum: 42\r\n\r\n")

    async def main() -> None:
        async with ScriptedServer(respond_forever(response)) as server, Client() as client:
            result = await client.get(server.url())
            assert result.status == 200 and result.content == b"abc"
            assert result.trailers == {"checksum": "42"}
            assert_pool_clean(client)

    run(main())


def test_client_use_after_close(run: Run) -> None:
    async def main() -> None:
        client = Client()
        await client.aclose()
        with pytest.raises(http.ClientClosed):
            await client.get("http://127.0.0.1:1/")
        with pytest.raises(http.InvalidURL, match="scheme 'ftp'"):
            await Client().get("ftp://example.org/")

    run(main())


def test_write_timeout_when_the_server_stops_reading(run: Run) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        await asyncio.Event().wait()  # never reads the body

    async def endless() -> Any:
        block = b"w" * (1 << 20)
        for _ in range(256):
            yield block

    async def main() -> None:
        async with ScriptedServer(script) as server, Client(timeout=Timeout(write=0.2)) as client:
            with pytest.raises(http.WriteTimeout, match="write timeout of 0.2 s expired while sending the request"):
                await client.post(server.url(), content=endless())
            assert client.pool_state["open"] == 0

    run(main())


def test_base_url_text_iteration_and_declared_charset(run: Run) -> None:
    body = "naïve café\r\nligne 2".encode("latin-1")
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Length: %d\r\n\r\n" % len(body)

    async def main() -> None:
        async with ScriptedServer(respond_forever(head + body)) as server:
            async with Client(base_url=server.url("/api/")) as client:
                async with client.stream("GET", "items") as response:
                    assert str(response.url).endswith("/api/items") and response.encoding == "iso8859-1"
                    text = "".join([piece async for piece in response.iter_text()])
                assert text == "naïve café\r\nligne 2"  # text as sent; iter_lines splits on any newline
                assert await (await client.get("x")).text() == "naïve café\r\nligne 2"

    run(main())


def test_early_response_to_an_upload_beats_the_write_error(run: Run) -> None:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbig")
        await writer.drain()
        writer.close()  # unread upload bytes: the kernel answers the rest of the upload with a reset

    async def vanish(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.transport.abort()

    async def main() -> None:
        async with ScriptedServer(refuse) as server, Client() as client:
            response = await client.post(server.url(), content=b"u" * (8 << 20))
            assert (response.status, response.content) == (413, b"big")
            assert client.pool_state["open"] == 0
        async def plenty() -> Any:
            block = b"u" * (1 << 20)
            for _ in range(1024):  # far beyond any socket buffer: the reset always lands mid-upload
                yield block

        async with ScriptedServer(vanish) as server, Client() as client:
            with pytest.raises(http.WriteError, match="connection broken while sending the request"):
                await client.post(server.url(), content=plenty())
            assert client.pool_state["open"] == 0

    run(main())


def test_http_1_0_body_delimited_by_close(run: Run) -> None:
    async def main() -> None:
        async with ScriptedServer(respond_once(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")) as server:
            async with Client() as client:
                response = await client.get(server.url())
                assert (response.http_version, response.content) == ("HTTP/1.0", b"until close")
                assert client.pool_state["open"] == 0  # never reused

    run(main())


def test_oversized_response_head_is_refused(run: Run) -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"X-Filler: " + b"f" * 70000 + b"\r\nContent-Length: 0\r\n\r\n"

    async def main() -> None:
        async with ScriptedServer(respond_once(head)) as server, Client() as client:
            with pytest.raises(http.RemoteProtocolError, match="65536"):
                await client.get(server.url())
            assert client.pool_state["open"] == 0

    run(main())


def test_unusable_redirect_and_challenge_close_their_response(run: Run) -> None:
    redirect = b"HTTP/1.1 302 Found\r\nLocation: ftp://files.test/x\r\nContent-Length: 0\r\n\r\n"
    challenge = (b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm="r", nonce="n", algorithm=SHA-512-256\r\n'
                 b"Content-Length: 0\r\n\r\n")

    async def main() -> None:
        async with ScriptedServer(respond_forever(redirect)) as server, Client() as client:
            with pytest.raises(http.InvalidURL, match="unusable location"):
                await client.get(server.url())
            assert client.pool_state["open"] == client.pool_state["idle"]
        async with ScriptedServer(respond_forever(challenge)) as server:
            async with Client(auth=http.DigestAuth("u", "p")) as client:
                with pytest.raises(ValueError, match="unsupported Digest algorithm 'SHA-512-256'"):
                    await client.get(server.url())
                assert client.pool_state["open"] == client.pool_state["idle"]

    run(main())


def test_an_unclosed_streamed_response_warns(run: Run) -> None:
    async def main() -> None:
        async with ScriptedServer(respond_forever(OK_HEAD)) as server, Client() as client:
            response = await client.send(client.build_request("GET", server.url()), stream=True)
            with pytest.warns(ResourceWarning, match="unclosed streamed response"):
                response.__del__()
            await response.aclose()

    run(main())


def test_a_response_written_byte_by_byte_decodes_the_same(run: Run) -> None:
    text = "".join(f"ligne {index} élan\r\n" for index in range(300)).encode("utf-8")
    encoded = gzip.compress(text)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(encoded[i:i + 97]), encoded[i:i + 97]) for i in range(0, len(encoded), 97))
    response = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Encoding: gzip\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\nDigest: x\r\n\r\n")

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await read_head(reader):
            for index in range(len(response)):
                writer.write(response[index:index + 1])
                await writer.drain()

    async def main() -> None:
        async with ScriptedServer(script) as server, Client() as client:
            async with client.stream("GET", server.url()) as streamed:
                lines = [line async for line in streamed.iter_lines()]
            assert lines == text.decode("utf-8").splitlines() and streamed.trailers == {"digest": "x"}
            assert (await client.get(server.url())).content == text
            assert server.accepted == 1

    run(main())


def test_ipv6_literal_host(run: Run) -> None:
    seen: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_head(reader))
        writer.write(OK_HEAD)
        await writer.drain()

    async def main() -> None:
        async with ScriptedServer(script, host="::1") as server, Client() as client:
            assert (await client.get(server.url("/six"))).content == b"ok"
            assert f"\r\nHost: [::1]:{server.port}\r\n".encode() in seen[0]

    run(main())
