"""StaticFiles: listings, traversal, conditional requests, ranges and gzip."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tidal.http import StaticFiles

from .helpers import RawClient, running

TEXT = "line of text\n" * 200  # 2600 bytes, compressible


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    (root / "page.txt").write_text(TEXT)
    (root / "blob.bin").write_bytes(bytes(range(256)) * 4)
    (root / "<script>&name.txt").write_text("x")
    (root / "sub" / "index.html").write_text("<h1>sub index</h1>")
    (tmp_path / "secret.txt").write_text("outside")
    (root / "escape").symlink_to(tmp_path / "secret.txt")
    return root


def test_listing_escapes_names_and_index_is_served(run: Callable[..., Any], site: Path) -> None:
    async def main() -> None:
        async with running(StaticFiles(site)) as server:
            client = await RawClient.connect(server)
            listing = await client.request("GET", "/")
            assert listing.headers["content-type"] == "text/html; charset=utf-8"
            assert b"&lt;script&gt;&amp;name.txt" in listing.body and b"<script>" not in listing.body
            assert b'href="%3Cscript%3E%26name.txt"' in listing.body and b'href="sub/"' in listing.body
            redirect = await client.request("GET", "/sub?x=1")
            assert (redirect.status, redirect.headers["location"]) == (301, "/sub/?x=1")
            assert (await client.request("GET", "/sub/")).body == b"<h1>sub index</h1>"
            assert (await client.request("GET", "/missing")).status == 404
            assert (await client.request("POST", "/page.txt")).status == 405
            await client.close()

    run(main())


@pytest.mark.parametrize(
    "target", ["/../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt", "/escape", "/a%00b", "/..%5csecret.txt"]
)
def test_traversal_is_refused(run: Callable[..., Any], site: Path, target: str) -> None:
    async def main() -> None:
        async with running(StaticFiles(site)) as server:
            client = await RawClient.connect(server)
            reply = await client.request("GET", target)
            assert reply.status == 403 and b"outside" not in reply.body
            await client.close()

    run(main())


def test_etag_and_last_modified_give_304(run: Callable[..., Any], site: Path) -> None:
    async def main() -> None:
        async with running(StaticFiles(site)) as server:
            client = await RawClient.connect(server)
            first = await client.request("GET", "/blob.bin")
            etag, modified = first.headers["etag"], first.headers["last-modified"]
            assert first.body == bytes(range(256)) * 4 and first.headers["content-type"] == "application/octet-stream"
            again = await client.request("GET", "/blob.bin", [("If-None-Match", f'"other", {etag}')])
            assert (again.status, again.body, again.headers["etag"]) == (304, b"", etag)
            assert (await client.request("GET", "/blob.bin", [("If-None-Match", '"other"')])).status == 200
            assert (await client.request("GET", "/blob.bin", [("If-Modified-Since", modified)])).status == 304
            os.utime(site / "blob.bin", (1, 1))
            changed = await client.request("GET", "/blob.bin", [("If-None-Match", etag)])
            assert changed.status == 200 and changed.headers["etag"] != etag
            await client.close()

    run(main())


@pytest.mark.parametrize(
    ("header", "status", "content_range", "expected"),
    [
        ("bytes=0-9", 206, "bytes 0-9/1024", bytes(range(10))),
        ("bytes=1020-", 206, "bytes 1020-1023/1024", bytes(range(252, 256))),
        ("bytes=-3", 206, "bytes 1021-1023/1024", bytes(range(253, 256))),
        ("bytes=1000-5000", 206, "bytes 1000-1023/1024", bytes(range(232, 256))),
        ("bytes=2000-", 416, "bytes */1024", b""),
        ("bytes=0-1,5-6", 200, None, bytes(range(256)) * 4),
        ("lines=1-2", 200, None, bytes(range(256)) * 4),
        ("bytes=abc", 200, None, bytes(range(256)) * 4),
    ],
)
def test_ranges(
    run: Callable[..., Any], site: Path, header: str, status: int, content_range: str | None, expected: bytes
) -> None:
    async def main() -> None:
        async with running(StaticFiles(site)) as server:
            client = await RawClient.connect(server)
            reply = await client.request("GET", "/blob.bin", [("Range", header)])
            assert (reply.status, reply.body, reply.headers.get("content-range")) == (status, expected, content_range)
            stale = await client.request("GET", "/blob.bin", [("Range", "bytes=0-1"), ("If-Range", '"stale"')])
            assert stale.status == 200 and len(stale.body) == 1024
            await client.close()

    run(main())


def test_gzip_only_for_text_and_willing_clients(run: Callable[..., Any], site: Path) -> None:
    async def main() -> None:
        async with running(StaticFiles(site)) as server:
            client = await RawClient.connect(server)
            packed = await client.request("GET", "/page.txt", [("Accept-Encoding", "br;q=1, gzip;q=0.5")])
            assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding"
            assert gzip.decompress(packed.body).decode() == TEXT and len(packed.body) < len(TEXT) // 5
            plain = await client.request("GET", "/page.txt", [("Accept-Encoding", "gzip;q=0")])
            assert "content-encoding" not in plain.headers and plain.body.decode() == TEXT
            assert packed.headers["etag"] != plain.headers["etag"]
            binary = await client.request("GET", "/blob.bin", [("Accept-Encoding", "gzip")])
            assert "content-encoding" not in binary.headers
            head = await client.request("HEAD", "/page.txt")
            assert head.headers["content-length"] == str(len(TEXT)) and head.body == b""
            await client.close()

    run(main())


def test_static_files_needs_a_directory(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        StaticFiles(tmp_path / "nope")
