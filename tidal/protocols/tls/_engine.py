"""The sans-IO TLS engine: ``ssl.SSLObject`` over two ``ssl.MemoryBIO``\\ s.

Theory of operation
-------------------
OpenSSL does all the cryptography; this class only decides *when* to call
it and what each outcome means.  Ciphertext from the network goes into the
incoming BIO (:meth:`TLSEngine.receive_data`), ciphertext for the network is
taken from the outgoing BIO (:meth:`TLSEngine.data_to_send`), and the
``SSLObject`` sits between them.  Nothing here touches a socket, a loop or a
clock, so the same engine drives TLS over a socket, a memory pipe or another
TLS stream (issue 4) and the loop's TLS transports (issue 8).

The traps an ``SSLObject`` sets, and how each is handled:

* **WANT_READ is not an error.**  It means "feed me more ciphertext and call
  the same method again".  ``SSL_write`` must then be retried with the very
  same bytes (OpenSSL remembers a partially encrypted buffer), so plaintext
  handed to :meth:`send` is queued and the head of the queue is retried
  verbatim until OpenSSL accepts it.  ``write(b"")`` is never issued: it
  means nothing to OpenSSL and would only muddle the retry rule.
* **TLS 1.3 tickets arrive after the handshake** (RFC 8446 §4.6.1) as
  records that carry no application data; ``read`` then raises WANT_READ.
  That is reported as :data:`NEED_DATA`, never as EOF or empty data.
* **EOF can look like an error.**  With ``OP_IGNORE_UNEXPECTED_EOF`` set,
  OpenSSL 3 reports a cut transport as a clean close, hiding truncation
  attacks, so the engine clears that option on the context.  A transport EOF
  then surfaces as ``SSLEOFError`` (or ``SSLSyscallError`` with OpenSSL 1.1)
  and goes through one explicit ragged-EOF policy.
* **The transport's EOF is fed to OpenSSL lazily**: ``receive_data(b"")``
  only records it, and ``write_eof()`` happens when OpenSSL has consumed
  every byte and asks for more.  Until then the incoming BIO stays writable,
  which :meth:`start_close` relies on (below).
* **close_notify without waiting** (RFC 8446 §6.1).  ``SSLObject.unwrap()``
  sends our alert and, in the same call, tries to read the peer's, and
  OpenSSL *discards* application records it meets while doing so.  So
  :meth:`start_close` moves the unread ciphertext out of the incoming BIO
  around that call and puts it back, and the peer's remaining data and its
  close_notify are then read through ``read()`` as usual.
* **Plaintext is read a whole record at a time** (at most 2**14 bytes,
  RFC 8446 §5.1) so OpenSSL never holds half a record of plaintext that a
  later shutdown could drop; what the caller did not take yet waits in a
  buffer of at most one record.

The hot path (issues 4 and 8: a TLS echo must cost no more than asyncio's)
----------------------------------------------------------------------------
Per message the engine does what asyncio's ``sslproto`` does -- one
``MemoryBIO.write``, one ``SSLObject.read`` per record, one
``SSLObject.write``, one ``MemoryBIO.read`` -- and less where it can:

* **No WANT_READ exception once the input is used up.**  OpenSSL reads a
  record from the incoming BIO exactly (Python never turns on read-ahead), so
  an empty BIO after a whole-record read means the next read could only say
  WANT_READ.  The engine answers :data:`NEED_DATA` without asking, and
  remembers a WANT_READ (a partial record) until more bytes are fed.  Raising
  and catching ``SSLWantReadError`` is a good part of a small message's cost.
* **Plaintext straight into the caller's buffer**: :meth:`TLSEngine.read_into`
  decrypts every record available into one buffer, with no ``bytes`` or
  event object per record.
* **No copy of sent plaintext** unless OpenSSL refuses it (WANT_READ), and
  the operation rules are looked up once per state change, not per call.
"""

