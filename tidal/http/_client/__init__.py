"""The HTTP/1.1 client (private package; the public names are re-exported by :mod:`tidal.http`).

Modules, bottom to top: ``_errors`` (the exception hierarchy and the one
translation boundary), ``_timeouts``, ``_limits``, ``_urls``, ``_body``
(request bodies), ``_decoding`` (content-codings), ``_connection`` (one
connection: stream + engine), ``_open`` (resolve, connect, TLS), ``_pool``
(synchronous bookkeeping), ``_models`` (request, response), ``_redirects``,
``_auth``, ``_cookies``, ``_tls``, ``_proxy``, ``_exchange`` (one exchange:
request head, body source, retry rule), ``_client`` (``Client``) and
``_api`` (one-call helpers).
"""

from ._api import delete, get, head, options, patch, post, put, request, urlopen
from ._auth import Auth, BasicAuth, DigestAuth
from ._client import Client
from ._errors import (
    ClientClosed,
    ConnectError,
    ConnectTimeout,
    DecodingError,
    HTTPError,
    HTTPStatusError,
    HTTPTimeout,
    InvalidURL,
    PoolTimeout,
    ProxyError,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    RequestError,
    ResponseConsumed,
    TLSError,
    TooManyRedirects,
    TotalTimeout,
    TransportError,
    WriteError,
    WriteTimeout,
)
from ._limits import Limits
from ._models import ClientRequest, ClientResponse, Timing
from ._timeouts import Timeout
from ._urls import URL

__all__ = [
    "Client",
    "ClientRequest",
    "ClientResponse",
    "Timing",
    "Timeout",
    "Limits",
    "URL",
    "Auth",
    "BasicAuth",
    "DigestAuth",
    "request",
    "get",
    "head",
    "options",
    "post",
    "put",
    "patch",
    "delete",
    "urlopen",
    "HTTPError",
    "RequestError",
    "TransportError",
    "ConnectError",
    "TLSError",
    "ProxyError",
    "ReadError",
    "WriteError",
    "RemoteProtocolError",
    "DecodingError",
    "TooManyRedirects",
    "HTTPTimeout",
    "ConnectTimeout",
    "ReadTimeout",
    "WriteTimeout",
    "PoolTimeout",
    "TotalTimeout",
    "HTTPStatusError",
    "InvalidURL",
    "ClientClosed",
    "ResponseConsumed",
]
