"""Socket streams (TCP and Unix) on any asyncio loop, fastest on tidal's.

Theory of operation
-------------------
Two implementations share the public :class:`SocketStream` face:

* **Completion ops** (:class:`_SockOpsStream`, used on tidal's loop): each
  receive is one ``recv_into`` syscall straight into the caller's buffer,
  plus -- only when the socket is empty -- a readiness wait on tidal's
  persistent registration (``loop.sock_wait_readable``; see
  :func:`wait_readable` for why not ``loop.sock_recv_into``).  After a short
  read the stream knows the socket is drained, so a receive loop goes
  straight to the wait instead of paying for a ``recv_into`` that fails: one
  syscall per message.  That hint is safe because the wait is level-triggered:
  bytes that arrived meanwhile wake it at the next poll.  Each send tries
  ``send()`` itself and hands only what the kernel did not take to
  ``loop.sock_sendall``.
* **Transport + BufferedProtocol** (:class:`_TransportStream`, used on every
  other loop).  On asyncio's selector loop ``sock_recv_into`` adds and removes
  a reader on every receive that has to wait (two ``epoll_ctl`` calls), and
  uvloop's ``sock_*`` methods are its slow path, while both loops' transports
  keep the descriptor registered and call ``recv_into`` in C (uvloop) or in a
  tight method.  The protocol hands the transport the *caller's* buffer when a
  receive is waiting (zero copy), and a bounded internal buffer otherwise;
  reading pauses when that buffer is full, so nothing grows without bound.
  ``send_all`` writes, then waits until the transport's buffer is empty: the
  write buffer limits are set to zero, so "paused" means "bytes not yet in the
  kernel".  A cancelled wait loses nothing -- the bytes are already queued --
  so the stream stays usable.

Cancellation: a cancelled receive consumed nothing (ops: the syscall had not
run; transport: bytes already copied into the caller's buffer are put back in
front of the internal buffer).  A cancelled ``sock_sendall`` may have sent a
prefix, so the ops stream marks itself broken (STYLE.md #4).
"""

from __future__ import annotations

import asyncio
import os
import socket
import weakref
from collections.abc import Callable
from typing import Any, cast

from ._abc import DEFAULT_RECEIVE_SIZE, ByteStream, ConflictGuard, check_max_bytes, check_receive_buffer
from ._errors import StreamBroken, StreamBusy, StreamClosed
from ._interrupt import InterruptibleOperation, wait_interrupted

# One recv(2)/send(2) with MSG_DONTWAIT, keeping the GIL and skipping the
# socket methods' argument parsing (_speedups.c); None where not built.
_recv_into_now: Callable[[int, Any], int] | None = None
_send_now: Callable[[int, Any], int] | None = None
if not os.environ.get("TIDAL_NO_SPEEDUPS"):
    try:
        from ._speedups import recv_into_now as _recv_into_now, send_now as _send_now
    except ImportError:  # not built, or not POSIX
        pass

__all__ = ["SocketStream", "wrap_socket", "uses_completion_ops", "wait_readable", "discard_unread"]

# The transport stream's internal receive buffer.  Reading pauses once more
# than half of it is unread, so compacting always leaves at least _MIN_FREE.
_HIGH_WATER = 256 * 1024
_MIN_FREE = 64 * 1024


def uses_completion_ops(loop: asyncio.AbstractEventLoop) -> bool:
    """True when ``loop`` is tidal's, whose ``sock_*`` ops are the fast path."""
    try:
        from tidal.loop import EventLoop
    except ImportError:  # the loop package is optional for streams
        return False
    return isinstance(loop, EventLoop)


