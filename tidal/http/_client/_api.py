"""One-call helpers: ``await tidal.http.get(url)`` and ``await tidal.http.urlopen(url)``.

Each call opens a :class:`Client`, sends one request, reads the body and
closes everything, so nothing outlives the call.  For several requests to the
same server, a ``Client`` reuses connections and is much faster.

``urlopen`` also reads ``file:`` URLs (in a worker thread, so the loop never
blocks on the disk) and ``data:`` URLs (RFC 2397), returning the same
:class:`ClientResponse` shape with status 200.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import mimetypes
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit
from urllib.request import url2pathname

from ._client import Client
from ._errors import InvalidURL
from ._models import ClientRequest, ClientResponse
from ._timeouts import DEFAULT_TIMEOUT, TimeoutLike
from ._tls import CertTypes, VerifyTypes
from ._urls import URL

__all__ = ["request", "get", "head", "post", "put", "patch", "delete", "options", "urlopen"]


async def request(
    method: str,
    url: str | URL,
    *,
    timeout: TimeoutLike = DEFAULT_TIMEOUT,
    verify: VerifyTypes = True,
    cert: CertTypes | None = None,
    follow_redirects: bool = True,
    **options: Any,
) -> ClientResponse:
    """Send one request with a short-lived :class:`Client` and return the read response.

    ``options`` are those of :meth:`Client.request` (``params``, ``headers``,
    ``content``, ``data``, ``json``, ``files``, ``auth``).
    """
    async with Client(timeout=timeout, verify=verify, cert=cert, follow_redirects=follow_redirects) as client:
        return await client.request(method, url, **options)


async def get(url: str | URL, **options: Any) -> ClientResponse:
    """``await tidal.http.get(url)``: a GET with the body read."""
    return await request("GET", url, **options)


async def head(url: str | URL, **options: Any) -> ClientResponse:
    """A HEAD request."""
    return await request("HEAD", url, **options)


async def options(url: str | URL, **options: Any) -> ClientResponse:
    """An OPTIONS request."""
    return await request("OPTIONS", url, **options)


async def post(url: str | URL, **options: Any) -> ClientResponse:
    """A POST request (``content=``, ``data=``, ``json=`` or ``files=``)."""
    return await request("POST", url, **options)


async def put(url: str | URL, **options: Any) -> ClientResponse:
    """A PUT request."""
    return await request("PUT", url, **options)


async def patch(url: str | URL, **options: Any) -> ClientResponse:
    """A PATCH request."""
    return await request("PATCH", url, **options)


async def delete(url: str | URL, **options: Any) -> ClientResponse:
    """A DELETE request."""
    return await request("DELETE", url, **options)


async def urlopen(
    url: str | ClientRequest,
    data: bytes | str | Mapping[str, Any] | None = None,
    timeout: TimeoutLike = DEFAULT_TIMEOUT,
) -> ClientResponse:
    """Fetch ``http:``, ``https:``, ``file:`` or ``data:`` URLs, like :func:`urllib.request.urlopen`.

    With ``data`` an HTTP request is a POST (a mapping is form-encoded),
    otherwise a GET.  A missing or unreadable file raises the ``OSError``
    that opening it raises; a malformed ``data:`` URL raises :class:`InvalidURL`.
    """
    if isinstance(url, ClientRequest):
        async with Client(timeout=timeout) as client:
            return await client.send(url)
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "file":
        return await _open_file(url)
    if scheme == "data":
        return _open_data(url)
    async with Client(timeout=timeout) as client:
        if data is None:
            return await client.request("GET", url)
        if isinstance(data, Mapping):
            return await client.request("POST", url, data=data)
        return await client.request("POST", url, content=data)


async def _open_file(url: str) -> ClientResponse:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise InvalidURL(f"file: URL names a remote host {parts.netloc!r}; only local files can be opened")
    path = url2pathname(parts.path)

    def read() -> tuple[bytes, os.stat_result]:
        with open(path, "rb") as file:
            return file.read(), os.fstat(file.fileno())

    content, status = await asyncio.to_thread(read)
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(content))),
        ("Last-Modified", email.utils.formatdate(status.st_mtime, usegmt=True)),
    ]
    return ClientResponse(200, headers, content=content)


def _open_data(url: str) -> ClientResponse:
    """RFC 2397: ``data:[<mediatype>][;base64],<data>``."""
    try:
        header, payload = url[5:].split(",", 1)
    except ValueError:
        raise InvalidURL(f"data: URL without a comma: {url[:60]!r}") from None
    parameters = header.split(";")
    is_base64 = parameters[-1].strip().lower() == "base64"
    if is_base64:
        parameters = parameters[:-1]
    media_type = ";".join(parameters).strip() or "text/plain;charset=US-ASCII"
    if media_type.startswith(";"):
        media_type = "text/plain" + media_type
    raw = unquote_to_bytes(payload)
    if is_base64:
        try:
            content = base64.b64decode(raw, validate=False)
        except ValueError as exc:
            raise InvalidURL(f"data: URL with invalid base64: {exc}") from None
    else:
        content = raw
    return ClientResponse(200, [("Content-Type", media_type), ("Content-Length", str(len(content)))], content=content)
