"""Pair makers shared by the stream tests."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import tempfile
from collections.abc import Awaitable, Callable

from tidal.streams import ByteStream, SocketStream, TLSStream, open_tcp_listeners, open_unix_listener, wrap_socket
from tidal.streams._socket import uses_completion_ops

PairMaker = Callable[[], Awaitable[tuple[ByteStream, ByteStream]]]


async def tcp_pair() -> tuple[SocketStream, SocketStream]:
    """A connected TCP pair on 127.0.0.1 through a real listener."""
    [listener] = await open_tcp_listeners(0, host="127.0.0.1")
    async with listener:
        port = listener.socket.getsockname()[1]
        from tidal.streams import open_tcp_stream

        accepted = asyncio.ensure_future(listener.accept())
        client = await open_tcp_stream("127.0.0.1", port)
        server = await accepted
    assert isinstance(client, SocketStream)
    return client, server


def socketpair_maker(completion_ops: bool, family: socket.AddressFamily = socket.AF_UNIX) -> PairMaker:
    """Pairs from ``socket.socketpair`` with one implementation forced."""

    async def make() -> tuple[ByteStream, ByteStream]:
        left, right = socket.socketpair(family)
        return (
            await wrap_socket(left, completion_ops=completion_ops),
            await wrap_socket(right, completion_ops=completion_ops),
        )

    return make


async def unix_pair() -> tuple[SocketStream, SocketStream]:
    """A connected pair through a Unix listener in a temporary directory."""
    from tidal.streams import open_unix_stream

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "s")
        listener = open_unix_listener(path)
        async with listener:
            accepted = asyncio.ensure_future(listener.accept())
            client = await open_unix_stream(path)
            server = await accepted
    return client, server


def tls_pair_maker(
    make_transport_pair: PairMaker, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> PairMaker:
    """TLS client/server streams over pairs from ``make_transport_pair``."""

    async def make() -> tuple[ByteStream, ByteStream]:
        client_transport, server_transport = await make_transport_pair()
        client = TLSStream.wrap(client_transport, client_context, server_hostname="localhost")
        server = TLSStream.wrap(server_transport, server_context, server_side=True)
        return client, server

    return make


def on_completion_ops() -> bool:
    """True when the running loop gives socket streams the completion-ops path."""
    return uses_completion_ops(asyncio.get_running_loop())
