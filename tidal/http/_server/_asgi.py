"""The ASGI 3 front end: HTTP scopes and the lifespan protocol.

Each request becomes one ``app(scope, receive, send)`` call run inline in the
connection's task.  ``receive()`` hands out the body as it arrives (reading
the socket only when the app asks, so ``Expect: 100-continue`` is answered
then); once the body is over it waits until the response has been sent and
then reports ``http.disconnect``, which is what frameworks that watch for a
disconnect while streaming expect.  ``send()`` maps each message onto the
:class:`ResponseWriter`: the start message is held until the first body
message, so a one-message body leaves in a single write with a
Content-Length.  Response trailers follow the ``http.response.trailers``
extension.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ._native import Dispatch
from ._request import Request
from ._writer import RawHeaders, ResponseWriter

__all__ = ["ASGIApp", "asgi_dispatch", "is_asgi_app", "Lifespan"]

logger = logging.getLogger("tidal.http.server")

Message = MutableMapping[str, Any]
ASGIApp = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]
"""An ASGI 3 application: ``async def app(scope, receive, send)``."""

_ASGI = {"version": "3.0", "spec_version": "2.3"}


def is_asgi_app(app: Any) -> bool:
    """True for ``app(scope, receive, send)``, False for ``handler(request)``.

    Raises ``TypeError`` for anything else (an ASGI 2 class, a callable with
    another number of positional parameters).
    """
    if inspect.isclass(app):
        raise TypeError(f"{app!r} is a class; pass an ASGI 3 application instance or a handler function")
    try:
        signature = inspect.signature(app)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cannot inspect {app!r} to tell a handler from an ASGI app") from exc
    positional = [
        parameter
        for parameter in signature.parameters.values()
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) == 3:
        return True
    if len(positional) == 1:
        return False
    raise TypeError(
        f"{app!r} takes {len(positional)} positional parameters: expected handler(request) or app(scope, receive, send)"
    )


def asgi_dispatch(app: ASGIApp, state: dict[str, Any], root_path: str = "") -> Dispatch:
    """Adapt an ASGI 3 application to the connection's dispatch signature."""

    async def dispatch(request: Request, writer: ResponseWriter) -> None:
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": _ASGI,
            "http_version": request.http_version,
            "method": request.method,
            "scheme": request.scheme,
            "path": root_path + request.path,
            "raw_path": request.raw_path,
            "query_string": request.query_string,
            "root_path": root_path,
            "headers": request.raw_headers,
            "client": request.client,
            "server": request.server,
            "state": dict(state),
            "extensions": {"http.response.trailers": {}},
        }
        cycle = _Cycle(request, writer)
        try:
            await app(scope, cycle.receive, cycle.send)
        finally:
            cycle.end_response()
            await cycle.stop_watching()

    return dispatch


