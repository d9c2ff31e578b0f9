"""The stream contract every tidal stream implements.

Theory of operation
-------------------
A tidal stream is *completion-style*: the caller hands over a buffer (or the
bytes to send) and is resumed when the operation has completed, instead of
being told "the socket is readable" and doing the I/O itself.  That one shape
fits sockets on any asyncio loop, tidal's completion-based loop, in-memory
pipes, and wrappers (TLS, buffering, decompression) that are themselves fed
by another stream -- so wrappers stack freely.

The contract, precisely:

``await receive_into(buffer) -> int``
    Waits until at least one byte is available, copies up to ``len(buffer)``
    bytes into ``buffer`` and returns how many.  Returns ``0`` only at
    end-of-file (the peer called :meth:`ByteStream.send_eof` or closed), and
    keeps returning ``0`` after that.  An empty buffer raises ``ValueError``
    because ``0`` would be ambiguous.

``await receive_some(max_bytes=None) -> bytes``
    The same as a ``bytes`` object of at most ``max_bytes`` bytes (an
    implementation-chosen size when ``None``).  ``b""`` only at EOF.

``await send_all(data)``
    Completes when every byte of ``data`` has been handed to the kernel or to
    the lower stream.  Nothing buffers without bound: a slow peer makes
    ``send_all`` wait, which is the backpressure.  ``data`` may be any
    bytes-like object and is not modified.

``await send_eof()``
    Tells the peer that nothing more will be sent (TCP ``shutdown(SHUT_WR)``)
    while still allowing receives.  Idempotent.  Wrappers document what EOF
    means for them (TLS sends close_notify; a compressor flushes its trailer).

``await aclose()``
    Closes the stream and releases its resources.  It always closes, even
    when the calling task is cancelled during a graceful goodbye (TLS
    close_notify, flushing a compressor): the resource is released first and
    the cancellation is then re-raised.  Idempotent.  A task blocked in a
    receive or send on the stream being closed is woken with
    :class:`StreamClosed`.

``async with stream:`` closes the stream on exit.

Errors (see :mod:`tidal.streams._errors`): using a stream after closing it
raises :class:`StreamClosed`; a failure underneath raises
:class:`StreamBroken` (``from`` the OS or engine error); two tasks receiving
at once, or two sending at once, raise :class:`StreamBusy` in the second.
Receiving and sending from two different tasks simultaneously is supported.

Cancellation: any receive or send may be cancelled (``asyncio.timeout()``).
Afterwards the stream is either still usable with no byte lost or
duplicated, or it is marked broken and every later operation raises
:class:`StreamBroken`.  It is never silently corrupted.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Generic, TypeVar

from ._errors import StreamBusy

__all__ = [
    "AsyncResource",
    "ReceiveStream",
    "SendStream",
    "ByteStream",
    "Listener",
    "ConflictGuard",
    "DEFAULT_RECEIVE_SIZE",
]

#: Size of the buffer ``receive_some()`` uses when no ``max_bytes`` is given.
DEFAULT_RECEIVE_SIZE = 65536

_Self = TypeVar("_Self", bound="AsyncResource")
_StreamT = TypeVar("_StreamT", bound="ByteStream")


class AsyncResource(abc.ABC):
    """Something that must be closed with ``await aclose()``; an async context manager."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close the resource; always closes, even if cancelled; idempotent."""

    async def __aenter__(self: _Self) -> _Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Transport details by name (``"peername"``, ``"ssl_object"`` ...), like asyncio's.

        Wrappers answer what they know and ask the stream they wrap for the
        rest, so ``tls_stream.get_extra_info("peername")`` works.
        """
        return default


class ReceiveStream(AsyncResource):
    """The receiving half of the contract; ``async for chunk in stream`` reads to EOF."""

    @abc.abstractmethod
    async def receive_into(self, buffer: bytearray | memoryview) -> int:
        """Fill ``buffer`` with at least one byte and return the count; ``0`` only at EOF."""

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Return at least one and at most ``max_bytes`` bytes; ``b""`` only at EOF."""
        size = check_max_bytes(max_bytes)
        buffer = bytearray(size)
        count = await self.receive_into(buffer)
        del buffer[count:]
        return bytes(buffer)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate_chunks()

    async def _iterate_chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self.receive_some():
            yield chunk


class SendStream(AsyncResource):
    """The sending half of the contract."""

    @abc.abstractmethod
    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Complete when every byte of ``data`` is handed to the kernel or the lower stream."""


class ByteStream(SendStream, ReceiveStream):
    """A bidirectional byte stream that can half-close (see the module docstring)."""

    @abc.abstractmethod
    async def send_eof(self) -> None:
        """Signal end-of-file to the peer; receiving stays possible; idempotent."""


class Listener(AsyncResource, Generic[_StreamT]):
    """A source of incoming connections, each one a :class:`ByteStream`."""

    @abc.abstractmethod
    async def accept(self) -> _StreamT:
        """Wait for the next connection and return it as an open stream."""


def check_max_bytes(max_bytes: int | None) -> int:
    """Validate ``receive_some``'s argument and return the size to read."""
    if max_bytes is None:
        return DEFAULT_RECEIVE_SIZE
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
    return max_bytes


def check_receive_buffer(buffer: bytearray | memoryview) -> None:
    """Reject an empty receive buffer: a ``0`` result must mean EOF only."""
    if len(buffer) == 0:
        raise ValueError("receive_into() needs a non-empty buffer (0 is reserved for EOF)")


class ConflictGuard:
    """Raises :class:`StreamBusy` when a second task enters the same operation.

    ``with self._receive_guard:`` around a receive makes a concurrent receive
    fail fast instead of interleaving bytes between two readers.
    """

    __slots__ = ("_message", "_held")

    def __init__(self, message: str) -> None:
        self._message = message
        self._held = False

    def __enter__(self) -> None:
        if self._held:
            raise StreamBusy(self._message)
        self._held = True

    def __exit__(self, *exc_info: object) -> None:
        self._held = False

    @property
    def held(self) -> bool:
        """True while some task is inside the guarded operation."""
        return self._held
