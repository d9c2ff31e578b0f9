"""TLS transports: asyncio's ``ssl=`` contract on the sans-IO engine ``tidal.protocols.tls``.

Theory of operation
-------------------
TLS sits *between* a plain stream transport and the application, as two
objects (the shape asyncio's own ``sslproto`` has, built here on
:class:`~tidal.protocols.tls.TLSEngine` instead of a private state machine):

* :class:`TLSProtocol` is the protocol of the plain transport.  Ciphertext it
  receives goes into the engine; every record decrypted from it is read with
  ``engine.read_into`` into the same receive buffer (the engine already holds
  the ciphertext) and delivered in one ``data_received()``; the engine's
  other events become calls on the application protocol; every ciphertext
  byte the engine produces is written
  to the plain transport before control returns to the loop (the engine's
  "flush after every call" rule, applied once per batch of incoming records:
  the reply to a batch leaves in one write).
* :class:`SSLTransport` is what the application sees: ``write()`` encrypts at
  once and hands the records to the plain transport, so the plain
  transport's write buffer *is* the TLS write buffer and its
  ``pause_writing``/``resume_writing`` are forwarded to the application.
  ``pause_reading()`` stops reading the plain transport and stops decrypting;
  ciphertext already received waits in the engine.

Life cycle (the application never sees a connection that failed its
handshake, as with asyncio):

1. ``connection_made`` of the plain transport starts the handshake and the
   handshake timer (``ssl_handshake_timeout``, 60 s by default); a client
   sends its ClientHello at once.
2. ``HandshakeComplete`` cancels the timer, calls the application's
   ``connection_made`` (unless ``start_tls`` upgraded an existing
   connection) and completes the waiter of ``create_connection``.  A failed
   handshake completes the waiter with the ``ssl`` module's own exception
   (``ssl.SSLCertVerificationError`` ...), the one asyncio code catches; a
   timeout with ``ConnectionAbortedError``; a lost connection with
   ``ConnectionResetError``.
3. ``close()`` sends close_notify after the data already written and waits
   (at most ``ssl_shutdown_timeout``, 30 s by default) for the peer's
   close_notify or EOF before closing the plain transport; data arriving
   meanwhile is discarded (RFC 8446 §6.1: the closing side has no more use
   for it).  A shutdown that times out aborts the connection and reports
   ``TimeoutError`` to ``connection_lost``.
4. The peer's close_notify becomes ``eof_received()`` and then the same
   shutdown (TLS has no half-close that asyncio exposes: ``can_write_eof()``
   is False).

EOF policy: a plain EOF without close_notify (a "ragged EOF") is reported to
the application as ``eof_received()`` once every complete record has been
delivered, then the connection closes without our close_notify (the peer
has stopped speaking TLS; it may even have unwrapped the socket), exactly as
asyncio's transports do: asyncio protocols (HTTP clients among them) rely on
their own framing to detect truncation, and many servers close without
close_notify.  The EOF is not fed to the engine, so OpenSSL neither fails
the session nor sends an alert, and ``ssl_object`` stays usable (its
``getpeercert()`` still answers).  Callers that need the strict policy use
``tidal.streams.TLSStream``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import warnings
from typing import Any

from tidal.loop._transports import SendfileMode
from tidal.protocols.tls import (
    NEED_DATA,
    Data,
    EndOfStream,
    HandshakeComplete,
    TLSEngine,
    TLSError,
    TLSState,
)

__all__ = [
    "DEFAULT_SSL_HANDSHAKE_TIMEOUT",
    "DEFAULT_SSL_SHUTDOWN_TIMEOUT",
    "TLSProtocol",
    "SSLTransport",
    "check_tls_timeouts",
    "client_context",
    "start_tls",
]

logger = logging.getLogger("asyncio")

#: Seconds a handshake may take before the connection is aborted (asyncio's default).
DEFAULT_SSL_HANDSHAKE_TIMEOUT = 60.0
#: Seconds ``close()`` waits for the peer's close_notify (asyncio's default).
DEFAULT_SSL_SHUTDOWN_TIMEOUT = 30.0

# One read of ciphertext: the plain transport reads at most this much per
# readiness callback into a buffer we own (no bytes object per read).
_RECEIVE_BUFFER_SIZE = 256 * 1024
# Writes to a closed TLS transport are dropped; after this many, say so once.
_LOG_THRESHOLD_FOR_CLOSED_WRITES = 5


def client_context(ssl_argument: Any) -> ssl.SSLContext:
    """The context for ``create_connection(ssl=...)``: ``True`` means a default one."""
    if isinstance(ssl_argument, ssl.SSLContext):
        return ssl_argument
    return ssl.create_default_context()


def check_tls_timeouts(handshake_timeout: float | None, shutdown_timeout: float | None) -> None:
    """Refuse non-positive timeouts with asyncio's messages."""
    if handshake_timeout is not None and handshake_timeout <= 0:
        raise ValueError(f"ssl_handshake_timeout should be a positive number, got {handshake_timeout}")
    if shutdown_timeout is not None and shutdown_timeout <= 0:
        raise ValueError(f"ssl_shutdown_timeout should be a positive number, got {shutdown_timeout}")