async def wrap_socket(sock: socket.socket, *, completion_ops: bool | None = None) -> SocketStream:
    """Turn a connected socket into a :class:`SocketStream` that owns it.

    ``completion_ops`` forces one implementation (tests use it to run both on
    every loop); by default tidal's loop gets completion ops and others get a
    transport -- or, on a loop without socket transports (rloop), a stream
    driven by ``add_reader``/``add_writer`` alone (see ``_readiness.py``).
    """
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if completion_ops is None:
        completion_ops = uses_completion_ops(loop)
    if completion_ops:
        return _SockOpsStream(sock)
    if loop not in _loops_without_transports:
        try:
            transport, protocol = await loop.connect_accepted_socket(_StreamProtocol, sock)
        except NotImplementedError:  # rloop, for one: decided once per loop
            _remember_no_transports(loop)
        except BaseException:
            sock.close()
            raise
        else:
            return _TransportStream(sock, transport, protocol)
    from ._readiness import ReadinessStream  # it subclasses SocketStream, so it imports this module

    return ReadinessStream(sock)


# Loops whose connect_accepted_socket() raised NotImplementedError: they get
# readiness streams (see tidal/streams/_readiness.py) without asking again.
_loops_without_transports: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def _remember_no_transports(loop: asyncio.AbstractEventLoop) -> None:
    try:
        _loops_without_transports.add(loop)
    except TypeError:  # a loop that cannot be weakly referenced is asked each time
        pass


class SocketStream(ByteStream):
    """A :class:`~tidal.streams.ByteStream` over a connected TCP or Unix socket.

    ``send_eof()`` shuts down the sending direction (``SHUT_WR``).  OS errors
    (a reset, a broken pipe) surface as :class:`~tidal.streams.StreamBroken`
    chained to the ``OSError``.  Create one with
    :func:`~tidal.streams.open_tcp_stream`, :func:`~tidal.streams.open_unix_stream`,
    a listener, or :func:`~tidal.streams.wrap_socket`.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._socket = sock
        self._closed = False
        self._receive_guard = ConflictGuard(_RECEIVE_BUSY)
        self._send_guard = ConflictGuard(_SEND_BUSY)
        self._sockname = _safe_name(sock.getsockname)
        self._peername = _safe_name(sock.getpeername)

    @property
    def socket(self) -> socket.socket:
        """The underlying socket (for ``setsockopt``; do not read or write it directly)."""
        return self._socket

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``"socket"``, ``"sockname"``, ``"peername"``; otherwise ``default``."""
        info = {"socket": self._socket, "sockname": self._sockname, "peername": self._peername}
        return info.get(name, default)

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<{type(self).__name__} {self._sockname!r} -> {self._peername!r}{state}>"

    def _check_open(self) -> None:
        if self._closed:
            raise StreamClosed("the socket stream was closed")


async def wait_readable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    """Wait until ``sock`` is readable, without reading.

    Receives wait for readiness and then make the syscall themselves instead
    of awaiting ``loop.sock_recv_into()``: when a task is cancelled just after
    the loop completed its receive but before the task resumed, the bytes that
    operation read are lost (asyncio, uvloop and tidal's loop alike).  A
    readiness wait can be cancelled at any moment without losing anything.
    On tidal's loop the wait is ``loop.sock_wait_readable()``, an operation
    queued on the descriptor's persistent registration, so a receive loop
    costs no ``epoll_ctl`` in the steady state; elsewhere it is
    ``add_reader``/``remove_reader``.
    """
    wait = getattr(loop, "sock_wait_readable", None)
    if wait is not None:  # tidal's loop: rides the fd's persistent registration
        waiter = wait(sock)
        try:
            await waiter
        finally:
            waiter.cancel()  # no-op when done; a cancelled wait leaves the queue
        return
    waiter = loop.create_future()
    fd = sock.fileno()
    loop.add_reader(fd, _wake_waiter, waiter)
    try:
        await waiter
    finally:
        loop.remove_reader(fd)


