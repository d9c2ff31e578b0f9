"""A concurrency limit that is not tied to one event loop.

``asyncio.Semaphore`` binds itself to the first loop that waits on it, and a
resolver may outlive a loop (a module-level resolver used by successive
``asyncio.run`` calls).  This limiter creates each waiter's future on the
loop running at the time and hands a freed slot straight to the oldest
waiter, so a burst cannot starve anyone.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType

__all__ = ["ConcurrencyLimit"]


class ConcurrencyLimit:
    """At most ``limit`` holders at once; ``async with limit:`` takes a slot."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"the concurrency limit must be at least 1, not {limit}")
        self.limit = limit
        self._free = limit
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def in_use(self) -> int:
        """Slots currently held."""
        return self.limit - self._free

    def try_acquire(self) -> bool:
        """Take a slot if one is free right now (and nobody waits); never blocks."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    async def acquire(self) -> None:
        """Wait for a free slot and take it."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give a slot back, to the oldest waiter if there is one."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()
