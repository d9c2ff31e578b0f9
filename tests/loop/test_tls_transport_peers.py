"""TLS transports against real peers: ``openssl s_server`` and ``openssl s_client``.

Run on tidal's loop and on asyncio's (the ``loop`` fixture).  s_server
listens on a kernel-chosen loopback port and is found through the
``ACCEPT 127.0.0.1:<port>`` line it prints (no sleeps); s_client runs in a
worker thread bounded by a watchdog.  Every peer is terminated by PID.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.peers import require_binary
from tests.protocols.test_tls_kit import HOSTNAME, ca, server_cert
from tests.protocols.test_tls_openssl import s_server

from .test_tls_transport import Echo, Recorder

PEER_TIMEOUT = 10.0


def client_context(alpn: list[str] | None = None) -> ssl.SSLContext:
    """A verifying client context trusting the test CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca().configure_trust(context)
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    return context


async def connect_to(loop: asyncio.AbstractEventLoop, port: int, context: ssl.SSLContext) -> tuple[Any, Recorder]:
    transport, protocol = await loop.create_connection(
        Recorder, "127.0.0.1", port, ssl=context, server_hostname=HOSTNAME
    )
    assert isinstance(protocol, Recorder)
    return transport, protocol


def test_client_against_s_server(loop: asyncio.AbstractEventLoop, run: Any, tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        transport, client = await connect_to(loop, port, client_context())
        assert transport.get_extra_info("peercert")["subjectAltName"][0] == ("DNS", HOSTNAME)
        transport.write(b"hello tidal\n")
        assert await client.receive_at_least(12) == b"ladit olleh\n"  # -rev reverses each line
        transport.write(b"CLOSE\n")  # s_server answers with close_notify
        assert await client.lost is None
        assert client.events == ["made", "eof", "lost"]

    with s_server(tmp_path) as (_, port):
        run(scenario(port))


def test_alpn_with_s_server(loop: asyncio.AbstractEventLoop, run: Any, tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        transport, client = await connect_to(loop, port, client_context(alpn=["h2", "http/1.1"]))
        assert transport.get_extra_info("ssl_object").selected_alpn_protocol() == "http/1.1"
        transport.close()
        assert await client.lost is None

    with s_server(tmp_path, "-alpn", "http/1.1") as (_, port):
        run(scenario(port))


def test_s_server_killed_is_a_ragged_eof(loop: asyncio.AbstractEventLoop, run: Any, tmp_path: Path) -> None:
    # The kernel closes a killed s_server's socket: a TCP FIN, no close_notify.
    async def scenario(process: subprocess.Popen[bytes], port: int) -> None:
        transport, client = await connect_to(loop, port, client_context())
        transport.write(b"ping\n")
        assert await client.receive_at_least(5) == b"gnip\n"
        process.kill()
        assert await client.lost is None
        assert client.events == ["made", "eof", "lost"]

    with s_server(tmp_path) as (process, port):
        run(scenario(process, port))


def talk_to_s_client(port: int, ca_file: str) -> bytes:
    """Run ``openssl s_client``: send a line, read the answer, close stdin (close_notify)."""
    openssl = require_binary("openssl")
    process = subprocess.Popen(
        [openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-servername", HOSTNAME,
         "-CAfile", ca_file, "-verify_return_error", "-quiet", "-no_ign_eof"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    watchdog = threading.Timer(PEER_TIMEOUT, process.kill)  # a bound, never a synchronization
    watchdog.start()
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(b"hello from s_client\n")
        process.stdin.flush()
        line = process.stdout.readline()
        process.stdin.close()
        process.wait()
        return line
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()


def test_server_against_s_client(loop: asyncio.AbstractEventLoop, run: Any, tmp_path: Path) -> None:
    require_binary("openssl")
    ca_file = tmp_path / "ca.pem"
    ca().cert_pem.write_to_path(str(ca_file))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_cert().configure_cert(context)
    protocols: list[Echo] = []

    def factory() -> Echo:
        protocols.append(Echo())
        return protocols[-1]

    async def scenario() -> None:
        server = await loop.create_server(factory, "127.0.0.1", 0, ssl=context)
        port = server.sockets[0].getsockname()[1]
        line = await loop.run_in_executor(None, talk_to_s_client, port, str(ca_file))
        assert line == b"hello from s_client\n"
        [echo] = protocols
        assert await echo.lost is None
        assert echo.events == ["made", "eof", "lost"]  # s_client closed with close_notify
        server.close()
        await server.wait_closed()

    run(scenario())


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_both_tls_versions_with_s_server(
    loop: asyncio.AbstractEventLoop, run: Any, tmp_path: Path, version: str
) -> None:
    async def scenario(port: int) -> None:
        transport, client = await connect_to(loop, port, client_context())
        assert transport.get_extra_info("ssl_object").version() == {"-tls1_2": "TLSv1.2", "-tls1_3": "TLSv1.3"}[version]
        transport.write(b"x" * 1000 + b"\n")
        assert await client.receive_at_least(1001) == b"x" * 1000 + b"\n"
        transport.close()
        assert await client.lost is None

    with s_server(tmp_path, version) as (_, port):
        run(scenario(port))
