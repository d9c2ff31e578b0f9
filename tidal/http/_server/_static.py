"""``StaticFiles``: a native handler serving a directory tree.

Requests map to files under ``directory`` only: the decoded path is split
into segments, ``..`` segments and NUL bytes are refused, and the resolved
real path (symlinks followed) must stay inside the real root, so neither
``/../etc/passwd`` nor a symlink pointing out of the tree escapes it.
Files carry ``ETag``/``Last-Modified`` (``If-None-Match`` and
``If-Modified-Since`` answer 304), one byte range per request is served
(206, or 416 when unsatisfiable; ``If-Range`` is honoured), and text types
are gzip-encoded on the fly for clients that accept it.  Directories
without an ``index.html`` get a listing whose names are HTML-escaped.

File bodies are :class:`~tidal.http.FileBody` regions: over plain TCP on
tidal's loop the kernel sends them (``os.sendfile``); otherwise they are
read in chunks in the default executor, so a slow disk never blocks the
loop, and each chunk is sent before the next is read.  Gzip-encoded
responses are always read and compressed in chunks.
"""

from __future__ import annotations

import html
import mimetypes
import os
import stat
from collections.abc import AsyncIterator
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import quote

from tidal.protocols.compression import Compressor

from ._request import Request
from ._response import FileBody, Response

__all__ = ["StaticFiles"]

_COMPRESSIBLE_PREFIXES = ("text/", "application/json", "application/javascript", "application/xml", "image/svg+xml")
_MIN_COMPRESS_SIZE = 256


class StaticFiles:
    """Serve the files under ``directory``: ``await tidal.http.serve(StaticFiles("site"))``.

    ``listing`` enables directory listings, ``compress`` gzip for text types.
    Only GET and HEAD are allowed (405 otherwise).
    """

    def __init__(self, directory: str | os.PathLike[str], *, listing: bool = True, compress: bool = True) -> None:
        self.directory = os.path.realpath(directory)
        """The served directory, symlinks resolved."""
        if not os.path.isdir(self.directory):
            raise NotADirectoryError(f"{directory!r} is not a directory")
        self.listing = listing
        """True when directories without an index are listed."""
        self.compress = compress
        """True when text responses are gzip-encoded for clients that accept it."""

    async def __call__(self, request: Request) -> Response:
        """Answer one request."""
        if request.method not in ("GET", "HEAD"):
            return Response("405 Method Not Allowed\n", status=405, headers={"Allow": "GET, HEAD"})
        path = request.path
        segments = [segment for segment in path.split("/") if segment not in ("", ".")]
        if "\x00" in path or ".." in segments or any("\\" in segment for segment in segments):
            return Response("403 Forbidden\nthe path leaves the served directory\n", status=403)
        target = os.path.realpath(os.path.join(self.directory, *segments))
        if target != self.directory and not target.startswith(self.directory + os.sep):
            return Response("403 Forbidden\nthe path leaves the served directory\n", status=403)
        try:
            info = os.stat(target)
        except (FileNotFoundError, NotADirectoryError):
            return Response("404 Not Found\n", status=404)
        except PermissionError:
            return Response("403 Forbidden\n", status=403)
        if stat.S_ISDIR(info.st_mode):
            return self._directory(request, target)
        if not stat.S_ISREG(info.st_mode):
            return Response("404 Not Found\n", status=404)
        return self._file(request, target, info)

    def _directory(self, request: Request, target: str) -> Response:
        if not request.path.endswith("/"):
            location = request.raw_path.decode("latin-1") + "/"
            if request.query_string:
                location += "?" + request.query_string.decode("latin-1")
            return Response(b"", status=301, headers={"Location": location})
        index = os.path.join(target, "index.html")
        if os.path.isfile(index):
            return self._file(request, index, os.stat(index))
        if not self.listing:
            return Response("403 Forbidden\ndirectory listing is disabled\n", status=403)
        return Response.html(_listing(request.path, target))

    def _file(self, request: Request, path: str, info: os.stat_result) -> Response:
        size = info.st_size
        etag = f'"{info.st_mtime_ns:x}-{size:x}"'
        content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        gzip = self.compress and size >= _MIN_COMPRESS_SIZE and _compressible(content_type)
        gzip = gzip and _accepts_gzip(request.headers.get("accept-encoding", ""))
        if gzip:
            etag = etag[:-1] + '-gzip"'
        headers = {
            "Content-Type": content_type,
            "ETag": etag,
            "Last-Modified": formatdate(info.st_mtime, usegmt=True),
            "Accept-Ranges": "bytes",
        }
        if self.compress and _compressible(content_type):
            headers["Vary"] = "Accept-Encoding"
        if _not_modified(request, etag, info.st_mtime):
            return Response(b"", status=304, headers={k: v for k, v in headers.items() if k != "Content-Type"})
        if gzip:
            headers["Content-Encoding"] = "gzip"
            return Response(_gzipped(aiter(FileBody(path, 0, size))), headers=headers)
        byte_range = _requested_range(request, etag, size)
        if byte_range == "unsatisfiable":
            return Response(b"", status=416, headers={"Content-Range": f"bytes */{size}"})
        status, start, count = 200, 0, size
        if isinstance(byte_range, tuple):
            status, (start, count) = 206, byte_range
            headers["Content-Range"] = f"bytes {start}-{start + count - 1}/{size}"
        headers["Content-Length"] = str(count)
        return Response(FileBody(path, start, count), status=status, headers=headers)


