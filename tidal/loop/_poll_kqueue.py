"""The kqueue backend (macOS and the BSDs).

kqueue watches (fd, filter) pairs, not fds with a mask, so this backend keeps
the mask it registered per fd and turns each change into EV_ADD / EV_DELETE
kevents for the read and write filters.  Filters are level-triggered (no
EV_CLEAR), matching the epoll backend.
"""

from __future__ import annotations

import select
from typing import Any

from tidal.loop._poller import ERROR, READ, WRITE

__all__ = ["KqueuePoller"]


class KqueuePoller:
    """A :class:`~tidal.loop._poller.Poller` over ``select.kqueue``."""

    name = "kqueue"
    forgets_closed_fds = True  # closing an fd deletes its kevents

    def __init__(self) -> None:
        self._select: Any = select  # kqueue names exist only on BSD builds
        self._kqueue = self._select.kqueue()
        self._masks: dict[int, int] = {}

    def register(self, fd: int, mask: int) -> None:
        """Watch ``fd``; registering twice is an error, as with epoll."""
        if fd in self._masks:
            raise FileExistsError(f"fd {fd} is already registered")
        self._apply(fd, 0, mask)
        self._masks[fd] = mask

    def modify(self, fd: int, mask: int) -> None:
        """Change the interest of a registered ``fd``."""
        old = self._masks.get(fd)
        if old is None:
            raise FileNotFoundError(f"fd {fd} is not registered")
        self._apply(fd, old, mask)
        self._masks[fd] = mask

    def unregister(self, fd: int) -> None:
        """Forget ``fd``; the kernel already dropped its filters if it was closed."""
        old = self._masks.pop(fd, None)
        if old is None:
            raise FileNotFoundError(f"fd {fd} is not registered")
        try:
            self._apply(fd, old, 0)
        except OSError:
            pass  # fd closed before unregistering: kqueue removed its filters itself

    def _apply(self, fd: int, old: int, new: int) -> None:
        sel = self._select
        changes = []
        for bit, kfilter in ((READ, sel.KQ_FILTER_READ), (WRITE, sel.KQ_FILTER_WRITE)):
            if new & bit and not old & bit:
                changes.append(sel.kevent(fd, kfilter, sel.KQ_EV_ADD))
            elif old & bit and not new & bit:
                changes.append(sel.kevent(fd, kfilter, sel.KQ_EV_DELETE))
        if changes:
            self._kqueue.control(changes, 0, 0)

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        """Wait for kevents and merge the per-filter results into (fd, mask) pairs."""
        sel = self._select
        max_events = max(len(self._masks) * 2, 1)
        events: dict[int, int] = {}
        for kev in self._kqueue.control(None, max_events, timeout):
            bit = READ if kev.filter == sel.KQ_FILTER_READ else WRITE
            if kev.flags & sel.KQ_EV_ERROR:
                bit |= ERROR
            events[kev.ident] = events.get(kev.ident, 0) | bit
        return list(events.items())

    def fileno(self) -> int:
        """The kqueue fd: it polls readable whenever a watched fd is ready."""
        fd: int = self._kqueue.fileno()
        return fd

    def close(self) -> None:
        """Close the kqueue fd."""
        self._kqueue.close()
        self._masks.clear()
