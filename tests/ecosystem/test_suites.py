"""Tornado's and Twisted's own test suites, run on tidal's loop.

Each suite runs in a child process (they install event-loop policies and
reactors process-wide) through the runner beside this file; the test fails
on any failure in the suite and checks that the suite really ran.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def run_suite(script: str, timeout: float) -> str:
    """Run a runner script; return its combined output, failing on a non-zero exit."""
    env = dict(os.environ, PYTHONWARNINGS="")
    result = subprocess.run(
        [sys.executable, str(HERE / script)],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=HERE.parent.parent,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    return output


@pytest.mark.timeout(360)  # the whole Tornado suite in a child process (about 45 s on an idle machine)
def test_tornado_suite_passes_on_tidal() -> None:
    pytest.importorskip("tornado")
    output = run_suite("run_tornado.py", timeout=300)
    ran = int(re.search(r"^Ran (\d+) tests", output, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert ran > 1000, output[-2000:]
    assert re.search(r"^OK\b", output, re.MULTILINE), output[-2000:]


def test_twisted_asyncio_reactor_groups_pass_on_tidal() -> None:
    pytest.importorskip("twisted")
    pytest.importorskip("hamcrest")
    output = run_suite("run_twisted.py", timeout=300)
    passed = re.search(r"^PASSED \((?:skips=\d+, )?successes=(\d+)\)", output, re.MULTILINE)
    assert passed is not None and int(passed.group(1)) > 150, output[-2000:]
