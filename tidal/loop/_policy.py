"""Making tidal's loop the one asyncio uses: ``new_event_loop``, ``run``, the policy, ``install``."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from tidal.loop._loop import EventLoop
from tidal.loop._poller import Poller

__all__ = ["new_event_loop", "run", "EventLoopPolicy", "install"]

_T = TypeVar("_T")


def new_event_loop(*, poller: str | Poller | None = None) -> EventLoop:
    """A new :class:`EventLoop`; ``poller`` names a backend ("epoll", "kqueue", "poll", "select")."""
    return EventLoop(poller=poller)


def run(main: Coroutine[Any, Any, _T], *, debug: bool | None = None) -> _T:
    """Run ``main`` on a new tidal loop and close it, like ``asyncio.run``."""
    with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
        return runner.run(main)


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """An asyncio policy whose loops are tidal's (everything else is asyncio's default)."""

    def new_event_loop(self) -> EventLoop:
        """A new :class:`EventLoop`."""
        return new_event_loop()


def install() -> None:
    """Make tidal's loop the default for ``asyncio.run`` and ``asyncio.new_event_loop``."""
    asyncio.set_event_loop_policy(EventLoopPolicy())
