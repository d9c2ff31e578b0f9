"""One echo server process for benchmarks/echo.py: one event loop, one server style.

Run as ``python benchmarks/echo_server.py --loop tidal --style coroutine``.  It
binds 127.0.0.1 port 0, prints ``PORT n`` on stdout and serves until its
standard input reaches end of file (the parent closes the pipe), then shuts
down cleanly, which lets ``--cprofile FILE`` write its statistics.  When the
loop cannot be created it prints ``UNAVAILABLE <reason>`` and exits 3, so the
driver can report "not available" instead of failing.

Extending: a new loop is one entry in :data:`LOOPS` (a name and a factory); a
new server style is one entry in :data:`STYLES` (an async function that serves
a listening socket until cancelled).  The driver takes both lists from here.
The styles in :data:`TLS_STYLES` serve TLS with the certificate chain and key
of ``--certfile`` (one PEM file).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any, cast

__all__ = ["LOOPS", "LOOP_ERRORS_EXIT", "STYLES", "TLS_STYLES", "UNAVAILABLE_EXIT", "main"]

UNAVAILABLE_EXIT = 3
# The loop reported errors to its exception handler: the figures are suspect.
LOOP_ERRORS_EXIT = 4
# Large enough for a whole 64 KiB message per receive in the coroutine style.
RECEIVE_BUFFER_SIZE = 256 * 1024


def _asyncio_loop() -> asyncio.AbstractEventLoop:
    return asyncio.new_event_loop()


def _uvloop_loop() -> asyncio.AbstractEventLoop:
    import uvloop

    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def _rloop_loop() -> asyncio.AbstractEventLoop:
    import rloop  # type: ignore[import-untyped,import-not-found,unused-ignore]

    loop: asyncio.AbstractEventLoop = rloop.new_event_loop()
    return loop


def _tidal_loop() -> asyncio.AbstractEventLoop:
    import tidal.loop

    return tidal.loop.new_event_loop()


# name -> factory.  asyncio first: every ratio is relative to it.
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": _asyncio_loop,
    "uvloop": _uvloop_loop,
    "rloop": _rloop_loop,
    "tidal": _tidal_loop,
}


class _EchoProtocol(asyncio.Protocol):
    """Protocol style: every chunk received is written straight back."""

    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's and rloop's transports do not subclass asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


async def serve_protocol(listener: socket.socket) -> None:
    """Serve with ``loop.create_server`` and an ``asyncio.Protocol``."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_EchoProtocol, sock=listener)
    try:
        await asyncio.Future()  # until cancelled
    finally:
        server.close()


# The server's TLS context, made from --certfile by main() before serving.
_tls_context: ssl.SSLContext | None = None


async def serve_tls_protocol(listener: socket.socket) -> None:
    """Serve TLS with ``loop.create_server(ssl=...)`` and the same ``asyncio.Protocol``."""
    if _tls_context is None:
        raise RuntimeError("the tls-protocol style needs --certfile")
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_EchoProtocol, sock=listener, ssl=_tls_context)
    try:
        await asyncio.Future()  # until cancelled
    finally:
        server.close()


