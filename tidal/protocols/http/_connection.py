"""HTTPConnection: h11's state machine behind a strict, bounded receive gate.

Theory of operation.  h11 keeps the HTTP/1.1 state machine (roles, states,
keep-alive, 100-continue, protocol switches) and writes outgoing messages; it
is the model engine of STYLE.md.  What h11 lacks is strictness and limits that
hold whatever the TCP split (h11 issue #182, GHSA-vqfr-h8mv-ghfj), so received
bytes never reach it directly: they wait in our buffer until a scanner has
proven them valid, and only then are they handed over.

* Head phase: :class:`._sections.SectionScanner` finds and validates the
  request or status head, :func:`._framing.analyse_head` refuses ambiguous
  framing (CL+TE, duplicate CL, unsupported transfer codings, TE in
  HTTP/1.0), then the exact head bytes go to h11, which turns them into an
  event.  In the client role, bytes that arrive before any request was sent
  are refused rather than kept for the next request's answer.
* Body phase: a Content-Length body is passed through by count (without even
  buffering when our buffer is empty); a chunked body goes through
  :class:`._chunked.ChunkedScanner`; a response without framing is read until
  the peer closes.  The body size limit is enforced here.
* Between messages, further bytes stay in our buffer (``PAUSED``) until
  :meth:`HTTPConnection.start_next_cycle`, so h11 never parses a pipelined
  head we have not checked.

A plain keep-alive cycle skips h11 altogether (:mod:`._fastcycle`): the
engine parses the validated head, writes the answer and keeps h11's states
itself, and hands the cycle to h11 the moment anything else happens.

h11 is asked for an event only when it may have one (``_starved`` records
that it returned ``NEED_DATA`` and nothing was released since), which keeps
the common GET to two h11 calls.  Outgoing heads and trailers are checked
against the same grammar, so what we send obeys what we demand.
"""

from __future__ import annotations

import re
import sys
from typing import cast

import h11

from ._chunked import ChunkedScanner
from ._fastcycle import (
    FastCycle,
    fast_request_framing,
    fast_response_framing,
    parse_plain_request,
    parse_response,
    write_request_head,
    write_response_head,
)
from ._errors import HTTPLocalProtocolError, HTTPRemoteProtocolError
from ._events import (
    CLIENT,
    CLOSED,
    DONE,
    ERROR,
    IDLE,
    MUST_CLOSE,
    NEED_DATA,
    PAUSED,
    SEND_BODY,
    SEND_RESPONSE,
    SERVER,
    SWITCHED_PROTOCOL,
    Sentinel,
    Data,
    EndOfMessage,
    Event,
    InformationalResponse,
    Request,
    Response,
)
from ._framing import NO_FACTS, HeadFacts, analyse_head
from ._grammar import FIELD_LINE, FRAMING_FIELDS, REQUEST_LINE, STATUS_LINE
from ._limits import DEFAULT_LIMITS, HTTPLimits
from ._sections import FORBIDDEN_TRAILERS, SectionScanner, field_line_problem, request_line_problem, status_line_problem

__all__ = ["HTTPConnection"]

# What the receive gate is waiting for.
_HEAD, _LENGTH, _CHUNKED, _UNTIL_CLOSE, _AWAIT_CYCLE, _SWITCHED = range(6)
_NO_BODY_STATUSES = frozenset({204, 304})
_CLOSING_STATES = (ERROR, MUST_CLOSE, CLOSED)
# Bytes h11 would send that our receive grammar refuses (CR and LF cannot
# occur inside an h11-written line).
_SENT_CONTROL_BYTE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
NextEvent = Event | type[NEED_DATA] | type[PAUSED]


