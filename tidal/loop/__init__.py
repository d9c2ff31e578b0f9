"""tidal's reference event loop: asyncio-compatible, completion-style, embeddable.

Use it with ``tidal.loop.run(main())``, ``asyncio.Runner(loop_factory=tidal.loop.new_event_loop)``
or, process-wide, ``tidal.loop.install()``.  The embedding API for GUI and
game loops is ``EventLoop.step()``, ``EventLoop.fileno()`` and
``EventLoop.next_deadline()``.
"""

from __future__ import annotations

from tidal.loop._loop import EventLoop
from tidal.loop._poller import Poller, available_pollers
from tidal.loop._policy import EventLoopPolicy, install, new_event_loop, run

__all__ = ["EventLoop", "EventLoopPolicy", "Poller", "available_pollers", "install", "new_event_loop", "run"]
