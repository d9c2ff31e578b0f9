"""The command line, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_every_layer_on_loopback() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "tidal", "demo", "--messages", "50", "--lines", "3000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    output = completed.stdout
    assert "event loop: tidal.loop" in output
    assert "received back b'hello, tidal\\n'" in output
    assert "50 round trips" in output
    assert "localhost -> " in output and "answered by tidal.dns" in output
    assert "app.txt.gz: 3000 lines read back" in output and "0 malformed" in output
    assert "GET /app.txt: 200 OK, Content-Encoding: gzip, 3000 of 3000 lines decoded" in output
    assert "on the same kept-alive connection: 206 Partial Content, b'2026-11-29T12:00:00'" in output
    assert "every connection finished cleanly" in output
    assert "Traceback" not in completed.stderr, completed.stderr


def test_unknown_command_exits_with_usage_error() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "tidal", "no-such-command"], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 2
    assert "invalid choice" in completed.stderr