from __future__ import annotations

import ssl
from collections import deque
from typing import Any, Callable, TypeVar, Union

from ._errors import TLSError, TLSTruncationError, TLSUsageError
from ._events import (
    NEED_DATA,
    CloseNotify,
    Data,
    Event,
    HandshakeComplete,
    RaggedEOF,
)
from ._state import ALLOWED_OPERATIONS, TLSState
from ._translate import translate_ssl_error

__all__ = ["TLSEngine", "clear_ignore_unexpected_eof"]

_T = TypeVar("_T")
_WritableBuffer = Union[bytearray, memoryview]

# RFC 8446 §5.1 / RFC 5246 §6.2.1: a record's plaintext is at most 2**14 bytes.
_MAX_RECORD_PLAINTEXT = 2**14

# Present in OpenSSL 3 builds only; 0 means "nothing to clear".
_OP_IGNORE_UNEXPECTED_EOF: int = getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)


def clear_ignore_unexpected_eof(context: ssl.SSLContext) -> None:
    """Make ``context`` report a transport EOF without close_notify as an error.

    OpenSSL offers this option per context only (Python exposes no per-object
    switch), so the context itself is changed.  Idempotent.
    """
    if context.options & _OP_IGNORE_UNEXPECTED_EOF:
        context.options &= ~_OP_IGNORE_UNEXPECTED_EOF


