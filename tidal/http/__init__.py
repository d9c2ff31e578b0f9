"""HTTP/1.1 client and server on tidal's streams and sans-IO engine.

See ``docs/http-client.md`` and ``docs/http-server.md``.  Shared by both
sides: :class:`Headers`, an ordered case-insensitive multi-dict.
"""

from ._headers import Headers, HeadersLike

# Naming rule for the two sides (both re-export from here):
# * the server's handler types are ``Request`` and ``Response``
#   (``async def handler(request: Request) -> Response``);
# * the client's types are ``ClientRequest`` and ``ClientResponse``
#   (what ``await tidal.http.get(url)`` returns), so the names never clash.
# Each side adds its imports and ``__all__`` entries in its own block below.

# --- server (tidal/http/_server) ---
from ._server import (
    ASGIApp,
    ClientDisconnected,
    FileBody,
    Handler,
    Request,
    RequestTimeout,
    Response,
    Server,
    ServerLimits,
    ServerTimeouts,
    StaticFiles,
    run,
    serve,
)

# --- end server ---

# --- client (tidal/http/_client) ---
# (``X as X``: an explicit re-export for type checkers; __all__ gets _CLIENT_NAMES)
from ._client import (
    URL as URL,
    Auth as Auth,
    BasicAuth as BasicAuth,
    Client as Client,
    ClientClosed as ClientClosed,
    ClientRequest as ClientRequest,
    ClientResponse as ClientResponse,
    ConnectError as ConnectError,
    ConnectTimeout as ConnectTimeout,
    DecodingError as DecodingError,
    DigestAuth as DigestAuth,
    HTTPError as HTTPError,
    HTTPStatusError as HTTPStatusError,
    HTTPTimeout as HTTPTimeout,
    InvalidURL as InvalidURL,
    Limits as Limits,
    PoolTimeout as PoolTimeout,
    ProxyError as ProxyError,
    ReadError as ReadError,
    ReadTimeout as ReadTimeout,
    RemoteProtocolError as RemoteProtocolError,
    RequestError as RequestError,
    ResponseConsumed as ResponseConsumed,
    Timeout as Timeout,
    Timing as Timing,
    TLSError as TLSError,
    TooManyRedirects as TooManyRedirects,
    TotalTimeout as TotalTimeout,
    TransportError as TransportError,
    WriteError as WriteError,
    WriteTimeout as WriteTimeout,
    delete as delete,
    get as get,
    head as head,
    options as options,
    patch as patch,
    post as post,
    put as put,
    request as request,
    urlopen as urlopen,
)
from ._client import __all__ as _CLIENT_NAMES
# --- end client ---

__all__ = [
    "Headers",
    "HeadersLike",
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
    *_CLIENT_NAMES,
]
