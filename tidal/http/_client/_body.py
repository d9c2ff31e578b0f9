"""Request bodies: what the caller passed, turned into headers and a chunk source.

The body's framing is decided here, synchronously: a known length gives
``Content-Length``; anything whose length cannot be known before sending (an
async generator, a pipe) is sent chunked.  In-memory bodies and seekable
files can be sent again (for a redirect that keeps the body or a retry);
generators cannot, and the client refuses to replay them.
"""

from __future__ import annotations

import io
import json as jsonlib
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from typing import IO, Any, Union
from urllib.parse import urlencode

__all__ = ["RequestBody", "BodyContent", "FormData", "FileSpec", "encode_request_body", "CHUNK_SIZE"]

CHUNK_SIZE = 64 * 1024
BodyContent = Union[bytes, bytearray, memoryview, str, IO[bytes], AsyncIterable[bytes], Iterable[bytes]]
FormData = Union[Mapping[str, Any], Sequence[tuple[str, Any]]]
FileSpec = Union[bytes, IO[bytes], tuple[str, Union[bytes, IO[bytes]]], tuple[str, Union[bytes, IO[bytes]], str]]


#: One piece of a body: bytes, a binary file (anything with ``read``), or an (async) iterable of bytes.
BodyPart = Union[bytes, IO[bytes], "_Rewinding", AsyncIterable[bytes], Iterable[bytes]]


class RequestBody:
    """The bytes to send after the request head, and how they are framed.

    ``length`` is the exact size, or None for a chunked body.  ``replayable``
    says whether :meth:`chunks` may be called again (redirects, retries).
    """

    __slots__ = ("length", "replayable", "_parts", "_consumed")

    def __init__(self, parts: list[BodyPart], length: int | None, replayable: bool) -> None:
        self._parts = parts
        self.length = length
        self.replayable = replayable
        self._consumed = False

    @property
    def in_memory(self) -> bytes | None:
        """The whole body when it is one bytes object (sent with the head), else None."""
        if len(self._parts) == 1 and isinstance(self._parts[0], bytes):
            return self._parts[0]
        return None

    async def chunks(self) -> AsyncIterator[bytes]:
        """Yield the body in order; each file or stream part read lazily."""
        if self._consumed and not self.replayable:
            raise RuntimeError("this request body is a stream and was already sent")
        self._consumed = True
        for part in self._parts:
            if isinstance(part, bytes):
                if part:
                    yield part
            elif hasattr(part, "read"):
                async for chunk in _read_file(part):  # type: ignore[arg-type]
                    yield chunk
            elif isinstance(part, AsyncIterable):
                async for chunk in part:
                    if chunk:
                        yield _as_bytes(chunk)
            else:
                for chunk in part:
                    if chunk:
                        yield _as_bytes(chunk)


async def _read_file(file: IO[bytes] | _Rewinding) -> AsyncIterator[bytes]:
    # Regular files are read in bounded slices; a slice of the page cache is
    # microseconds, and the sends between slices keep the loop responsive.
    while chunk := file.read(CHUNK_SIZE):
        yield _as_bytes(chunk)


def _as_bytes(chunk: Any) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, (bytearray, memoryview)):
        return bytes(chunk)
    if isinstance(chunk, str):
        return chunk.encode("utf-8")
    raise TypeError(f"request body chunks must be bytes, not {type(chunk).__name__}")


def encode_request_body(
    content: BodyContent | None = None,
    data: FormData | None = None,
    json: Any = None,
    files: Mapping[str, FileSpec] | None = None,
) -> tuple[list[tuple[str, str]], RequestBody | None]:
    """Headers to add and the body for the given arguments (at most one kind)."""
    given = [name for name, value in (("content", content), ("data", data), ("json", json)) if value is not None]
    if len(given) > 1 and not (given == ["data"] and files):
        raise TypeError(f"pass only one of content=, data=, json= (got {', '.join(given)})")
    if files:
        if content is not None or json is not None:
            raise TypeError("files= combines only with data=")
        return _multipart(data or {}, files)
    if json is not None:
        encoded = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
        return [("Content-Type", "application/json")], _in_memory(encoded)
    if data is not None:
        items = list(data.items()) if isinstance(data, Mapping) else list(data)
        encoded = urlencode(items, doseq=True).encode("ascii")
        return [("Content-Type", "application/x-www-form-urlencoded")], _in_memory(encoded)
    if content is None:
        return [], None
    return [], _content_body(content)


