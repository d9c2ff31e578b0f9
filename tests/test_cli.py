"""The command line, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_an_echo_round_trip_on_tidals_loop() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "tidal", "demo", "--messages", "50"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    output = completed.stdout
    assert "event loop: tidal.loop" in output
    assert "received back b'hello, tidal\\n'" in output
    assert "50 round trips" in output
    assert "every connection finished cleanly" in output
    assert "Traceback" not in completed.stderr, completed.stderr


def test_unknown_command_exits_with_usage_error() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "tidal", "no-such-command"], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 2
    assert "invalid choice" in completed.stderr
