"""A virtual clock: timeout tests that take milliseconds, on tidal's loop and asyncio's.

Theory of operation
-------------------
Both loops ask two questions per iteration: "what time is it?"
(``loop.time()``) and "wait for I/O for at most ``timeout`` seconds" (the
selector's or poller's ``select``/``poll``), where ``timeout`` is the
distance to the next timer.  The clock answers the first from its own
counter, and wraps the I/O wait: it first polls without blocking (or for
``autojump_threshold`` real seconds); if no I/O is ready, every task is
idle and waiting for a timer, so instead of sleeping it *advances the
virtual time by exactly ``timeout``* and returns -- the loop then finds the
timer due and runs it.  A 30-second timeout therefore costs one loop
iteration, and the order in which timers fire is the real order.

Only timers jump.  With no timer pending the wait is real (a test waiting
for real I/O still works).  Work in other threads (``run_in_executor``) is
invisible to the clock: raise ``autojump_threshold`` to give it real time
before the clock jumps, or keep such tests on the real clock.
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any

__all__ = ["VirtualClock"]


class VirtualClock:
    """Virtual time for an event loop; see the module docstring.

    ``clock.new_event_loop("tidal")`` or ``clock.new_event_loop("asyncio")``
    returns a loop that reads this clock and jumps it forward whenever every
    task is waiting for a timer.
    """

    def __init__(self, start: float = 0.0, *, autojump_threshold: float = 0.0) -> None:
        self._now = start
        self.autojump_threshold = autojump_threshold
        self.jumps = 0

    def time(self) -> float:
        """The current virtual time, in seconds."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move virtual time forward by ``seconds`` (timers that fall due run next iteration)."""
        if seconds < 0:
            raise ValueError(f"time cannot go backwards (advance by {seconds})")
        self._now += seconds

    def new_event_loop(self, kind: str = "asyncio") -> asyncio.AbstractEventLoop:
        """A new loop of ``kind`` (``"tidal"`` or ``"asyncio"``) driven by this clock."""
        loop: Any
        if kind == "tidal":
            from tidal.loop import EventLoop
            from tidal.loop._poller import make_poller

            loop = EventLoop(poller=_JumpingWait(make_poller(), self, "poll"))
        elif kind == "asyncio":
            loop = asyncio.SelectorEventLoop(_JumpingWait(selectors.DefaultSelector(), self, "select"))  # type: ignore[arg-type]
        else:
            raise ValueError(f"unknown loop kind {kind!r} (expected 'tidal' or 'asyncio')")
        loop.time = self.time  # the loops call self.time() for every timer decision
        return loop  # type: ignore[no-any-return]


class _JumpingWait:
    """Wraps a selector or poller: a wait that would block on timers jumps the clock instead."""

    def __init__(self, inner: Any, clock: VirtualClock, wait_method: str) -> None:
        self._inner = inner
        self._clock = clock
        self._inner_wait = getattr(inner, wait_method)
        setattr(self, wait_method, self._wait)

    def _wait(self, timeout: float | None = None) -> Any:
        if timeout is not None and timeout <= 0:
            return self._inner_wait(0)
        events = self._inner_wait(self._clock.autojump_threshold)
        if events or timeout is None:
            return events or self._inner_wait(None)
        self._clock.advance(timeout)
        self._clock.jumps += 1
        return events

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
