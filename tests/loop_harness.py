"""The loop fixtures' machinery, shared by every test package.

Each package's conftest picks its loop kinds and timeout; what a checked loop
means is defined once here: a fresh loop whose exception handler must stay
silent, whose async generators and default executor are shut down, and
which must not leave file descriptors (or, on request, tasks) behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import Callable, Coroutine, Iterator
from typing import Any


def make_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A new event loop of the named kind: "tidal", "asyncio" or "uvloop"."""
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
    """The descriptors this process has open (Linux: /proc/self/fd; elsewhere none are checked)."""
    try:
        return {int(name) for name in os.listdir("/proc/self/fd")}
    except FileNotFoundError:
        return set()


@contextlib.contextmanager
def checked_loop(kind: str, *, forbid_pending_tasks: bool = False) -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh loop of ``kind``; fails on exception-handler calls, leaked fds (and pending tasks)."""
    gc.collect()
    fds_before = open_fds()
    errors: list[dict[str, Any]] = []
    event_loop = make_loop(kind)
    event_loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        yield event_loop
        if forbid_pending_tasks:
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


def runner(loop: asyncio.AbstractEventLoop, default_timeout: float) -> Callable[..., Any]:
    """``run(coro, timeout=default_timeout)``: run a coroutine to completion on ``loop``, bounded."""

    def run_coroutine(coro: Coroutine[Any, Any, Any], timeout: float = default_timeout) -> Any:
        async def bounded() -> Any:
            async with asyncio.timeout(timeout):
                return await coro

        return loop.run_until_complete(bounded())

    return run_coroutine
