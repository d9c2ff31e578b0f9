"""Loop tests run once on tidal's loop and once on asyncio's (uvloop-style).

Every test that takes the ``loop`` fixture runs on both loops, so behaviour is
pinned against asyncio: a difference is either a bug or a deliberate,
documented deviation.  The fixture fails a test that makes the loop call its
exception handler unexpectedly (a test that expects such calls inspects and
clears ``loop_errors``) or that leaves file descriptors open.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

LOOP_KINDS = ["tidal", "asyncio"]


def make_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A new event loop of the named kind."""
    if kind == "tidal":
        import tidal.loop

        return tidal.loop.new_event_loop()
    if kind == "asyncio":
        return asyncio.SelectorEventLoop()
    raise ValueError(kind)


def open_fds() -> set[int]:
    """The descriptors this process has open (Linux: /proc/self/fd)."""
    try:
        return {int(name) for name in os.listdir("/proc/self/fd")}
    except FileNotFoundError:  # not Linux: leak checks are skipped
        return set()


@pytest.fixture(params=LOOP_KINDS)
def loop_kind(request: pytest.FixtureRequest) -> str:
    """The kind of loop under test: "tidal" or "asyncio"."""
    kind: str = request.param
    return kind


@pytest.fixture
def loop_errors() -> list[dict[str, Any]]:
    """Exception-handler contexts the loop reported during the test."""
    return []


@pytest.fixture
def loop(loop_kind: str, loop_errors: list[dict[str, Any]]) -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh loop of each kind; fails on unexpected handler calls and fd leaks."""
    gc.collect()
    fds_before = open_fds()
    event_loop = make_loop(loop_kind)
    event_loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
    asyncio.set_event_loop(event_loop)
    try:
        yield event_loop
    finally:
        asyncio.set_event_loop(None)
        if not event_loop.is_closed():
            event_loop.run_until_complete(event_loop.shutdown_asyncgens())
            event_loop.run_until_complete(event_loop.shutdown_default_executor())
            event_loop.close()
        gc.collect()
    assert not loop_errors, f"unexpected exception-handler calls: {loop_errors!r}"
    leaked = open_fds() - fds_before
    assert not leaked, f"file descriptors leaked by the test: {sorted(leaked)}"


@pytest.fixture
def run(loop: asyncio.AbstractEventLoop) -> Callable[..., Any]:
    """``run(coro)``: run a coroutine to completion on the loop under test."""

    def run_coroutine(coro: Any, timeout: float = 30.0) -> Any:
        return loop.run_until_complete(asyncio.wait_for(coro, timeout))

    return run_coroutine
