"""One server connection: the request/response cycle over a byte stream.

Theory of operation.  A connection runs in one task and loops over cycles:

1. Wait for a request head.  Before its first byte the keep-alive timeout
   applies (and a shutting-down server may cancel the wait); from the first
   byte the whole head must arrive within the header-read timeout, which
   does not move as more bytes trickle in (slowloris).  The engine validates
   the head; an invalid one raises with the status to answer (400, 414, 431,
   501, 505), the server answers it with ``Connection: close`` and closes.
2. Dispatch: the handler (native or ASGI) runs inline in this task and reads
   the body on demand through :meth:`HTTPServerConnection.next_body_chunk`,
   which sends ``100 Continue`` the first time if the client asked for it.
3. The response goes out through :class:`ResponseWriter`.  A handler that
   fails before its response started gets a 500 (with the traceback logged);
   after it started, the connection is cut so the client sees a truncated
   message rather than a wrong one.
4. Reuse is decided synchronously from the engine's state (STYLE.md #7):
   keep-alive allowed, body fully read (a short unread body is drained), no
   error; then ``start_next_cycle()`` releases pipelined bytes, which the
   engine kept ``PAUSED`` -- so pipelined requests are answered in order and
   nothing is read from the socket while a request is in flight.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable
from typing import TYPE_CHECKING, BinaryIO

from tidal.protocols.http import (
    DONE,
    NEED_DATA,
    SERVER,
    ConnectionClosed,
    Data,
    EndOfMessage,
    HTTPConnection,
    HTTPLocalProtocolError,
    HTTPRemoteProtocolError,
    Request as WireRequest,
)
from tidal.streams import ByteStream, StreamError

from ._deadline import Deadline
from ._errors import ClientDisconnected, RequestTimeout
from ._native import Dispatch
from ._request import Request
from ._response import reason_phrase
from ._writer import ResponseWriter

if TYPE_CHECKING:
    from ._server import ServerState

__all__ = ["HTTPServerConnection"]

logger = logging.getLogger("tidal.http.server")
access_logger = logging.getLogger("tidal.http.access")

_RECEIVE_SIZE = 64 * 1024
# After an error response, unread input is drained for this long (and at
# most this much) so closing does not reset the connection before the client
# has read the answer (RFC 9112 §9.6, "lingering close").
_LINGER_SECONDS = 1.0
_LINGER_BYTES = 1024 * 1024


class _Close(Exception):
    """End the connection now (the cause is already handled)."""


class HTTPServerConnection:
    """Serves requests on one accepted stream until it must close."""

    def __init__(self, stream: ByteStream, dispatch: Dispatch, state: ServerState) -> None:
        self._stream = stream
        self._dispatch = dispatch
        self._state = state
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._engine = HTTPConnection(SERVER, limits=state.engine_limits)
        self._receive_deadline = Deadline(loop)
        self._send_deadline = Deadline(loop)
        # os.sendfile needs the raw socket: plain socket streams on tidal's loop offer it.
        send_file = self._send_file if getattr(stream, "send_file", None) is not None else None
        self._writer = ResponseWriter(self._engine, self._send, lambda: state.closing, send_file)
        self._buffer = bytearray(_RECEIVE_SIZE)
        self._view = memoryview(self._buffer)
        self._requests = 0
        self._idle = False
        self._task: asyncio.Task[object] | None = None
        # Per request (see _begin_request).
        self._body_done = True
        self._stash: bytes | None = None
        self._trailers: list[tuple[bytes, bytes]] = []
        self._receive_failed: BaseException | None = None
        self._send_failed = False
        self._continue_pending = False
        self._peer_gone = False
        self._received_while_answering = 0
        self.client = _address(stream.get_extra_info("peername"))
        self.server = _address(stream.get_extra_info("sockname"))

    # ------------------------------------------------------------- lifecycle

    @property
    def idle(self) -> bool:
        """True while waiting for the first byte of a request (safe to cancel on shutdown)."""
        return self._idle

    def cancel_if_idle(self) -> None:
        """Stop a connection that waits for a request (server shutdown)."""
        if self._idle and self._task is not None:
            self._task.cancel()

    async def serve(self) -> None:
        """Run request cycles until the connection must close; never raises for peer behaviour."""
        self._task = asyncio.current_task()
        try:
            while await self._cycle():
                pass
        except _Close:
            pass
        except (StreamError, TimeoutError, ConnectionError):
            pass  # the client went away or stopped reading; nobody to tell
        except HTTPLocalProtocolError as exc:
            logger.error("connection to %s ended: the engine refused what the server sent: %s", self.client, exc)
        finally:
            self._receive_deadline.close()
            self._send_deadline.close()

    async def _cycle(self) -> bool:
        """Serve one request; return True when the connection may serve another."""
        try:
            event = await self._read_head()
        except HTTPRemoteProtocolError as exc:
            await self._refuse(exc)
            return False
        if event is None:
            return False
        request = self._begin_request(event)
        writer = self._writer
        self._requests += 1
        limit = self._state.limits.max_requests_per_connection
        writer.begin(
            is_head=event.method == b"HEAD",
            force_close=self._state.closing or (limit is not None and self._requests >= limit),
        )
        await self._run_dispatch(request, writer)
        self._log_access(request, writer)
        return await self._prepare_next_cycle()

    # ----------------------------------------------------------- request head

    async def _read_head(self) -> WireRequest | None:
        engine = self._engine
        event = engine.next_event()
        if event is NEED_DATA:
            head_deadline = math.inf
            if engine.trailing_data[0]:  # part of a pipelined head is already here
                head_deadline = self._loop.time() + self._state.timeouts.header_read
            while event is NEED_DATA:
                if head_deadline == math.inf:
                    count = await self._wait_for_request()
                    if count is None:
                        return None
                    head_deadline = self._loop.time() + self._state.timeouts.header_read
                else:
                    count = await self._receive_head_bytes(head_deadline)
                engine.receive_data(self._view[:count] if count else b"")
                event = engine.next_event()
        if event.__class__ is WireRequest:
            return event
        if event.__class__ is ConnectionClosed:
            return None
        raise HTTPRemoteProtocolError(f"unexpected {type(event).__name__} while waiting for a request")

    async def _wait_for_request(self) -> int | None:
        """Wait idle for the first byte of a request; None means close quietly."""
        if self._state.closing:
            return None
        deadline = self._receive_deadline
        deadline.arm(self._loop.time() + self._state.timeouts.keep_alive, self._task)
        self._idle = True
        try:
            count = await self._stream.receive_into(self._buffer)
        except asyncio.CancelledError:
            try:
                deadline.raise_if_expired()
            except TimeoutError:
                return None  # idle for too long: close quietly
            if self._state.closing and self._task is not None and self._task.uncancel() == 0:
                return None  # graceful shutdown of an idle connection
            raise
        finally:
            self._idle = False
            deadline.disarm()
        return count or None

    async def _receive_head_bytes(self, deadline: float) -> int:
        try:
            return await self._receive_deadline.run_until(self._stream.receive_into(self._buffer), deadline)
        except TimeoutError:
            timeout = self._state.timeouts.header_read
            raise RequestTimeout(f"the request head did not arrive within {timeout:g} s of its first byte") from None

    def _begin_request(self, event: WireRequest) -> Request:
        self._stash = None
        self._trailers = []
        self._receive_failed = None
        self._received_while_answering = 0
        self._body_done = False
        self._continue_pending = self._engine.expects_continue
        self.body_ended()  # a body-less request ends right here, at no I/O cost
        return Request(
            event.method.decode("ascii"),
            event.target,
            event.headers,
            self,
            http_version=event.http_version.decode("ascii"),
            client=self.client,
            server=self.server,
            scheme=self._state.scheme,
        )

    # ----------------------------------------------------------- request body

    @property
    def body_complete(self) -> bool:
        """True once the request body has ended."""
        return self._body_done and self._stash is None

    @property
    def trailers(self) -> list[tuple[bytes, bytes]]:
        """Trailer fields of the current request's chunked body."""
        return self._trailers

    def body_ended(self) -> bool:
        """Whether the body is over, judged from bytes already received (no I/O)."""
        if self._stash is not None:
            return False
        if self._body_done:
            return True
        try:
            event = self._engine.next_event()
        except HTTPRemoteProtocolError as exc:
            self._receive_failed = exc
            return False  # the next read raises it
        if event.__class__ is EndOfMessage:
            self._body_done = True
            self._trailers = list(event.headers)
        elif event.__class__ is Data:
            self._stash = bytes(event.data)
        return self._body_done

    async def wait_for_disconnect(self) -> bool:
        """While a response is produced: read once; True if the client has gone.

        Only called once the request body is complete.  Received bytes (a
        pipelined request) are handed to the engine, which keeps them for
        the next cycle; EOF is recorded there too, so the connection closes
        after this response.  No deadline: the caller cancels the wait.
        """
        try:
            count = await self._stream.receive_into(self._buffer)
        except StreamError:
            self._peer_gone = True
            return True
        if not count:
            self._peer_gone = True
            self._engine.receive_data(b"")
            return True
        self._engine.receive_data(self._view[:count])
        self._received_while_answering += count
        return False

    @property
    def buffered_input(self) -> int:
        """Bytes :meth:`wait_for_disconnect` received past the current request (pipelined)."""
        return self._received_while_answering

    async def next_body_chunk(self) -> bytes:
        """The next piece of the current request's body; ``b""`` at its end."""
        stash = self._stash
        if stash is not None:
            self._stash = None
            return stash
        if self._body_done:
            return b""
        if self._receive_failed is not None:
            raise self._receive_failed
        try:
            return await self._receive_body_chunk()
        except HTTPRemoteProtocolError as exc:
            self._receive_failed = exc
            raise

    async def _receive_body_chunk(self) -> bytes:
        engine = self._engine
        if self._continue_pending:
            self._continue_pending = False
            if engine.expects_continue and not self._writer.started:
                await self._writer.send_continue()
        while True:
            event = engine.next_event()
            cls = event.__class__
            if cls is Data:
                return bytes(event.data)  # type: ignore[union-attr]
            if cls is EndOfMessage:
                self._body_done = True
                self._trailers = list(event.headers)  # type: ignore[union-attr]
                return b""
            if event is not NEED_DATA:
                raise HTTPRemoteProtocolError(f"unexpected {type(event).__name__} inside a request body")
            engine.receive_data(self._view[: await self._receive_body_bytes()] or b"")

    async def _receive_body_bytes(self) -> int:
        timeout = self._state.timeouts.body_read
        try:
            return await self._receive_deadline.run(self._stream.receive_into(self._buffer), timeout)
        except TimeoutError:
            raise RequestTimeout(f"no request body bytes arrived for {timeout:g} s") from None
        except StreamError as exc:
            raise ClientDisconnected(f"the connection failed while reading the request body: {exc}") from exc

    # --------------------------------------------------------------- dispatch

    async def _send(self, data: bytes) -> None:
        # Deadline.run() inlined: this runs once or more per response.
        deadline = self._send_deadline
        deadline.arm(self._loop.time() + self._state.timeouts.write)
        try:
            await self._stream.send_all(data)
        except asyncio.CancelledError:
            self._send_failed = True
            deadline.raise_if_expired()
            raise
        except BaseException:
            self._send_failed = True
            raise
        finally:
            deadline.disarm()

    async def _send_file(self, file: BinaryIO, offset: int, count: int) -> None:
        await self._send_guarded(self._stream.send_file(file, offset, count))  # type: ignore[attr-defined]

    async def _send_guarded(self, operation: Awaitable[None]) -> None:
        """Await a send under the write timeout (the general form of :meth:`_send`)."""
        deadline = self._send_deadline
        deadline.arm(self._loop.time() + self._state.timeouts.write)
        try:
            await operation
        except asyncio.CancelledError:
            self._send_failed = True
            deadline.raise_if_expired()
            raise
        except BaseException:
            self._send_failed = True
            raise
        finally:
            deadline.disarm()

    async def _run_dispatch(self, request: Request, writer: ResponseWriter) -> None:
        self._send_failed = False
        try:
            await self._dispatch(request, writer)
        except Exception as exc:
            await self._handle_failure(request, writer, exc)
        else:
            if not writer.finished:
                what = "before its response ended" if writer.started else "without a response"
                logger.error("handler for %s %s returned %s", request.method, _target(request), what)
                await self._answer_failure(writer, 500, "the handler sent no complete response")

    async def _handle_failure(self, request: Request, writer: ResponseWriter, exc: Exception) -> None:
        if self._send_failed or isinstance(exc, ClientDisconnected):
            raise _Close from exc  # the client is gone or stopped reading
        if isinstance(exc, HTTPRemoteProtocolError):
            self._receive_failed = exc  # the request body was bad: answer its status
            await self._answer_failure(writer, exc.status, str(exc))
        if isinstance(exc, HTTPLocalProtocolError):
            logger.error("handler for %s %s broke HTTP framing: %s", request.method, _target(request), exc)
            raise _Close from exc  # the engine refuses to send more on this connection
        logger.error("handler failed for %s %s", request.method, _target(request), exc_info=exc)
        await self._answer_failure(writer, 500, "the server failed to handle the request")

    async def _answer_failure(self, writer: ResponseWriter, status: int, message: str) -> None:
        if writer.started:
            raise _Close  # half a response is on the wire: only closing tells the client
        writer.begin(is_head=writer.drops_body, force_close=True)
        await writer.respond(status, [(b"content-type", b"text/plain; charset=utf-8")], _error_body(status, message))
        await self._linger()
        raise _Close

    async def _refuse(self, exc: HTTPRemoteProtocolError) -> None:
        """Answer an unusable request head with its status, then close."""
        logger.debug("refusing a request from %s: %s", self.client, exc)
        self._writer.begin(is_head=False, force_close=True)
        try:
            await self._writer.respond(
                exc.status, [(b"content-type", b"text/plain; charset=utf-8")], _error_body(exc.status, str(exc))
            )
            await self._linger()
        except (StreamError, TimeoutError, HTTPLocalProtocolError):
            pass

    async def _linger(self) -> None:
        """Half-close, then read and drop what the client still sends, briefly."""
        try:
            await self._stream.send_eof()
            deadline = self._loop.time() + _LINGER_SECONDS
            drained = 0
            while drained < _LINGER_BYTES:
                count = await self._receive_deadline.run_until(self._stream.receive_into(self._buffer), deadline)
                if not count:
                    break
                drained += count
        except (StreamError, TimeoutError):
            pass

    # ------------------------------------------------------------- next cycle

    async def _prepare_next_cycle(self) -> bool:
        engine = self._engine
        if self._receive_failed is not None or self._peer_gone or engine.must_close or self._writer.closes_connection:
            return False
        if not self.body_complete:
            # A client still waiting for 100 Continue may or may not send
            # its body now (RFC 9110 §10.1.1): only closing is unambiguous.
            if self._continue_pending or not await self._discard_body():
                return False
        if engine.our_state is not DONE or engine.their_state is not DONE:
            return False
        engine.start_next_cycle()
        return True

    async def _discard_body(self) -> bool:
        """Read and drop an unread request body, up to the configured amount."""
        budget = self._state.limits.max_unread_body_bytes
        try:
            while budget >= 0:
                chunk = await self.next_body_chunk()
                if not chunk:
                    return True
                budget -= len(chunk)
        except HTTPRemoteProtocolError:
            pass
        return False

    def _log_access(self, request: Request, writer: ResponseWriter) -> None:
        if self._state.access_log and access_logger.isEnabledFor(logging.INFO):
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "-"
            access_logger.info(
                '%s - "%s %s HTTP/%s" %d %d',
                client,
                request.method,
                request.target.decode("latin-1"),
                request.http_version,
                writer.status,
                writer.sent_bytes,
            )


def _error_body(status: int, message: str) -> bytes:
    return b"%d %s\n%s\n" % (status, reason_phrase(status), message.encode("utf-8", "replace"))


def _target(request: Request) -> str:
    return request.target.decode("latin-1")


def _address(value: object) -> tuple[str, int] | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return None
