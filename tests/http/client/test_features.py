"""Proxies (forwarding and CONNECT, explicit and from the environment), Unix sockets, Digest auth,
multipart uploads, Expect: 100-continue, hooks and trace events, tidal's resolver."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import tidal.http as http
from tidal.dns import Resolver
from tidal.http import Client, DigestAuth

from .conftest import SMALL_BODY, Nginx
from .scripted import OK_HEAD, ScriptedServer, read_head

Run = Callable[..., Any]


def forwarding_proxy(seen: list[bytes]) -> Any:
    """A small HTTP proxy: CONNECT tunnels and absolute-form forwarding, recording request heads."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.write_eof()
        except (ConnectionError, OSError):
            pass

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_head(reader)
        if not head:
            return
        seen.append(head)
        method, target, _ = head.split(b"\r\n", 1)[0].split(b" ")
        if method == b"CONNECT":
            host, port = target.decode().rsplit(":", 1)
            if host != "localhost":
                writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            parts = urlsplit(target.decode())
            upstream_reader, upstream_writer = await asyncio.open_connection(parts.hostname, parts.port)
            upstream_writer.write(head)
        try:
            await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        finally:
            upstream_writer.transport.abort()

    return script


def test_forwarding_proxy_and_connect_tunnel(run: Run, nginx: Nginx) -> None:
    seen: list[bytes] = []

    async def main() -> None:
        async with ScriptedServer(forwarding_proxy(seen)) as proxy:
            proxy_url = f"http://user:pw@127.0.0.1:{proxy.port}"
            async with Client(proxy=proxy_url, verify=nginx.ca_path) as client:
                plain = await client.get(nginx.url("/small.bin"))
                secure = await client.get(nginx.tls_url("/small.bin"))
                again = await client.get(nginx.tls_url("/small.bin"))
                assert plain.content == secure.content == again.content == SMALL_BODY
                with pytest.raises(http.ProxyError, match="refused CONNECT 127.0.0.1:.*403 Forbidden"):
                    await client.get(f"https://127.0.0.1:{nginx.tls_port}/small.bin")
                assert client.pool_state["open"] == client.pool_state["idle"] == 2
        assert seen[0].startswith(f"GET http://127.0.0.1:{nginx.port}/small.bin HTTP/1.1\r\n".encode())
        assert b"Proxy-Authorization: Basic dXNlcjpwdw==" in seen[0]
        assert seen[1].startswith(f"CONNECT localhost:{nginx.tls_port} HTTP/1.1\r\n".encode())
        assert b"Proxy-Authorization: Basic dXNlcjpwdw==" in seen[1]
        assert len(seen) == 3  # the second https request reused the tunnel

    run(main())


def test_proxy_from_the_environment_and_no_proxy(run: Run, nginx: Nginx, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bytes] = []

    async def main() -> None:
        async with ScriptedServer(forwarding_proxy(seen)) as proxy:
            monkeypatch.setenv("HTTP_PROXY", f"127.0.0.1:{proxy.port}")
            monkeypatch.setenv("NO_PROXY", "localhost")
            async with Client() as client:
                assert (await client.get(nginx.url("/small.bin"))).content == SMALL_BODY
                assert (await client.get(f"http://localhost:{nginx.port}/small.bin")).content == SMALL_BODY
            async with Client(trust_env=False) as client:
                assert (await client.get(nginx.url("/small.bin"))).content == SMALL_BODY
        assert len(seen) == 1  # NO_PROXY and trust_env=False went direct

    run(main())
    with pytest.raises(http.InvalidURL, match="only http:// proxies"):
        Client(proxy="https://proxy.test:3128")


