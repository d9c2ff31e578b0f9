"""examples/tk_embed.py runs asyncio work to completion with Tk as the only driver.

The example is run in a subprocess against a private Xvfb server.  Xvfb picks
a free display number itself (``-displayfd``) and writes it to a pipe, so two
test runs on one machine never race for a display.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers import require_binary

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tk_embed.py"
XVFB_START_TIMEOUT = 15.0
EXAMPLE_TIMEOUT = 60.0


def _read_display_number(pipe_fd: int, xvfb: subprocess.Popen[bytes]) -> str:
    """The display number Xvfb writes on ``-displayfd`` once it accepts clients."""
    ready, _, _ = select.select([pipe_fd], [], [], XVFB_START_TIMEOUT)
    number = os.read(pipe_fd, 64).decode().strip() if ready else ""
    if not number.isdigit():
        stderr = xvfb.stderr.read().decode(errors="replace") if xvfb.poll() is not None and xvfb.stderr else ""
        pytest.fail(f"Xvfb did not report a display within {XVFB_START_TIMEOUT} s: {stderr[-500:]}")
    return number


@pytest.fixture(scope="module")
def x_display() -> Iterator[str]:
    """``:N`` of a private Xvfb server started for this module, stopped by PID after."""
    pytest.importorskip("tkinter")
    xvfb_path = require_binary("Xvfb")
    read_fd, write_fd = os.pipe()
    command = [xvfb_path, "-displayfd", str(write_fd), "-nolisten", "tcp", "-screen", "0", "640x480x24"]
    xvfb = subprocess.Popen(command, pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(write_fd)
    try:
        yield ":" + _read_display_number(read_fd, xvfb)
    finally:
        os.close(read_fd)
        xvfb.terminate()
        try:
            xvfb.wait(10)
        except subprocess.TimeoutExpired:
            xvfb.kill()
            xvfb.wait()
        if xvfb.stderr:
            xvfb.stderr.close()


def run_example(display: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the example under ``display`` with the repository importable."""
    root = str(EXAMPLE.parents[1])
    env = dict(os.environ, DISPLAY=display, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT,
        check=False,
    )


def test_self_test_completes_through_tk_file_handler(x_display: str) -> None:
    result = run_example(x_display, "--self-test", "--timeout", "30")
    assert result.returncode == 0, result.stderr
    assert "ticker, echo and thread wake-up all completed through Tk" in result.stdout


def test_self_test_completes_with_polling_fallback(x_display: str) -> None:
    # The path Tk takes where createfilehandler is missing (Windows).
    result = run_example(x_display, "--self-test", "--no-file-handler", "--timeout", "30")
    assert result.returncode == 0, result.stderr
    assert "completed through Tk" in result.stdout


def test_timeout_is_reported_as_failure(x_display: str) -> None:
    # A demo that cannot finish in time must fail, not hang or pass.
    result = run_example(x_display, "--timeout", "0.2")
    assert result.returncode == 1
    assert "TimeoutError" in result.stderr
