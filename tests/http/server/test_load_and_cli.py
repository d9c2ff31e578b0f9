"""A bounded wrk run against the server, and ``python -m tidal serve`` with worker processes."""

from __future__ import annotations

import asyncio
import os
import re
import queue
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.peers import require_binary
from tidal.http import Request, Response

from tests.loop_harness import open_fds
from .helpers import running


async def hello(request: Request) -> Response:
    return Response(b"Hello, world")


def test_wrk_load_has_no_errors_and_leaks_no_fds(run: Callable[..., Any]) -> None:
    wrk = require_binary("wrk")

    async def main() -> None:
        async with running(hello) as server:
            fds_before = len(open_fds())
            process = await asyncio.create_subprocess_exec(
                wrk, "-t1", "-c20", "-d1s", "--timeout", "2s", server.url + "/",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await process.communicate()
            report = out.decode()
            assert process.returncode == 0, err
            requests = int(re.search(r"(\d+) requests in", report).group(1))  # type: ignore[union-attr]
            assert requests > 100, report
            assert "Non-2xx" not in report and "Socket errors" not in report, report
            for _ in range(500):  # wrk has exited; the server notices each close
                if server.active_connections == 0:
                    break
                await asyncio.sleep(0.01)
            assert server.active_connections == 0
            assert len(open_fds()) <= fds_before

    run(main(), timeout=30)


class _LineReader:
    """Reads a child's stdout on a thread, so no line already buffered by ``readline`` is missed.

    ``select`` on a buffered text pipe only sees the fd: when one ``readline``
    pulls two lines into the buffer, the second waits unseen until the timeout.
    """

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def close(self, process: subprocess.Popen[str]) -> None:
        """Wait for the reader to see the exited child's EOF, then close the pipe."""
        self._thread.join(timeout=10)
        assert process.stdout is not None
        process.stdout.close()

    def expect(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """The next stdout line matching ``pattern`` within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        seen = []
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                break
            seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r}; saw {seen!r}")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310 - loopback test URL
        body: bytes = reply.read()
        return body


def test_cli_workers_share_the_port_restart_and_stop_gracefully(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("from a worker\n")
    command = [sys.executable, "-m", "tidal", "serve", str(tmp_path), "--port", "0", "--workers", "2", "--no-access-log"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    lines = _LineReader(process)
    try:
        first = lines.expect(r"worker (\d+) serving .* on (http://\S+)")
        second = lines.expect(r"worker (\d+) serving .* on (http://\S+)")
        assert first.group(2) == second.group(2)  # one port shared by both workers
        url = first.group(2)
        assert _get(url + "/hello.txt") == b"from a worker\n"

        os.kill(int(first.group(1)), signal.SIGKILL)  # a worker dies
        lines.expect(rf"worker {first.group(1)} exited unexpectedly")
        replacement = lines.expect(r"worker (\d+) serving .* on (http://\S+)")
        assert replacement.group(2) == url and replacement.group(1) != first.group(1)
        assert _get(url + "/hello.txt") == b"from a worker\n"

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        for pid in (second.group(1), replacement.group(1)):
            with pytest.raises(ProcessLookupError):
                os.kill(int(pid), 0)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        lines.close(process)


def test_cli_rejects_a_bad_target(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tidal", "serve", str(tmp_path / "missing")], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2 and "neither a directory nor module:app" in result.stderr


APP_MODULE = '''
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    body = ("asgi over " + scope["scheme"]).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})
'''


def test_cli_serves_an_asgi_module_over_tls(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    certificate = authority.issue_cert("localhost")
    certificate.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    (tmp_path / "cliapp.py").write_text(APP_MODULE)
    command = [sys.executable, "-m", "tidal", "serve", "cliapp:app", "--port", "0", "--no-access-log"]
    command += ["--tls-cert", str(tmp_path / "server.pem"), "--tls-key", str(tmp_path / "server.pem")]
    environment = dict(os.environ, PYTHONPATH=os.getcwd())
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=tmp_path, env=environment)
    lines = _LineReader(process)
    try:
        ready = lines.expect(r"serving cliapp:app on (https://\S+)")
        port = ready.group(1).rsplit(":", 1)[1]
        context = ssl.create_default_context()
        authority.configure_trust(context)
        with urllib.request.urlopen(f"https://localhost:{port}/", context=context, timeout=5) as reply:  # noqa: S310
            assert reply.read() == b"asgi over https"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        lines.close(process)