class _Cycle:
    """``receive`` and ``send`` for one request."""

    __slots__ = (
        "_request",
        "_writer",
        "_status",
        "_headers",
        "_trailers",
        "_head_sent",
        "_body_over",
        "_request_delivered",
        "_watcher",
        "response_over",
    )

    def __init__(self, request: Request, writer: ResponseWriter) -> None:
        self._request = request
        self._writer = writer
        self._status = 0
        self._headers: RawHeaders = []
        self._trailers = False
        self._head_sent = False
        self._body_over = False
        self._request_delivered = False
        self._watcher: asyncio.Future[bool] | None = None
        # A plain future (no task) that resolves once the response is over.
        self.response_over: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def receive(self) -> Message:
        if not self._request_delivered:
            source = self._request.body_source
            body = b"" if source.body_complete else await source.next_body_chunk()
            more_body = not source.body_ended()
            self._request_delivered = not more_body
            return {"type": "http.request", "body": body, "more_body": more_body}
        await self._wait_for_disconnect()
        return {"type": "http.disconnect"}

    async def _wait_for_disconnect(self) -> None:
        """Return once the response is over or the client has closed the connection."""
        if self.response_over.done():
            return
        if self._watcher is None:
            # Owned by this cycle (dispatch cancels and awaits it), not by
            # the app task that happened to call receive().
            self._watcher = asyncio.ensure_future(self._request.body_source.wait_for_disconnect())
        if not self._watcher.done():
            waiting: set[asyncio.Future[Any]] = {self._watcher, self.response_over}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if self._watcher.done() and not self._watcher.cancelled() and self._watcher.result():
            return  # the client went away
        await asyncio.shield(self.response_over)  # shared: a cancelled receive() must not cancel it

    def end_response(self) -> None:
        """Mark the response over (idempotent)."""
        if not self.response_over.done():
            self.response_over.set_result(None)

    async def stop_watching(self) -> None:
        """Cancel the disconnect watcher, if any, and wait for it."""
        watcher, self._watcher = self._watcher, None
        if watcher is None:
            return
        watcher.cancel()
        await asyncio.wait({watcher})
        if not watcher.cancelled():
            watcher.exception()  # retrieved: a failed read only meant "gone"

    async def send(self, message: Message) -> None:
        kind = message["type"]
        writer = self._writer
        if writer.finished:
            raise RuntimeError(f"ASGI message {kind!r} sent after the response ended")
        if kind == "http.response.start":
            if self._status:
                raise RuntimeError("http.response.start sent twice")
            self._status = int(message["status"])
            self._headers = [(bytes(name), bytes(value)) for name, value in message.get("headers", ())]
            self._trailers = bool(message.get("trailers", False))
        elif kind == "http.response.body":
            await self._send_body(bytes(message.get("body", b"")), bool(message.get("more_body", False)))
        elif kind == "http.response.trailers":
            if not self._trailers or not self._body_over:
                raise RuntimeError("http.response.trailers needs trailers=True and a finished body")
            fields = [(bytes(name), bytes(value)) for name, value in message.get("headers", ())]
            self._headers.extend(fields)  # collected until the last trailers message
            if not message.get("more_trailers", False):
                await writer.end(self._headers)
        else:
            raise ValueError(f"unknown ASGI message type {kind!r} for an HTTP scope")
        if writer.finished:
            self.end_response()  # a receive() waiting for the disconnect returns now

    async def _send_body(self, body: bytes, more_body: bool) -> None:
        writer = self._writer
        if not self._status:
            raise RuntimeError("http.response.body sent before http.response.start")
        if self._body_over and self._head_sent:
            raise RuntimeError("http.response.body sent after the last body message")
        if not self._head_sent:
            self._head_sent = True
            if not more_body and not self._trailers:
                await writer.respond(self._status, self._headers, body)
                return
            writer.start(self._status, self._headers, trailers=self._trailers)
            self._headers = []  # from now on: the trailer fields
        await writer.write(body)
        if not more_body:
            self._body_over = True
            if not self._trailers:
                await writer.end()


class Lifespan:
    """Runs an ASGI app's ``lifespan`` scope: startup before serving, shutdown after.

    An app that raises before sending anything does not support lifespan; it
    is then served without it, as ASGI servers commonly do.  A shutdown that
    takes longer than ``shutdown_timeout`` seconds is cancelled.
    """

    def __init__(self, app: ASGIApp, *, shutdown_timeout: float = 10.0) -> None:
        self._app = app
        self._shutdown_timeout = shutdown_timeout
        self.state: dict[str, Any] = {}
        self._incoming: asyncio.Queue[Message] = asyncio.Queue()
        self._outgoing: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._supported = True

    async def startup(self) -> None:
        """Send ``lifespan.startup`` and wait for the answer; raise ``RuntimeError`` on failure."""
        scope = {"type": "lifespan", "asgi": _ASGI, "state": self.state}
        self._task = asyncio.ensure_future(self._run(scope))
        await self._incoming.put({"type": "lifespan.startup"})
        answer = await self._answer()
        if answer is None:
            return
        if answer["type"] != "lifespan.startup.complete":
            await self._finish()
            raise RuntimeError(f"ASGI lifespan startup failed: {answer.get('message', '')}")

    async def shutdown(self) -> None:
        """Send ``lifespan.shutdown`` and wait for the app to finish it."""
        if self._task is None:
            return
        if self._supported and not self._task.done():
            await self._incoming.put({"type": "lifespan.shutdown"})
            try:
                async with asyncio.timeout(self._shutdown_timeout):
                    answer = await self._answer()
            except TimeoutError:
                logger.error("ASGI lifespan shutdown did not finish within %g s; cancelling it", self._shutdown_timeout)
                answer = None
            if answer is not None and answer["type"] != "lifespan.shutdown.complete":
                logger.error("ASGI lifespan shutdown failed: %s", answer.get("message", ""))
        await self._finish()

    async def _run(self, scope: dict[str, Any]) -> None:
        try:
            await self._app(scope, self._incoming.get, self._outgoing.put)
        except Exception as exc:
            if self._outgoing.empty() and self._supported:
                logger.debug("the ASGI app does not support lifespan: %r", exc)
                self._supported = False
            else:
                logger.error("ASGI lifespan task failed", exc_info=exc)

    async def _answer(self) -> Message | None:
        """The app's next lifespan message, or None once the lifespan task ended without one."""
        assert self._task is not None
        getter = asyncio.ensure_future(self._outgoing.get())
        try:
            await asyncio.wait({getter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                getter.cancel()
                await asyncio.wait({getter})
        if getter.done() and not getter.cancelled():
            return getter.result()
        self._supported = False
        return None

    async def _finish(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
        if task is not None:
            await asyncio.wait({task})