def _in_memory(data: bytes) -> RequestBody:
    return RequestBody([data], len(data), True)


def _content_body(content: BodyContent) -> RequestBody:
    if isinstance(content, str):
        return _in_memory(content.encode("utf-8"))
    if isinstance(content, (bytes, bytearray, memoryview)):
        return _in_memory(bytes(content))
    if hasattr(content, "read"):
        return _file_body(content)  # type: ignore[arg-type]
    if isinstance(content, (AsyncIterable, Iterable)):
        return RequestBody([content], None, False)  # type: ignore[list-item]  # narrowed by the checks above
    raise TypeError(f"cannot send {type(content).__name__} as a request body")


def _file_body(file: IO[bytes]) -> RequestBody:
    if isinstance(file, io.TextIOBase):
        raise TypeError("open the file in binary mode ('rb') to send it as a body")
    size = _remaining_size(file)
    return RequestBody([_Rewinding(file) if size is not None else file], size, size is not None)


def _remaining_size(file: IO[bytes]) -> int | None:
    try:
        if not file.seekable():
            return None
        status = os.fstat(file.fileno())
        position = file.tell()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        try:
            position = file.tell()
            end = file.seek(0, os.SEEK_END)
            file.seek(position)
            return end - position
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return None
    import stat

    if not stat.S_ISREG(status.st_mode):
        return None
    return max(0, status.st_size - position)


class _Rewinding:
    """A seekable file that goes back to its starting offset each time it is read from the start."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self._start = file.tell()
        self._fresh = True

    def read(self, size: int) -> bytes:
        if self._fresh:
            self._file.seek(self._start)
            self._fresh = False
        chunk = self._file.read(size)
        if not chunk:
            self._fresh = True
        return chunk


def _multipart(data: FormData, files: Mapping[str, FileSpec]) -> tuple[list[tuple[str, str]], RequestBody]:
    """multipart/form-data (RFC 7578): fields first, then file parts streamed from their files."""
    boundary = uuid.uuid4().hex
    parts: list[BodyPart] = []
    length: int | None = 0
    replayable = True
    items = list(data.items()) if isinstance(data, Mapping) else list(data)
    for name, value in items:
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            text = item if isinstance(item, (bytes, bytearray)) else str(item).encode("utf-8")
            parts.append(_part_head(boundary, name, None, None) + bytes(text) + b"\r\n")
    for name, spec in files.items():
        filename, payload, content_type = _file_spec(name, spec)
        parts.append(_part_head(boundary, name, filename, content_type))
        if isinstance(payload, bytes):
            parts.append(payload)
        else:
            body = _file_body(payload)
            parts.extend(body._parts)
            replayable = replayable and body.replayable
            length = None if length is None or body.length is None else length + body.length
        parts.append(b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode("ascii"))
    if length is not None:
        length += sum(len(part) for part in parts if isinstance(part, bytes))
    return [("Content-Type", f"multipart/form-data; boundary={boundary}")], RequestBody(parts, length, replayable)


def _file_spec(name: str, spec: FileSpec) -> tuple[str, bytes | IO[bytes], str]:
    if isinstance(spec, tuple):
        filename, payload = spec[0], spec[1]
        content_type = spec[2] if len(spec) > 2 else "application/octet-stream"
        return filename, payload, content_type
    if isinstance(spec, (bytes, bytearray)):
        return name, bytes(spec), "application/octet-stream"
    filename = os.path.basename(str(getattr(spec, "name", name)))
    return filename, spec, "application/octet-stream"


def _part_head(boundary: str, name: str, filename: str | None, content_type: str | None) -> bytes:
    disposition = f'form-data; name="{_quote_param(name)}"'
    if filename is not None:
        disposition += f'; filename="{_quote_param(filename)}"'
    lines = [f"--{boundary}", f"Content-Disposition: {disposition}"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _quote_param(value: str) -> str:
    # RFC 7578 §4.2 / WHATWG: percent-encode the three characters that would break the quoting.
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