def _compressible(content_type: str) -> bool:
    return content_type.startswith(_COMPRESSIBLE_PREFIXES)


def _accepts_gzip(accept_encoding: str) -> bool:
    """True when ``Accept-Encoding`` allows gzip (RFC 9110 §12.5.3, q-values included)."""
    verdict = None
    for item in accept_encoding.split(","):
        coding, _, parameters = item.strip().partition(";")
        coding = coding.strip().lower()
        quality = 1.0
        name, _, value = parameters.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
        if coding == "gzip":
            return quality > 0
        if coding == "*":
            verdict = quality > 0
    return bool(verdict)


def _not_modified(request: Request, etag: str, mtime: float) -> bool:
    headers = request.headers
    if "if-none-match" in headers:
        candidates = [tag.strip() for value in headers.get_all("if-none-match") for tag in value.split(",")]
        bare = etag.removeprefix("W/")
        return any(tag == "*" or tag.removeprefix("W/") == bare for tag in candidates)
    since = headers.get("if-modified-since")
    if since is None:
        return False
    try:
        return int(mtime) <= parsedate_to_datetime(since).timestamp()
    except (TypeError, ValueError):
        return False  # an unparseable date is ignored (RFC 9110 §13.1.3)


def _requested_range(request: Request, etag: str, size: int) -> tuple[int, int] | str | None:
    """(start, count) for one satisfiable range, "unsatisfiable", or None to send it all."""
    value = request.headers.get("range")
    if value is None or request.method != "GET":
        return None
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range.strip() != etag:
        return None  # the client's copy is stale: send the whole new representation
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # other units and multiple ranges: the full response is a valid answer
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or last.isdigit()) or (first and not first.isdigit()) or (last and not last.isdigit()):
        return None  # malformed: ignored (RFC 9110 §14.2)
    if not first:  # suffix range: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            return "unsatisfiable"
        return (max(0, size - length), min(length, size))
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size:
        return "unsatisfiable"
    if end < start:
        return None
    return (start, end - start + 1)


async def _gzipped(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    compressor = Compressor("gzip")
    try:
        async for data in chunks:
            encoded = compressor.compress(data)
            if encoded:
                yield encoded
        yield compressor.finish()
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]


def _listing(url_path: str, directory: str) -> str:
    entries = []
    with os.scandir(directory) as scan:
        for entry in sorted(scan, key=lambda item: item.name):
            suffix = "/" if entry.is_dir() else ""
            href = quote(entry.name) + suffix
            entries.append(f'<li><a href="{html.escape(href)}">{html.escape(entry.name + suffix)}</a></li>')
    title = html.escape(url_path)
    parent = '<li><a href="../">../</a></li>' if url_path != "/" else ""
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Index of {title}</title></head>\n'
        f"<body><h1>Index of {title}</h1>\n<ul>{parent}\n" + "\n".join(entries) + "\n</ul></body></html>\n"
    )