class TLSEngine:
    """One TLS session, client or server side, driven purely by bytes.

    After *every* call, send whatever :meth:`data_to_send` returns to the
    peer; feed whatever the peer sends to :meth:`receive_data` (``b""`` when
    the transport reaches EOF) and call :meth:`next_event` until it returns
    :data:`NEED_DATA`.

    ``context`` is used as given, except that ``OP_IGNORE_UNEXPECTED_EOF`` is
    cleared on it (see :func:`clear_ignore_unexpected_eof`).  A client with a
    hostname-checking context needs ``server_hostname``, which is also sent
    as SNI.  ``session`` resumes an earlier client session.  With
    ``allow_ragged_eof=True`` a transport EOF without close_notify ends the
    stream with :class:`RaggedEOF` instead of raising
    :class:`~tidal.protocols.tls.TLSTruncationError`.
    """

    def __init__(
        self,
        context: ssl.SSLContext,
        *,
        server_side: bool = False,
        server_hostname: str | None = None,
        session: ssl.SSLSession | None = None,
        allow_ragged_eof: bool = False,
    ) -> None:
        clear_ignore_unexpected_eof(context)
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(
            self._incoming,
            self._outgoing,
            server_side=server_side,
            server_hostname=server_hostname,
            session=session,
        )
        self._allow_ragged_eof = allow_ragged_eof
        self._state = TLSState.HANDSHAKING
        # ALLOWED_OPERATIONS[self._state], kept by _enter(): one set lookup per call.
        self._allowed = ALLOWED_OPERATIONS[TLSState.HANDSHAKING]
        self._transport_eof = False  # the caller fed b""
        # The last read wanted more ciphertext than the incoming BIO holds
        # (a partial record); nothing can be read until receive_data().
        self._starved = False
        # An error met after read_into() had already decrypted data: the
        # data is returned first and the error raised by the next call.
        self._deferred_error: TLSError | None = None
        self._handshake_reported = False
        self._sent_close_notify = False
        self._end_event: CloseNotify | RaggedEOF | None = None
        self._plaintext = bytearray()  # at most one record not yet taken
        self._pending_writes: deque[bytes] = deque()

    @classmethod
    def client(
        cls,
        context: ssl.SSLContext,
        server_hostname: str | None,
        *,
        session: ssl.SSLSession | None = None,
        allow_ragged_eof: bool = False,
    ) -> TLSEngine:
        """A client-side engine that will verify ``server_hostname``."""
        return cls(
            context,
            server_hostname=server_hostname,
            session=session,
            allow_ragged_eof=allow_ragged_eof,
        )

    @classmethod
    def server(cls, context: ssl.SSLContext, *, allow_ragged_eof: bool = False) -> TLSEngine:
        """A server-side engine."""
        return cls(context, server_side=True, allow_ragged_eof=allow_ragged_eof)

    # -- bytes in, bytes out ---------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed ciphertext received from the peer; ``b""`` means transport EOF."""
        if "receive_data" not in self._allowed:
            self._refuse("receive_data")
        if self._transport_eof:
            if data:
                raise self._usage_error(
                    "receive_data", "got more bytes after the transport's EOF (b'') was fed"
                )
            return
        self._starved = False
        if data:
            self._incoming.write(data)
        else:
            self._transport_eof = True

    def data_to_send(self, max_bytes: int | None = None) -> bytes:
        """Take up to ``max_bytes`` (default: all) of the ciphertext to send."""
        return self._outgoing.read(-1 if max_bytes is None else max_bytes)

    @property
    def bytes_to_send(self) -> int:
        """How many ciphertext bytes :meth:`data_to_send` would return now."""
        return self._outgoing.pending

    # -- the handshake ---------------------------------------------------------

    def do_handshake(self) -> bool:
        """Advance the handshake; True once it is complete, False if it needs
        more data from the peer (send :meth:`data_to_send` first)."""
        if "do_handshake" not in self._allowed:
            self._refuse("do_handshake")
        if self._state is not TLSState.HANDSHAKING:
            return True
        try:
            self._with_lazy_eof(self._ssl.do_handshake)
        except ssl.SSLWantReadError:
            return False
        except ssl.SSLError as exc:
            raise self._fail(exc) from exc
        self._enter(TLSState.OPEN)
        return True

    # -- application data --------------------------------------------------------

    def send(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt ``data``; the records are then in :meth:`data_to_send`.

        If OpenSSL needs the peer's input first (TLS 1.2 renegotiation), the
        plaintext is kept, in order, and retried verbatim by later
        :meth:`send` and :meth:`next_event` calls; :attr:`send_blocked` says so.
        """
        if "send" not in self._allowed:
            self._refuse("send")
        if not data:
            return  # SSLObject.write(b"") means nothing; never issue it
        if self._pending_writes:  # keep the order: behind what already waits
            self._pending_writes.append(bytes(data))
            self._flush_pending_writes()
            return
        try:
            written: int = self._ssl.write(data)
        except ssl.SSLWantReadError:
            # An immutable copy: the retry must pass OpenSSL the same bytes
            # even if the caller reuses its buffer (Python sets
            # SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, so the address may change).
            self._pending_writes.append(bytes(data))
            return
        except ssl.SSLError as exc:
            raise self._fail(exc) from exc
        size = data.nbytes if isinstance(data, memoryview) else len(data)
        if written < size:  # only with SSL_MODE_ENABLE_PARTIAL_WRITE
            self._pending_writes.append(bytes(memoryview(data).cast("B")[written:]))

    @property
    def send_blocked(self) -> bool:
        """True while sent plaintext waits for the peer's input to be encrypted."""
        return bool(self._pending_writes)

    def next_event(self, max_bytes: int | None = None) -> Event:
        """The next thing that happened: :class:`HandshakeComplete` (once),
        :class:`Data` (at most ``max_bytes``), an :class:`EndOfStream`
        (:class:`CloseNotify` or :class:`RaggedEOF`, repeated on later calls),
        or :data:`NEED_DATA`.  Drives the handshake when it is not done yet."""
        if "next_event" not in self._allowed:
            self._refuse("next_event")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, not {max_bytes}")
        if self._state is TLSState.HANDSHAKING and not self.do_handshake():
            return NEED_DATA
        if not self._handshake_reported:
            self._handshake_reported = True
            return HandshakeComplete(self.alpn_protocol, self._ssl.version() or "")
        if self._plaintext:
            return Data(self._take_plaintext(max_bytes))
        if self._end_event is not None:
            return self._end_event
        return self._read_record(max_bytes)

    def read_into(self, buffer: _WritableBuffer) -> int:
        """Decrypt the application data available now into ``buffer``; return its size.

        ``0`` means there is none right now, and :meth:`next_event` says why
        (:data:`NEED_DATA`, :class:`HandshakeComplete` not reported yet, the
        end of the stream, or the error).  Records are decrypted straight
        into ``buffer`` while it has room for a whole one (2**14 bytes); a
        smaller rest of the buffer takes part of a record, whose remainder is
        returned first by the next call.  An error met after some data was
        decrypted is raised by the next call, so no authenticated byte is lost.
        """
        # One method rather than small helpers: this is the per-message path.
        if "read_into" not in self._allowed:
            self._refuse("read_into")
        view = buffer
        if type(view) is not bytearray and (type(view) is not memoryview or view.format != "B"):
            view = memoryview(buffer).cast("B")  # lengths and offsets in bytes
        count = self._take_plaintext_into(view) if self._plaintext else 0
        if not self._handshake_reported or self._end_event is not None:
            return count
        size = len(view)
        if self._pending_writes:
            self._flush_pending_writes()
        try:
            while count < size and self._may_read():
                room = size - count
                if room >= _MAX_RECORD_PLAINTEXT:
                    # (a bytearray slice would be a copy: offsets go through a memoryview)
                    got = self._decrypt(_MAX_RECORD_PLAINTEXT, memoryview(view)[count:] if count else view)
                else:  # a whole record, then only what fits
                    record = self._decrypt(_MAX_RECORD_PLAINTEXT)
                    got = None if record is None else self._keep_rest(record, view, count)
                if not got:
                    if got == 0:  # SSLObject.read gives b"" (0) for close_notify when ours is not sent
                        self._end(CloseNotify())
                    break
                count += got
            if count and self._pending_writes:
                self._flush_pending_writes()  # a record just read may unblock them
        except TLSError as error:
            if not count:
                raise
            self._deferred_error = error
        return count

    # -- closing -----------------------------------------------------------------

    def start_close(self) -> None:
        """Send close_notify (its bytes are in :meth:`data_to_send`) without
        waiting for the peer's; data the peer still sends can be read until its
        own close_notify arrives.  Idempotent.  Not allowed while
        :attr:`send_blocked` (read until the queued data is sent)."""
        if "start_close" not in self._allowed:
            self._refuse("start_close")
        if self._sent_close_notify or self._state is TLSState.CLOSED:
            return
        if self._pending_writes:
            # OpenSSL refuses writes once close_notify is out: the queued
            # plaintext would be lost.
            raise self._usage_error(
                "start_close", "was called while sent data still waits for the peer (send_blocked)"
            )
        self._sent_close_notify = True
        # See the theory of operation: unwrap() would discard unread records.
        unread = self._incoming.read()
        try:
            self._ssl.unwrap()
        except ssl.SSLWantReadError:
            self._enter(TLSState.CLOSING)
        except ssl.SSLError as exc:
            raise self._fail(exc) from exc
        else:
            self._enter(TLSState.CLOSED)  # the peer's close_notify was already in
        finally:
            if unread:
                self._incoming.write(unread)

    def unwrap(self) -> bytes:
        """After a close_notify exchange, the raw bytes that followed the
        peer's close_notify, so the transport can continue in cleartext."""
        if "unwrap" not in self._allowed:
            self._refuse("unwrap")
        if not isinstance(self._end_event, CloseNotify):
            raise self._usage_error(
                "unwrap", "the transport ended without the peer's close_notify; nothing follows it"
            )
        return self._incoming.read()

    # -- what was negotiated --------------------------------------------------------

    @property
    def state(self) -> TLSState:
        """The engine's current state."""
        return self._state

    @property
    def server_side(self) -> bool:
        """True for the server end of the session."""
        return self._ssl.server_side

    @property
    def server_hostname(self) -> str | None:
        """The hostname a client verifies and sends as SNI (None on a server)."""
        return self._ssl.server_hostname

    @property
    def alpn_protocol(self) -> str | None:
        """The ALPN protocol both sides agreed on, or None."""
        return self._ssl.selected_alpn_protocol()

    @property
    def tls_version(self) -> str | None:
        """The negotiated version (``"TLSv1.3"`` ...), None before the handshake."""
        return self._ssl.version()

    @property
    def cipher(self) -> tuple[str, str, int] | None:
        """(name, protocol, secret bits) of the cipher suite, None before the handshake."""
        return self._ssl.cipher()

    @property
    def peer_certificate(self) -> dict[str, Any] | None:
        """The peer's verified certificate as ``SSLSocket.getpeercert()`` gives
        it (``{}`` when the context does not verify), None if there is none."""
        if not self._handshake_done:
            return None
        return self._ssl.getpeercert()

    @property
    def peer_certificate_der(self) -> bytes | None:
        """The peer's certificate in DER form, None if it sent none."""
        if not self._handshake_done:
            return None
        return self._ssl.getpeercert(binary_form=True)

    @property
    def session(self) -> ssl.SSLSession | None:
        """The session, to resume later; in TLS 1.3 a client only has a
        resumable one once the server's post-handshake ticket was read."""
        return self._ssl.session

    @property
    def session_reused(self) -> bool:
        """True if the handshake resumed an earlier session."""
        return self._ssl.session_reused

    def get_channel_binding(self, cb_type: str = "tls-unique") -> bytes | None:
        """Channel binding data (RFC 5929), as ``SSLObject.get_channel_binding``."""
        return self._ssl.get_channel_binding(cb_type)

    # -- internals -------------------------------------------------------------

    @property
    def _handshake_done(self) -> bool:
        return self._state is not TLSState.HANDSHAKING and self._ssl.version() is not None

    def _enter(self, state: TLSState) -> None:
        self._state = state
        self._allowed = ALLOWED_OPERATIONS[state]

    def _refuse(self, operation: str) -> None:
        """Raise for an operation the state does not allow (or the deferred error)."""
        error, self._deferred_error = self._deferred_error, None
        if error is not None:
            raise error
        raise self._usage_error(operation, f"is not allowed in state {self._state.name}")

    def _usage_error(self, operation: str, problem: str) -> TLSUsageError:
        side = "server" if self._ssl.server_side else "client"
        return TLSUsageError(
            f"TLS {side} engine: {operation}() {problem}", operation=operation, state=self._state
        )

    def _fail(self, exc: ssl.SSLError) -> TLSError:
        during_handshake = self._state is TLSState.HANDSHAKING
        self._enter(TLSState.ERROR)
        return translate_ssl_error(
            exc, during_handshake=during_handshake, server_side=self._ssl.server_side
        )

    def _with_lazy_eof(self, operation: Callable[[], _T]) -> _T:
        """Run an SSLObject operation, delivering a recorded transport EOF to
        OpenSSL only once it has consumed every byte and wants more."""
        try:
            return operation()
        except ssl.SSLWantReadError:
            if not self._transport_eof or self._incoming.eof:
                raise
            self._incoming.write_eof()
            return operation()

    def _read_record(self, max_bytes: int | None) -> Event:
        if self._pending_writes:
            self._flush_pending_writes()
        if not self._may_read():
            return NEED_DATA
        record = self._decrypt(_MAX_RECORD_PLAINTEXT)
        if record is None:
            return self._end_event or NEED_DATA
        if not record:
            # SSLObject.read returns b"" for close_notify when we had not sent ours.
            return self._end(CloseNotify())
        if self._pending_writes:
            self._flush_pending_writes()  # a record just read may unblock them
        if max_bytes is None or len(record) <= max_bytes:
            return Data(record)  # the common case: no copy through the buffer
        self._plaintext += record
        return Data(self._take_plaintext(max_bytes))

    def _may_read(self) -> bool:
        """False when a read could only raise WANT_READ (see the theory of operation)."""
        return not self._starved and (self._incoming.pending > 0 or self._transport_eof)

    def _decrypt(self, length: int, buffer: _WritableBuffer | None = None) -> Any:
        """One ``SSLObject.read``: the plaintext (bytes, or a count with
        ``buffer``), or None when there is none: more input is needed (then
        ``_starved``) or the stream ended (then ``_end_event``)."""
        try:
            try:
                return self._ssl.read(length, buffer)
            except ssl.SSLWantReadError:
                if not self._transport_eof or self._incoming.eof:
                    raise
                self._incoming.write_eof()  # lazily, now that every byte is consumed
                return self._ssl.read(length, buffer)
        except ssl.SSLWantReadError:
            self._starved = True  # includes records with no data: TLS 1.3 tickets
        except ssl.SSLZeroReturnError:
            self._end(CloseNotify())
        except (ssl.SSLEOFError, ssl.SSLSyscallError) as exc:
            self._transport_ended(exc)
        except ssl.SSLError as exc:
            raise self._fail(exc) from exc
        return None

    def _keep_rest(self, record: bytes, view: _WritableBuffer, start: int) -> int:
        """Copy what fits of ``record`` into ``view[start:]``; keep the rest for later."""
        taken = min(len(record), len(view) - start)
        view[start : start + taken] = record[:taken]
        if taken < len(record):
            self._plaintext += record[taken:]
        return taken

    def _take_plaintext_into(self, view: _WritableBuffer) -> int:
        taken = min(len(view), len(self._plaintext))
        view[:taken] = self._plaintext[:taken]
        del self._plaintext[:taken]
        return taken

    def _take_plaintext(self, max_bytes: int | None) -> bytes:
        size = len(self._plaintext) if max_bytes is None else max_bytes
        chunk = bytes(self._plaintext[:size])
        del self._plaintext[:size]
        return chunk

    def _end(self, event: CloseNotify | RaggedEOF) -> CloseNotify | RaggedEOF:
        self._end_event = event
        # After a ragged EOF OpenSSL is in a failed state and cannot send
        # close_notify any more, so that direction is finished too.
        both_done = self._sent_close_notify or isinstance(event, RaggedEOF)
        self._enter(TLSState.CLOSED if both_done else TLSState.CLOSING)
        return event

    def _transport_ended(self, exc: ssl.SSLError) -> CloseNotify | RaggedEOF:
        # Once we sent close_notify we asked for the end ourselves, so a peer
        # that just hangs up cannot have cut off anything we still wanted.
        if self._allow_ragged_eof or self._sent_close_notify:
            return self._end(RaggedEOF())
        self._enter(TLSState.ERROR)
        raise TLSTruncationError(
            "the peer closed the connection without a TLS close_notify, so the "
            "data may have been truncated",
            reason=getattr(exc, "reason", None),
        ) from exc

    def _flush_pending_writes(self) -> None:
        while self._pending_writes:
            head = self._pending_writes[0]
            try:
                written: int = self._ssl.write(head)
            except ssl.SSLWantReadError:
                return  # retried later with this very same `head`
            except ssl.SSLError as exc:
                raise self._fail(exc) from exc
            if written < len(head):  # only with SSL_MODE_ENABLE_PARTIAL_WRITE
                self._pending_writes[0] = head[written:]
            else:
                self._pending_writes.popleft()

    def __repr__(self) -> str:
        side = "server" if self._ssl.server_side else "client"
        parts = ["TLSEngine", side, self._state.name, self.tls_version]
        return "<" + " ".join(part for part in parts if part) + ">"