def as_os_error(exc: TLSError) -> BaseException:
    """What asyncio code expects to catch for an engine error.

    asyncio's TLS transports raise the ``ssl`` module's exceptions (all of
    them ``OSError``), so the engine's error is unwrapped to the
    ``ssl.SSLError`` it was translated from; errors with no ``ssl`` origin
    (a truncated handshake) become ``ConnectionResetError``.
    """
    cause = exc.__cause__
    if isinstance(cause, ssl.SSLError):
        return cause
    error = ConnectionResetError(str(exc))
    error.__cause__ = exc
    return error


def _ssl_object_of(engine: TLSEngine) -> ssl.SSLObject:
    # get_extra_info("ssl_object") must return the SSLObject itself (asyncio
    # code calls its methods); the engine keeps it in this attribute.
    ssl_object: ssl.SSLObject = engine._ssl
    return ssl_object


class _Phase:
    """Where the connection is in its life cycle (plain constants: hot path)."""

    HANDSHAKING = "handshaking"
    OPEN = "open"
    SHUTTING_DOWN = "shutting down"  # our close_notify is out (or queued)
    CLOSED = "closed"  # the plain transport is closing or gone


class TLSProtocol(asyncio.BufferedProtocol):
    """The plain transport's protocol: runs the engine, drives the application protocol."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        app_protocol: asyncio.BaseProtocol,
        sslcontext: ssl.SSLContext,
        waiter: asyncio.Future[None] | None,
        *,
        server_side: bool = False,
        server_hostname: str | None = None,
        call_connection_made: bool = True,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
    ) -> None:
        check_tls_timeouts(ssl_handshake_timeout, ssl_shutdown_timeout)
        self._loop = loop
        self._context: ssl.SSLContext | None = sslcontext
        self._waiter = waiter
        self._server_side = server_side
        # asyncio sends no SNI for server_hostname="" (hostname checks off).
        self._server_hostname = None if server_side else (server_hostname or None)
        self._call_connection_made = call_connection_made
        self._handshake_timeout = ssl_handshake_timeout or DEFAULT_SSL_HANDSHAKE_TIMEOUT
        self._shutdown_timeout = ssl_shutdown_timeout or DEFAULT_SSL_SHUTDOWN_TIMEOUT
        self._engine: TLSEngine | None = None
        self._transport: asyncio.Transport | None = None  # the plain one
        # Shared with the application's transport, which keeps it after the
        # connection is lost (get_extra_info still answers then).
        self._extra: dict[str, Any] = {"sslcontext": sslcontext}
        # Both are dropped when the connection is lost, which breaks the
        # reference cycles protocol <-> transport: a finished connection (and
        # its SSLContext) is freed by reference counting, as with asyncio.
        self._app_transport: SSLTransport | None = SSLTransport(loop, self)
        self._app_protocol: asyncio.BaseProtocol | None = app_protocol
        self._app_buffered = isinstance(app_protocol, asyncio.BufferedProtocol)
        self._app_connected = False  # the application's connection_made ran
        self._eof_delivered = False  # the application's eof_received ran
        self._plain_eof = False  # the plain transport reached EOF
        self._corked = False  # inside _process_incoming: writes are flushed at its end
        self._phase = _Phase.HANDSHAKING
        self._app_reading_paused = False
        self._app_writing_paused = False  # we called app_protocol.pause_writing()
        self._plain_writing_paused = False
        self._timer: asyncio.TimerHandle | None = None
        self._close_reason: BaseException | None = None  # reported instead of the plain one
        self._processing_scheduled = False
        self._receive_buffer = memoryview(bytearray(_RECEIVE_BUFFER_SIZE))

    @property
    def app_transport(self) -> SSLTransport:
        """The transport the application protocol uses (until the connection is lost)."""
        assert self._app_transport is not None, "the TLS connection is already lost"
        return self._app_transport

    # -- plain transport events ------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the handshake on the freshly connected plain transport."""
        assert isinstance(transport, asyncio.Transport)
        assert self._context is not None, "connection_made() after connection_lost()"
        self._transport = transport
        try:
            self._engine = TLSEngine(
                self._context, server_side=self._server_side, server_hostname=self._server_hostname,
                allow_ragged_eof=True,
            )
        except (ValueError, ssl.SSLError) as exc:  # e.g. a client context without server_hostname
            self._fail_handshake(exc)
            return
        self._extra["ssl_object"] = _ssl_object_of(self._engine)
        self._timer = self._loop.call_later(self._handshake_timeout, self._on_handshake_timeout)
        self._process_incoming()  # a client's ClientHello goes out now

    def get_buffer(self, sizehint: int) -> memoryview:
        """Ciphertext is read straight into one reusable buffer."""
        return self._receive_buffer

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` of ciphertext arrived in the receive buffer."""
        self.data_received(self._receive_buffer[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        """Ciphertext from a transport that does not support BufferedProtocol."""
        if self._engine is None or self._phase == _Phase.CLOSED:
            return
        try:
            self._engine.receive_data(data)
        except TLSError as exc:
            self._on_tls_error(exc)
            return
        self._process_incoming()

    def eof_received(self) -> bool:
        """The plain transport reached EOF: end the handshake or the session."""
        if self._phase == _Phase.HANDSHAKING:
            self._fail_handshake(ConnectionResetError("Connection lost during SSL handshake"))
        elif self._engine is not None and self._phase != _Phase.CLOSED:
            # Not fed to the engine: OpenSSL would fail the session (and send
            # an alert) on a ragged EOF; see "EOF policy" above.
            self._plain_eof = True
            self._process_incoming()
        return True  # the plain transport stays open until we close it

    def connection_lost(self, exc: Exception | None) -> None:
        """The plain transport is gone: tell whoever is waiting, exactly once."""
        self._cancel_timer()
        self._phase = _Phase.CLOSED
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc or ConnectionResetError("Connection lost during SSL handshake"))
        self._waiter = None
        if self._app_connected and self._app_protocol is not None:
            self._app_connected = False
            reason = self._close_reason or exc
            # asyncio passes any BaseException (TimeoutError, app errors) here too.
            self._loop.call_soon(self._app_protocol.connection_lost, reason)  # type: ignore[arg-type]
        if self._app_transport is not None:
            self._app_transport._mark_closed()
        self._transport = self._app_transport = self._app_protocol = None
        self._release()

    def _release(self) -> None:
        # The plain transport may keep this protocol until the garbage
        # collector runs, so nothing large or secret stays reachable from it:
        # the SSLContext and session go with the application's transport.
        self._engine = self._context = None
        self._extra = {}
        self._receive_buffer = memoryview(b"")

    def pause_writing(self) -> None:
        """The plain transport's buffer is full: so is the application's."""
        self._plain_writing_paused = True
        if self._app_connected and not self._app_writing_paused:
            self._app_writing_paused = True
            self._notify_app("pause_writing")

    def resume_writing(self) -> None:
        """The plain transport drained: the application may write again."""
        self._plain_writing_paused = False
        if self._app_writing_paused:
            self._app_writing_paused = False
            self._notify_app("resume_writing")

    # -- the engine ------------------------------------------------------------
    def _process_incoming(self) -> None:
        """Turn what the engine can produce now into application events.

        The records decrypted from one read are delivered in one call, and
        what the application writes meanwhile leaves in one plain write at
        the end (as asyncio's sslproto does): a 64 KiB message costs one
        data_received() and one send(), not one per 16 KiB record."""
        self._processing_scheduled = False
        engine = self._engine
        if engine is None:
            return
        self._corked = True
        error: TLSError | None = None
        try:
            self._run_engine(engine)
        except TLSError as exc:
            error = exc
        finally:
            self._corked = False
        if error is not None:
            self._on_tls_error(error)
            return
        self._flush()

    def _run_engine(self, engine: TLSEngine) -> None:
        # Plaintext is decrypted into the receive buffer: its ciphertext is
        # already in the engine, and the application gets a copy (bytes, or
        # its own buffer) before the plain transport reads again.
        plaintext = self._receive_buffer
        while self._phase != _Phase.CLOSED and (not self._app_reading_paused or self._phase != _Phase.OPEN):
            if self._phase == _Phase.OPEN:
                # Every record available, in one call (an error after some of
                # them is raised by the next call: authenticated data counts).
                count = engine.read_into(plaintext)
                if count:
                    if not self._deliver(plaintext[:count]):
                        return
                    continue
            event = engine.next_event()
            if type(event) is Data:
                continue  # while closing, the peer's late data is discarded
            if event is NEED_DATA:
                if self._plain_eof:  # every complete record is delivered
                    self._on_plain_eof()
                return
            if not self._handle_event(event):
                return

    def _handle_event(self, event: object) -> bool:
        """React to one engine event; False to stop processing for now."""
        if isinstance(event, HandshakeComplete):
            self._flush()  # a TLS 1.3 server's tickets go out with its Finished
            self._on_handshake_complete()
            return self._phase == _Phase.OPEN
        if isinstance(event, EndOfStream):
            self._flush()
            self._on_end_of_stream()
            return False
        raise AssertionError(f"unexpected TLS engine event {event!r}")

    def _flush(self) -> None:
        """Send everything the engine produced (the engine's golden rule)."""
        engine, transport = self._engine, self._transport
        if engine is None or transport is None:
            return
        data = engine.data_to_send()
        if data and not transport.is_closing():
            transport.write(data)

    # -- handshake ---------------------------------------------------------------
    def _on_handshake_complete(self) -> None:
        self._cancel_timer()
        if self._engine is not None:
            self._extra["peercert"] = self._engine.peer_certificate
            self._extra["cipher"] = self._engine.cipher
            self._extra["compression"] = _ssl_object_of(self._engine).compression()
        self._phase = _Phase.OPEN
        if self._call_connection_made:
            try:
                self._app_protocol.connection_made(self.app_transport)  # type: ignore[union-attr]
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Error on reading from the event loop: connection_made() failed")
                self._set_waiter_exception(exc)
                return
        self._app_connected = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        self._waiter = None
        if self._plain_writing_paused:  # the buffer filled during the handshake
            self.pause_writing()

    def _on_handshake_timeout(self) -> None:
        self._timer = None
        if self._phase != _Phase.HANDSHAKING:
            return
        message = (
            f"SSL handshake is taking longer than {self._handshake_timeout} seconds: aborting the connection"
        )
        self._fail_handshake(ConnectionAbortedError(message), abort=True)

    def _fail_handshake(self, exc: BaseException, *, abort: bool = False) -> None:
        self._cancel_timer()
        self._phase = _Phase.CLOSED
        self._set_waiter_exception(exc)
        if self._waiter is None and self._loop.get_debug():
            # A server-side handshake has no one waiting; asyncio reports it in debug mode only.
            self._loop.call_exception_handler(
                {"message": "Error on transport creation for incoming connection", "exception": exc}
            )
        self._close_plain(abort=abort)

    def _set_waiter_exception(self, exc: BaseException) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    # -- ending --------------------------------------------------------------
    def _on_plain_eof(self) -> None:
        """The peer hung up without close_notify: end without sending ours."""
        self._deliver_eof()
        self._close_plain()  # what the application wrote is still sent first

    def _on_end_of_stream(self) -> None:
        """The peer's close_notify: eof_received, then shut down."""
        if not self._deliver_eof():
            return
        self._start_shutdown()
        engine = self._engine
        if engine is not None and engine.state is TLSState.CLOSED:
            self._close_plain()

    def _deliver_eof(self) -> bool:
        """Call the application's eof_received() once; False if it failed.

        The side that closed first gets eof_received() too when the peer's
        close_notify answers its own, as with asyncio."""
        if self._app_connected and not self._eof_delivered and self._phase != _Phase.CLOSED:
            self._eof_delivered = True
            try:
                keep_open = self._app_protocol.eof_received()  # type: ignore[union-attr]
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Error calling eof_received()")
                return False
            if keep_open:
                logger.warning("returning true from eof_received() has no effect when using ssl")
        return True

    def _start_shutdown(self) -> None:
        """Send close_notify after everything written, then wait for the peer's."""
        if self._phase in (_Phase.SHUTTING_DOWN, _Phase.CLOSED):
            return
        if self._phase == _Phase.HANDSHAKING:
            self._fail_handshake(ConnectionAbortedError("the TLS transport was closed during the handshake"))
            return
        self._phase = _Phase.SHUTTING_DOWN
        self._cancel_timer()
        self._timer = self._loop.call_later(self._shutdown_timeout, self._on_shutdown_timeout)
        if self._transport is not None:
            self._transport.resume_reading()  # the peer's close_notify must get in
        self._send_close_notify()

    def _send_close_notify(self) -> None:
        engine = self._engine
        if engine is None:
            return
        if engine.send_blocked:
            # TLS 1.2 renegotiation holds written data; reading unblocks it,
            # and _process_incoming comes back here through the shutdown path.
            self._loop.call_soon(self._retry_close_notify)
            return
        try:
            engine.start_close()
        except TLSError as exc:
            self._on_tls_error(exc)
            return
        self._flush()
        if engine.state is TLSState.CLOSED:
            self._close_plain()

    def _retry_close_notify(self) -> None:
        if self._phase == _Phase.SHUTTING_DOWN:
            self._process_incoming()
            self._send_close_notify()

    def _on_shutdown_timeout(self) -> None:
        self._timer = None
        if self._phase == _Phase.SHUTTING_DOWN:
            self._close_reason = TimeoutError("SSL shutdown timed out")
            self._close_plain(abort=True)

    def _close_plain(self, *, abort: bool = False) -> None:
        self._cancel_timer()
        self._phase = _Phase.CLOSED
        transport = self._transport
        if transport is None:
            return
        if abort:
            transport.abort()
        else:
            transport.close()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- errors ----------------------------------------------------------------
    def _on_tls_error(self, exc: TLSError) -> None:
        error = as_os_error(exc)
        self._flush()  # the alert OpenSSL generated tells the peer why
        if self._phase == _Phase.HANDSHAKING:
            self._fail_handshake(error)
            return
        self._fatal_error(error, "SSL error in data received")

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        """The single path of unrecoverable errors once the application is connected."""
        if isinstance(exc, OSError):
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler(
                {"message": message, "exception": exc, "transport": self._transport, "protocol": self}
            )
        self._close_reason = exc
        self._close_plain()

    def _notify_app(self, method: str) -> None:
        if self._app_protocol is None:
            return
        try:
            getattr(self._app_protocol, method)()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler(
                {"message": f"protocol.{method}() failed", "exception": exc,
                 "transport": self._app_transport, "protocol": self._app_protocol}
            )

    # -- delivering plaintext ------------------------------------------------------
    def _deliver(self, plaintext: memoryview) -> bool:
        """Hand decrypted bytes to the application; False if that failed."""
        try:
            if self._app_buffered:  # copied straight into its buffers
                _feed_buffered(self._app_protocol, plaintext)  # type: ignore[arg-type]
            else:
                self._app_protocol.data_received(bytes(plaintext))  # type: ignore[union-attr]
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Error in protocol.data_received() call")
            return False
        return True

    # -- used by SSLTransport --------------------------------------------------------
    def _write(self, data: bytes | bytearray | memoryview) -> None:
        engine = self._engine
        assert engine is not None
        try:
            engine.send(data)
        except TLSError as exc:
            self._on_tls_error(exc)
            return
        if not self._corked:  # else _process_incoming flushes once at its end
            self._flush()

    def _is_writable(self) -> bool:
        return self._phase == _Phase.OPEN and self._engine is not None and self._engine.state is TLSState.OPEN

    def _set_app_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._app_protocol = protocol
        self._app_buffered = isinstance(protocol, asyncio.BufferedProtocol)

    def _pause_reading(self) -> None:
        self._app_reading_paused = True
        if self._transport is not None and self._phase == _Phase.OPEN:
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        self._app_reading_paused = False
        if self._transport is not None and self._phase == _Phase.OPEN:
            self._transport.resume_reading()
        if not self._processing_scheduled:
            # Records already received wait in the engine; decrypt them on
            # the next iteration rather than inside the caller's callback.
            self._processing_scheduled = True
            self._loop.call_soon(self._process_incoming)

    def _get_extra_info(self, name: str, default: Any) -> Any:
        if self._transport is not None:
            return self._transport.get_extra_info(name, default)
        return default

    def __repr__(self) -> str:
        side = "server" if self._server_side else "client"
        return f"<TLSProtocol {side} {self._phase}>"


def _feed_buffered(protocol: asyncio.BufferedProtocol, view: memoryview) -> None:
    """Copy ``view`` into the protocol's buffers (asyncio's BufferedProtocol contract)."""
    while view:
        buffer = memoryview(protocol.get_buffer(len(view))).cast("B")
        size = len(buffer)
        if not size:
            raise RuntimeError("get_buffer() returned an empty buffer")
        taken = min(size, len(view))
        buffer[:taken] = view[:taken]
        protocol.buffer_updated(taken)
        view = view[taken:]


class SSLTransport(asyncio.Transport):
    """The application's side of a TLS connection (what ``create_connection`` returns).

    Named after the ``ssl=`` argument, as asyncio's own: code (CPython's
    test suite among it) recognises a TLS transport by "ssl" in its class name.
    """

    # loop.sendfile() over TLS reads the file and writes it through write().
    _sendfile_compatible = SendfileMode.FALLBACK

    def __init__(self, loop: asyncio.AbstractEventLoop, tls_protocol: TLSProtocol) -> None:
        super().__init__()
        self._loop = loop
        self._tls = tls_protocol
        self._extra = tls_protocol._extra  # the TLS keys, kept after the connection is lost
        self._closed = False  # close() or abort() was called
        self._finished = False  # the plain transport is gone
        self._closed_writes = 0

    def __repr__(self) -> str:
        state = "closed" if self._closed or self._finished else "open"
        return f"<SSLTransport {state} {self._tls!r}>"

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if getattr(self, "_closed", True) or getattr(self, "_finished", True):
            return
        if not getattr(self._tls, "_app_connected", False):
            return  # never handed to the application
        _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
        self._closed = True
        self._tls._close_plain(abort=True)

    def _mark_closed(self) -> None:
        self._finished = True

    # -- information --------------------------------------------------------------
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """TLS keys (``ssl_object``, ``peercert``, ``cipher``, ``compression``,
        ``sslcontext``), else the plain transport's (``peername``, ``socket`` ...)."""
        if name in self._extra:
            return self._extra[name]
        return self._tls._get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Send decrypted data to ``protocol`` from now on."""
        self._tls._set_app_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        """The application protocol receiving decrypted data (None once the
        connection is lost, as with asyncio: that breaks the reference cycle)."""
        return self._tls._app_protocol  # type: ignore[return-value]

    def is_closing(self) -> bool:
        """True once close() or abort() was called or the connection ended."""
        return self._closed or self._finished

    # -- closing ----------------------------------------------------------------------
    def close(self) -> None:
        """Send close_notify after the written data, then close (see the module docstring)."""
        if self._closed:
            return
        self._closed = True
        self._tls._start_shutdown()

    def abort(self) -> None:
        """Close at once: no close_notify, buffered data is dropped."""
        self._closed = True
        self._tls._close_plain(abort=True)

    # -- reading --------------------------------------------------------------------
    def is_reading(self) -> bool:
        """True while decrypted data is delivered to the protocol."""
        return not self._tls._app_reading_paused and not self.is_closing()

    def pause_reading(self) -> None:
        """Stop reading and decrypting until resume_reading()."""
        if not self._tls._app_reading_paused:
            self._tls._pause_reading()

    def resume_reading(self) -> None:
        """Deliver decrypted data again."""
        if self._tls._app_reading_paused:
            self._tls._resume_reading()

    # -- writing ----------------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt ``data`` and queue the records on the plain transport."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data: expecting a bytes-like instance, got {type(data).__name__}")
        if not data:
            return
        if self._closed or not self._tls._is_writable():
            self._closed_writes += 1
            if self._closed_writes >= _LOG_THRESHOLD_FOR_CLOSED_WRITES:
                logger.warning("SSL connection is closed")
            return
        self._tls._write(data)

    def writelines(self, list_of_data: Any) -> None:
        """Write every buffer in ``list_of_data`` as one write."""
        self.write(b"".join(list_of_data))

    def write_eof(self) -> None:
        """TLS transports have no half-close (as asyncio's)."""
        raise NotImplementedError("SSL doesn't support half-closes")

    def can_write_eof(self) -> bool:
        """False: use close(), which sends close_notify."""
        return False

    def get_write_buffer_size(self) -> int:
        """Ciphertext bytes the plain transport has not sent yet."""
        transport = self._tls._transport
        return 0 if transport is None else transport.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        """The plain transport's (low, high) water marks, which drive pause_writing()."""
        transport = self._tls._transport
        if transport is None:
            return (0, 0)
        limits: tuple[int, int] = transport.get_write_buffer_limits()
        return limits

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Set the water marks of the plain transport's buffer (TLS buffers nothing else)."""
        transport = self._tls._transport
        if transport is not None:
            transport.set_write_buffer_limits(high, low)

    @property
    def _protocol_paused(self) -> bool:
        # Read by loop.sendfile()'s fallback to learn whether writing is paused.
        return self._tls._app_writing_paused


async def start_tls(
    loop: asyncio.AbstractEventLoop,
    transport: asyncio.BaseTransport,
    protocol: asyncio.BaseProtocol,
    sslcontext: ssl.SSLContext,
    *,
    server_side: bool = False,
    server_hostname: str | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> SSLTransport:
    """Upgrade an open connection to TLS; ``loop.start_tls``'s contract.

    ``protocol`` already received ``connection_made`` for the plain
    transport, so it is not called again; the returned transport replaces
    ``transport`` for the application.
    """
    if not isinstance(sslcontext, ssl.SSLContext):
        raise TypeError(f"sslcontext is expected to be an instance of ssl.SSLContext, got {sslcontext!r}")
    if not all(hasattr(transport, name) for name in ("set_protocol", "pause_reading", "resume_reading")):
        raise TypeError(f"transport {transport!r} is not supported by start_tls()")
    assert isinstance(transport, asyncio.Transport)
    waiter: asyncio.Future[None] = loop.create_future()
    tls_protocol = TLSProtocol(
        loop, protocol, sslcontext, waiter, server_side=server_side, server_hostname=server_hostname,
        call_connection_made=False, ssl_handshake_timeout=ssl_handshake_timeout,
        ssl_shutdown_timeout=ssl_shutdown_timeout,
    )
    # Nothing may be read in plaintext between the switch and the handshake.
    transport.pause_reading()
    transport.set_protocol(tls_protocol)
    made = loop.call_soon(tls_protocol.connection_made, transport)
    resumed = loop.call_soon(transport.resume_reading)
    try:
        await waiter
    except BaseException:
        transport.close()
        made.cancel()
        resumed.cancel()
        raise
    return tls_protocol.app_transport
