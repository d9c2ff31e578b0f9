"""HTTP proxies: choosing one (explicit or from the environment) and the CONNECT tunnel.

* ``http://`` targets go to the proxy with the absolute URL as request target
  (RFC 9112 §3.2.2), each origin on its own pooled connections.
* ``https://`` targets go through a ``CONNECT host:port`` tunnel (RFC 9110
  §9.3.6); TLS then runs end to end with the origin over the tunnel, so the
  proxy sees only ciphertext and the certificate checked is the origin's.

With ``trust_env`` the proxies come from ``HTTP_PROXY``, ``HTTPS_PROXY`` and
``ALL_PROXY`` (either case) and ``NO_PROXY`` exempts hosts, read as urllib
reads them.  Proxy credentials in the proxy URL are sent as
``Proxy-Authorization: Basic``.  Only ``http://`` proxy URLs are supported.
"""

from __future__ import annotations

import base64
import urllib.request
from collections.abc import Mapping

from ...protocols.http import CLIENT, NEED_DATA, HTTPConnection, InformationalResponse, Request, Response
from ...streams import BufferedStream, ByteStream
from ._errors import InvalidURL, ProxyError
from ._urls import URL, parse_url

__all__ = ["ProxyConfig", "open_tunnel", "proxy_authorization"]


class ProxyConfig:
    """Which proxy (if any) a URL goes through."""

    def __init__(self, proxy: str | None, trust_env: bool) -> None:
        self._explicit = _proxy_url(proxy) if proxy is not None else None
        self._environment: Mapping[str, str] = {}
        if self._explicit is None and trust_env:
            self._environment = urllib.request.getproxies_environment()
        #: True when every URL is connected to directly (no proxy given or in the environment).
        self.direct_only = self._explicit is None and not self._environment

    def proxy_for(self, url: URL) -> URL | None:
        """The proxy for ``url``, or None to connect directly."""
        if self._explicit is not None:
            return self._explicit
        if not self._environment:
            return None
        environment = self._environment
        if urllib.request.proxy_bypass_environment(url.host, environment):  # type: ignore[attr-defined]
            return None
        chosen = environment.get(url.scheme) or environment.get("all")
        return _proxy_url(chosen) if chosen else None


def _proxy_url(text: str) -> URL:
    if "://" not in text:
        text = "http://" + text
    url = parse_url(text)
    if url.scheme != "http":
        raise InvalidURL(f"only http:// proxies are supported, not {text!r}")
    return url


def proxy_authorization(proxy: URL) -> tuple[bytes, bytes] | None:
    """The ``Proxy-Authorization`` field for a proxy URL with credentials."""
    if not proxy.username:
        return None
    token = base64.b64encode(f"{proxy.username}:{proxy.password}".encode("utf-8"))
    return (b"Proxy-Authorization", b"Basic " + token)


async def open_tunnel(stream: ByteStream, host: str, port: int, proxy: URL) -> ByteStream:
    """Ask the proxy on ``stream`` for a tunnel to ``host:port``; return the stream to use.

    Raises :class:`ProxyError` when the proxy answers anything but 2xx.
    """
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    engine = HTTPConnection(CLIENT)
    headers = [(b"Host", authority.encode("ascii"))]
    credentials = proxy_authorization(proxy)
    if credentials is not None:
        headers.append(credentials)
    await stream.send_all(engine.send(Request(method=b"CONNECT", target=authority.encode("ascii"), headers=headers)))
    while True:
        event = engine.next_event()
        if event is NEED_DATA:
            engine.receive_data(await stream.receive_some())
        elif isinstance(event, InformationalResponse):
            continue
        elif isinstance(event, Response):
            break
        else:
            raise ProxyError(f"proxy {proxy.host}:{proxy.port} closed the connection during CONNECT")
    if not 200 <= event.status_code < 300:
        reason = event.reason.decode("latin-1")
        raise ProxyError(f"proxy {proxy.host}:{proxy.port} refused CONNECT {authority}: {event.status_code} {reason}")
    trailing, _ = engine.trailing_data
    if not trailing:
        return stream
    buffered = BufferedStream(stream)
    buffered.unreceive(trailing)
    return buffered
