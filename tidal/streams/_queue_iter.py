"""``async for`` over a deque that an async callback refills: C when built, Python otherwise.

Theory of operation.  Line iteration (``async for line in text``,
``response.iter_lines()``) hands out one queued item per step, and almost
every step finds it queued already.  As an async generator, each step costs
CPython an ``asend`` object, a resumed frame and a ``StopIteration`` carrying
the item: about 700 instructions, more than splitting the line did.  The
optional C type ``tidal.streams._speedups.QueueIterator`` is its own
awaitable and implements ``am_send``, so a queued item comes back to the
interpreter as a plain return value.  Only when the deque is empty does it
call ``refill()`` and drive the awaitable that returns, passing what it
yields up to the task and what the task sends or throws (a cancellation)
down to it, exactly as ``await`` would.

Both versions behave the same, and the tests run both: items are taken from
the caller's deque only as they are handed out (a consumer that stops
iterating leaves the rest queued), ``refill()`` returning False ends the
iteration, an exception from ``refill()`` propagates and ends it, and
``aclose()`` ends it and awaits ``closer()``.  The C version is built by
``pip install`` when a compiler is available (``setup.py``; optional);
``QUEUE_ITERATOR_IN_C`` says which one is in use, and a non-empty
``TIDAL_NO_SPEEDUPS`` environment variable makes tidal ignore the C module.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["QUEUE_ITERATOR_IN_C", "iterate_queue", "python_iterate_queue"]

_T = TypeVar("_T")


async def _nothing_to_close() -> None:
    return None


def python_iterate_queue(
    queue: deque[_T], refill: Callable[[], Awaitable[bool]], closer: Callable[[], Awaitable[None]] = _nothing_to_close
) -> AsyncIterator[_T]:
    """The pure-Python version of :func:`iterate_queue` (the fallback, and the tests' reference)."""
    return _iterate_queue(queue, refill, closer)


async def _iterate_queue(
    queue: deque[Any], refill: Callable[[], Awaitable[bool]], closer: Callable[[], Awaitable[None]]
) -> AsyncIterator[Any]:
    try:
        while True:
            while queue:
                yield queue.popleft()
            if not await refill():
                return
    except GeneratorExit:  # aclose(), or collected unfinished
        await closer()
        raise


_CQueueIterator: Any = None
if not os.environ.get("TIDAL_NO_SPEEDUPS"):  # set it to compare, or to rule the C code out
    try:
        from ._speedups import QueueIterator as _CQueueIterator
    except ImportError:  # not built (no compiler at install time): the Python version
        pass

QUEUE_ITERATOR_IN_C = _CQueueIterator is not None


def iterate_queue(
    queue: deque[_T], refill: Callable[[], Awaitable[bool]], closer: Callable[[], Awaitable[None]] = _nothing_to_close
) -> AsyncIterator[_T]:
    """Async-iterate ``queue``, awaiting ``refill()`` whenever it is empty (False from it ends the iteration).

    ``aclose()`` on the result ends the iteration and awaits ``closer()``.
    """
    if _CQueueIterator is not None:
        iterator: AsyncIterator[_T] = _CQueueIterator(queue, refill, closer)
        return iterator
    return _iterate_queue(queue, refill, closer)
