"""Stream tests run on three loops: tidal's, asyncio's default and uvloop.

The ``run`` fixture runs a coroutine on the loop under test and fails the
test when the loop's exception handler was called (an unretrieved task
exception, a callback that raised) or when file descriptors leaked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.loop_harness import checked_loop, make_loop, runner

LOOP_KINDS = ["tidal", "asyncio", "uvloop"]


@pytest.fixture(scope="session", autouse=True)
def _warm_up_uvloop() -> None:
    # libuv opens process-wide descriptors with its first loop; open them
    # before any test measures its own descriptors.
    warm = make_loop("uvloop")
    warm.run_until_complete(asyncio.sleep(0))
    warm.close()


@pytest.fixture(params=LOOP_KINDS)
def loop_kind(request: pytest.FixtureRequest) -> str:
    """The loop under test: "tidal", "asyncio" or "uvloop"."""
    kind: str = request.param
    return kind


@pytest.fixture
def loop(loop_kind: str) -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh loop; fails the test on exception-handler calls or leaked fds."""
    with checked_loop(loop_kind) as event_loop:
        yield event_loop


@pytest.fixture
def run(loop: asyncio.AbstractEventLoop) -> Callable[..., Any]:
    """``run(coro, timeout=30)``: run a coroutine to completion on the loop under test."""
    return runner(loop, 30.0)
