"""Waking a task blocked in a socket operation when its stream is closed.

``loop.sock_recv_into()`` and friends offer no way to abort a pending
operation except cancelling the task that awaits it.  So a stream records
which task is inside each operation; ``aclose()`` cancels that task and marks
the cancellation as its own, and the operation turns exactly that
cancellation into :class:`StreamClosed` (``Task.uncancel()`` keeps the task's
cancellation count honest, so an enclosing ``asyncio.timeout()`` is not
confused).  ``aclose()`` then waits for the operation to leave before closing
the socket, because the loop's cleanup of a cancelled operation (removing
its reader) must run while the descriptor still exists.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from ._errors import StreamClosed

__all__ = ["InterruptibleOperation", "wait_interrupted"]

_T = TypeVar("_T")


class InterruptibleOperation:
    """Tracks the one task inside an operation so that ``aclose()`` can wake it."""

    __slots__ = ("_task", "_interrupted", "_exited", "_closed_message")

    def __init__(self, closed_message: str) -> None:
        self._task: asyncio.Task[object] | None = None
        self._interrupted = False
        self._exited: asyncio.Future[None] | None = None
        self._closed_message = closed_message

    async def run(self, operation: Awaitable[_T]) -> _T:
        """Await ``operation``; raise :class:`StreamClosed` if :meth:`interrupt` stops it."""
        task = asyncio.current_task()
        assert task is not None, "stream operations must run inside a task"
        self._task = task
        try:
            return await operation
        except asyncio.CancelledError:
            if self._interrupted:
                task.uncancel()
                raise StreamClosed(self._closed_message) from None
            raise
        finally:
            self._task = None
            self._interrupted = False
            if self._exited is not None and not self._exited.done():
                self._exited.set_result(None)
            self._exited = None

    def interrupt(self) -> asyncio.Future[None] | None:
        """Cancel the task inside the operation; return a future set once it has left."""
        if self._task is None or self._task.done():
            return None
        self._interrupted = True
        self._task.cancel()
        self._exited = asyncio.get_running_loop().create_future()
        return self._exited


async def wait_interrupted(*operations: InterruptibleOperation) -> None:
    """Interrupt each operation and wait until all of them have left."""
    waiters = [waiter for operation in operations if (waiter := operation.interrupt()) is not None]
    if waiters:
        await asyncio.wait(waiters)
