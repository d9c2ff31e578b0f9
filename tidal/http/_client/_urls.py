"""URLs as the client needs them: parsed once, validated, with origin and request target.

Built on :func:`urllib.parse.urlsplit`.  Hosts are lower-cased and IDNA
encoded; non-ASCII in the path or query is percent-encoded (UTF-8); any
whitespace or control character is refused, so a URL can never inject a
header line (CR/LF).  Only ``http`` and ``https`` are requestable here; the
``file:`` and ``data:`` schemes of ``urlopen`` are handled before this.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urljoin, urlsplit

from ._errors import InvalidURL

__all__ = ["URL", "Origin", "parse_url", "DEFAULT_PORTS", "QueryParams"]

DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]
QueryParams = Mapping[str, str | int | float | Sequence[str | int | float]] | Sequence[tuple[str, str | int | float]]
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")
_SAFE_PATH = "/%:@!$&'()*+,;=-._~"
_SAFE_QUERY = _SAFE_PATH + "?"


@dataclass(frozen=True, slots=True)
class URL:
    """An absolute ``http``/``https`` URL, parsed and validated.

    ``host`` is ASCII (IDNA), lower-case, without IPv6 brackets; ``port`` is
    always set (the scheme's default when absent).  ``str(url)`` gives the
    normalized form.
    """

    scheme: str
    host: str
    port: int
    path: str
    query: str = ""
    fragment: str = ""
    username: str = ""
    password: str = ""

    @property
    def origin(self) -> Origin:
        """(scheme, host, port): what the pool keys connections by."""
        return (self.scheme, self.host, self.port)

    @property
    def target(self) -> str:
        """The request target: path and query (origin form, RFC 9112 §3.2.1)."""
        return self.path + ("?" + self.query if self.query else "")

    @property
    def host_header(self) -> str:
        """The ``Host`` field value: the port only when it is not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == DEFAULT_PORTS.get(self.scheme):
            return host
        return f"{host}:{self.port}"

    @property
    def is_https(self) -> bool:
        """True for ``https``."""
        return self.scheme == "https"

    def __str__(self) -> str:
        userinfo = ""
        if self.username or self.password:
            userinfo = quote(self.username, safe="") + (":" + quote(self.password, safe="") if self.password else "") + "@"
        fragment = "#" + self.fragment if self.fragment else ""
        return f"{self.scheme}://{userinfo}{self.host_header}{self.target}{fragment}"

    def join(self, reference: str) -> URL:
        """Resolve ``reference`` (e.g. a ``Location`` value) against this URL (RFC 3986 §5)."""
        return parse_url(urljoin(str(self), reference))

    def without_credentials(self) -> URL:
        """The same URL without user name and password."""
        return URL(self.scheme, self.host, self.port, self.path, self.query, self.fragment)


def parse_url(url: str | URL, *, base: URL | None = None, params: QueryParams | None = None) -> URL:
    """Parse and validate ``url`` (relative to ``base`` when given), adding ``params`` to the query."""
    if url.__class__ is str and base is None and not params:
        return _parse_text(url)
    if isinstance(url, URL):
        parsed = url
    else:
        if not isinstance(url, str):
            raise InvalidURL(f"URL must be a str, not {type(url).__name__}")
        text = url.strip()
        if _FORBIDDEN.search(text):
            raise InvalidURL(f"URL contains whitespace or a control character: {url!r}")
        if base is not None:
            text = urljoin(str(base), text)
        parsed = _parse_absolute(text)
    if params:
        extra = urlencode(list(params.items()) if isinstance(params, Mapping) else list(params), doseq=True)
        query = parsed.query + "&" + extra if parsed.query else extra
        parsed = URL(parsed.scheme, parsed.host, parsed.port, parsed.path, query, parsed.fragment,
                     parsed.username, parsed.password)
    return parsed


@functools.lru_cache(maxsize=512)
def _parse_text(url: str) -> URL:
    """:func:`parse_url` of a plain string: the same checks, cached by the string as given."""
    text = url.strip()
    if _FORBIDDEN.search(text):
        raise InvalidURL(f"URL contains whitespace or a control character: {url!r}")
    return _parse_absolute(text)


@functools.lru_cache(maxsize=512)
def _parse_absolute(text: str) -> URL:
    # Cached: URL is immutable, and clients request the same URLs over and over.
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"malformed URL {text!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        what = f"scheme {scheme!r}" if scheme else "no scheme"
        raise InvalidURL(f"cannot request {text!r}: {what} (http and https are supported)")
    if not parts.hostname:
        raise InvalidURL(f"URL has no host: {text!r}")
    return URL(
        scheme=scheme,
        host=_normalize_host(parts.hostname, text),
        port=port if port is not None else DEFAULT_PORTS[scheme],
        path=quote(parts.path, safe=_SAFE_PATH) or "/",
        query=quote(parts.query, safe=_SAFE_QUERY),
        fragment=parts.fragment,
        username=_unquote(parts.username),
        password=_unquote(parts.password),
    )


def _normalize_host(host: str, text: str) -> str:
    if ":" in host:  # IPv6 literal (urlsplit removed the brackets)
        try:
            return str(ipaddress.IPv6Address(host.split("%", 1)[0]))
        except ValueError:
            raise InvalidURL(f"invalid IPv6 address in URL {text!r}") from None
    if host.isascii():
        return host.lower()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidURL(f"host {host!r} cannot be IDNA-encoded") from None


def _unquote(value: str | None) -> str:
    from urllib.parse import unquote

    return unquote(value) if value else ""
