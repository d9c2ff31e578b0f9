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
    Handler,
    Request,
    RequestTimeout,
    Response,
    Server,
    ServerLimits,
    ServerTimeouts,
    serve,
)

_SERVER_NAMES = [
    "ASGIApp",
    "ClientDisconnected",
    "Handler",
    "Request",
    "RequestTimeout",
    "Response",
    "Server",
    "ServerLimits",
    "ServerTimeouts",
    "serve",
]
# --- end server ---

# --- client (tidal/http/_client) ---
from ._client import (
    URL,
    Auth,
    BasicAuth,
    Client,
    ClientClosed,
    ClientRequest,
    ClientResponse,
    ConnectError,
    ConnectTimeout,
    DecodingError,
    DigestAuth,
    HTTPError,
    HTTPStatusError,
    HTTPTimeout,
    InvalidURL,
    Limits,
    PoolTimeout,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    RequestError,
    ResponseConsumed,
    Timeout,
    Timing,
    TLSError,
    TooManyRedirects,
    TotalTimeout,
    TransportError,
    WriteError,
    WriteTimeout,
    delete,
    get,
    head,
    options,
    patch,
    post,
    put,
    request,
    urlopen,
)
from ._client import __all__ as _CLIENT_NAMES
# --- end client ---

__all__ = [
    "Headers",
    "HeadersLike",
    *_SERVER_NAMES,
    *_CLIENT_NAMES,
]