async def _echo_with_sock_calls(connection: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    buffer = bytearray(RECEIVE_BUFFER_SIZE)
    view = memoryview(buffer)
    with connection:
        try:
            while count := await loop.sock_recv_into(connection, buffer):
                await loop.sock_sendall(connection, view[:count])
        except ConnectionResetError:
            pass  # the load generator closes with messages in flight when time is up


async def serve_coroutine(listener: socket.socket) -> None:
    """Serve with ``sock_accept``/``sock_recv_into``/``sock_sendall``: one task per connection."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    try:
        while True:
            connection, _ = await loop.sock_accept(listener)
            connection.setblocking(False)
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = loop.create_task(_echo_with_sock_calls(connection))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _echo_with_asyncio_streams(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(RECEIVE_BUFFER_SIZE):
            writer.write(data)
            await writer.drain()
    except ConnectionResetError:
        pass  # the load generator closes with messages in flight when time is up
    finally:
        writer.close()


async def serve_asyncio_streams(listener: socket.socket) -> None:
    """Serve with ``asyncio.start_server`` (StreamReader/StreamWriter)."""
    server = await asyncio.start_server(_echo_with_asyncio_streams, sock=listener)
    try:
        await asyncio.Future()
    finally:
        server.close()


async def _echo_with_tidal_streams(stream: Any) -> None:
    buffer = bytearray(RECEIVE_BUFFER_SIZE)
    view = memoryview(buffer)
    from tidal.streams import StreamBroken

    try:
        while count := await stream.receive_into(buffer):
            await stream.send_all(view[:count])
    except StreamBroken:
        pass  # the load generator closes with messages in flight when time is up


async def _serve_tidal_streams(listener: socket.socket, tls: ssl.SSLContext | None) -> None:
    from tidal.streams import SocketListener, serve_listeners

    server = await serve_listeners(_echo_with_tidal_streams, [SocketListener(listener)], ssl=tls)
    try:
        await asyncio.Future()
    finally:
        server.close()


async def serve_tidal_streams(listener: socket.socket) -> None:
    """Serve with ``tidal.streams``: ``receive_into`` + ``send_all`` on each accepted stream."""
    await _serve_tidal_streams(listener, None)


async def serve_tls_tidal_streams(listener: socket.socket) -> None:
    """``tidal.streams`` over TLS: a ``TLSStream`` on each accepted socket stream."""
    if _tls_context is None:
        raise RuntimeError("the tls-tidal-streams style needs --certfile")
    await _serve_tidal_streams(listener, _tls_context)


async def serve_tls_asyncio_streams(listener: socket.socket) -> None:
    """``asyncio.start_server(ssl=...)`` streams: the TLS baseline for tidal's streams."""
    if _tls_context is None:
        raise RuntimeError("the tls-asyncio-streams style needs --certfile")
    server = await asyncio.start_server(_echo_with_asyncio_streams, sock=listener, ssl=_tls_context)
    try:
        await asyncio.Future()
    finally:
        server.close()


# name -> server.  The first two are the styles the targets are about.
STYLES: dict[str, Callable[[socket.socket], Coroutine[Any, Any, None]]] = {
    "protocol": serve_protocol,
    "coroutine": serve_coroutine,
    "asyncio-streams": serve_asyncio_streams,
    "tidal-streams": serve_tidal_streams,
    "tls-protocol": serve_tls_protocol,
    "tls-asyncio-streams": serve_tls_asyncio_streams,
    "tls-tidal-streams": serve_tls_tidal_streams,
}
# Styles that speak TLS: the driver passes --certfile and uses the TLS load generator.
TLS_STYLES = frozenset({"tls-protocol", "tls-asyncio-streams", "tls-tidal-streams"})


def _listen_on_loopback() -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    listener.setblocking(False)
    return listener


async def _serve_until_stdin_closes(style: str, listener: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def finish() -> None:
        if not stop.done():
            stop.set_result(None)

    def wait_for_eof() -> None:
        # A thread blocked in read() holds no GIL, so it costs the loop nothing.
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(finish)

    threading.Thread(target=wait_for_eof, daemon=True).start()
    server = loop.create_task(STYLES[style](listener))
    print(f"PORT {listener.getsockname()[1]}", flush=True)
    try:
        await stop
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    """Serve one (loop, style) echo server until stdin closes; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--loop", choices=sorted(LOOPS), required=True)
    parser.add_argument("--style", choices=sorted(STYLES), required=True)
    parser.add_argument("--cprofile", metavar="FILE", help="write cProfile statistics of the run to FILE")
    parser.add_argument("--certfile", help="PEM file with the certificate chain and key (TLS styles)")
    args = parser.parse_args(argv)
    if args.certfile:
        global _tls_context
        _tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        _tls_context.load_cert_chain(args.certfile)
    try:
        loop = LOOPS[args.loop]()
    except Exception as exc:  # any failure to build the loop means "not available"
        print(f"UNAVAILABLE {type(exc).__name__}: {exc}", flush=True)
        return UNAVAILABLE_EXIT
    loop_errors: list[dict[str, Any]] = []
    # asyncio calls handler(loop, context); rloop calls handler(context): the context is last either way.
    loop.set_exception_handler(lambda *args: _report_loop_error(loop, args[-1], loop_errors))
    profiler = cProfile.Profile() if args.cprofile else None
    with _listen_on_loopback() as listener:
        try:
            if profiler is not None:
                profiler.enable()
            loop.run_until_complete(_serve_until_stdin_closes(args.style, listener))
        finally:
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.cprofile)
            loop.close()
    return LOOP_ERRORS_EXIT if loop_errors else 0


def _report_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any], errors: list[dict[str, Any]]) -> None:
    errors.append(context)
    try:
        loop.default_exception_handler(context)
    except NotImplementedError:  # rloop inherits the abstract method
        print(f"loop error: {context!r}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
