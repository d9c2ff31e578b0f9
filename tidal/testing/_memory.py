"""In-memory byte streams: the network in a test, with no sockets.

Theory of operation
-------------------
A pair of :class:`MemoryByteStream` objects shares two one-directional
:class:`_Pipe` objects, one per direction.  A pipe holds the bytes in flight,
whether the sender has finished (EOF), whether the receiver has gone away,
and at most one parked receiver and one parked sender (the stream's busy
guards make sure there is never more than one of each).

Two flavours differ only in when ``send_all`` completes:

* *buffered* (``memory_stream_pair``): the data is appended at once, then the
  sender waits while more than ``max_buffer`` bytes are in flight -- the same
  "write, then drain" shape as a kernel socket buffer.  Cancelling the wait
  loses nothing: the bytes are already queued.
* *lockstep* (``lockstep_stream_pair``): ``send_all`` completes only when the
  receiver has taken every byte, which exposes code that assumes a send
  returns before the peer reads.  If such a send is cancelled before the
  receiver took anything, the bytes are withdrawn and the stream stays
  usable; if it is cancelled half-way, the pipe is marked broken so neither
  side can mistake the prefix for the whole message.

Futures are created on the running loop when a task parks, so the streams
work on any asyncio-compatible loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tidal.streams import ByteStream, StreamBroken, StreamClosed
from tidal.streams._abc import ConflictGuard, check_receive_buffer

__all__ = ["MemoryByteStream", "memory_stream_pair", "lockstep_stream_pair"]

#: Default number of in-flight bytes after which a buffered ``send_all`` waits.
DEFAULT_MAX_BUFFER = 65536


class _Pipe:
    """One direction of a memory stream pair (see the module docstring)."""

    def __init__(self, max_buffer: int | None) -> None:
        self.data = bytearray()
        self.max_buffer = max_buffer  # None: lockstep
        self.eof = False
        self.receiver_gone = False
        self.broken = False
        self.receiver_waiter: asyncio.Future[None] | None = None
        self.sender_waiter: asyncio.Future[None] | None = None

    def wake_receiver(self) -> None:
        _wake(self.receiver_waiter)

    def wake_sender(self) -> None:
        _wake(self.sender_waiter)

    async def park_receiver(self) -> None:
        self.receiver_waiter = asyncio.get_running_loop().create_future()
        try:
            await self.receiver_waiter
        finally:
            self.receiver_waiter = None

    async def park_sender(self) -> None:
        self.sender_waiter = asyncio.get_running_loop().create_future()
        try:
            await self.sender_waiter
        finally:
            self.sender_waiter = None

    def sender_may_return(self) -> bool:
        limit = 0 if self.max_buffer is None else self.max_buffer
        return len(self.data) <= limit or self.receiver_gone


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class MemoryByteStream(ByteStream):
    """One end of an in-memory byte stream pair; see :func:`memory_stream_pair`."""

    def __init__(self, incoming: _Pipe, outgoing: _Pipe, name: str) -> None:
        self._incoming = incoming
        self._outgoing = outgoing
        self._name = name
        self._closed = False
        self._receive_guard = ConflictGuard(f"another task is already receiving on {name}")
        self._send_guard = ConflictGuard(f"another task is already sending on {name}")

    def __repr__(self) -> str:
        return f"<MemoryByteStream {self._name}{' closed' if self._closed else ''}>"

    def get_extra_info(self, name: str, default: object = None) -> object:
        """``"peername"``/``"sockname"`` are the pair's names, for code that logs them."""
        if name in ("sockname", "peername"):
            return self._name if name == "sockname" else f"peer of {self._name}"
        return default

    async def receive_into(self, buffer: bytearray | memoryview) -> int:
        """Copy in-flight bytes into ``buffer``; ``0`` once the peer sent EOF."""
        check_receive_buffer(buffer)
        self._check_open()
        with self._receive_guard:
            pipe = self._incoming
            while not pipe.data:
                if pipe.eof:
                    return 0
                if pipe.broken:
                    raise StreamBroken(f"{self._name}: the peer's send was cancelled half-way")
                await pipe.park_receiver()
                self._check_open()
            count = min(len(buffer), len(pipe.data))
            buffer[:count] = pipe.data[:count]
            del pipe.data[:count]
            pipe.wake_sender()
            return count

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data`` for the peer and wait for it to drain (see the module docstring)."""
        self._check_open()
        pipe = self._outgoing
        with self._send_guard:
            self._check_can_send()
            if not data:
                return
            pipe.data += data
            pipe.wake_receiver()
            if pipe.max_buffer is None:
                await self._wait_lockstep_delivery(len(data))
            else:
                await self._wait_drained()

    async def _wait_drained(self) -> None:
        while not self._outgoing.sender_may_return():
            await self._outgoing.park_sender()
            self._check_can_send()

    async def _wait_lockstep_delivery(self, size: int) -> None:
        pipe = self._outgoing
        try:
            await self._wait_drained()
        except asyncio.CancelledError:
            if len(pipe.data) == size:  # receiver took nothing: withdraw, stay usable
                pipe.data.clear()
            else:
                pipe.data.clear()
                pipe.broken = True
                pipe.wake_receiver()
            raise

    def _check_open(self) -> None:
        if self._closed:
            raise StreamClosed(f"{self._name} was closed")

    def _check_can_send(self) -> None:
        self._check_open()
        if self._outgoing.eof:
            raise StreamClosed(f"{self._name}: send_eof() was called; cannot send more")
        if self._outgoing.broken:
            raise StreamBroken(f"{self._name}: an earlier send was cancelled half-way")
        if self._outgoing.receiver_gone:
            raise StreamBroken(f"{self._name}: the peer closed its end")

    async def send_eof(self) -> None:
        """Mark the end of data; the peer's receives return EOF after the queued bytes."""
        self._check_open()
        with self._send_guard:
            self._outgoing.eof = True
            self._outgoing.wake_receiver()

    async def aclose(self) -> None:
        """Close this end: the peer sees EOF, and its later sends break."""
        if self._closed:
            return
        self._closed = True
        self._outgoing.eof = True
        self._outgoing.wake_receiver()
        self._outgoing.wake_sender()  # our own parked sender, if any
        self._incoming.receiver_gone = True
        self._incoming.data.clear()
        self._incoming.wake_receiver()  # our own parked receiver, if any
        self._incoming.wake_sender()  # the peer's parked sender
        await asyncio.sleep(0)  # a checkpoint, as every real aclose() has


def memory_stream_pair(max_buffer: int = DEFAULT_MAX_BUFFER) -> tuple[MemoryByteStream, MemoryByteStream]:
    """Two connected in-memory streams; ``send_all`` waits while over ``max_buffer`` bytes are queued."""
    if max_buffer < 0:
        raise ValueError(f"max_buffer must be >= 0, got {max_buffer}")
    return _make_pair(lambda: _Pipe(max_buffer))


def lockstep_stream_pair() -> tuple[MemoryByteStream, MemoryByteStream]:
    """Two connected in-memory streams whose ``send_all`` completes only once the peer took every byte."""
    return _make_pair(lambda: _Pipe(None))


def _make_pair(make_pipe: Callable[[], _Pipe]) -> tuple[MemoryByteStream, MemoryByteStream]:
    left_to_right, right_to_left = make_pipe(), make_pipe()
    left = MemoryByteStream(right_to_left, left_to_right, "memory-left")
    right = MemoryByteStream(left_to_right, right_to_left, "memory-right")
    return left, right
