"""``python -m tidal get URL``: fetch a URL the way curl and httpie do.

The body goes to stdout (or ``-o FILE``) as it arrives; ``-v`` prints the
request and the response head to stderr (``>`` and ``<`` lines, as curl
does).  A download to a file shows a progress bar with rate and ETA when
stderr is a terminal, and nothing otherwise, so scripts get plain output.
Exit status: 0, 1 for a failed request (the error printed on stderr), 22
for a 4xx/5xx with ``--fail`` (curl's code).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import IO, Any

import tidal.loop

__all__ = ["add_parser", "fetch", "format_progress"]


def add_parser(subparsers: Any) -> None:
    """Register the ``get`` subcommand."""
    parser = subparsers.add_parser("get", help="fetch a URL (http, https, file, data) like curl")
    parser.add_argument("url", help="the URL to fetch")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the body to FILE instead of stdout")
    parser.add_argument("-H", "--header", action="append", default=[], metavar="'NAME: VALUE'",
                        help="add a request header (repeatable)")
    parser.add_argument("-d", "--data", metavar="DATA",
                        help="send DATA as the body (POST unless -X is given); @FILE reads a file")
    parser.add_argument("-X", "--request", dest="method", metavar="METHOD", help="the request method")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the request and response heads to stderr")
    parser.add_argument("-k", "--insecure", action="store_true", help="do not verify the server's TLS certificate")
    parser.add_argument("--no-follow", action="store_true", help="do not follow redirects")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-phase timeout in seconds (default 30)")
    parser.add_argument("--fail", action="store_true", help="exit with status 22 on a 4xx or 5xx response")
    parser.set_defaults(handler=_handle)


def _handle(arguments: argparse.Namespace) -> int:
    return tidal.loop.run(fetch(arguments, sys.stdout.buffer, sys.stderr))


def _parse_headers(lines: list[str]) -> list[tuple[str, str]]:
    headers = []
    for line in lines:
        name, separator, value = line.partition(":")
        if not separator or not name.strip():
            raise ValueError(f"header must look like 'Name: value', got {line!r}")
        headers.append((name.strip(), value.strip()))
    return headers


def _body(data: str | None) -> bytes | None:
    if data is None:
        return None
    if data.startswith("@"):
        with open(data[1:], "rb") as file:
            return file.read()
    return data.encode("utf-8")


async def fetch(arguments: argparse.Namespace, stdout: IO[bytes], stderr: IO[str]) -> int:
    """Run one ``get`` command; returns the exit status."""
    from tidal import http

    try:
        headers = _parse_headers(arguments.header)
        body = _body(arguments.data)
    except (ValueError, OSError) as exc:
        print(f"tidal get: error: {exc}", file=stderr)
        return 2
    method = arguments.method or ("POST" if body is not None else "GET")
    if arguments.url.split(":", 1)[0].lower() in ("file", "data"):
        try:
            response = await http.urlopen(arguments.url)
        except (http.HTTPError, OSError) as exc:
            print(f"tidal get: error: {exc}", file=stderr)
            return 1
        return _write_whole(response.content, arguments, stdout, stderr)
    client = http.Client(verify=not arguments.insecure, timeout=arguments.timeout,
                         follow_redirects=not arguments.no_follow)
    try:
        async with client, client.stream(method, arguments.url, headers=headers, content=body) as response:
            if arguments.verbose:
                _print_heads(response, stderr)
            await _save_body(response, arguments.output, stdout, stderr)
    except (http.HTTPError, OSError) as exc:
        print(f"tidal get: error: {exc}", file=stderr)
        return 1
    return 22 if arguments.fail and response.status >= 400 else 0


def _write_whole(content: bytes, arguments: argparse.Namespace, stdout: IO[bytes], stderr: IO[str]) -> int:
    if arguments.output:
        with open(arguments.output, "wb") as file:
            file.write(content)
    else:
        stdout.write(content)
        stdout.flush()
    return 0


def _print_heads(response: Any, stderr: IO[str]) -> None:
    for hop in [*response.history, response]:
        request = hop.request
        print(f"> {request.method} {request.url.target} HTTP/1.1", file=stderr)
        print(f"> Host: {request.url.host_header}", file=stderr)
        for name, value in request.headers.fields():
            shown = "[hidden]" if name.lower() in ("authorization", "proxy-authorization", "cookie") else value
            print(f"> {name}: {shown}", file=stderr)
        print(">", file=stderr)
        print(f"< {hop.http_version} {hop.status} {hop.reason}", file=stderr)
        for name, value in hop.headers.fields():
            print(f"< {name}: {value}", file=stderr)
        print("<", file=stderr)


async def _save_body(response: Any, output: str | None, stdout: IO[bytes], stderr: IO[str]) -> None:
    total = _content_length(response) if not response.headers.get("content-encoding") else None
    show_progress = output is not None and stderr.isatty()
    progress = _Progress(total, stderr) if show_progress else None
    target = open(output, "wb") if output is not None else stdout
    try:
        async for chunk in response.iter_bytes():
            target.write(chunk)
            if progress is not None:
                progress.advance(len(chunk))
        if output is None:
            target.flush()
    finally:
        if output is not None:
            target.close()
        if progress is not None:
            progress.finish()


def _content_length(response: Any) -> int | None:
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


class _Progress:
    """A one-line progress bar redrawn at most ten times a second."""

    def __init__(self, total: int | None, stream: IO[str]) -> None:
        self._total = total
        self._stream = stream
        self._done = 0
        self._started = time.monotonic()
        self._drawn_at = 0.0

    def advance(self, count: int) -> None:
        self._done += count
        now = time.monotonic()
        if now - self._drawn_at >= 0.1:
            self._drawn_at = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        line = format_progress(self._done, self._total, now - self._started)
        self._stream.write("\r" + line.ljust(79))
        self._stream.flush()

    def finish(self) -> None:
        self._draw(time.monotonic())
        self._stream.write("\n")
        self._stream.flush()


def format_progress(done: int, total: int | None, elapsed: float, width: int = 24) -> str:
    """``[#####-----]  45%  4.5/10.0 MiB  2.1 MiB/s  ETA 3s`` (no bar or ETA when the size is unknown)."""
    rate = done / elapsed if elapsed > 0 else 0.0
    speed = f"{_size(rate)}/s"
    if total is None or total <= 0:
        return f"{_size(done)}  {speed}"
    fraction = min(1.0, done / total)
    filled = int(fraction * width)
    eta = (total - done) / rate if rate > 0 else float("inf")
    eta_text = "--" if eta == float("inf") else f"{eta:.0f}s"
    bar = "#" * filled + "-" * (width - filled)
    return f"[{bar}] {fraction * 100:3.0f}%  {_size(done)}/{_size(total)}  {speed}  ETA {eta_text}"


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"
