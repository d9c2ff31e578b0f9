"""``python -m tidal get`` against nginx: a few runs as a real process, the rest in-process on both loops."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tidal._cli import build_parser
from tidal._cli.get import fetch, format_progress

from .conftest import LARGE_SIZE, SMALL_BODY, Nginx

Run = Callable[..., Any]


def tidal_get(*arguments: str, stderr: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "tidal", "get", *arguments], stdout=subprocess.PIPE,
                          stderr=stderr, timeout=60, check=False)


def in_process(run: Run, *arguments: str) -> tuple[int, bytes, str]:
    """The same command run in this process on the loop under test: (status, stdout, stderr)."""
    stdout, stderr = io.BytesIO(), io.StringIO()
    status = run(fetch(build_parser().parse_args(["get", *arguments]), stdout, stderr))
    return status, stdout.getvalue(), stderr.getvalue()


def test_body_to_stdout_and_heads_with_verbose(nginx: Nginx) -> None:
    completed = tidal_get("-v", nginx.url("/small.bin"))
    assert completed.returncode == 0 and completed.stdout == SMALL_BODY
    stderr = completed.stderr.decode()
    assert "> GET /small.bin HTTP/1.1" in stderr and "< HTTP/1.1 200 OK" in stderr
    assert "< Content-Length: 100" in stderr


def test_a_failure_in_a_real_process_is_one_line() -> None:
    refused = tidal_get("http://127.0.0.1:1/")
    assert refused.returncode == 1 and refused.stderr.startswith(b"tidal get: error: cannot connect")
    assert b"Traceback" not in refused.stderr


def test_download_shows_progress_on_a_terminal(nginx: Nginx, tmp_path: Path) -> None:
    controller, terminal = pty.openpty()
    try:
        completed = tidal_get("-o", str(tmp_path / "out.bin"), nginx.url("/large.bin"), stderr=terminal)
        os.close(terminal)
        terminal = -1
        shown = b""
        while True:
            try:
                piece = os.read(controller, 65536)
            except OSError:  # EIO: the terminal side is closed and drained
                break
            if not piece:
                break
            shown += piece
    finally:
        if terminal >= 0:
            os.close(terminal)
        os.close(controller)
    assert completed.returncode == 0
    assert b"100%" in shown and b"4.0 MiB/4.0 MiB" in shown and b"MiB/s" in shown


def test_headers_data_and_method(run: Run, nginx: Nginx) -> None:
    assert in_process(run, "-H", "Authorization: Bearer t", nginx.url("/headers"))[1] == b"auth=Bearer t cookie="
    assert in_process(run, "--data", "a=1", nginx.url("/method"))[1] == b"POST 3 \n"
    assert in_process(run, "-X", "PUT", "-d", "xy", nginx.url("/method"))[1] == b"PUT 2 \n"
    assert in_process(run, "data:,hello") == (0, b"hello", "")


def test_download_to_a_file_without_a_terminal_is_quiet(run: Run, nginx: Nginx, tmp_path: Path) -> None:
    target = tmp_path / "large.bin"
    assert in_process(run, "-o", str(target), nginx.url("/large.bin")) == (0, b"", "")
    assert target.read_bytes() == (nginx.root / "large.bin").read_bytes()


def test_errors_and_fail_status(run: Run, nginx: Nginx) -> None:
    assert in_process(run, "--fail", nginx.url("/status404"))[:2] == (22, b"nope")
    assert in_process(run, nginx.url("/status404"))[0] == 0
    status, _, stderr = in_process(run, "http://127.0.0.1:1/")
    assert status == 1 and stderr.startswith("tidal get: error: cannot connect")
    status, _, stderr = in_process(run, "-H", "no-colon", nginx.url("/"))
    assert status == 2 and "Name: value" in stderr


def test_progress_formatting() -> None:
    assert format_progress(512, 1024, 1.0, width=10) == "[#####-----]  50%  512 B/1.0 KiB  512 B/s  ETA 1s"
    assert format_progress(3 * 1024 * 1024, None, 2.0) == "3.0 MiB  1.5 MiB/s"
    assert format_progress(0, LARGE_SIZE, 0.0).endswith("ETA --")
