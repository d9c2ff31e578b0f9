"""Socket streams from readiness callbacks alone, for loops without socket transports.

Theory of operation
-------------------
Some asyncio-compatible loops (rloop, for one) implement ``add_reader`` and
``add_writer`` but raise ``NotImplementedError`` from
``connect_accepted_socket``, so neither of the other two implementations of
:class:`~tidal.streams.SocketStream` is available on them.
:class:`ReadinessStream` needs nothing else: every receive and send tries
the non-blocking syscall first and, only on ``EAGAIN``, waits for the
descriptor to become readable (or writable) through ``add_reader`` (or
``add_writer``), removing the callback as soon as the wait ends.

:func:`~tidal.streams.wrap_socket` decides once per loop: the first socket
it wraps on a loop without tidal's completion ops asks for a transport, and
a ``NotImplementedError`` marks the loop (in a weak set) as one that gets
readiness streams from then on.  Connecting is decided the same way by
:func:`connect_socket`: ``loop.sock_connect`` where the loop has it, else a
non-blocking ``connect`` finished by a writability wait.

Cancellation keeps the stream contract: a cancelled receive consumed
nothing (the wait is cancelled, never a syscall half-way); a send cancelled
after part of its data went to the kernel marks the stream broken, and one
cancelled before anything was sent leaves it usable.
"""

from __future__ import annotations

import asyncio
import os
import socket
import weakref
from typing import Any

from ._abc import check_max_bytes, check_receive_buffer
from ._errors import StreamBroken, StreamClosed
from ._interrupt import InterruptibleOperation, wait_interrupted
from ._socket import SocketStream, discard_unread, wait_readable

__all__ = ["ReadinessStream", "connect_socket", "wait_writable"]

# Loops whose sock_connect() raised NotImplementedError.
_loops_without_sock_connect: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


async def connect_socket(loop: asyncio.AbstractEventLoop, sock: socket.socket, address: Any) -> None:
    """Connect the non-blocking ``sock``: ``loop.sock_connect``, or readiness where the loop lacks it.

    Raises the ``OSError`` subclass of the failure (``ConnectionRefusedError`` ...).
    """
    if loop not in _loops_without_sock_connect:
        try:
            await loop.sock_connect(sock, address)
            return
        except NotImplementedError:
            try:
                _loops_without_sock_connect.add(loop)
            except TypeError:  # not weakly referenceable: asked again next time
                pass
    try:
        sock.connect(address)
        return
    except (BlockingIOError, InterruptedError):  # EINPROGRESS: finished when writable
        pass
    await wait_writable(loop, sock)
    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        raise OSError(error, f"connect to {address!r} failed: {os.strerror(error)}")


async def wait_writable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    """Wait until ``sock`` is writable (``add_writer``, removed when the wait ends or is cancelled)."""
    waiter: asyncio.Future[None] = loop.create_future()
    fd = sock.fileno()
    loop.add_writer(fd, _wake, waiter)
    try:
        await waiter
    finally:
        loop.remove_writer(fd)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class ReadinessStream(SocketStream):
    """A socket stream driven by ``add_reader``/``add_writer`` and non-blocking syscalls."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self._loop = asyncio.get_running_loop()
        self._receiving = InterruptibleOperation("the socket stream was closed while receiving")
        self._sending = InterruptibleOperation("the socket stream was closed while sending")
        self._send_broken: str | None = None
        self._eof_sent = False

    async def receive_into(self, buffer: bytearray | memoryview) -> int:
        """Receive into ``buffer``: the syscall first, a readiness wait only on EAGAIN; ``0`` at EOF."""
        check_receive_buffer(buffer)
        self._check_open()
        with self._receive_guard:
            while True:
                try:
                    return self._socket.recv_into(buffer)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as error:
                    raise StreamBroken(f"receiving failed: {error}") from error
                await self._receiving.run(wait_readable(self._loop, self._socket))

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Receive at most ``max_bytes`` bytes; ``b""`` at EOF."""
        buffer = bytearray(check_max_bytes(max_bytes))
        count = await self.receive_into(buffer)
        del buffer[count:]
        return bytes(buffer)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send every byte, waiting for writability whenever the kernel's buffer is full."""
        self._check_open()
        with self._send_guard:
            self._check_can_send()
            view = memoryview(data).cast("B")
            sent = 0
            try:
                while sent < len(view):
                    sent += self._send_some(view[sent:])
                    if sent < len(view):
                        await self._sending.run(wait_writable(self._loop, self._socket))
            except (asyncio.CancelledError, StreamClosed):
                if sent:
                    self._send_broken = "an earlier send_all() was interrupted after sending part of its data"
                raise

    def _send_some(self, view: memoryview) -> int:
        try:
            return self._socket.send(view)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as error:
            self._send_broken = f"sending failed: {error}"
            raise StreamBroken(self._send_broken) from error

    def _check_can_send(self) -> None:
        if self._send_broken is not None:
            raise StreamBroken(self._send_broken)
        if self._eof_sent:
            raise StreamClosed("send_eof() was called; this stream cannot send any more")

    async def send_eof(self) -> None:
        """Shut down the sending direction; idempotent."""
        self._check_open()
        with self._send_guard:
            if self._eof_sent:
                return
            self._eof_sent = True
            try:
                self._socket.shutdown(socket.SHUT_WR)
            except OSError as error:
                raise StreamBroken(f"shutting down the sending side failed: {error}") from error

    async def aclose(self) -> None:
        """Wake pending operations with ``StreamClosed``, then close the socket."""
        if self._closed:
            return
        self._closed = True
        try:
            await wait_interrupted(self._receiving, self._sending)
        finally:
            discard_unread(self._socket)
            self._socket.close()
