"""curl as a real client: keep-alive, chunked upload, ranges, gzip, TLS, HTTP/1.0."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.peers import require_binary
from tidal.http import Request, Response, StaticFiles

from .helpers import running

FILE_BYTES = bytes(range(256)) * 1024  # 256 KiB


@pytest.fixture
def curl() -> str:
    return require_binary("curl")


@pytest.fixture
def app(tmp_path: Path) -> Callable[[Request], Any]:
    (tmp_path / "data.bin").write_bytes(FILE_BYTES)
    (tmp_path / "notes.txt").write_text("tidal notes\n" * 500)
    static = StaticFiles(tmp_path)

    async def handler(request: Request) -> Response:
        if request.path == "/upload":
            digest = hashlib.sha256()
            total = 0
            async for chunk in request.stream():
                digest.update(chunk)
                total += len(chunk)
            encoding = request.headers.get("transfer-encoding", "-")
            return Response(f"{total} {digest.hexdigest()} {encoding} HTTP/{request.http_version}")
        return await static(request)

    return handler


async def run_curl(curl: str, *arguments: str) -> tuple[int, bytes, str]:
    process = await asyncio.create_subprocess_exec(
        curl, "--silent", "--show-error", "--max-time", "10", *arguments,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout, stderr.decode(errors="replace")


def test_keep_alive_across_two_urls(run: Callable[..., Any], curl: str, app: Any) -> None:
    async def main() -> None:
        async with running(app) as server:
            code, out, err = await run_curl(curl, "-v", f"{server.url}/notes.txt", f"{server.url}/data.bin")
            assert code == 0, err
            assert out == b"tidal notes\n" * 500 + FILE_BYTES
            assert "Re-using existing connection" in err or "Reusing existing connection" in err

    run(main())


def test_chunked_upload_and_http10(run: Callable[..., Any], curl: str, app: Any, tmp_path: Path) -> None:
    upload = tmp_path / "upload.bin"
    upload.write_bytes(FILE_BYTES * 4)
    expected = hashlib.sha256(FILE_BYTES * 4).hexdigest()

    async def main() -> None:
        async with running(app) as server:
            code, out, err = await run_curl(
                curl, "-H", "Transfer-Encoding: chunked", "--data-binary", f"@{upload}", f"{server.url}/upload"
            )
            assert code == 0, err
            assert out.decode() == f"{len(FILE_BYTES) * 4} {expected} chunked HTTP/1.1"
            code, out, err = await run_curl(curl, "--http1.0", "-v", "--data-binary", "abc", f"{server.url}/upload")
            assert code == 0, err
            assert out.decode().endswith(" - HTTP/1.0") and out.startswith(b"3 ")

    run(main())


def test_range_and_compressed(run: Callable[..., Any], curl: str, app: Any) -> None:
    async def main() -> None:
        async with running(app) as server:
            code, out, err = await run_curl(curl, "-r", "256-511", "-w", " %{http_code}", f"{server.url}/data.bin")
            assert code == 0, err
            assert out == bytes(range(256)) + b" 206"
            code, out, err = await run_curl(curl, "--compressed", "-v", f"{server.url}/notes.txt")
            assert code == 0, err
            assert out == b"tidal notes\n" * 500 and "content-encoding: gzip" in err.lower()

    run(main())


def test_tls_with_trustme_certificates(run: Callable[..., Any], curl: str, app: Any, tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))

    async def main() -> None:
        async with running(app, ssl=context) as server:
            assert server.url.startswith("https://")
            url = f"https://localhost:{server.port}"
            resolve = f"localhost:{server.port}:127.0.0.1"
            code, out, err = await run_curl(
                curl, "--cacert", str(ca_file), "--resolve", resolve, "-v", f"{url}/data.bin", f"{url}/notes.txt"
            )
            assert code == 0, err
            assert out == FILE_BYTES + b"tidal notes\n" * 500
            code, _, err = await run_curl(curl, "--resolve", resolve, f"{url}/notes.txt")  # untrusted: refused
            assert code == 60, err

    run(main())