def _wake_waiter(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def discard_unread(sock: socket.socket) -> None:
    """Read and drop what the kernel holds for us before closing ``sock``.

    Closing a TCP socket with unread received bytes makes Linux send a reset
    instead of a FIN, and a reset can destroy data *we* sent that the peer
    has not read yet.  The usual culprit is TLS 1.3: the server's session
    tickets arrive at a client that only sends, then closes.  Only bytes
    already here are drained (non-blocking, bounded); closing never waits.
    """
    try:
        for _ in range(16):
            if not sock.recv(65536):
                return
    except OSError:  # EAGAIN (nothing left), or the socket is already gone
        return


def _safe_name(getter: Any) -> Any:
    try:
        return getter()
    except OSError:
        return None


class _SockOpsStream(SocketStream):
    """Completion ops: the syscall first, then a readiness wait or ``loop.sock_sendall`` (see module docstring).

    On tidal's loop a receive calls ``recv_into`` itself, skipping the call
    after a short read (it would fail), and waits on the future of
    ``loop.sock_wait_readable`` when there is nothing; ``aclose()`` wakes that
    wait by failing the future with :class:`StreamClosed`.  Elsewhere (tests
    force this class on every loop) the generic :func:`wait_readable` runs
    under an :class:`InterruptibleOperation`.  A send tries ``send()`` first and only
    goes through ``loop.sock_sendall`` for what the kernel did not take.
    Busy checks are plain flags here: this is the hot path of every socket
    stream on tidal's loop, and ``with guard:`` costs two calls per operation.
    """

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        loop = asyncio.get_running_loop()
        self._loop = loop
        # tidal's loop: a future resolved when the socket is readable, riding
        # the fd's persistent registration (None elsewhere: generic waits).
        self._wait_readable: Callable[[socket.socket], asyncio.Future[None]] | None = getattr(
            loop, "sock_wait_readable", None
        )
        self._receive_waiter: asyncio.Future[None] | None = None  # tidal's loop: the pending readiness wait
        # The C calls bypass the socket's methods, so only a plain socket gets
        # them: a subclass (an ssl.SSLSocket, one that counts or logs) keeps its own.
        plain = type(sock) is socket.socket
        self._recv_into_now = _recv_into_now if plain else None
        self._send_now = _send_now if plain else None
        # The last receive was short (the kernel had no more) and the poller has
        # not reported the socket readable since: the next receive waits first.
        self._drained = False
        self._receive_busy = False
        self._send_busy = False
        self._receiving = InterruptibleOperation(_CLOSED_WHILE_RECEIVING)
        self._sending = InterruptibleOperation("the socket stream was closed while sending")
        self._send_broken: str | None = None
        self._eof_sent = False
        # Closed, broken or shut down: one flag for the hot path to test,
        # _refuse_send() says which.  Never cleared.
        self._send_stopped = False

    async def receive_into(self, buffer: bytearray | memoryview) -> int:
        """Receive into ``buffer``: the syscall first, a readiness wait only when there is nothing; ``0`` at EOF."""
        # Hot path: every message of every socket stream on tidal's loop.
        # ``len()`` counts items, not bytes, for a memoryview of wider items,
        # so ``received < size`` may miss a short read (one wasted syscall
        # later) but never invents one.
        size = len(buffer)
        if self._closed or self._receive_busy or not size:
            self._refuse_receive(buffer)
        wait_readable = self._wait_readable
        if wait_readable is None:
            return await self._receive_with_generic_wait(buffer)
        sock = self._socket
        if not self._drained:
            try:
                recv_now = self._recv_into_now
                received = sock.recv_into(buffer) if recv_now is None else recv_now(sock.fileno(), buffer)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as error:
                raise StreamBroken(f"receiving failed: {error}") from error
            else:
                if 0 < received < size:
                    self._drained = True  # a short read: the kernel had no more
                return received
        self._receive_busy = True
        try:
            while True:
                waiter = self._receive_waiter = wait_readable(sock)
                await waiter  # a cancellation consumed nothing; aclose() fails it with StreamClosed
                if self._closed:  # closed after the fd became readable, before this task ran
                    raise StreamClosed(_CLOSED_WHILE_RECEIVING)
                try:
                    recv_now = self._recv_into_now
                    received = sock.recv_into(buffer) if recv_now is None else recv_now(sock.fileno(), buffer)
                except (BlockingIOError, InterruptedError):
                    self._drained = False
                    continue  # readable, yet nothing to read (another reader took it)
                except OSError as error:
                    raise StreamBroken(f"receiving failed: {error}") from error
                # Readable was reported, so the hint is reset unless this read was short.
                self._drained = 0 < received < size
                return received
        finally:
            self._receive_busy = False
            self._receive_waiter = None

    def _refuse_receive(self, buffer: bytearray | memoryview) -> None:
        check_receive_buffer(buffer)
        self._check_open()
        if self._receive_busy:
            raise StreamBusy(_RECEIVE_BUSY)

    async def _receive_with_generic_wait(self, buffer: bytearray | memoryview) -> int:
        self._receive_busy = True
        try:
            while True:
                try:
                    return self._socket.recv_into(buffer)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as error:
                    raise StreamBroken(f"receiving failed: {error}") from error
                await self._receiving.run(wait_readable(self._loop, self._socket))
        finally:
            self._receive_busy = False

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Receive at most ``max_bytes`` bytes; ``b""`` at EOF."""
        size = check_max_bytes(max_bytes)
        buffer = bytearray(size)
        count = await self.receive_into(buffer)
        del buffer[count:]
        return bytes(buffer)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send every byte: ``send()`` first, ``loop.sock_sendall`` for the rest; a cancelled send breaks the stream."""
        if self._send_stopped or self._send_busy:
            self._refuse_send()
        if not data:
            return
        try:
            sock, send_now = self._socket, self._send_now
            sent = sock.send(data) if send_now is None else send_now(sock.fileno(), data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as error:
            raise StreamBroken(self._break_sending(f"sending failed: {error}")) from error
        if isinstance(data, memoryview):
            size = data.nbytes
        elif isinstance(data, (bytes, bytearray)):
            size = len(data)
        else:  # any other buffer: its length may count items, not bytes
            size = memoryview(data).nbytes
        if sent == size:
            return  # the usual case: the kernel took everything, nothing awaited
        self._send_busy = True
        try:
            rest = memoryview(data).cast("B")[sent:]
            await self._sending.run(self._loop.sock_sendall(self._socket, rest))
        except asyncio.CancelledError:
            self._break_sending("an earlier send_all() was cancelled after sending an unknown prefix")
            raise
        except OSError as error:
            raise StreamBroken(self._break_sending(f"sending failed: {error}")) from error
        finally:
            self._send_busy = False

    async def send_file(self, file: Any, offset: int, count: int) -> None:
        """Send ``count`` bytes of ``file`` (a binary file object) from ``offset``.

        ``loop.sock_sendfile`` does it: ``os.sendfile`` where the loop and
        the platform allow, reading and sending chunks otherwise.  The same
        rules as :meth:`send_all` hold: one send at a time, and a cancelled
        or failed send breaks the stream.
        """
        if self._send_stopped or self._send_busy:
            self._refuse_send()
        self._send_busy = True
        try:
            sent = await self._sending.run(self._loop.sock_sendfile(self._socket, file, offset, count))
        except asyncio.CancelledError:
            self._break_sending("an earlier send_file() was cancelled after sending an unknown prefix")
            raise
        except OSError as error:
            raise StreamBroken(self._break_sending(f"sending failed: {error}")) from error
        finally:
            self._send_busy = False
        if sent != count:
            raise StreamBroken(self._break_sending(f"the file ended after {sent} of {count} bytes"))

    def _break_sending(self, reason: str) -> str:
        """Refuse every later send with ``StreamBroken(reason)``; returns ``reason``."""
        self._send_broken = reason
        self._send_stopped = True
        return reason

    def _refuse_send(self) -> None:
        self._check_open()
        if self._send_busy:
            raise StreamBusy(_SEND_BUSY)
        self._check_can_send()

    def _check_can_send(self) -> None:
        if self._send_broken is not None:
            raise StreamBroken(self._send_broken)
        if self._eof_sent:
            raise StreamClosed("send_eof() was called; this stream cannot send any more")

    async def send_eof(self) -> None:
        """Shut down the sending direction; idempotent."""
        self._check_open()
        if self._send_busy:
            raise StreamBusy(_SEND_BUSY)
        if self._eof_sent:
            return
        self._eof_sent = True
        self._send_stopped = True
        try:
            self._socket.shutdown(socket.SHUT_WR)
        except OSError as error:
            raise StreamBroken(f"shutting down the sending side failed: {error}") from error

    async def aclose(self) -> None:
        """Wake pending operations with ``StreamClosed``, then close the socket."""
        if self._closed:
            return
        self._closed = True
        self._send_stopped = True
        waiter = self._receive_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(StreamClosed(_CLOSED_WHILE_RECEIVING))
        try:
            await wait_interrupted(self._receiving, self._sending)
        finally:
            discard_unread(self._socket)
            self._socket.close()


_CLOSED_WHILE_RECEIVING = "the socket stream was closed while receiving"
_RECEIVE_BUSY = "another task is already receiving on this socket stream"
_SEND_BUSY = "another task is already sending on this socket stream"


class _StreamProtocol(asyncio.BufferedProtocol):
    """Feeds a :class:`_TransportStream`; all state the transport callbacks touch lives here."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        # The transport's loop, kept: asking for the running loop is a
        # getpid() system call on CPython 3.11, too dear for every receive.
        self.loop: asyncio.AbstractEventLoop | None = None
        self.buffer = bytearray(_HIGH_WATER)
        self.start = 0  # unread bytes are buffer[start:end]
        self.end = 0
        self.target: memoryview | None = None  # the caller's buffer while a receive waits
        self.filling_target = False  # get_buffer() handed out `target`
        self.receive_waiter: asyncio.Future[int] | None = None
        self.drain_waiter: asyncio.Future[None] | None = None
        self.lost_waiter: asyncio.Future[None] | None = None
        self.write_paused = False
        self.reading_paused = False
        self.eof = False
        self.lost = False
        self.error: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        # Zero limits: paused means "bytes still waiting for the kernel".
        self.transport.set_write_buffer_limits(high=0, low=0)
        self.loop = asyncio.get_running_loop()
        self.lost_waiter = self.loop.create_future()

    def get_buffer(self, sizehint: int) -> memoryview:
        # The caller's buffer only while its receive still waits: a cancelled
        # waiter's buffer may be filled before the task runs its cleanup.
        waiter = self.receive_waiter
        self.filling_target = self.target is not None and self.start == self.end and waiter is not None and not waiter.done()
        if self.filling_target:
            assert self.target is not None
            return self.target
        if self.start == self.end:
            self.start = self.end = 0
        elif len(self.buffer) - self.end < _MIN_FREE:
            self._compact()  # unread <= _HIGH_WATER // 2 here, so this frees enough
        return memoryview(self.buffer)[self.end :]

    def _compact(self) -> None:
        unread = self.end - self.start
        self.buffer[:unread] = self.buffer[self.start : self.end]
        self.start, self.end = 0, unread

    def buffer_updated(self, nbytes: int) -> None:
        if self.filling_target:
            self.filling_target = False
            self.target = None
            _resolve(self.receive_waiter, nbytes)
            return
        self.end += nbytes
        if self.end - self.start > _HIGH_WATER // 2 and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()
        _resolve(self.receive_waiter, 0)

    def take(self, buffer: bytearray | memoryview) -> int:
        count = min(len(buffer), self.end - self.start)
        buffer[:count] = memoryview(self.buffer)[self.start : self.start + count]
        self.start += count
        if self.reading_paused and self.end - self.start <= _HIGH_WATER // 4 and self.transport is not None:
            self.reading_paused = False
            self.transport.resume_reading()
        return count

    def unread(self, data: memoryview) -> None:
        """Put bytes a cancelled receive had already got back in front."""
        if self.start >= len(data):
            self.start -= len(data)
            self.buffer[self.start : self.start + len(data)] = data
        else:
            rest = bytes(self.buffer[self.start : self.end])
            self.buffer[: len(data) + len(rest)] = bytes(data) + rest
            self.start, self.end = 0, len(data) + len(rest)

    def eof_received(self) -> bool:
        self.eof = True
        _resolve(self.receive_waiter, 0)
        return True  # keep the transport open: we may still send (half-close)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.error = exc
        _resolve(self.receive_waiter, 0)
        _resolve(self.drain_waiter, None)
        _resolve(self.lost_waiter, None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        _resolve(self.drain_waiter, None)


def _resolve(waiter: asyncio.Future[Any] | None, value: Any) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(value)


class _TransportStream(SocketStream):
    """Transport + BufferedProtocol, for loops other than tidal's (see module docstring)."""

    def __init__(self, sock: socket.socket, transport: asyncio.Transport, protocol: _StreamProtocol) -> None:
        super().__init__(sock)
        self._transport = transport
        self._protocol = protocol
        self._eof_sent = False

    async def receive_into(self, buffer: bytearray | memoryview) -> int:
        """Copy buffered bytes, or let the transport fill ``buffer`` directly; ``0`` at EOF."""
        check_receive_buffer(buffer)
        self._check_open()
        with self._receive_guard:
            protocol = self._protocol
            while True:
                if protocol.end > protocol.start:
                    return protocol.take(buffer)
                if protocol.eof or protocol.lost:
                    return self._end_of_input()
                count = await self._wait_for_data(buffer)
                if count:
                    return count

    async def _wait_for_data(self, buffer: bytearray | memoryview) -> int:
        protocol = self._protocol
        waiter: asyncio.Future[int] = (protocol.loop or asyncio.get_running_loop()).create_future()
        target = memoryview(buffer).cast("B")
        protocol.receive_waiter, protocol.target = waiter, target
        try:
            count = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                protocol.unread(target[: waiter.result()])  # delivered, then cancelled
            raise
        finally:
            protocol.receive_waiter = None
            protocol.target = None
        self._check_open()
        return count

    def _end_of_input(self) -> int:
        error = self._protocol.error
        if error is not None and not self._protocol.eof:
            raise StreamBroken(f"the connection was lost: {error}") from error
        return 0

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` and wait until the transport handed all of it to the kernel."""
        self._check_open()
        with self._send_guard:
            self._check_can_send()
            if not data:
                return
            self._transport.write(data)
            protocol = self._protocol
            while protocol.write_paused and not protocol.lost:
                protocol.drain_waiter = (protocol.loop or asyncio.get_running_loop()).create_future()
                try:
                    await protocol.drain_waiter
                finally:
                    protocol.drain_waiter = None
                self._check_open()
            self._check_not_lost()

    def _check_can_send(self) -> None:
        if self._eof_sent:
            raise StreamClosed("send_eof() was called; this stream cannot send any more")
        self._check_not_lost()

    def _check_not_lost(self) -> None:
        protocol = self._protocol
        if protocol.lost or self._transport.is_closing():
            error = protocol.error
            if error is not None:
                raise StreamBroken(f"the connection was lost: {error}") from error
            raise StreamBroken("the connection was closed by the peer")

    async def send_eof(self) -> None:
        """Flush, then shut down the sending direction; idempotent."""
        self._check_open()
        with self._send_guard:
            if self._eof_sent:
                return
            self._eof_sent = True
            self._check_not_lost()
            self._transport.write_eof()

    async def aclose(self) -> None:
        """Close the transport (aborting unsent bytes) and wait until the socket is closed."""
        if self._closed:
            return
        self._closed = True
        protocol = self._protocol
        _resolve(protocol.receive_waiter, 0)
        _resolve(protocol.drain_waiter, None)
        if not protocol.lost:
            discard_unread(self._socket)
        if self._transport.get_write_buffer_size():
            self._transport.abort()  # nobody will wait for a peer that stopped reading
        else:
            self._transport.close()
        try:
            if protocol.lost_waiter is not None:
                await asyncio.shield(protocol.lost_waiter)
        except asyncio.CancelledError:
            self._transport.abort()
            raise
