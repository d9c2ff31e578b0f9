"""``tidal.http.serve()``: pick the front end, start the server."""

from __future__ import annotations

import ssl as _ssl
from typing import Any

from ._asgi import Lifespan, asgi_dispatch, is_asgi_app
from ._limits import DEFAULT_SERVER_TIMEOUTS, ServerLimits, ServerTimeouts
from ._native import native_dispatch
from ._server import Server, start_server

__all__ = ["serve"]


async def serve(
    app: Any,
    host: str | None = "127.0.0.1",
    port: int = 8000,
    *,
    ssl: _ssl.SSLContext | None = None,
    workers: int = 1,
    reuse_port: bool = False,
    limits: ServerLimits | None = None,
    timeouts: ServerTimeouts | None = None,
    access_log: bool = True,
    backlog: int = 1024,
    root_path: str = "",
) -> Server:
    """Start an HTTP/1.1 server for ``app`` in the running event loop and return it.

    ``app`` is either a native handler, ``async def handler(request:
    Request) -> Response``, or an ASGI 3 application ``app(scope, receive,
    send)`` (told apart by the number of positional parameters); an ASGI
    app's lifespan startup runs before this returns and its shutdown after
    the server has closed.  ``host=None`` listens on every interface;
    ``port=0`` picks a free port (read it back from ``server.port``).
    ``ssl`` is a server-side ``SSLContext``.  ``reuse_port`` sets
    ``SO_REUSEPORT`` so several processes can share the port.

    ``workers`` must be 1 here: a server started inside a running loop
    serves from this process.  For several worker processes use
    :func:`tidal.http.run` (or ``python -m tidal serve --workers N``).
    """
    if workers != 1:
        raise ValueError(
            f"serve() runs in the current event loop, so workers must be 1, not {workers}; "
            "use tidal.http.run(app, workers=N) or `python -m tidal serve --workers N` for worker processes"
        )
    options: dict[str, Any] = dict(
        ssl=ssl, reuse_port=reuse_port, limits=limits, timeouts=timeouts, access_log=access_log, backlog=backlog
    )
    if not is_asgi_app(app):
        return await start_server(native_dispatch(app), host, port, **options)
    grace = (timeouts or DEFAULT_SERVER_TIMEOUTS).shutdown_grace
    lifespan = Lifespan(app, shutdown_timeout=grace)
    await lifespan.startup()
    try:
        return await start_server(
            asgi_dispatch(app, lifespan.state, root_path), host, port, on_closed=lifespan.shutdown, **options
        )
    except BaseException:
        await lifespan.shutdown()
        raise
