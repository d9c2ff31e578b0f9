"""TLSStream: conformance over memory and TCP, real OpenSSL peers, and bad input."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from tests.peers import free_port, require_binary
from tidal.protocols.tls import TLSRemoteError
from tidal.streams import ByteStream, StreamBroken, TLSStream, open_tcp_stream, serve_tcp
from tidal.testing import check_two_way_stream, memory_stream_pair

from .helpers import tcp_pair, tls_pair_maker


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


@pytest.fixture(scope="module")
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    context.set_alpn_protocols(["http/1.1"])
    return context


async def memory_pair() -> tuple[ByteStream, ByteStream]:
    return memory_stream_pair()


def test_tls_over_memory_conforms(run: Any, server_context: ssl.SSLContext, client_context: ssl.SSLContext) -> None:
    run(check_two_way_stream(tls_pair_maker(memory_pair, server_context, client_context), max_cancel_points=40, half_close=False))


@pytest.fixture(scope="module")
def ticketless_server_context(ca: trustme.CA) -> ssl.SSLContext:
    # The checker's senders close right after sending.  Over TCP a TLS 1.3
    # server's session tickets then reach a closed socket, the client's kernel
    # answers with a reset, and the reset discards data the server had not
    # read yet.  That is TCP behaviour (peers avoid it by closing gracefully,
    # see test_graceful_close_with_session_tickets), so the conformance run
    # uses a server that sends no tickets.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    context.num_tickets = 0
    return context


def test_tls_over_tcp_conforms(
    run: Any, ticketless_server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    make_pair = tls_pair_maker(tcp_pair, ticketless_server_context, client_context)
    run(check_two_way_stream(make_pair, max_cancel_points=30, half_close=False))


def test_graceful_close_with_session_tickets(
    run: Any, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def scenario() -> None:
        client, server = await tls_pair_maker(tcp_pair, server_context, client_context)()
        payload = bytes(range(256)) * 4096
        received = bytearray()

        async def send() -> None:
            await client.send_all(payload)
            await client.send_eof()
            assert await client.receive_some() == b""  # wait for the server's goodbye
            await client.aclose()

        async def receive() -> None:
            async for chunk in server:
                received.extend(chunk)
            await server.aclose()

        await asyncio.gather(send(), receive())
        assert received == payload

    run(scenario())


def test_tls_over_tls_conforms(run: Any, server_context: ssl.SSLContext, client_context: ssl.SSLContext) -> None:
    inner = tls_pair_maker(memory_pair, server_context, client_context)
    run(check_two_way_stream(tls_pair_maker(inner, server_context, client_context), large_size=256 * 1024, max_cancel_points=10, half_close=False))


def test_handshake_exposes_alpn_and_certificate(
    run: Any, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def scenario() -> None:
        client, server = await tls_pair_maker(memory_pair, server_context, client_context)()
        assert isinstance(client, TLSStream) and isinstance(server, TLSStream)
        async with client, server:
            await asyncio.gather(client.do_handshake(), server.do_handshake())
            assert client.alpn_protocol == server.alpn_protocol == "http/1.1"
            assert client.tls_version == "TLSv1.3"
            assert client.peer_certificate is not None
            assert ("DNS", "localhost") in client.peer_certificate["subjectAltName"]
            assert client.peer_certificate_der
            assert client.get_extra_info("alpn_protocol") == "http/1.1"
            assert client.get_extra_info("sockname") == "memory-left"  # from the transport
            assert server.server_side and not client.server_side

    run(scenario())


def test_wrong_hostname_is_a_clear_error(run: Any, server_context: ssl.SSLContext, client_context: ssl.SSLContext) -> None:
    async def scenario() -> None:
        left, right = memory_stream_pair()
        client = TLSStream.wrap(left, client_context, server_hostname="wrong.example")
        server = TLSStream.wrap(right, server_context, server_side=True)
        async with client, server:
            results = await asyncio.gather(client.do_handshake(), server.do_handshake(), return_exceptions=True)
        assert isinstance(results[0], StreamBroken)
        assert "handshake failed" in str(results[0])
        assert "wrong.example" in str(results[0]) or "hostname" in str(results[0]).lower()
        assert isinstance(results[1], StreamBroken)

    run(scenario())


def test_truncated_tls_is_stream_broken(run: Any, server_context: ssl.SSLContext, client_context: ssl.SSLContext) -> None:
    async def scenario_direct() -> None:
        client, server = await tls_pair_maker(memory_pair, server_context, client_context)()
        assert isinstance(server, TLSStream)
        async with client, server:
            await asyncio.gather(client.do_handshake(), server.do_handshake())
            await server.transport_stream.aclose()
            with pytest.raises(StreamBroken, match="close_notify") as caught:
                await client.receive_some()
            assert caught.value.__cause__ is not None
            with pytest.raises(StreamBroken):  # and it stays broken
                await client.receive_some()

    run(scenario_direct())


def test_data_before_a_tampered_record_is_received_then_the_error(
    run: Any, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def scenario() -> None:
        left, right = memory_stream_pair()
        client = TLSStream.wrap(left, client_context, server_hostname="localhost")
        server = TLSStream.wrap(right, server_context, server_side=True)
        async with client, server:
            await asyncio.gather(client.do_handshake(), server.do_handshake())
            engine = server.get_extra_info("tls_engine")
            engine.send(b"authentic")
            good = engine.data_to_send()
            engine.send(b"tampered")
            bad = bytearray(engine.data_to_send())
            bad[-1] ^= 0xFF  # the AEAD tag no longer matches
            await right.send_all(good + bytes(bad))  # both records in one receive
            buffer = bytearray(65536)
            assert await client.receive_into(buffer) == 9 and buffer[:9] == b"authentic"
            with pytest.raises(StreamBroken, match="integrity check") as caught:
                await client.receive_into(buffer)
            assert isinstance(caught.value.__cause__, TLSRemoteError)
            with pytest.raises(StreamBroken):  # and it stays broken
                await client.receive_into(buffer)

    run(scenario())


@pytest.mark.parametrize("buffer_size", [7, 1000, 20000, 70000])
def test_any_receive_buffer_size_gets_every_byte_in_order(
    run: Any, server_context: ssl.SSLContext, client_context: ssl.SSLContext, buffer_size: int
) -> None:
    async def scenario() -> None:
        client, server = await tls_pair_maker(tcp_pair, server_context, client_context)()
        message = bytes(range(256)) * 1024  # 256 KiB: sixteen full records
        received = bytearray()
        buffer = bytearray(buffer_size)

        async def receive_all() -> None:
            while len(received) < len(message):
                count = await client.receive_into(buffer)
                assert 0 < count <= buffer_size
                received.extend(buffer[:count])

        async with client, server:
            await asyncio.gather(server.send_all(message), receive_all())
        assert received == message

    run(scenario())


def test_ragged_eof_allowed_when_asked(run: Any, server_context: ssl.SSLContext, client_context: ssl.SSLContext) -> None:
    async def scenario() -> None:
        left, right = memory_stream_pair()
        client = TLSStream.wrap(left, client_context, server_hostname="localhost", allow_ragged_eof=True)
        server = TLSStream.wrap(right, server_context, server_side=True)
        async with client, server:
            await asyncio.gather(client.do_handshake(), server.do_handshake())
            await right.aclose()
            assert await client.receive_some() == b""

    run(scenario())


def test_garbage_instead_of_tls(run: Any, client_context: ssl.SSLContext) -> None:
    async def scenario() -> None:
        left, right = memory_stream_pair()
        client = TLSStream.wrap(left, client_context, server_hostname="localhost")
        async with client, right:

            async def fake_server() -> None:
                await right.receive_some()
                await right.send_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")

            results = await asyncio.gather(client.do_handshake(), fake_server(), return_exceptions=True)
            assert isinstance(results[0], StreamBroken), results

    run(scenario())


def test_unwrap_returns_the_transport_and_trailing_bytes(
    run: Any, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def scenario() -> None:
        client, server = await tls_pair_maker(memory_pair, server_context, client_context)()
        assert isinstance(client, TLSStream) and isinstance(server, TLSStream)

        async def server_side() -> None:
            assert await server.receive_some() == b"secret"
            transport, trailing = await server.unwrap()
            await transport.send_all(b"plain")

        async def client_side() -> bytes:
            await client.send_all(b"secret")
            transport, trailing = await client.unwrap()
            plain = trailing  # cleartext that arrived with the close_notify
            while len(plain) < len(b"plain"):
                plain += await transport.receive_some()
            return plain

        _, plain = await asyncio.gather(server_side(), client_side())
        assert plain == b"plain"
        await client.transport_stream.aclose()
        await server.transport_stream.aclose()

    run(scenario())


def test_open_tcp_stream_and_serve_tcp_with_tls(
    run: Any, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def handler(stream: Any) -> None:
        assert isinstance(stream, TLSStream)
        async for chunk in stream:
            await stream.send_all(chunk.upper())

    async def scenario() -> None:
        async with await serve_tcp(handler, "127.0.0.1", 0, ssl=server_context) as server:
            stream = await open_tcp_stream("127.0.0.1", server.port, ssl=client_context, server_hostname="localhost")
            async with stream:
                assert isinstance(stream, TLSStream)
                await stream.send_all(b"shout")
                assert await stream.receive_some() == b"SHOUT"
                await stream.send_eof()
                assert await stream.receive_some() == b""
            with pytest.raises(StreamBroken, match="handshake failed"):
                await open_tcp_stream("127.0.0.1", server.port, ssl=True)  # system CAs: untrusted

    run(scenario())


# -- real OpenSSL peers ------------------------------------------------------


@pytest.fixture(scope="module")
def cert_files(ca: trustme.CA) -> Iterator[tuple[str, str, str]]:
    with tempfile.TemporaryDirectory() as directory:
        cert = ca.issue_cert("localhost", "127.0.0.1")
        paths = [os.path.join(directory, name) for name in ("cert.pem", "key.pem", "ca.pem")]
        cert.cert_chain_pems[0].write_to_path(paths[0])
        cert.private_key_pem.write_to_path(paths[1])
        ca.cert_pem.write_to_path(paths[2])
        yield paths[0], paths[1], paths[2]


def test_against_openssl_s_server(run: Any, cert_files: tuple[str, str, str], client_context: ssl.SSLContext) -> None:
    openssl = require_binary("openssl")
    cert, key, _ = cert_files
    port = free_port()
    server = subprocess.Popen(
        [openssl, "s_server", "-accept", f"127.0.0.1:{port}", "-cert", cert, "-key", key, "-rev", "-quiet"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    async def scenario() -> bytes:
        for _ in range(200):  # until s_server listens
            try:
                stream = await open_tcp_stream("127.0.0.1", port, ssl=client_context, server_hostname="localhost")
                break
            except OSError:
                await asyncio.sleep(0.02)
        else:
            raise AssertionError("openssl s_server did not start")
        async with stream:
            await stream.send_all(b"tidal streams\n")
            reply = bytearray()
            while b"\n" not in reply:
                reply += await stream.receive_some()
            return bytes(reply)

    try:
        reply = run(scenario())
        assert b"smaerts ladit" in reply  # -rev reverses each line
    finally:
        server.kill()
        server.wait()
        assert server.stdout is not None and server.stderr is not None
        server.stdout.close()
        server.stderr.close()


def _talk_to_s_client(openssl: str, port: int, ca_file: str) -> bytes:
    """Run ``openssl s_client``: send a line, read until the server's line, hang up."""
    process = subprocess.Popen(
        [openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
         "-CAfile", ca_file, "-verify_return_error", "-quiet", "-no_ign_eof"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    watchdog = threading.Timer(10.0, process.kill)  # a bound, never a synchronization
    watchdog.start()
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(b"hello from s_client\n")
        process.stdin.flush()
        line = process.stdout.readline()
        process.stdin.close()
        process.wait()
        process.stdout.close()
        return line
    finally:
        watchdog.cancel()


def test_against_openssl_s_client(run: Any, cert_files: tuple[str, str, str], server_context: ssl.SSLContext) -> None:
    openssl = require_binary("openssl")
    _, _, ca_file = cert_files
    received: list[bytes] = []

    async def handler(stream: Any) -> None:
        await stream.send_all(b"hello from tidal\n")
        data = bytearray()
        async for chunk in stream:
            data += chunk
        received.append(bytes(data))

    async def scenario() -> bytes:
        async with await serve_tcp(handler, "127.0.0.1", 0, ssl=server_context) as server:
            loop = asyncio.get_running_loop()
            line = await loop.run_in_executor(None, _talk_to_s_client, openssl, server.port, ca_file)
            while not received:  # the handler finishes once it has read s_client's EOF
                await asyncio.sleep(0.01)
            return line

    assert run(scenario()) == b"hello from tidal\n"
    assert received == [b"hello from s_client\n"]


def test_the_stream_locks_are_fifo_and_a_cancelled_waiter_takes_nothing(run: Any) -> None:
    from tidal.streams._tls import _Baton

    async def scenario() -> None:
        baton = _Baton()
        assert baton.try_take() and baton.locked() and not baton.try_take()
        order: list[str] = []

        async def worker(name: str) -> None:
            await baton.take()
            order.append(name)
            await asyncio.sleep(0)
            baton.release()

        first, second, third = (asyncio.ensure_future(worker(name)) for name in ("a", "b", "c"))
        await asyncio.sleep(0)  # all three wait, in this order
        second.cancel()
        baton.release()
        await asyncio.gather(first, third)
        with pytest.raises(asyncio.CancelledError):
            await second
        assert order == ["a", "c"] and not baton.locked()

        assert baton.try_take()
        late = asyncio.ensure_future(baton.take())
        await asyncio.sleep(0)
        baton.release()  # handed to `late` ...
        late.cancel()  # ... which is cancelled before it runs: it passes the baton on
        with pytest.raises(asyncio.CancelledError):
            await late
        assert not baton.locked()

    run(scenario())