class HTTPConnection:
    """One HTTP/1.1 connection seen from the client or the server side.

    Feed received bytes with :meth:`receive_data` (``b""`` means the peer
    closed), pull events with :meth:`next_event` until it returns
    :data:`NEED_DATA` or :data:`PAUSED`, and turn outgoing events into bytes
    with :meth:`send`.  No I/O, no clock.
    """

    def __init__(self, our_role: type[Sentinel], *, limits: HTTPLimits | None = None) -> None:
        if our_role is not CLIENT and our_role is not SERVER:
            raise ValueError(f"our_role must be CLIENT or SERVER, not {our_role!r}")
        self._limits = limits if limits is not None else DEFAULT_LIMITS
        # Our gate enforces every size limit, so h11's own check is disabled.
        self._h11 = h11.Connection(our_role, max_incomplete_event_size=sys.maxsize)
        self._is_client = our_role is CLIENT
        self._head_kind = "status" if self._is_client else "request"
        self._buffer = bytearray()
        self._eof = False
        self._eof_forwarded = False
        self._starved = True
        self._their_error: HTTPRemoteProtocolError | None = None
        # Client role: bytes arrived while no request was outstanding.
        self._unsolicited = False
        self._keep_alive = True
        self._request_method: bytes | None = None
        # The cycle in progress when it runs without h11 (see _fastcycle).
        self._fast: FastCycle | None = None
        self._fast_enabled = True
        self._scanner = SectionScanner(self._head_kind, self._limits)
        self._reset_receive_side()

    def _reset_receive_side(self) -> None:
        self._phase = _HEAD
        self._scanner.reset()
        self._skip_empty_line = not self._is_client
        self._facts: HeadFacts = NO_FACTS
        self._remaining = 0
        self._body_received = 0
        self._chunked: ChunkedScanner | None = None

    # ------------------------------------------------------------------ state

    @property
    def our_role(self) -> type[Sentinel]:
        """:data:`CLIENT` or :data:`SERVER`, as given to the constructor."""
        return self._h11.our_role

    @property
    def their_role(self) -> type[Sentinel]:
        """The peer's role: the opposite of :attr:`our_role`."""
        return self._h11.their_role

    @property
    def limits(self) -> HTTPLimits:
        """The limits this connection enforces on what it receives."""
        return self._limits

    @property
    def our_state(self) -> type[Sentinel]:
        """Our side's h11 state (:data:`IDLE`, :data:`SEND_BODY`, ... :data:`ERROR`)."""
        if self._fast is not None:
            return self._fast.our_state
        return self._h11.our_state

    @property
    def their_state(self) -> type[Sentinel]:
        """The peer's state; :data:`ERROR` once it sent something invalid."""
        if self._their_error is not None:
            return ERROR
        if self._fast is not None:
            return self._fast.their_state
        return self._h11.their_state

    @property
    def their_http_version(self) -> bytes | None:
        """``b"1.0"`` or ``b"1.1"`` from the peer's last head, None before one."""
        return self._h11.their_http_version

    @property
    def keep_alive(self) -> bool:
        """True while both sides' messages so far allow another cycle.

        False after ``Connection: close`` from either side, an HTTP/1.0 peer
        (as in h11, no HTTP/1.0 keep-alive), a body delimited by closing, any
        error, a closed side, or a protocol switch (the connection no longer
        speaks HTTP).
        """
        if self._fast is not None:  # a fast cycle keeps the connection alive
            return self._keep_alive and self._their_error is None
        return (
            self._keep_alive
            and self._their_error is None
            and self._phase != _UNTIL_CLOSE
            and self._h11.our_state not in _CLOSING_STATES
            and self._h11.their_state not in _CLOSING_STATES
            and self._h11.their_state is not SWITCHED_PROTOCOL
        )

    @property
    def must_close(self) -> bool:
        """True when the transport must be closed once our message is sent.

        This includes a peer error (answer it, then close: a request with both
        Content-Length and Transfer-Encoding is refused this way, RFC 9112
        §6.1).  After a protocol switch (101, CONNECT) it is False: the
        transport now belongs to the new protocol, see :attr:`trailing_data`.
        """
        if self._fast is not None:
            return not self.keep_alive
        return not self.keep_alive and self._h11.their_state is not SWITCHED_PROTOCOL

    @property
    def expects_continue(self) -> bool:
        """True while the client waits for ``100 Continue`` before its body.

        Server role: the request said ``Expect: 100-continue`` and neither a
        response nor body bytes have been exchanged yet; send
        ``InformationalResponse(status_code=100)`` when ready for the body.
        Client role: we sent that expectation and no response has arrived.
        """
        if self._fast is not None:  # no fast cycle carries Expect
            return False
        return self._h11.client_is_waiting_for_100_continue and self._their_error is None

    @property
    def content_codings(self) -> tuple[str, ...]:
        """Content-codings of the message being received, in the order applied.

        Lowercased, ``identity`` dropped, at most ``limits.max_content_codings``
        long.  Undo them in reverse order.
        """
        return self._facts.content_codings

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """Received bytes not consumed as HTTP, and whether the peer closed.

        After a protocol switch these are the first bytes of the new protocol.
        """
        if self._fast is not None:
            self._materialize()
        unprocessed, closed = self._h11.trailing_data
        return unprocessed + bytes(self._buffer), closed or self._eof

    # ---------------------------------------------------------------- receive

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add received bytes; ``b""`` records that the peer closed (EOF).

        Nothing is parsed here; call :meth:`next_event`.
        """
        if not data:
            self._eof = True
            return
        if self._eof:
            raise HTTPLocalProtocolError("receive_data() called with data after the end of the stream (b'')")
        if self._is_client and self._fast is None and self._h11.our_state is IDLE:
            self._unsolicited = True
        if self._phase == _LENGTH and not self._buffer and self._their_error is None and self._fast is None:
            # Fast path for bodies: bytes that fit the announced length go
            # straight to h11, saving two copies per body byte.
            if len(data) <= self._remaining:
                self._h11.receive_data(data)  # type: ignore[arg-type]  # h11 takes any bytes-like
                self._starved = False
                self._remaining -= len(data)
                if not self._remaining:
                    self._phase = _AWAIT_CYCLE
                return
        self._buffer += data

    def next_event(self) -> NextEvent:
        """Return the next event, :data:`NEED_DATA` or :data:`PAUSED`.

        Raises :class:`HTTPRemoteProtocolError` (with ``status``) when the peer
        broke the protocol or a limit; the peer's side is then in
        :data:`ERROR` and every later call raises at once.
        """
        if self._their_error is not None:
            raise HTTPRemoteProtocolError(
                f"cannot receive: the peer's side is in ERROR after: {self._their_error}", self._their_error.status
            )
        # Hot path: one frame per call, so the usual GET costs two h11 calls
        # plus a handful of attribute reads (none in a fast cycle).
        try:
            fast = self._fast
            if fast is not None:
                if fast.pending_end:
                    fast.pending_end = False
                    fast.their_state = DONE
                    return EndOfMessage()
                if self._phase == _LENGTH:
                    return self._fast_body(fast)
            while True:
                if self._starved:
                    result = self._pump_head() if self._phase == _HEAD else self._pump()
                    if result is not None:
                        return result
                    self._starved = False
                event = self._h11.next_event()
                if event is NEED_DATA:
                    self._starved = True
                    continue
                cls = event.__class__
                if cls is Data or cls is EndOfMessage or event is PAUSED:
                    return event
                if cls is Request and self._facts is NO_FACTS and event.http_version == b"1.1":  # type: ignore[union-attr]
                    self._phase = _AWAIT_CYCLE  # the usual GET: _after_event() with nothing to do
                    return event
                return self._after_event(event)  # type: ignore[arg-type]
        except HTTPRemoteProtocolError as exc:
            raise self._fail(exc) from None
        except h11.RemoteProtocolError as exc:
            raise self._fail(HTTPRemoteProtocolError(str(exc), exc.error_status_hint)) from exc

    def _fail(self, exc: HTTPRemoteProtocolError) -> HTTPRemoteProtocolError:
        if self._is_client:
            exc.status = 502
        self._their_error = exc
        return exc

    def _pump(self) -> Event | type[NEED_DATA] | type[PAUSED] | None:
        """Hand h11 the next validated bytes (return None) or say why not."""
        phase = self._phase
        if phase == _HEAD:
            return self._pump_head()
        if phase == _LENGTH:
            return self._pump_length()
        if phase == _CHUNKED:
            return self._pump_chunked()
        if phase == _UNTIL_CLOSE:
            return self._pump_until_close()
        if phase == _AWAIT_CYCLE:
            return self._pump_between_messages()
        return PAUSED

    def _release(self, count: int) -> None:
        # h11 copies what it receives, so the whole buffer can be handed over
        # and cleared (the common case) instead of sliced and shifted.
        buf = self._buffer
        if count == len(buf):
            self._h11.receive_data(buf)  # type: ignore[arg-type]  # h11 takes any bytes-like
            buf.clear()
        else:
            self._h11.receive_data(buf[:count])  # type: ignore[arg-type]
            del buf[:count]

    def _forward_eof(self) -> type[NEED_DATA] | None:
        if not self._eof or self._eof_forwarded:
            return NEED_DATA
        if self._fast is not None:
            self._materialize()
        self._eof_forwarded = True
        self._h11.receive_data(b"")
        return None

    def _pump_head(self) -> Event | type[NEED_DATA] | None:
        buf = self._buffer
        if self._skip_empty_line and len(buf) >= 2:
            # RFC 9112 §2.2: a server SHOULD ignore one empty line before a
            # request line (clients that end a POST body with an extra CRLF).
            self._skip_empty_line = False
            if buf.startswith(b"\r\n"):
                del buf[:2]
                self._scanner.reset()  # it may have looked at the bytes just removed
        if not buf:
            if self._eof and self._is_client and self.their_state is SEND_RESPONSE:
                raise HTTPRemoteProtocolError("server closed the connection without sending a response")
            return self._forward_eof()
        if self._unsolicited:
            # HTTP/1.1 has no unsolicited responses: held back, these bytes
            # would be taken for the answer to the next request (a stale 408
            # on a reused connection is the usual case).
            raise HTTPRemoteProtocolError("server sent data before any request was sent on this connection")
        size = self._scanner.scan(buf)
        if size < 0:
            if self._eof:
                raise HTTPRemoteProtocolError(
                    f"peer closed the connection after {len(buf)} bytes of an incomplete {self._head_kind} head"
                )
            return NEED_DATA
        self._facts = NO_FACTS if self._scanner.plain else analyse_head(buf, size, self._limits)
        if self._is_client:
            if self._fast is not None:
                event = self._fast_response(self._fast, buf, size)
                if event is not None:
                    return event
                self._materialize()
        elif self._scanner.plain and self._fast_enabled and self._h11.our_state is IDLE:
            head = bytes(buf) if size == len(buf) else bytes(buf[:size])
            request = parse_plain_request(head)
            if request is not None:
                del buf[:size]
                fast = self._fast = FastCycle(SEND_RESPONSE, SEND_BODY, request.method)
                fast.head = head
                fast.pending_end = True
                self._phase = _AWAIT_CYCLE
                # h11 keeps the peer's version across cycles and chooses the
                # framing of later error answers by it: tell it, as parsing would.
                self._h11.their_http_version = b"1.1"
                return request
        # self._release(size), inlined: this runs once per message.
        if size == len(buf):
            self._h11.receive_data(buf)  # type: ignore[arg-type]  # h11 copies what it receives
            buf.clear()
        else:
            self._h11.receive_data(buf[:size])  # type: ignore[arg-type]
            del buf[:size]
        return None

    def _fast_response(self, fast: FastCycle, buf: bytearray, size: int) -> Response | None:
        """Take a response into the fast cycle, or return None for h11 to take it."""
        facts = self._facts
        if not fast.sent_end or facts.chunked or facts.close or not buf.startswith(b"HTTP/1.1 "):
            return None
        status = int(buf[9:12])
        if status < 200:
            return None
        if status in _NO_BODY_STATUSES or fast.method == b"HEAD":
            length = 0
        elif facts.content_length is None:
            return None  # delimited by closing
        else:
            length = facts.content_length
            limit = self._limits.max_body_bytes
            if limit is not None and length > limit:
                return None  # refused after h11 has taken the head, as every response is
        response = parse_response(bytes(buf) if size == len(buf) else bytes(buf[:size]))
        del buf[:size]
        self._h11.their_http_version = b"1.1"  # as h11 would record it (see above)
        fast.receive_status = status
        fast.their_state = SEND_BODY
        if length:
            fast.receive_remaining = self._remaining = length
            self._phase = _LENGTH
        else:
            fast.pending_end = True
            self._phase = _AWAIT_CYCLE
        return response

    def _fast_body(self, fast: FastCycle) -> Data | type[NEED_DATA]:
        """The next piece of a Content-Length body received in a fast cycle."""
        buf = self._buffer
        if not buf:
            if self._eof:
                received = self._facts.content_length or 0
                raise HTTPRemoteProtocolError(
                    f"peer closed the connection {received - fast.receive_remaining} bytes into a {received}-byte body"
                )
            return NEED_DATA
        remaining = fast.receive_remaining
        if len(buf) <= remaining:
            piece = buf
            self._buffer = bytearray()
        else:
            piece = buf[:remaining]
            del buf[:remaining]
        remaining -= len(piece)
        fast.receive_remaining = self._remaining = remaining
        if not remaining:
            fast.pending_end = True
            self._phase = _AWAIT_CYCLE
        return Data(data=piece)  # type: ignore[arg-type]  # a bytearray, as h11 hands out

    def _fast_send(self, fast: FastCycle, event: Event, cls: type[Event]) -> bytes | None:
        """Bytes for ``event`` within the fast cycle, or None when h11 must send it."""
        if cls is Data:
            if not fast.sent_head or fast.sent_end:
                return None
            data = event.data  # type: ignore[attr-defined]
            if len(data) > fast.send_remaining:
                return None  # h11 refuses it: too much data for the Content-Length
            fast.send_remaining -= len(data)
            return data if data.__class__ is bytes else bytes(data)
        if cls is EndOfMessage:
            if not fast.sent_head or fast.sent_end or fast.send_remaining or event.headers:  # type: ignore[attr-defined]
                return None
            fast.sent_end = True
            fast.our_state = DONE
            return b""
        if cls is Response and not fast.sent_head and not self._is_client:
            length = fast_response_framing(event, fast.method)  # type: ignore[arg-type]
            if length < 0:
                return None
            data = write_response_head(event)  # type: ignore[arg-type]
            if _SENT_CONTROL_BYTE.search(data) is not None:
                return None  # refused on the h11 path, with the error message
            fast.sent_head = True
            fast.send_remaining = length
            fast.our_state = SEND_BODY
            return data
        return None

    def _fast_request(self, request: Request) -> bytes | None:
        """Start a fast cycle by sending ``request``, or return None for h11 to send it."""
        if self._their_error is not None or self._buffer or self._h11.our_state is not IDLE:
            return None
        if self._h11.their_state is not IDLE:
            return None
        length = fast_request_framing(request)
        if length < 0:
            return None
        data = write_request_head(request)
        if _SENT_CONTROL_BYTE.search(data) is not None:
            return None
        fast = self._fast = FastCycle(SEND_BODY, SEND_RESPONSE, request.method)
        fast.sent_head = True
        fast.send_remaining = length
        self._request_method = request.method
        return data

    def _materialize(self) -> None:
        """Bring h11 to the state the fast cycle stands for, and leave the fast cycle.

        Equivalent messages are replayed (events and bytes discarded): heads
        whose Content-Length is what is left of each body, so no body byte is
        replayed and h11 counts the rest of each body correctly.
        """
        fast = cast(FastCycle, self._fast)
        self._fast = None
        connection = self._h11
        if not self._is_client:
            connection.receive_data(fast.head)
            connection.next_event()  # the Request
            if fast.pending_end:
                self._starved = False  # h11 now holds its EndOfMessage
            else:
                connection.next_event()
        if fast.sent_head:
            remaining = [(b"content-length", b"%d" % fast.send_remaining)]
            if self._is_client:
                connection.send(Request(method=fast.method, target=b"/", headers=[(b"host", b"h"), *remaining]))
            else:
                connection.send(Response(status_code=200, headers=remaining))
            if fast.sent_end:
                connection.send(EndOfMessage())
        if fast.receive_status:
            connection.receive_data(
                b"HTTP/1.1 %d \r\ncontent-length: %d\r\n\r\n" % (fast.receive_status, fast.receive_remaining)
            )
            connection.next_event()  # the Response
            if fast.pending_end:
                self._starved = False
            elif fast.their_state is DONE:
                connection.next_event()

    def _pump_length(self) -> type[NEED_DATA] | None:
        if self._buffer:
            take = min(self._remaining, len(self._buffer))
            self._release(take)
            self._remaining -= take
            if not self._remaining:
                self._phase = _AWAIT_CYCLE
            return None
        if self._eof:
            received = self._facts.content_length or 0
            raise HTTPRemoteProtocolError(
                f"peer closed the connection {received - self._remaining} bytes into a {received}-byte body"
            )
        return NEED_DATA

    def _pump_chunked(self) -> type[NEED_DATA] | None:
        chunked = cast(ChunkedScanner, self._chunked)
        if self._buffer:
            count = chunked.advance(self._buffer)
            if count:
                self._release(count)
                if chunked.done:
                    self._phase = _AWAIT_CYCLE
                return None
        if self._eof:
            raise HTTPRemoteProtocolError("peer closed the connection in the middle of a chunked body")
        return NEED_DATA

    def _pump_until_close(self) -> type[NEED_DATA] | None:
        buf = self._buffer
        if not buf:
            return self._forward_eof()
        take = len(buf)
        limit = self._limits.max_body_bytes
        if limit is not None:
            take = min(take, limit - self._body_received)
            if not take:
                raise HTTPRemoteProtocolError(f"body exceeds the {limit}-byte limit", status=413)
        self._body_received += take
        self._release(take)
        return None

    def _pump_between_messages(self) -> type[NEED_DATA] | type[PAUSED] | None:
        if not self._buffer:
            return self._forward_eof()
        if self._h11.their_state in (MUST_CLOSE, CLOSED):
            raise HTTPRemoteProtocolError("peer sent more data after a message that closes the connection")
        return PAUSED

    def _after_event(self, event: Request | InformationalResponse | Response) -> Event:
        """Set up the body phase after h11 produced a head event."""
        facts = self._facts
        if event.__class__ is Request:
            if facts.close or event.http_version != b"1.1":
                self._keep_alive = False
            if facts is NO_FACTS or not (facts.chunked or facts.content_length):
                self._phase = _AWAIT_CYCLE
            else:
                self._start_body(facts)
        elif event.__class__ is Response:
            if facts.close or event.http_version != b"1.1":
                self._keep_alive = False
            if self._h11.their_state is SWITCHED_PROTOCOL:
                self._phase = _SWITCHED
            elif event.status_code in _NO_BODY_STATUSES or self._request_method == b"HEAD":
                self._phase = _AWAIT_CYCLE
            else:
                self._start_body(facts, until_close=True)
        elif self._h11.their_state is SWITCHED_PROTOCOL:  # 101 Switching Protocols
            self._phase = _SWITCHED
        else:  # another head (the final response) follows this 1xx
            self._reset_receive_side()
            self._skip_empty_line = False
        return event

    def _start_body(self, facts: HeadFacts, *, until_close: bool = False) -> None:
        limit = self._limits.max_body_bytes
        if facts.chunked:
            self._phase = _CHUNKED
            self._chunked = ChunkedScanner(self._limits, lenient_size_line=self._is_client)
        elif facts.content_length:
            if limit is not None and facts.content_length > limit:
                raise HTTPRemoteProtocolError(
                    f"Content-Length of {facts.content_length} bytes exceeds the {limit}-byte limit", status=413
                )
            self._phase = _LENGTH
            self._remaining = facts.content_length
        elif until_close and facts.content_length is None:
            self._phase = _UNTIL_CLOSE
        else:
            self._phase = _AWAIT_CYCLE

    # ------------------------------------------------------------------- send

    def send(self, event: Event) -> bytes:
        """Return the bytes for ``event`` and advance our side's state.

        Raises :class:`HTTPLocalProtocolError` when the event is not allowed
        now or would put invalid bytes on the wire; our side is then in
        :data:`ERROR`.  A ``ConnectionClosed`` event returns ``b""``.  After a
        peer error, a ``Response`` automatically carries ``Connection: close``.
        """
        cls = event.__class__
        fast = self._fast
        if fast is not None:
            fast_data = self._fast_send(fast, event, cls)
            if fast_data is not None:
                return fast_data
            self._materialize()
        elif cls is Request and self._fast_enabled and self._is_client:
            fast_data = self._fast_request(event)  # type: ignore[arg-type]
            if fast_data is not None:
                return fast_data
        if cls is Response and self._their_error is not None:
            event = _with_connection_close(event)  # type: ignore[arg-type]
        try:
            data = self._h11.send(event)
        except h11.LocalProtocolError as exc:
            raise HTTPLocalProtocolError(str(exc)) from exc
        if data is None:
            return b""
        # Checked after h11 has framed the event, like h11's own checks: a
        # refusal returns no bytes and leaves our side in ERROR.
        if cls is Response or cls is Request or cls is InformationalResponse:
            self._check_sent_head(event, data)  # type: ignore[arg-type]
        elif cls is EndOfMessage and len(data) > 5:  # more than b"0\r\n\r\n": trailers
            self._check_sent_trailers(event)  # type: ignore[arg-type]
        return data

    def send_passthrough(self, length: int) -> tuple[bytes, bytes]:
        """Frame ``length`` body bytes that the caller sends itself (``os.sendfile``).

        Returns the bytes to send before and after them (``(b"", b"")`` for a
        ``Content-Length`` body, a chunk's size line and CRLF for a chunked
        one) and counts them against the declared length like a
        :class:`Data` event of that size.  Raises
        :class:`HTTPLocalProtocolError` when body bytes cannot be sent now.
        """
        if length <= 0:
            raise ValueError(f"length must be positive, not {length}")
        fast = self._fast
        if fast is not None:
            if fast.sent_head and not fast.sent_end and length <= fast.send_remaining:
                fast.send_remaining -= length
                return b"", b""
            self._materialize()
        placeholder = _Passthrough(length)
        try:
            pieces = self._h11.send_with_data_passthrough(Data(data=placeholder))  # type: ignore[arg-type]
        except h11.LocalProtocolError as exc:
            raise HTTPLocalProtocolError(str(exc)) from exc
        assert pieces is not None
        index = next(number for number, piece in enumerate(pieces) if piece is placeholder)  # type: ignore[comparison-overlap]
        return b"".join(pieces[:index]), b"".join(pieces[index + 1 :])

    def _check_sent_head(self, event: Request | Response | InformationalResponse, data: bytes) -> None:
        # h11 already refuses CR, LF, NUL and bad tokens on send; what it lets
        # through and we refuse is other control characters and status codes
        # outside 100-599.  One search covers the common case.
        is_request = event.__class__ is Request
        if _SENT_CONTROL_BYTE.search(data) is not None or (not is_request and event.status_code > 599):  # type: ignore[union-attr]
            self._h11.send_failed()
            raise HTTPLocalProtocolError(f"refusing to send an invalid head: {_describe_invalid_head(data, is_request)}")
        if is_request:
            self._request_method = event.method  # type: ignore[union-attr]
        elif event.__class__ is InformationalResponse:
            return
        # h11 only ever sends HTTP/1.1, so "Connection: close" is the one way
        # our own message ends keep-alive.
        lowered = data.lower()
        if b"\nconnection:" in lowered:
            for name, value in FRAMING_FIELDS.findall(lowered):
                if name == b"connection" and b"close" in _tokens(value):
                    self._keep_alive = False

    def _check_sent_trailers(self, event: EndOfMessage) -> None:
        # The same trailer rules we apply to the peer (see _sections).
        for name, value in event.headers.raw_items():
            problem = None
            if name.lower() in FORBIDDEN_TRAILERS:
                problem = "is not allowed in a trailer section"
            elif (bad := _SENT_CONTROL_BYTE.search(value)) is not None:
                problem = f"has the control character 0x{bad[0][0]:02x} in its value"
            if problem is not None:
                self._h11.send_failed()
                raise HTTPLocalProtocolError(f"refusing to send the trailer field {name.decode('ascii')!r}: it {problem}")

    def send_failed(self) -> None:
        """Record that the bytes from :meth:`send` could not be written.

        Our side moves to :data:`ERROR`.
        """
        if self._fast is not None:
            self._materialize()
        self._h11.send_failed()

    def start_next_cycle(self) -> None:
        """Reset both sides to :data:`IDLE` after a completed keep-alive cycle.

        Raises :class:`HTTPLocalProtocolError` (and moves our side to
        :data:`ERROR`) unless both sides are :data:`DONE`.
        """
        fast = self._fast
        if fast is not None and fast.our_state is DONE and fast.their_state is DONE:
            self._fast = None  # h11 never left IDLE: nothing to reset there
        else:
            if fast is not None:
                self._materialize()
            try:
                self._h11.start_next_cycle()
            except h11.LocalProtocolError as exc:
                ours, theirs = self._h11.our_state, self.their_state
                self._h11.send_failed()
                raise HTTPLocalProtocolError(
                    f"cannot start the next cycle: our side is {ours} and the peer's is {theirs} (both must be DONE)"
                ) from exc
        self._request_method = None
        self._starved = True
        if self._is_client and self._buffer:
            self._unsolicited = True  # bytes past the response, before our next request
        # _reset_receive_side(), inlined: this runs once per request.
        self._phase = _HEAD
        self._scanner.reset()
        self._skip_empty_line = not self._is_client
        self._facts = NO_FACTS
        self._remaining = self._body_received = 0
        self._chunked = None


class _Passthrough:
    """Stands for body bytes sent outside the engine: h11 only asks its length."""

    __slots__ = ("length",)

    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length


def _with_connection_close(response: Response) -> Response:
    headers = response.headers.raw_items()
    if any(name.lower() == b"connection" and b"close" in _tokens(value) for name, value in headers):
        return response
    return Response(
        status_code=response.status_code,
        headers=[*headers, (b"Connection", b"close")],
        reason=response.reason,
        http_version=response.http_version,
    )


def _tokens(value: bytes) -> list[bytes]:
    """The lowercased items of a comma-separated field value."""
    return [item.strip(b" \t").lower() for item in value.split(b",")]


def _describe_invalid_head(data: bytes, is_request: bool) -> str:
    """Name the first line of an outgoing head that breaks the grammar."""
    crlf = b"\r\n"
    lines = [line + crlf for line in data.split(crlf)[:-2]]
    if is_request:
        if REQUEST_LINE.fullmatch(lines[0]) is None:
            return "request line " + request_line_problem(lines[0])[0]
    elif STATUS_LINE.fullmatch(lines[0]) is None:
        return "status line " + status_line_problem(lines[0])
    for number, line in enumerate(lines[1:], start=2):
        if FIELD_LINE.fullmatch(line) is None:
            return f"header line {number} " + field_line_problem(line)
    return "malformed head"
