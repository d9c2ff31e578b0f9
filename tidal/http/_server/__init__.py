"""The HTTP/1.1 server behind :func:`tidal.http.serve` (see ``docs/http-server.md``)."""

from ._asgi import ASGIApp
from ._errors import ClientDisconnected, RequestTimeout
from ._limits import ServerLimits, ServerTimeouts
from ._native import Handler
from ._request import Request
from ._response import FileBody, Response
from ._serve import serve
from ._server import Server
from ._static import StaticFiles
from ._workers import run

__all__ = [
    "ASGIApp",
    "ClientDisconnected",
    "FileBody",
    "Handler",
    "Request",
    "RequestTimeout",
    "Response",
    "Server",
    "ServerLimits",
    "ServerTimeouts",
    "StaticFiles",
    "run",
    "serve",
]
