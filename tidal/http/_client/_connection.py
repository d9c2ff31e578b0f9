"""One pooled HTTP/1.1 connection: a byte stream plus the sans-IO engine.

The engine (:class:`tidal.protocols.http.HTTPConnection`) decides framing,
keep-alive and validity; this class only moves bytes between it and the
stream, under the request's deadlines.  A connection is reusable only when
both sides finished the cycle cleanly and the engine allows keep-alive;
anything else (an error, a cancellation, a body not read to the end) closes
it, so a half-read connection never returns to the pool.
"""

from __future__ import annotations

import asyncio
import select
import socket
from dataclasses import dataclass

from ...protocols.http import (
    CLIENT,
    DONE,
    NEED_DATA,
    Data,
    EndOfMessage,
    HTTPConnection,
    HTTPLimits,
    InformationalResponse,
    Request,
    Response,
)
from ...streams import ByteStream
from ._body import RequestBody
from ._errors import HTTPTimeout, RemoteProtocolError, translate
from ._timeouts import Deadlines, ExpiryTimer
from ._urls import Origin

__all__ = ["Connection", "ConnectTiming"]

_RECEIVE_SIZE = 64 * 1024
_COALESCE_LIMIT = 64 * 1024  # bodies up to this size go out in the same send as the head
_PEEK_FLAGS = socket.MSG_PEEK | socket.MSG_DONTWAIT
_HAVE_POLL = hasattr(select, "poll")
_END_OF_MESSAGE = EndOfMessage()  # events are immutable: one serves every request


@dataclass(slots=True)
class ConnectTiming:
    """Seconds spent establishing a connection (zero for a reused one)."""

    dns: float = 0.0
    connect: float = 0.0
    tls: float = 0.0


