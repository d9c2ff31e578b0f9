"""TLS over any ByteStream, driven by the sans-IO engine ``tidal.protocols.tls``.

Theory of operation
-------------------
The engine does all of TLS with plain method calls; this class only moves
bytes.  Engine calls are synchronous and never interleave with an await in
a way that could split one TLS operation (STYLE.md #5): every step is "call
the engine, then await I/O with what it produced".

Two tasks may use the stream at once, one receiving and one sending, and
either of them may need the other direction's I/O: a receive must send
handshake messages (and TLS 1.3 KeyUpdate replies), a send must read the
handshake (and, in TLS 1.2, a renegotiation).  Two locks keep the transport
sane:

* the *outgoing* lock: whoever holds it sends everything the engine has
  produced, in order, so ciphertext is never reordered;
* the *incoming* lock: whoever holds it receives one chunk of ciphertext and
  feeds it to the engine.  A task that waited for the lock while another
  task fed the engine returns at once -- new input has arrived, and it
  should look at the engine again before reading more.

A sender that has to pump incoming records (renegotiation) may decrypt
application data; it parks that data in a stash the receiver drains first,
so no byte is lost or reordered.

The common case costs little (issue 4: a TLS echo must cost no more than
asyncio's TLS streams): a receive decrypts every record available straight
into the caller's buffer (``TLSEngine.read_into``), ciphertext is received
into one reusable buffer, a send is one ``engine.send`` plus one lower
``send_all`` of the records, and the locks are taken without an ``await``
when nobody else holds them (:class:`_Baton`), which is nearly always.

Cancellation: a cancelled receive of ciphertext loses nothing (the transport
stream guarantees it) and the TLS stream stays usable.  A cancelled *send*
of ciphertext may leave half a record on the wire, so the stream is marked
broken.  ``aclose()`` sends close_notify when it safely can (handshake done,
no send in progress), bounded by ``close_timeout``, and always closes the
transport stream.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import Any

from tidal.protocols.tls import (
    NEED_DATA,
    Data,
    EndOfStream,
    TLSEngine,
    TLSError,
    TLSState,
)

from ._abc import ByteStream, ConflictGuard, check_receive_buffer
from ._errors import StreamBroken, StreamClosed

__all__ = ["TLSStream"]

# Ciphertext read size, one buffer per stream: a 64 KiB message (four full
# records, 65,624 bytes with TLS 1.3's overhead) arrives in one receive with
# room to spare.  (asyncio's TLS transports keep 256 KiB per connection.)
_CIPHERTEXT_BUFFER_SIZE = 128 * 1024
#: Seconds aclose() waits to deliver close_notify before closing anyway.
DEFAULT_CLOSE_TIMEOUT = 5.0


class TLSStream(ByteStream):
    """A TLS session over ``transport_stream``; itself a :class:`ByteStream`.

    Create with :meth:`wrap`.  The handshake runs on the first operation, or
    explicitly with :meth:`do_handshake`.  ``send_eof()`` sends close_notify;
    the peer's remaining data can still be received.  The other way round
    is not offered (as in TLS 1.2): after the *peer's* close_notify,
    ``send_all()`` raises :class:`StreamBroken`.  A transport EOF without the
    peer's close_notify raises :class:`StreamBroken` (a possible truncation
    attack) unless ``allow_ragged_eof`` was set.  TLS failures -- a refused
    certificate, a wrong hostname, corrupt records -- raise
    :class:`StreamBroken` chained to the engine's ``TLSError``.
    """

    def __init__(self, transport_stream: ByteStream, engine: TLSEngine) -> None:
        self._transport = transport_stream
        self._engine = engine
        self._closed = False
        self._broken: StreamBroken | None = None
        self._eof_sent = False
        self._send_broken: StreamBroken | None = None
        self._stash = bytearray()  # plaintext a sender decrypted for the receiver
        self._ended = False  # the peer's direction ended (close_notify or allowed ragged EOF)
        self._handshake_done = False
        self._handshake_lock = asyncio.Lock()
        self._outgoing_lock = _Baton()
        self._incoming_lock = _Baton()
        self._feeds = 0  # how many times ciphertext was fed to the engine
        self._ciphertext: memoryview | None = None  # allocated by the first receive
        self._receive_guard = ConflictGuard("another task is already receiving on this TLS stream")
        self._send_guard = ConflictGuard("another task is already sending on this TLS stream")
        self.close_timeout = DEFAULT_CLOSE_TIMEOUT

    @classmethod
    def wrap(
        cls,
        transport_stream: ByteStream,
        context: ssl.SSLContext,
        *,
        server_hostname: str | None = None,
        server_side: bool = False,
        allow_ragged_eof: bool = False,
    ) -> TLSStream:
        """Wrap ``transport_stream`` (any ByteStream) in TLS; no I/O happens yet.

        A client verifies ``server_hostname`` (also sent as SNI) when the
        context checks hostnames.
        """
        engine = TLSEngine(
            context,
            server_side=server_side,
            server_hostname=None if server_side else server_hostname,
            allow_ragged_eof=allow_ragged_eof,
        )
        return cls(transport_stream, engine)

    # -- what was negotiated ---------------------------------------------------

    @property
    def transport_stream(self) -> ByteStream:
        """The stream carrying the ciphertext."""
        return self._transport

    @property
    def alpn_protocol(self) -> str | None:
        """The ALPN protocol agreed on (``"http/1.1"`` ...), or None."""
        return self._engine.alpn_protocol

    @property
    def tls_version(self) -> str | None:
        """``"TLSv1.3"`` etc., None before the handshake."""
        return self._engine.tls_version

    @property
    def cipher(self) -> tuple[str, str, int] | None:
        """(name, protocol, secret bits) of the cipher suite, None before the handshake."""
        return self._engine.cipher

    @property
    def peer_certificate(self) -> dict[str, Any] | None:
        """The peer's certificate as ``SSLSocket.getpeercert()`` gives it, or None."""
        return self._engine.peer_certificate

    @property
    def peer_certificate_der(self) -> bytes | None:
        """The peer's certificate in DER form, or None."""
        return self._engine.peer_certificate_der

    @property
    def server_side(self) -> bool:
        """True for the server end."""
        return self._engine.server_side

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """TLS details (``"alpn_protocol"``, ``"peercert"``, ``"cipher"``,
        ``"tls_version"``, ``"tls_engine"``), then the transport stream's."""
        tls_info = {
            "alpn_protocol": self.alpn_protocol,
            "peercert": self.peer_certificate,
            "cipher": self.cipher,
            "tls_version": self.tls_version,
            "tls_engine": self._engine,
        }
        if name in tls_info:
            return tls_info[name]
        return self._transport.get_extra_info(name, default)

    # -- the handshake ---------------------------------------------------------

    async def do_handshake(self) -> None:
        """Run the handshake if it has not run yet; safe to call from several tasks."""
        self._check_usable()
        if self._handshake_done:
            return
        async with self._handshake_lock:
            if self._handshake_done:
                return
            self._check_usable()
            try:
                while not self._engine.do_handshake():
                    await self._flush()
                    await self._read_more()
                await self._flush()
            except TLSError as error:
                broken = self._break(f"TLS handshake failed: {error}", error)
                await self._send_alert()
                raise broken from error
            self._handshake_done = True

    async def _send_alert(self) -> None:
        """Best effort: tell the peer why we give up, so it does not wait for us."""
        alert = self._engine.data_to_send()
        if not alert or self._outgoing_lock.locked() or self._send_broken is not None:
            return
        try:
            async with asyncio.timeout(self.close_timeout):
                await self._transport.send_all(alert)
        except (StreamBroken, StreamClosed, TimeoutError):
            pass

    # -- receiving -------------------------------------------------------------

    async def receive_into(self, buffer: bytearray | memoryview) -> int:
        """Decrypt into ``buffer``; ``0`` once the peer's close_notify arrived."""
        check_receive_buffer(buffer)
        if self._closed or self._broken is not None:
            self._check_usable()
        with self._receive_guard:
            if not self._handshake_done:
                await self.do_handshake()
            while True:
                if self._stash:
                    return self._take_stash(buffer)
                if self._ended:
                    return 0
                try:
                    count = self._read_into(buffer)
                    if count:
                        return count
                    event = self._next_event()  # why there is no data: NEED_DATA, the end ...
                except StreamBroken:
                    await self._send_alert()
                    raise
                if event is NEED_DATA:
                    if self._engine.bytes_to_send:
                        await self._flush_if_idle()  # e.g. a KeyUpdate reply the engine produced
                    await self._read_more()

    def _take_stash(self, buffer: bytearray | memoryview) -> int:
        count = min(len(buffer), len(self._stash))
        buffer[:count] = self._stash[:count]
        del self._stash[:count]
        return count

    def _read_into(self, buffer: bytearray | memoryview) -> int:
        """Decrypt what is available into ``buffer``, errors translated."""
        try:
            return self._engine.read_into(buffer)
        except TLSError as error:
            raise self._break(f"TLS error: {error}", error) from error

    def _next_event(self, max_bytes: int | None = None) -> Any:
        """One engine event, with end-of-stream recorded and errors translated."""
        try:
            event = self._engine.next_event(max_bytes)
        except TLSError as error:
            raise self._break(f"TLS error: {error}", error) from error
        if isinstance(event, EndOfStream):
            self._ended = True
        return event

    # -- sending ---------------------------------------------------------------

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt ``data`` and complete once every record is handed to the transport stream."""
        if self._closed or self._broken is not None:
            self._check_usable()
        with self._send_guard:
            if self._eof_sent:
                raise StreamClosed("send_eof() was called; this TLS stream cannot send any more")
            if not self._handshake_done:
                await self.do_handshake()
            if not data:
                self._check_usable()
                return
            self._check_can_send()
            try:
                self._engine.send(data)
            except TLSError as error:
                raise self._break(f"TLS error: {error}", error) from error
            await self._flush()
            while self._engine.send_blocked:  # TLS 1.2 renegotiation: pump the peer's records
                self._check_can_send()
                await self._read_more()
                self._pump_for_sender()
                await self._flush()
            self._check_can_send()

    def _pump_for_sender(self) -> None:
        while not self._ended:
            event = self._next_event()
            if isinstance(event, Data):
                self._stash += event.data
            elif event is NEED_DATA:
                return

    async def send_eof(self) -> None:
        """Send close_notify; receiving continues until the peer's close_notify."""
        self._check_usable()
        with self._send_guard:
            if self._eof_sent:
                return
            await self.do_handshake()
            self._check_usable()
            self._eof_sent = True
            if self._send_broken is None:  # a transport that refused bytes gets no goodbye
                self._engine_call(self._engine.start_close)
                await self._flush()

    def _engine_call(self, method: Any, *args: Any) -> None:
        try:
            method(*args)
        except TLSError as error:
            raise self._break(f"TLS error: {error}", error) from error

    # -- moving ciphertext ---------------------------------------------------------

    async def _flush_if_idle(self) -> None:
        """Flush from the receiving side, unless a sender is flushing already.

        The task holding the outgoing lock loops until the engine has nothing
        left, so it will carry our bytes too.  Waiting for it instead would
        deadlock two peers whose senders both wait for the other to read.
        """
        if not self._outgoing_lock.locked():
            await self._flush()

    async def _flush(self) -> None:
        """Send every ciphertext byte the engine produced, in order."""
        baton = self._outgoing_lock
        if not baton.try_take():
            await baton.take()
        try:
            while data := self._engine.data_to_send():
                try:
                    await self._transport.send_all(data)
                except asyncio.CancelledError:
                    self._break("a send of TLS records was cancelled part-way", None)
                    raise
                except StreamClosed:
                    self._check_open()
                    raise
                except StreamBroken as error:
                    # The peer stopped taking bytes, but what it already sent
                    # may still be read: only the sending direction is lost.
                    self._send_broken = StreamBroken(f"cannot send: the transport failed: {error}")
                    self._send_broken.__cause__ = error
                    while self._engine.data_to_send():
                        pass
                    return
        finally:
            baton.release()

    def _check_can_send(self) -> None:
        if self._closed or self._broken is not None:
            self._check_usable()
        if self._ended:
            # The engine follows TLS 1.2 here (no TLS 1.3 half-close): once
            # the peer's close_notify arrived, nothing more can be sent.
            raise StreamBroken("the peer ended the TLS session (close_notify); no more data can be sent")
        if self._send_broken is not None:
            raise StreamBroken(str(self._send_broken)) from self._send_broken.__cause__

    async def _read_more(self) -> None:
        """Feed the engine one chunk of ciphertext (``b""`` at the transport's EOF)."""
        feeds_seen = self._feeds
        baton = self._incoming_lock
        if not baton.try_take():
            await baton.take()
        try:
            if self._feeds != feeds_seen:
                return  # another task fed the engine while we waited
            if self._closed or self._broken is not None:
                self._check_usable()
            ciphertext = self._ciphertext
            if ciphertext is None:
                ciphertext = self._ciphertext = memoryview(bytearray(_CIPHERTEXT_BUFFER_SIZE))
            try:
                count = await self._transport.receive_into(ciphertext)
            except StreamClosed:
                self._check_open()
                raise
            except StreamBroken as error:
                raise self._break(f"the transport failed: {error}", error) from error
            # The engine copies it into its BIO: the buffer is free again at once.
            self._engine_call(self._engine.receive_data, ciphertext[:count])
            self._feeds += 1
        finally:
            baton.release()

    # -- state -----------------------------------------------------------------

    def _break(self, message: str, cause: BaseException | None) -> StreamBroken:
        if self._broken is None:
            self._broken = StreamBroken(message)
            self._broken.__cause__ = cause
        return StreamBroken(message)

    def _check_open(self) -> None:
        if self._closed:
            raise StreamClosed("the TLS stream was closed")

    def _check_usable(self) -> None:
        self._check_open()
        if self._broken is not None:
            raise StreamBroken(str(self._broken)) from self._broken.__cause__

    # -- closing ---------------------------------------------------------------

    async def unwrap(self) -> tuple[ByteStream, bytes]:
        """Exchange close_notify with the peer, then hand back the transport.

        Returns ``(transport_stream, trailing_bytes)``: the bytes that followed
        the peer's close_notify belong to whatever protocol continues in the
        clear.  Application data arriving before the peer's close_notify
        breaks the stream (it would otherwise be silently dropped).
        """
        self._check_usable()
        with self._receive_guard, self._send_guard:
            await self.do_handshake()
            self._engine_call(self._engine.start_close)
            await self._flush()
            while not self._ended:
                event = self._next_event()
                if isinstance(event, Data):
                    raise self._break("the peer sent application data during unwrap()", None)
                if event is NEED_DATA:
                    await self._read_more()
            try:
                trailing = self._engine.unwrap()
            except TLSError as error:
                raise self._break(f"unwrap() failed: {error}", error) from error
            self._closed = True
            return self._transport, trailing

    async def abort(self) -> None:
        """Close the transport stream without sending close_notify."""
        self._closed = True
        await self._transport.aclose()

    async def aclose(self) -> None:
        """Send close_notify if possible (without waiting for the peer's), then close the transport."""
        if self._closed:
            return
        may_say_goodbye = self._can_send_close_notify()
        self._closed = True
        try:
            if may_say_goodbye:
                await self._send_close_notify()
        finally:
            await self._transport.aclose()

    def _can_send_close_notify(self) -> bool:
        return (
            self._handshake_done
            and self._broken is None
            and self._send_broken is None
            and not self._send_guard.held
            and not self._outgoing_lock.locked()
            and self._engine.state in (TLSState.OPEN, TLSState.CLOSING)
        )

    async def _send_close_notify(self) -> None:
        try:
            self._engine.start_close()
            data = self._engine.data_to_send()
            if data:
                async with asyncio.timeout(self.close_timeout):
                    await self._transport.send_all(data)
        except (TLSError, StreamBroken, StreamClosed, TimeoutError):
            pass  # the peer is gone or not listening; closing is all that is left


class _Baton:
    """A first-come first-served asyncio lock whose free acquire needs no ``await``.

    ``async with asyncio.Lock()`` runs three coroutines; the stream takes its
    locks once or twice per message and nearly always finds them free, so
    :meth:`try_take` answers synchronously and only contention awaits.  On
    release the baton is handed straight to the first waiter.
    """

    __slots__ = ("_held", "_waiters")

    def __init__(self) -> None:
        self._held = False
        self._waiters: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        """True while some task holds the baton."""
        return self._held

    def try_take(self) -> bool:
        """Take the baton if it is free; False (and nothing taken) otherwise."""
        if self._held:
            return False
        self._held = True
        return True

    async def take(self) -> None:
        """Wait for the baton, in arrival order; a cancelled wait takes nothing."""
        if self.try_take():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # it was handed to us just as we were cancelled
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def release(self) -> None:
        """Hand the baton to the first waiter still waiting, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # it holds the baton now: _held stays True
                return
        self._held = False