def test_unix_socket_transport(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        async with Client(uds=nginx.unix_path) as client:
            response = await client.get("http://localhost/small.bin")
            assert response.content == SMALL_BODY
            assert (await client.get("http://localhost/small.bin")).timing.connect == 0

    run(main())


def test_digest_auth_answers_the_challenge(run: Run) -> None:
    authorizations: list[str] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while head := await read_head(reader):
            match = re.search(rb"\r\nAuthorization: (.*)\r\n", head)
            if match is None:
                writer.write(b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm="r", nonce="n1", '
                             b'qop="auth", algorithm=SHA-256\r\nContent-Length: 0\r\n\r\n')
            else:
                authorizations.append(match.group(1).decode())
                writer.write(OK_HEAD)
            await writer.drain()

    async def main() -> None:
        async with ScriptedServer(script) as server, Client(auth=DigestAuth("u", "p")) as client:
            response = await client.get(server.url("/doc"))
            assert response.status == 200 and response.content == b"ok"
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', authorizations[0]))
        digest = lambda text: hashlib.sha256(text.encode()).hexdigest()  # noqa: E731
        ha1, ha2 = digest("u:r:p"), digest("GET:/doc")
        assert fields["response"] == digest(f"{ha1}:n1:{fields['nc']}:{fields['cnonce']}:auth:{ha2}")
        assert server.accepted == 1

    run(main())


async def capture_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await read_head(reader)
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
    return head, await reader.readexactly(length)


def test_multipart_upload_streams_a_file(run: Run, tmp_path: Path) -> None:
    received: list[tuple[bytes, bytes]] = []
    upload = tmp_path / "notes.txt"
    upload.write_bytes(b"n" * 100_000)

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await capture_request(reader))
        writer.write(OK_HEAD)
        await writer.drain()

    async def main() -> None:
        async with ScriptedServer(script) as server, Client() as client:
            with upload.open("rb") as file:
                await client.post(server.url(), data={"kind": "notes"}, files={"file": file})

    run(main())
    head, body = received[0]
    boundary = re.search(rb"boundary=(\w+)", head).group(1)  # type: ignore[union-attr]
    assert body.count(b"--" + boundary) == 3 and b'filename="notes.txt"' in body and b"n" * 100_000 in body


@pytest.mark.parametrize("server_answer", ["continue", "final", "silent"])
def test_expect_100_continue(run: Run, server_answer: str) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_head(reader)
        assert b"Expect: 100-continue" in head
        if server_answer == "final":
            writer.write(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            await reader.read()
            return
        if server_answer == "continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        assert await reader.readexactly(5) == b"hello"
        writer.write(OK_HEAD)
        await writer.drain()
        await reader.read()

    async def main() -> None:
        async with ScriptedServer(script) as server, Client(continue_timeout=0.05) as client:
            response = await client.post(server.url(), content=b"hello", headers={"Expect": "100-continue"})
            if server_answer == "final":
                assert response.status == 413 and client.pool_state["open"] == 0  # the body was never sent
            else:
                assert response.content == b"ok" and client.pool_state["idle"] == 1

    run(main())


def test_hooks_and_trace_events(run: Run, nginx: Nginx) -> None:
    events: list[str] = []
    seen: list[str] = []

    async def on_response(response: http.ClientResponse) -> None:
        seen.append(f"response {response.status}")

    async def main() -> None:
        hooks = {
            "request": [lambda request: seen.append(f"request {request.method}")],
            "response": [on_response],
            "trace": [lambda event, details: events.append(event)],
        }
        async with Client(verify=nginx.ca_path, hooks=hooks) as client:
            await client.get(nginx.tls_url("/small.bin"))
            await client.get(nginx.tls_url("/r302"))

    run(main())
    assert events[:11] == [
        "dns.start", "dns.end", "connect.start", "connect.end", "tls.start", "tls.end",
        "connection.acquired", "request.sent", "response.first_byte", "response.headers", "response.body_done",
    ]
    assert events[11:] == ["connection.acquired", "request.sent", "response.first_byte", "response.headers",
                           "response.body_done"] * 2
    assert seen == ["request GET", "response 200", "request GET", "response 302", "request GET", "response 200"]
    with pytest.raises(ValueError, match="unknown hook names"):
        Client(hooks={"before": []})


def test_tidal_resolver_with_a_hosts_file(run: Run, nginx: Nginx, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 tidal-origin.test\n")

    async def main() -> None:
        resolver = Resolver(["127.0.0.1"], port=9, hosts_file=str(hosts), resolv_conf=None)
        async with Client(resolver=resolver) as client:
            response = await client.get(f"http://tidal-origin.test:{nginx.port}/small.bin")
            assert response.content == SMALL_BODY and response.timing.dns >= 0

    run(main())
