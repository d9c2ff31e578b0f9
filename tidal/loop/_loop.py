"""``EventLoop``: the core plus the transport-level API.

The stream, server and datagram entry points live in their own modules
(``_connect``, ``_server``, ``_datagram``, ``_transports``), written against
the public loop API only so they also run on asyncio's loop; the methods
here hand the loop to them.  They are imported on first use so that a
program which only schedules callbacks never loads them.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from tidal.loop._sockets import SocketLoop

__all__ = ["EventLoop"]


class EventLoop(SocketLoop):
    """tidal's asyncio-compatible event loop.

    ``EventLoop(poller="epoll" | "kqueue" | "poll" | "select")`` selects the
    readiness backend; the default is the platform's best.  Beyond
    ``asyncio.AbstractEventLoop`` it offers the embedding API:
    :meth:`step`, :meth:`fileno` and :meth:`next_deadline`.
    """

    async def create_connection(  # type: ignore[override]
        self, protocol_factory: Any, host: Any = None, port: Any = None, **kwargs: Any
    ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        """Open a stream connection; asyncio's signature (``happy_eyeballs_delay`` included)."""
        from tidal.loop import _connect

        return await _connect.create_connection(self, protocol_factory, host, port, **kwargs)

    async def create_server(  # type: ignore[override]
        self, protocol_factory: Any, host: Any = None, port: Any = None, **kwargs: Any
    ) -> asyncio.AbstractServer:
        """Listen for stream connections; returns a server with ``serve_forever`` & co."""
        from tidal.loop import _connect

        return await _connect.create_server(self, protocol_factory, host, port, **kwargs)

    async def create_unix_connection(  # type: ignore[override]
        self, protocol_factory: Any, path: Any = None, **kwargs: Any
    ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        """Connect to a Unix stream socket."""
        from tidal.loop import _connect

        return await _connect.create_unix_connection(self, protocol_factory, path, **kwargs)

    async def create_unix_server(  # type: ignore[override]
        self, protocol_factory: Any, path: Any = None, **kwargs: Any
    ) -> asyncio.AbstractServer:
        """Listen on a Unix stream socket."""
        from tidal.loop import _connect

        return await _connect.create_unix_server(self, protocol_factory, path, **kwargs)

    async def connect_accepted_socket(  # type: ignore[override]
        self, protocol_factory: Any, sock: Any, **kwargs: Any
    ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        """Wrap a socket accepted outside asyncio in a transport."""
        from tidal.loop import _connect

        return await _connect.connect_accepted_socket(self, protocol_factory, sock, **kwargs)

    async def create_datagram_endpoint(  # type: ignore[override]
        self, protocol_factory: Any, local_addr: Any = None, remote_addr: Any = None, **kwargs: Any
    ) -> tuple[asyncio.DatagramTransport, asyncio.BaseProtocol]:
        """Open a UDP (or Unix datagram) endpoint."""
        from tidal.loop import _datagram

        return await _datagram.create_datagram_endpoint(self, protocol_factory, local_addr, remote_addr, **kwargs)

    async def sendfile(
        self, transport: Any, file: Any, offset: int = 0, count: int | None = None, *, fallback: bool = True
    ) -> int:
        """Send a file over a transport (``os.sendfile`` when possible)."""
        from tidal.loop import _transports

        return await _transports.sendfile(self, transport, file, offset, count, fallback=fallback)

    async def start_tls(
        self, transport: Any, protocol: Any, sslcontext: Any, **kwargs: Any
    ) -> asyncio.Transport | None:
        """Upgrade an open connection to TLS (``server_side``, ``server_hostname``, timeouts)."""
        from tidal.loop import _tls_transport

        return await _tls_transport.start_tls(self, transport, protocol, sslcontext, **kwargs)

    async def connect_read_pipe(  # type: ignore[override]
        self, protocol_factory: Any, pipe: Any
    ) -> tuple[asyncio.ReadTransport, asyncio.BaseProtocol]:
        """Read a pipe, socket or PTY file object through a transport."""
        from tidal.loop import _pipes

        return await _pipes.connect_read_pipe(self, protocol_factory, pipe)

    async def connect_write_pipe(  # type: ignore[override]
        self, protocol_factory: Any, pipe: Any
    ) -> tuple[asyncio.WriteTransport, asyncio.BaseProtocol]:
        """Write to a pipe, socket or PTY file object through a transport."""
        from tidal.loop import _pipes

        return await _pipes.connect_write_pipe(self, protocol_factory, pipe)

    async def subprocess_shell(
        self, protocol_factory: Any, cmd: Any, **kwargs: Any
    ) -> tuple[asyncio.SubprocessTransport, Any]:
        """Run ``cmd`` through the shell with pipes; asyncio's signature."""
        from tidal.loop import _subprocess

        return await _subprocess.subprocess_shell(self, protocol_factory, cmd, **kwargs)

    async def subprocess_exec(
        self, protocol_factory: Any, program: Any, *args: Any, **kwargs: Any
    ) -> tuple[asyncio.SubprocessTransport, Any]:
        """Run ``program`` with ``args`` and pipes; asyncio's signature."""
        from tidal.loop import _subprocess

        return await _subprocess.subprocess_exec(self, protocol_factory, program, *args, **kwargs)

    def _close_resources(self) -> None:
        # Children still running when the loop closes are handed to a reaper
        # thread (no zombies) and their pidfds closed (no leaked fds).
        child_watcher = sys.modules.get("tidal.loop._child_watcher")
        if child_watcher is not None:
            child_watcher.close_watcher(self)
        super()._close_resources()