class Connection:
    """A client connection to one origin; see the module docstring."""

    __slots__ = ("stream", "origin", "engine", "idle_since", "cycles", "connect_timing", "trailers",
                 "received_in_cycle", "_early_response",
                 "_socket", "_idle_poll", "_buffer", "_view", "_closed", "_read_timer")

    def __init__(self, stream: ByteStream, origin: Origin, limits: HTTPLimits, timing: ConnectTiming) -> None:
        self.stream = stream
        self.origin = origin
        self.engine = HTTPConnection(CLIENT, limits=limits)
        self.idle_since = 0.0
        self.cycles = 0
        self.connect_timing = timing
        self.trailers: list[tuple[bytes, bytes]] = []
        self.received_in_cycle = 0  # bytes received since the request was sent (retry rule)
        self._early_response: Response | None = None  # a final answer to Expect: 100-continue
        sock = stream.get_extra_info("socket")
        self._socket: socket.socket | None = sock if isinstance(sock, socket.socket) else None
        # The staleness check asks poll() rather than peeking with recv():
        # an idle socket answers an empty list instead of raising
        # BlockingIOError, whose construction costs more than the syscall.
        self._idle_poll: select.poll | None = None
        if self._socket is not None and _HAVE_POLL:
            self._idle_poll = select.poll()
            self._idle_poll.register(self._socket.fileno(), select.POLLIN)
        self._buffer = bytearray(_RECEIVE_SIZE)
        self._view = memoryview(self._buffer)
        self._closed = False
        self._read_timer = ExpiryTimer(asyncio.get_running_loop())  # re-armed lazily across reads

    def __repr__(self) -> str:
        scheme, host, port = self.origin
        return f"<Connection {scheme}://{host}:{port} cycles={self.cycles}{' closed' if self._closed else ''}>"

    @property
    def closed(self) -> bool:
        """True after :meth:`aclose`."""
        return self._closed

    def is_stale(self) -> bool:
        """True when an idle connection can no longer carry a request.

        An idle HTTP/1.1 connection must be silent: if the socket reports EOF,
        an error, or unsolicited bytes (a 408, a TLS close_notify), the server
        is done with it.  The check peeks without consuming or waiting.
        """
        sock = self._socket
        if self._closed:
            return True
        if sock is None:
            return False
        poll = self._idle_poll
        if poll is not None:
            # Readable (bytes or EOF), an error or a hang-up: all mean stale.
            # The socket must still own the registered descriptor.
            return sock.fileno() == -1 or bool(poll.poll(0))
        try:
            sock.recv(1, _PEEK_FLAGS)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        return True

    # -- sending ---------------------------------------------------------------

    async def send_request(
        self, head: Request, body: RequestBody | None, deadlines: Deadlines, continue_timeout: float | None = None
    ) -> None:
        """Send the head and the body; the engine frames them (Content-Length or chunked).

        With ``continue_timeout`` (the request said ``Expect: 100-continue``)
        the body waits for ``100 Continue`` or that many seconds; a final
        response instead means the body is not sent at all (RFC 9110 §10.1.1).
        """
        engine = self.engine
        try:
            data = engine.send(head)
            in_memory = body.in_memory if body is not None else b""
            if continue_timeout is None and in_memory is not None and len(in_memory) <= _COALESCE_LIMIT:
                if in_memory:
                    data += engine.send(Data(data=in_memory))
                data += engine.send(_END_OF_MESSAGE)
                await deadlines.run("write", self.stream.send_all(data))  # never empty: the head is in it
                if deadlines.trace is not None:
                    deadlines.emit("request.sent", headers_and_body=True)
                return
            await self._write(data, deadlines)
            if deadlines.trace is not None:
                deadlines.emit("request.headers_sent")
            if body is None:
                await self._write(engine.send(_END_OF_MESSAGE), deadlines)
                return
            if continue_timeout is not None and not await self._await_continue(continue_timeout, deadlines):
                return
            async for chunk in body.chunks():
                await self._write(engine.send(Data(data=chunk)), deadlines)
            await self._write(engine.send(_END_OF_MESSAGE), deadlines)
            if deadlines.trace is not None:
                deadlines.emit("request.sent", headers_and_body=True)
        except BaseException as exc:
            error = translate(exc, "write", deadlines.request)
            if error is exc:
                raise
            raise error from exc

    async def _await_continue(self, seconds: float, deadlines: Deadlines) -> bool:
        """Wait for ``100 Continue``: True to send the body, False if a final response came first."""
        engine = self.engine
        scope = asyncio.timeout(seconds)
        try:
            async with scope:
                while True:
                    event = engine.next_event()
                    if event is NEED_DATA:
                        await self._receive(deadlines)
                    elif isinstance(event, InformationalResponse):
                        if event.status_code == 100:
                            return True
                    elif isinstance(event, Response):
                        self._early_response = event
                        return False
                    else:
                        return True  # let receive_head report what happened
        except TimeoutError as exc:
            if not scope.expired() or isinstance(exc, HTTPTimeout):
                raise
            return True  # servers that ignore Expect get the body after the wait (RFC 9110 §10.1.1)

    async def _write(self, data: bytes, deadlines: Deadlines) -> None:
        if data:
            await deadlines.run("write", self.stream.send_all(data))

    # -- receiving -------------------------------------------------------------

    async def _receive(self, deadlines: Deadlines) -> None:
        count = await deadlines.run("read", self.stream.receive_into(self._view), self._read_timer)
        self.received_in_cycle += count
        self.engine.receive_data(self._view[:count] if count else b"")

    async def receive_head(self, deadlines: Deadlines) -> Response:
        """Wait for the final response head, skipping 1xx interim responses."""
        engine = self.engine
        if self._early_response is not None:
            early, self._early_response = self._early_response, None
            return early
        try:
            while True:
                event = engine.next_event()
                if event is NEED_DATA:
                    first = not self.received_in_cycle
                    # What _receive does, inlined: one coroutine less per read.
                    count = await deadlines.run("read", self.stream.receive_into(self._view), self._read_timer)
                    self.received_in_cycle += count
                    engine.receive_data(self._view[:count] if count else b"")
                    if first:
                        if deadlines.trace is not None:
                            deadlines.emit("response.first_byte")
                elif isinstance(event, Response):
                    return event
                elif not isinstance(event, InformationalResponse):
                    raise RemoteProtocolError(
                        f"server closed the connection before sending a response ({type(event).__name__})",
                        request=deadlines.request,
                    )
        except BaseException as exc:
            error = translate(exc, "read", deadlines.request)
            if error is exc:
                raise
            raise error from exc

    async def receive_body(self, deadlines: Deadlines) -> bytes | None:
        """The next piece of the body, or None after its end (trailers are then in :attr:`trailers`)."""
        engine = self.engine
        try:
            while True:
                event = engine.next_event()
                cls = event.__class__
                if cls is Data:
                    return bytes(event.data)  # type: ignore[union-attr]
                if cls is EndOfMessage:
                    trailers = event.headers  # type: ignore[union-attr]
                    self.trailers = list(trailers) if trailers else []  # most have none: skip the iteration
                    return None
                if event is NEED_DATA:
                    await self._receive(deadlines)
                else:
                    raise RemoteProtocolError(
                        f"unexpected {type(event).__name__} in the response body", request=deadlines.request
                    )
        except BaseException as exc:
            error = translate(exc, "read", deadlines.request)
            if error is exc:
                raise
            raise error from exc

    async def receive_rest(self, deadlines: Deadlines) -> list[bytes]:
        """Every remaining piece of the body, as :meth:`receive_body` would return them, until its end.

        One coroutine for the whole body instead of one per piece; the
        trailers are then in :attr:`trailers`.
        """
        engine = self.engine
        view = self._view
        pieces: list[bytes] = []
        try:
            while True:
                event = engine.next_event()
                cls = event.__class__
                if cls is Data:
                    pieces.append(bytes(event.data))  # type: ignore[union-attr]
                elif cls is EndOfMessage:
                    trailers = event.headers  # type: ignore[union-attr]
                    self.trailers = list(trailers) if trailers else []
                    return pieces
                elif event is NEED_DATA:
                    count = await deadlines.run("read", self.stream.receive_into(view), self._read_timer)
                    self.received_in_cycle += count
                    engine.receive_data(view[:count] if count else b"")
                else:
                    raise RemoteProtocolError(
                        f"unexpected {type(event).__name__} in the response body", request=deadlines.request
                    )
        except BaseException as exc:
            error = translate(exc, "read", deadlines.request)
            if error is exc:
                raise
            raise error from exc

    def finish_cycle(self) -> bool:
        """After a whole response: True (and ready for the next request) if reusable."""
        engine = self.engine
        if self._closed or not engine.keep_alive or engine.our_state is not DONE or engine.their_state is not DONE:
            return False
        engine.start_next_cycle()
        self.cycles += 1
        self.received_in_cycle = 0
        return True

    async def aclose(self) -> None:
        """Close the stream; idempotent, and it closes even when cancelled."""
        if self._closed:
            return
        self._closed = True
        self._read_timer.close()
        await self.stream.aclose()
