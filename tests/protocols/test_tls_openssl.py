"""The engine against a real peer: ``openssl s_server`` on loopback.

The server mostly runs in ``-rev`` mode (it answers each line reversed and
closes with close_notify on a ``CLOSE`` line); without it, it prints what it
receives and obeys commands on its stdin, such as ``R`` to renegotiate.  The
engine is driven over a plain blocking socket with timeouts.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tidal.protocols.tls import (
    NEED_DATA,
    CloseNotify,
    Data,
    Event,
    HandshakeComplete,
    TLSEngine,
    TLSState,
    TLSTruncationError,
)
from tests.peers import require_binary

from .test_tls_kit import ca, client_cert, client_context, server_cert

STARTUP_TIMEOUT = 10.0
IO_TIMEOUT = 10.0


@contextlib.contextmanager
def s_server(
    tmp_path: Path, *options: str, rev: bool = True
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Run ``openssl s_server`` on a kernel-chosen loopback port; yield (process, port)."""
    openssl = require_binary("openssl")
    key_and_chain = tmp_path / "server.pem"
    server_cert().private_key_and_cert_chain_pem.write_to_path(str(key_and_chain))
    command = [openssl, "s_server", "-accept", "127.0.0.1:0", "-cert", str(key_and_chain),
               "-naccept", "1", *(["-rev"] if rev else []), *options]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL if rev else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process, wait_for_port(process)
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=STARTUP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()


def wait_for_output(process: subprocess.Popen[bytes], pattern: bytes) -> re.Match[bytes]:
    """Read s_server's output (bounded in time) until ``pattern`` matches."""
    assert process.stdout is not None
    output = b""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while (remaining := deadline - time.monotonic()) > 0:
            if not selector.select(remaining):
                break
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                break
            output += chunk
            if match := re.search(pattern, output):
                return match
    raise AssertionError(f"openssl s_server never printed {pattern!r}: {output!r}")


def wait_for_port(process: subprocess.Popen[bytes]) -> int:
    """The port from s_server's ``ACCEPT 127.0.0.1:<port>`` line."""
    return int(wait_for_output(process, rb"ACCEPT 127\.0\.0\.1:(\d+)\n").group(1))


class Driver:
    """Moves bytes between one engine and one blocking socket."""

    def __init__(self, engine: TLSEngine, port: int) -> None:
        self.engine = engine
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)

    def next_event(self) -> Event:
        """The engine's next event other than NEED_DATA, reading the socket as needed."""
        while True:
            event = self.engine.next_event()
            self.flush()
            if event is not NEED_DATA:
                return event
            self.engine.receive_data(self.sock.recv(65536))

    def flush(self) -> None:
        if data := self.engine.data_to_send():
            self.sock.sendall(data)

    def receive_exactly(self, size: int) -> bytes:
        received = bytearray()
        while len(received) < size:
            event = self.next_event()
            assert isinstance(event, Data), f"expected data, got {event!r}"
            received += event.data
        return bytes(received)

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize(("version", "flag"), [("TLSv1.2", "-tls1_2"), ("TLSv1.3", "-tls1_3")])
def test_echo_and_close_notify_with_openssl_s_server(tmp_path: Path, version: str, flag: str) -> None:
    lines = [b"line %05d of the tidal test\n" % n for n in range(3000)]  # ~84 KiB
    with s_server(tmp_path, flag, "-alpn", "http/1.1") as (_, port):
        engine = TLSEngine.client(client_context(alpn=["h2", "http/1.1"]), "127.0.0.1")
        driver = Driver(engine, port)
        try:
            assert driver.next_event() == HandshakeComplete("http/1.1", version)
            assert engine.peer_certificate is not None
            for line in lines:
                engine.send(line)
            driver.flush()
            echoed = driver.receive_exactly(sum(map(len, lines)))
            assert echoed == b"".join(line[-2::-1] + b"\n" for line in lines)
            engine.send(b"CLOSE\n")  # s_server then sends its close_notify
            assert driver.next_event() == CloseNotify()
            engine.start_close()
            driver.flush()
            assert engine.state is TLSState.CLOSED
        finally:
            driver.close()


def test_mutual_tls_with_openssl_s_server(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca().cert_pem.write_to_path(str(ca_file))
    with s_server(tmp_path, "-Verify", "1", "-CAfile", str(ca_file)) as (_, port):
        engine = TLSEngine.client(client_context(cert=client_cert()), "127.0.0.1")
        driver = Driver(engine, port)
        try:
            assert isinstance(driver.next_event(), HandshakeComplete)
            engine.send(b"who am i\n")
            driver.flush()
            assert driver.receive_exactly(9) == b"i ma ohw\n"
        finally:
            driver.close()


def test_a_killed_peer_is_a_truncation(tmp_path: Path) -> None:
    with s_server(tmp_path) as (process, port):
        engine = TLSEngine.client(client_context(), "127.0.0.1")
        driver = Driver(engine, port)
        try:
            assert isinstance(driver.next_event(), HandshakeComplete)
            engine.send(b"ping\n")
            driver.flush()
            assert driver.receive_exactly(5) == b"gnip\n"
            process.kill()  # the kernel closes its socket: EOF without close_notify
            process.wait(timeout=STARTUP_TIMEOUT)
            with pytest.raises(TLSTruncationError):
                driver.next_event()
        finally:
            driver.close()


def test_a_write_during_renegotiation_waits_for_the_peer_and_loses_nothing(tmp_path: Path) -> None:
    # TLS 1.2 renegotiation started by the server: once the client has
    # answered the HelloRequest, SSL_write must first read the server's reply
    # (WANT_READ), and must then be retried with the very same bytes.
    with s_server(tmp_path, "-tls1_2", rev=False) as (process, port):
        assert process.stdin is not None
        engine = TLSEngine.client(client_context(), "127.0.0.1")
        driver = Driver(engine, port)
        try:
            assert isinstance(driver.next_event(), HandshakeComplete)
            wait_for_output(process, rb"CIPHER is ")  # the server's side is done too
            process.stdin.write(b"R\n")  # s_server: renegotiate
            process.stdin.flush()
            while not (client_hello := engine.data_to_send()):
                engine.receive_data(driver.sock.recv(65536))
                assert engine.next_event() is NEED_DATA  # a HelloRequest is not data
            driver.sock.sendall(client_hello)
            engine.send(b"sent mid-renegotiation\n")
            assert engine.send_blocked
            while engine.send_blocked:
                engine.receive_data(driver.sock.recv(65536))
                assert engine.next_event() is NEED_DATA
                driver.flush()
            wait_for_output(process, rb"sent mid-renegotiation\n")
        finally:
            driver.close()
