"""Server tests run on tidal's loop and on asyncio's.

The ``run`` fixture runs a coroutine on the loop under test and fails the
test when the loop's exception handler was called, when a task is left
pending, or when file descriptors leaked.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

LOOP_KINDS = ["tidal", "asyncio"]


def make_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A new event loop of the named kind."""
    if kind == "tidal":
        import tidal.loop

        return tidal.loop.new_event_loop()
    return asyncio.new_event_loop()


def open_fds() -> set[int]:
    """The descriptors this process has open (Linux: /proc/self/fd)."""
    try:
        return {int(name) for name in os.listdir("/proc/self/fd")}
    except FileNotFoundError:
        return set()


@pytest.fixture(params=LOOP_KINDS)
def loop_kind(request: pytest.FixtureRequest) -> str:
    """The loop under test: "tidal" or "asyncio"."""
    kind: str = request.param
    return kind


@pytest.fixture
def loop(loop_kind: str) -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh loop; fails on exception-handler calls, pending tasks and leaked fds."""
    gc.collect()
    fds_before = open_fds()
    errors: list[dict[str, Any]] = []
    event_loop = make_loop(loop_kind)
    event_loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        yield event_loop
        pending = [task for task in asyncio.all_tasks(event_loop) if not task.done()]
        assert not pending, f"tasks left running: {pending!r}"
    finally:
        event_loop.run_until_complete(event_loop.shutdown_asyncgens())
        event_loop.run_until_complete(event_loop.shutdown_default_executor())
        event_loop.close()
        gc.collect()
    assert not errors, f"unexpected exception-handler calls: {errors!r}"
    leaked = open_fds() - fds_before
    assert not leaked, f"file descriptors leaked by the test: {sorted(leaked)}"


@pytest.fixture
def run(loop: asyncio.AbstractEventLoop) -> Callable[..., Any]:
    """``run(coro, timeout=20)``: run a coroutine to completion on the loop under test."""

    def run_coroutine(coro: Coroutine[Any, Any, Any], timeout: float = 20.0) -> Any:
        async def bounded() -> Any:
            async with asyncio.timeout(timeout):
                return await coro

        return loop.run_until_complete(bounded())

    return run_coroutine
