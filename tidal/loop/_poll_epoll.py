"""The epoll backend (Linux default).

Level-triggered on purpose: ``add_reader`` callbacks promise to be called
again while the fd stays readable, and the completion emulation in
:mod:`tidal.loop._io` keeps its interest armed across operations, so the
steady state of a busy socket costs no ``epoll_ctl`` at all.
"""

from __future__ import annotations

import select

from tidal.loop._poller import READ, WRITE

__all__ = ["EpollPoller"]

assert (select.EPOLLIN, select.EPOLLOUT) == (READ, WRITE), "bit layout differs from _poller"


class EpollPoller:
    """A :class:`~tidal.loop._poller.Poller` over ``select.epoll``."""

    name = "epoll"
    forgets_closed_fds = True  # the kernel drops an fd from the set when it is closed

    def __init__(self) -> None:
        self._epoll = select.epoll()
        # The epoll object's bound methods, cached: they run on every loop
        # iteration.  (Never cache a bound method of ``self`` here: that is
        # a reference cycle, and the poller would outlive its loop until the
        # garbage collector runs.)
        self.register = self._epoll.register
        self.modify = self._epoll.modify
        self.unregister = self._epoll.unregister
        # epoll.poll takes the same timeout (seconds, None: forever): no
        # Python frame between the loop and the kernel on each iteration.
        # ``poll(timeout)`` waits up to ``timeout`` seconds (None: forever).
        self.poll = self._epoll.poll

    def fileno(self) -> int:
        """The epoll fd: it polls readable whenever a watched fd is ready."""
        return self._epoll.fileno()

    def close(self) -> None:
        """Close the epoll fd."""
        self._epoll.close()
