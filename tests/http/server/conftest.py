"""Server tests run on tidal's loop and on asyncio's.

The ``run`` fixture runs a coroutine on the loop under test and fails the
test when the loop's exception handler was called, when a task is left
pending, or when file descriptors leaked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.loop_harness import checked_loop, runner

LOOP_KINDS = ["tidal", "asyncio"]


@pytest.fixture(params=LOOP_KINDS)
def loop_kind(request: pytest.FixtureRequest) -> str:
    """The loop under test: "tidal" or "asyncio"."""
    kind: str = request.param
    return kind


@pytest.fixture
def loop(loop_kind: str) -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh loop; fails on exception-handler calls, pending tasks and leaked fds."""
    with checked_loop(loop_kind, forbid_pending_tasks=True) as event_loop:
        yield event_loop


@pytest.fixture
def run(loop: asyncio.AbstractEventLoop) -> Callable[..., Any]:
    """``run(coro, timeout=20)``: run a coroutine to completion on the loop under test."""
    return runner(loop, 20.0)
