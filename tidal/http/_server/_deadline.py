"""One reusable timer per direction of a connection.

Theory of operation.  Every wait of a connection (a receive, a send) has a
deadline, and there are several waits per request, so an ``asyncio.timeout``
per wait would create and cancel a timer handle each time.  A
:class:`Deadline` instead keeps at most one timer handle alive: moving the
deadline later is an attribute store, and when the old timer fires early it
just re-arms itself at the new deadline.  Only an earlier deadline replaces
the handle.  Between waits the deadline is cleared, so time spent in the
application's handler never counts against the client.

When a deadline passes during a wait, the waiting task is cancelled and
:meth:`Deadline.run` turns that cancellation (and only that one, checked with
``Task.uncancel``) into :class:`TimeoutError`.  The streams guarantee that a
cancelled receive loses no bytes, so a timed-out wait leaves nothing
half-done except a send, after which the connection is closed anyway.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from typing import Any, TypeVar

__all__ = ["Deadline"]

_T = TypeVar("_T")
_NEVER = math.inf


class Deadline:
    """A cancel-on-expiry timer for one direction of one connection."""

    __slots__ = ("_loop", "_when", "_handle", "_task", "_fired")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._when = _NEVER
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[Any] | None = None
        self._fired = False

    async def run(self, awaitable: Awaitable[_T], seconds: float) -> _T:
        """Await ``awaitable``; raise :class:`TimeoutError` if it takes over ``seconds``."""
        return await self.run_until(awaitable, self._loop.time() + seconds)

    async def run_until(self, awaitable: Awaitable[_T], when: float) -> _T:
        """Await ``awaitable``; raise :class:`TimeoutError` if it is still waiting at loop time ``when``."""
        self.arm(when)
        try:
            return await awaitable
        except asyncio.CancelledError:
            self.raise_if_expired()
            raise
        finally:
            self.disarm()

    # The three steps of run_until(), for hot paths that cannot afford two
    # extra coroutine frames per wait:
    #     deadline.arm(when)
    #     try: await ...
    #     except CancelledError: deadline.raise_if_expired(); raise
    #     finally: deadline.disarm()

    def arm(self, when: float, task: asyncio.Task[Any] | None = None) -> None:
        """Cancel ``task`` (default: the current one) if it is still waiting at loop time ``when``."""
        if task is None:
            task = asyncio.current_task(self._loop)
            assert task is not None, "a Deadline must be armed inside a task"
        self._task = task
        self._when = when
        handle = self._handle
        if handle is None or handle.when() > when:
            if handle is not None:
                handle.cancel()
            self._handle = self._loop.call_at(when, self._expire)

    def raise_if_expired(self) -> None:
        """Inside ``except CancelledError``: raise ``TimeoutError`` if this deadline caused it."""
        if self._fired:
            self._fired = False
            task = self._task
            if task is not None and task.uncancel() == 0:
                raise TimeoutError from None

    def disarm(self) -> None:
        """The wait is over (whatever its outcome)."""
        self._when = _NEVER
        self._task = None

    def _expire(self) -> None:
        self._handle = None
        when = self._when
        if when == _NEVER or self._task is None:
            return
        if self._loop.time() < when:
            self._handle = self._loop.call_at(when, self._expire)
            return
        self._when = _NEVER
        self._fired = True
        self._task.cancel()

    def close(self) -> None:
        """Drop the timer handle (the connection is done)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._when = _NEVER
