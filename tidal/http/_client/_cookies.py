"""Cookies through the standard library's :class:`http.cookiejar.CookieJar`.

The jar implements the cookie rules (domain and path matching, expiry,
Secure, the public-suffix-free defaults of RFC 6265 as the stdlib does
them); it speaks urllib's request and response shapes, so two small adapters
translate.  Any ``CookieJar`` (``FileCookieJar``, ``MozillaCookieJar``) can be
passed to the client.
"""

from __future__ import annotations

import urllib.request
from http.cookiejar import CookieJar

from .._headers import Headers
from ._urls import URL

__all__ = ["CookieJar", "add_cookie_header", "extract_cookies"]

_SET_COOKIE = ("set-cookie", "set-cookie2")


class _HeaderView:
    """The ``info()`` object cookiejar reads ``Set-Cookie`` fields from."""

    def __init__(self, headers: Headers) -> None:
        self._headers = headers

    def get_all(self, name: str, default: list[str] | None = None) -> list[str]:
        values = self._headers.get_all(name)
        return values if values else (default if default is not None else [])


class _ResponseView:
    def __init__(self, headers: Headers) -> None:
        self._info = _HeaderView(headers)

    def info(self) -> _HeaderView:
        return self._info


def _urllib_request(method: str, url: URL, headers: Headers) -> urllib.request.Request:
    return urllib.request.Request(str(url.without_credentials()), headers=dict(headers.items()), method=method)


def add_cookie_header(jar: CookieJar, method: str, url: URL, headers: Headers) -> None:
    """Set ``Cookie`` in ``headers`` from the jar for ``url`` (replacing any previous jar value)."""
    request = _urllib_request(method, url, Headers([(n, v) for n, v in headers.fields() if n.lower() != "cookie"]))
    jar.add_cookie_header(request)
    cookie = request.get_header("Cookie")
    if cookie:
        headers["Cookie"] = cookie


def extract_cookies(jar: CookieJar, method: str, url: URL, request_headers: Headers, response_headers: Headers) -> None:
    """Store the response's ``Set-Cookie`` fields that the jar's policy accepts."""
    if not response_headers.contains_any(_SET_COOKIE):
        return  # the common case, in one pass over the fields
    jar.extract_cookies(_ResponseView(response_headers), _urllib_request(method, url, request_headers))  # type: ignore[arg-type]
