"""Stream tests run on three loops: tidal's, asyncio's default and uvloop.

The ``run`` fixture runs a coroutine on the loop under test and fails the
test when the loop's exception handler was called (an unretrieved task
exception, a callback that raised) or when file descriptors leaked.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

LOOP_KINDS = ["tidal", "asyncio", "uvloop"]


def make_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A new event loop of the named kind."""
    if kind == "tidal":
        import tidal.loop

        return tidal.loop.new_event_loop()
    if kind == "asyncio":
        return asyncio.new_event_loop()
    if kind == "uvloop":
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        return loop
    raise ValueError(kind)


def open_fds() -> set[int]:
    """The descriptors this process has open (Linux: /proc/self/fd)."""
    try:
        return {int(name) for name in os.listdir("/proc/self/fd")}
    except FileNotFoundError:
        return set()


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
    gc.collect()
    fds_before = open_fds()
    errors: list[dict[str, Any]] = []
    event_loop = make_loop(loop_kind)
    event_loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        yield event_loop
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
    """``run(coro, timeout=30)``: run a coroutine to completion on the loop under test."""

    def run_coroutine(coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        async def bounded() -> Any:
            async with asyncio.timeout(timeout):
                return await coro

        return loop.run_until_complete(bounded())

    return run_coroutine
