"""``Client``: the pool, the request loop (auth, cookies, redirects, retries) and streaming responses.

Theory of operation.  ``send`` fixes the request's deadlines, then loops:
send one request (:meth:`Client._send_once`), store cookies, answer a Digest
challenge, follow a redirect.  ``_send_once`` gets a connection from the
pool -- an idle one that passed the staleness check, or a reserved slot it
fills by connecting -- sends the request and waits for the head.  The body
stays on the connection; a :class:`~._exchange.PooledBody` hands it out and, at its
end, checks the connection back in (or closes it when the engine says it
cannot be reused).  Every failure or cancellation before that point closes
the connection after freeing its slot synchronously, so neither a slot nor a
half-read connection can leak.

A request on a *reused* connection that fails before a single response byte
arrived is retried once on a new connection when it is idempotent and its
body can be sent again: the server closed the idle connection just as the
request went out (RFC 9110 §9.2.2, RFC 9112 §9.3.1).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from http.cookiejar import CookieJar
from types import TracebackType
from typing import Any

from ... import __version__
from ...dns import Resolver
from ...protocols.compression import accept_encoding
from ...protocols.http import HTTPLimits, Request
from ...streams import ByteStream
from .._headers import Headers, HeadersLike
from ._auth import Auth, AuthTypes, BasicAuth, coerce_auth
from ._body import BodyContent, FileSpec, FormData
from ._connection import Connection
from ._cookies import add_cookie_header, extract_cookies
from ._decoding import BodyDecoder
from ._exchange import IDEMPOTENT, PooledBody, died_while_idle, drain, early_response, head_fields, request_head
from ._errors import ClientClosed, ConnectError, TooManyRedirects, WriteError
from ._limits import DEFAULT_LIMITS, Limits
from ._models import ClientRequest, ClientResponse, Timing
from ._open import ConnectOptions, open_connection
from ._pool import CONNECT, ConnectionPool, close_all
from ._proxy import ProxyConfig, open_tunnel
from ._redirects import REDIRECT_STATUSES, next_request
from ._timeouts import DEFAULT_TIMEOUT, Deadlines, Timeout, TimeoutLike, TraceHook
from ._tls import CertTypes, VerifyTypes, create_ssl_context
from ._urls import URL, Origin, QueryParams, parse_url

__all__ = ["Client", "USER_AGENT"]

USER_AGENT = f"tidal/{__version__}"
_HEAD_CACHE_SIZE = 64
_UNSET: Any = object()
_HTTP_VERSIONS = {b"1.1": "HTTP/1.1", b"1.0": "HTTP/1.0"}


class Client:
    """An HTTP/1.1 client with a connection pool; use ``async with Client() as client``.

    ``base_url`` resolves relative request URLs; ``headers`` are sent with
    every request; ``timeout`` is a :class:`Timeout` (or a number for every
    phase budget, or None); ``limits`` bounds the pool (:class:`Limits`);
    ``verify``/``cert`` configure TLS; ``follow_redirects``/``max_redirects``
    the redirect policy; ``retries`` how many times a failed *connection
    attempt* is retried; ``resolver`` a :class:`tidal.dns.Resolver` (default:
    the loop's ``getaddrinfo``); ``auth`` Basic or Digest credentials;
    ``cookies`` an :class:`http.cookiejar.CookieJar`; ``uds`` a Unix socket
    path that every connection goes to; ``proxy`` an ``http://`` proxy URL
    (with ``trust_env`` and no ``proxy``, ``HTTP(S)_PROXY``/``NO_PROXY`` from
    the environment); ``hooks`` lists of callables under ``"request"`` (called
    with each :class:`ClientRequest`), ``"response"`` (each
    :class:`ClientResponse`, once its head arrived; these two may be async)
    and ``"trace"`` (``trace(event, details)``, synchronous, at each step:
    ``dns.start`` ... ``response.body_done``); ``continue_timeout`` how long a
    request with ``Expect: 100-continue`` waits before sending its body anyway;
    ``http_limits`` the engine's bounds on response heads and bodies
    (:class:`tidal.protocols.http.HTTPLimits`: 64 KiB and 100 header fields by
    default); ``local_address`` the source address to connect from.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        headers: HeadersLike | None = None,
        timeout: TimeoutLike = DEFAULT_TIMEOUT,
        limits: Limits = DEFAULT_LIMITS,
        http_limits: HTTPLimits | None = None,
        verify: VerifyTypes = True,
        cert: CertTypes | None = None,
        follow_redirects: bool = True,
        max_redirects: int = 10,
        retries: int = 0,
        resolver: Resolver | None = None,
        auth: AuthTypes | None = None,
        cookies: CookieJar | None = None,
        uds: str | None = None,
        local_address: str | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        hooks: Mapping[str, Sequence[Callable[..., Any]]] | None = None,
        continue_timeout: float = 1.0,
    ) -> None:
        self.base_url: URL | None = parse_url(base_url) if base_url is not None else None
        self.headers = Headers({"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": accept_encoding()})
        self.headers.update(Headers(headers))
        self.timeout = Timeout.coerce(timeout)
        self.limits = limits
        self.follow_redirects = follow_redirects
        if max_redirects < 0 or retries < 0:
            raise ValueError("max_redirects and retries must be >= 0")
        self.max_redirects = max_redirects
        self.retries = retries
        self.auth = coerce_auth(auth)
        self.cookies = cookies if cookies is not None else CookieJar()
        self._verify, self._cert = verify, cert
        self._options = ConnectOptions(
            ssl_context=None, http_limits=http_limits or HTTPLimits(), resolver=resolver, uds=uds,
            local_address=local_address,
        )
        self._pool: ConnectionPool[Connection] = ConnectionPool(limits)
        self._proxies = ProxyConfig(proxy, trust_env)
        unknown = set(hooks or ()) - {"request", "response", "trace"}
        if unknown:
            raise ValueError(f"unknown hook names {sorted(unknown)} (use 'request', 'response', 'trace')")
        self._request_hooks = list((hooks or {}).get("request", ()))
        self._response_hooks = list((hooks or {}).get("response", ()))
        trace_hooks = list((hooks or {}).get("trace", ()))
        self._trace: TraceHook | None = _fan_out(trace_hooks) if trace_hooks else None
        self.continue_timeout = continue_timeout
        self._heads: dict[tuple[str, str, tuple[tuple[bytes, bytes], ...]], Request] = {}
        self._plain_heads: dict[tuple[str, int, tuple[tuple[str, str], ...]], tuple[URL, Request]] = {}
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close idle connections and refuse new requests; responses being streamed finish first."""
        self._closed = True
        await self._pool.aclose()

    @property
    def is_closed(self) -> bool:
        """True after :meth:`aclose`."""
        return self._closed

    @property
    def pool_state(self) -> dict[str, int]:
        """Connection counts: ``open`` (slots in use or idle), ``idle`` and ``waiting``."""
        state = self._pool.state
        return {"open": state.open_count, "idle": state.idle_count, "waiting": state.waiting_count}

    # -- the request API ------------------------------------------------------------

    def build_request(
        self,
        method: str,
        url: str | URL,
        *,
        params: QueryParams | None = None,
        headers: HeadersLike | None = None,
        content: BodyContent | None = None,
        data: FormData | None = None,
        json: Any = None,
        files: Mapping[str, FileSpec] | None = None,
    ) -> ClientRequest:
        """A :class:`ClientRequest` with the client's base URL and default headers applied."""
        full_url = parse_url(url, base=self.base_url, params=params)
        merged = self.headers.copy()
        if headers:
            for name, value in Headers(headers).fields():
                merged[name] = value
        return ClientRequest.from_parts(method, full_url, merged, content=content, data=data, json=json, files=files)

    async def request(
        self,
        method: str,
        url: str | URL,
        *,
        params: QueryParams | None = None,
        headers: HeadersLike | None = None,
        content: BodyContent | None = None,
        data: FormData | None = None,
        json: Any = None,
        files: Mapping[str, FileSpec] | None = None,
        auth: AuthTypes | None = _UNSET,
        timeout: TimeoutLike = _UNSET,
        follow_redirects: bool | None = None,
    ) -> ClientResponse:
        """Send a request and read the whole response body; the connection goes back to the pool."""
        request = self.build_request(method, url, params=params, headers=headers, content=content, data=data,
                                     json=json, files=files)
        return await self.send(request, auth=auth, timeout=timeout, follow_redirects=follow_redirects)

    async def get(self, url: str | URL, **options: Any) -> ClientResponse:
        """``request("GET", url, ...)``."""
        if options:
            return await self.request("GET", url, **options)
        return await self.send(self.build_request("GET", url))  # one coroutine less

    async def head(self, url: str | URL, **options: Any) -> ClientResponse:
        """``request("HEAD", url, ...)``."""
        if options:
            return await self.request("HEAD", url, **options)
        return await self.send(self.build_request("HEAD", url))  # one coroutine less

    async def options(self, url: str | URL, **options: Any) -> ClientResponse:
        """``request("OPTIONS", url, ...)``."""
        if options:
            return await self.request("OPTIONS", url, **options)
        return await self.send(self.build_request("OPTIONS", url))  # one coroutine less

    async def post(self, url: str | URL, **options: Any) -> ClientResponse:
        """``request("POST", url, ...)``."""
        if options:
            return await self.request("POST", url, **options)
        return await self.send(self.build_request("POST", url))  # one coroutine less

    async def put(self, url: str | URL, **options: Any) -> ClientResponse:
        """``request("PUT", url, ...)``."""
        if options:
            return await self.request("PUT", url, **options)
        return await self.send(self.build_request("PUT", url))  # one coroutine less

    async def patch(self, url: str | URL, **options: Any) -> ClientResponse:
        """``request("PATCH", url, ...)``."""
        if options:
            return await self.request("PATCH", url, **options)
        return await self.send(self.build_request("PATCH", url))  # one coroutine less

    async def delete(self, url: str | URL, **options: Any) -> ClientResponse:
        """``request("DELETE", url, ...)``."""
        if options:
            return await self.request("DELETE", url, **options)
        return await self.send(self.build_request("DELETE", url))  # one coroutine less

    @asynccontextmanager
    async def stream(self, method: str, url: str | URL, **options: Any) -> AsyncIterator[ClientResponse]:
        """``async with client.stream("GET", url) as response:`` -- the body is read by the caller.

        Takes the arguments of :meth:`request`.  The total timeout keeps
        running until the body is consumed or the block exits.
        """
        send_options = {name: options.pop(name) for name in ("auth", "timeout", "follow_redirects") if name in options}
        request = self.build_request(method, url, **options)
        response = await self.send(request, stream=True, **send_options)
        try:
            yield response
        finally:
            await response.aclose()

    async def send(
        self,
        request: ClientRequest,
        *,
        stream: bool = False,
        auth: AuthTypes | None = _UNSET,
        timeout: TimeoutLike = _UNSET,
        follow_redirects: bool | None = None,
    ) -> ClientResponse:
        """Send ``request`` (following redirects) and return the response.

        With ``stream=False`` the body is read before returning; with
        ``stream=True`` the caller reads it and must close the response.
        """
        if self._closed:
            raise ClientClosed("the client was closed; create a new one")
        deadlines = Deadlines(self.timeout if timeout is _UNSET else Timeout.coerce(timeout), request, self._trace)
        credentials = self.auth if auth is _UNSET else coerce_auth(auth)
        if credentials is None and request.url.username:
            credentials = BasicAuth(request.url.username, request.url.password)
        if credentials is not None:
            credentials.apply(request.method, request.url.target, request.headers)
        follow = self.follow_redirects if follow_redirects is None else follow_redirects
        if credentials is None and _jar_is_empty(self.cookies):
            # The common case, decided up front: nothing to add from the jar and
            # no challenge to answer, so the first exchange needs neither layer;
            # a redirect goes on in the general loop.
            response = await self._send_once(request, deadlines)
            try:
                if response._sets_cookies:
                    extract_cookies(self.cookies, request.method, request.url, request.headers, response.headers)
                redirected = (follow and response.status in REDIRECT_STATUSES
                              and next_request(request, response) is not None)
            except BaseException:
                await response.aclose()
                raise
            if redirected:
                response = await self._send_following(request, deadlines, None, follow, response)
        else:
            response = await self._send_following(request, deadlines, credentials, follow)
        if not stream:
            try:
                await response.read()
            except BaseException:
                await response.aclose()
                raise
        return response

    async def _send_following(
        self, request: ClientRequest, deadlines: Deadlines, credentials: Auth | None, follow: bool,
        first: ClientResponse | None = None,
    ) -> ClientResponse:
        """Exchange, store cookies, answer challenges and follow redirects; ``first`` already answered ``request``."""
        history: list[ClientResponse] = []
        response: ClientResponse | None = first
        while True:
            if response is None:
                deadlines.request = request
                response = await self._send_authenticated(request, deadlines, credentials)
            try:
                following = next_request(request, response) if follow else None
            except BaseException:
                await response.aclose()
                raise
            if following is None:
                response.history = history
                return response
            if len(history) >= self.max_redirects:
                await response.aclose()
                raise TooManyRedirects(f"more than {self.max_redirects} redirects (last: {request.url})",
                                       request=request)
            await drain(response)
            history.append(response)
            request, response = following, None

    async def _send_authenticated(self, request: ClientRequest, deadlines: Deadlines, auth: Auth | None) -> ClientResponse:
        response = await self._send_with_cookies(request, deadlines)
        if auth is None or response.status != 401 or (request.body is not None and not request.body.replayable):
            return response
        try:
            retry_headers = auth.retry_headers(request.method, request.url.target, request.headers, response.headers)
        except BaseException:
            await response.aclose()
            raise
        if retry_headers is None:
            return response
        await drain(response)
        retry = ClientRequest.derived(request.method, request.url, retry_headers, request.body)
        return await self._send_with_cookies(retry, deadlines)

    async def _send_with_cookies(self, request: ClientRequest, deadlines: Deadlines) -> ClientResponse:
        jar = self.cookies
        if len(jar):  # the jar's matching rules cost more than the rest of a small request
            add_cookie_header(jar, request.method, request.url, request.headers)
        response = await self._send_once(request, deadlines)
        try:
            if response._sets_cookies:
                extract_cookies(jar, request.method, request.url, request.headers, response.headers)
        except BaseException:
            await response.aclose()
            raise
        return response

    # -- one exchange ------------------------------------------------------------------

    async def _send_once(self, request: ClientRequest, deadlines: Deadlines) -> ClientResponse:
        if self._closed:
            raise ClientClosed("the client was closed; create a new one")
        for hook in self._request_hooks:
            await _call(hook, request)
        proxy = None if self._proxies.direct_only else self._proxies.proxy_for(request.url)
        head = self._head_for(request, proxy if proxy is not None and not request.url.is_https else None)
        expects = request.body is not None and request.headers.get("expect", "").lower() == "100-continue"
        timing = Timing()
        retry_allowed = request.method in IDEMPOTENT and (request.body is None or request.body.replayable)
        origin = request.url.origin
        loop = deadlines.loop
        while True:
            # The pool's usual answer, an idle live connection, without awaiting anything.
            connection = self._pool.state.take_idle(origin, loop.time())
            if connection is None or connection.is_stale():
                if connection is not None:
                    await self._discard(connection)
                connection = await self._connection_for(origin, deadlines, timing, proxy)
            reused = connection.cycles > 0
            if deadlines.trace is not None:
                deadlines.emit("connection.acquired", reused=reused, origin=request.url.origin)
            try:
                try:
                    await connection.send_request(head, request.body, deadlines,
                                                  self.continue_timeout if expects else None)
                except WriteError as exc:
                    # A server may answer before reading the whole body (413,
                    # 401) and close; its answer, if it arrived, beats the error.
                    response_head = await early_response(connection, deadlines, exc)
                else:
                    response_head = await connection.receive_head(deadlines)
            except BaseException as exc:
                await self._discard(connection)
                if reused and retry_allowed and connection.received_in_cycle == 0 and died_while_idle(exc):
                    retry_allowed = False  # once: a second failure is not the idle race
                    continue
                raise
            break
        timing.ttfb = loop.time() - deadlines.started
        if not reused:
            connect_timing = connection.connect_timing
            timing.dns, timing.connect, timing.tls = connect_timing.dns, connect_timing.connect, connect_timing.tls
        if deadlines.trace is not None:
            deadlines.emit("response.headers", status=response_head.status_code)
        codings = connection.engine.content_codings
        response = ClientResponse.received(
            response_head.status_code,
            response_head.headers.raw_items(),
            response_head.reason.decode("latin-1"),
            _HTTP_VERSIONS.get(response_head.http_version) or "HTTP/" + response_head.http_version.decode("ascii"),
            request,
            PooledBody(self._pool, connection, deadlines),
            BodyDecoder(codings, self.limits.max_decoded_body_bytes) if codings else None,
            timing,
            deadlines.started,
            loop,
        )
        try:
            for hook in self._response_hooks:
                await _call(hook, response)
        except BaseException:
            await response.aclose()
            raise
        return response

    def _head_for(self, request: ClientRequest, forward_proxy: URL | None) -> Request:
        """The engine's request event, reused when the same request is sent again.

        Building and validating an h11 ``Request`` is the largest share of a
        small request's own cost; the events are immutable, so identical
        requests (polling, benchmarks, retries) share one.  The cache belongs
        to this client and is bounded.
        """
        if forward_proxy is None and request.body is None:
            # Without a body or a forwarding proxy the head follows from the
            # method, the URL and the header fields alone: no encoding needed
            # to find it.  The URL is keyed by identity (parsed URLs are
            # cached, so a repeated URL is the same object; hashing its eight
            # fields costs more); the entry holds the URL, so its id cannot be
            # reused by another object while the entry exists.  An equal URL
            # parsed anew (query params) misses here and finds the event by
            # value below.
            url = request.url
            plain_key = (request.method, id(url), request.headers.as_key())
            entry = self._plain_heads.get(plain_key)
            if entry is None:
                if len(self._plain_heads) >= _HEAD_CACHE_SIZE:
                    self._plain_heads.clear()
                entry = self._plain_heads[plain_key] = (url, self._head_by_value(request, None))
            return entry[1]
        return self._head_by_value(request, forward_proxy)

    def _head_by_value(self, request: ClientRequest, forward_proxy: URL | None) -> Request:
        """The cached event for the encoded method, target and fields, built on a miss."""
        fields = head_fields(request, forward_proxy)
        key = (request.method, request.url.target if forward_proxy is None else str(request.url), tuple(fields))
        head = self._heads.get(key)
        if head is None:
            if len(self._heads) >= _HEAD_CACHE_SIZE:
                self._heads.clear()
            head = self._heads[key] = request_head(request, forward_proxy, fields)
        return head

    async def _connection_for(
        self, origin: Origin, deadlines: Deadlines, timing: Timing, proxy: URL | None
    ) -> Connection:
        pool = self._pool
        waited_from = deadlines.now()
        grant = await pool.acquire(origin, lambda future: deadlines.run("pool", future), deadlines.loop)
        timing.pool = deadlines.now() - waited_from
        if grant is not CONNECT:
            assert isinstance(grant, Connection)
            return grant
        try:
            return await self._connect(origin, deadlines, proxy)
        except BaseException:
            await close_all(pool.release_slot(origin))
            raise

    async def _connect(self, origin: Origin, deadlines: Deadlines, proxy: URL | None) -> Connection:
        options = self._options
        if origin[0] == "https" and options.ssl_context is None:
            options = self._options = ConnectOptions(
                create_ssl_context(self._verify, self._cert), options.http_limits, options.resolver, options.uds,
                options.local_address, options.happy_eyeballs_delay,
            )
        tunnel: Callable[[ByteStream], Awaitable[ByteStream]] | None = None
        connect_to = None
        if proxy is not None:
            connect_to = (proxy.host, proxy.port)
            if origin[0] == "https":
                def tunnel(stream: ByteStream, host: str = origin[1], port: int = origin[2]) -> Awaitable[ByteStream]:
                    return open_tunnel(stream, host, port, proxy)

        attempt = 0
        while True:
            try:
                return await open_connection(origin, options, deadlines, tunnel=tunnel, connect_to=connect_to)
            except ConnectError as exc:
                if attempt >= self.retries or type(exc) is not ConnectError:
                    raise
                attempt += 1

    async def _discard(self, connection: Connection) -> None:
        await close_all([connection, *self._pool.discard(connection)])


def _jar_is_empty(jar: CookieJar) -> bool:
    """``not len(jar)``, without walking the jar's nested dicts when a plain jar holds no domain at all."""
    if type(jar) is CookieJar and not jar._cookies:  # type: ignore[attr-defined]
        return True
    return not len(jar)


async def _call(hook: Callable[..., Any], argument: Any) -> None:
    result = hook(argument)
    if inspect.isawaitable(result):
        await result


def _fan_out(hooks: list[TraceHook]) -> TraceHook:
    if len(hooks) == 1:
        return hooks[0]

    def trace(event: str, details: dict[str, Any]) -> None:
        for hook in hooks:
            hook(event, details)

    return trace
