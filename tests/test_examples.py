"""The stream examples run as documented: each in a subprocess, bounded in time, output checked."""

from __future__ import annotations

import gzip
import os
import re
import select
import signal
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TIMEOUT = 60.0


def run_example(*args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )


def test_gzip_tail_searches_a_generated_sample() -> None:
    result = run_example("gzip_tail.py", "--last", "3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # Every 997th of the 50,000 sample lines is an ERROR: the last three are these.
    assert [re.search(r"request=(\d+)", line).group(1) for line in lines] == ["47856", "48853", "49850"]  # type: ignore[union-attr]
    assert all(" ERROR " in line and line.endswith("café") for line in lines)
    assert "51 of 50000 lines matched" in result.stderr


def test_gzip_tail_on_a_given_multi_member_latin1_log(tmp_path: Path) -> None:
    path = tmp_path / "app.log.gz"
    with gzip.open(path, "wt", encoding="latin-1") as log:
        log.write("GET /a status=200\nGET /é status=503\n")
    with gzip.open(path, "at", encoding="latin-1") as log:  # a second gzip member
        log.write("GET /b status=500\r\nGET /c status=404\n")
    result = run_example("gzip_tail.py", r"status=5\d\d", str(path), "--encoding", "latin-1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["GET /é status=503", "GET /b status=500"]
    assert "2 of 4 lines matched" in result.stderr


def test_gzip_tail_reports_a_corrupt_log(tmp_path: Path) -> None:
    path = tmp_path / "cut.log.gz"
    path.write_bytes(gzip.compress(b"ERROR one\n" * 1000)[:-5])
    result = run_example("gzip_tail.py", "ERROR", str(path))
    assert result.returncode == 1
    assert "invalid" in result.stderr and "cut.log.gz" in result.stderr


def test_echo_server_and_client() -> None:
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "echo_server.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    try:
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], TIMEOUT)
        assert ready, "the server did not report its port"
        banner = server.stdout.readline()
        match = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", banner)
        assert match, banner
        result = run_example("echo_client.py", "127.0.0.1", match.group(1), "hello", "naïve café", "東京 ✓")
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [
            "echoed: hello",
            "echoed: naïve café",
            "echoed: 東京 ✓",
            "server closed the connection (0 characters after the last echo)",
        ]
        server.send_signal(signal.SIGTERM)
        output, errors = server.communicate(timeout=TIMEOUT)
        assert server.returncode == 0, errors
        assert re.search(r"echoed 30 bytes\nserver closed\n$", output), output
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()


def test_echo_client_reports_a_refused_connection() -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on: bound, never listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        result = run_example("echo_client.py", "127.0.0.1", str(port), "x", "--timeout", "5")
    assert result.returncode == 1
    assert f"cannot connect to 127.0.0.1:{port}" in result.stderr
