"""The poll(2) backend: portable to every POSIX system, no pollable fd of its own."""

from __future__ import annotations

import math
import select

from tidal.loop._poller import READ, WRITE

__all__ = ["PollPoller"]

assert (select.POLLIN, select.POLLOUT) == (READ, WRITE), "bit layout differs from _poller"


class PollPoller:
    """A :class:`~tidal.loop._poller.Poller` over ``select.poll``."""

    name = "poll"
    forgets_closed_fds = False  # a closed fd stays in the list (POLLNVAL)

    def __init__(self) -> None:
        self._poll_object = select.poll()
        self._registered: set[int] = set()

    def register(self, fd: int, mask: int) -> None:
        """Watch ``fd``; like epoll (and unlike poll's own API), registering twice is an error."""
        if fd in self._registered:
            raise FileExistsError(f"fd {fd} is already registered")
        self._poll_object.register(fd, mask)
        self._registered.add(fd)

    def modify(self, fd: int, mask: int) -> None:
        """Change the interest of a registered ``fd``."""
        self._poll_object.modify(fd, mask)

    def unregister(self, fd: int) -> None:
        """Forget ``fd``."""
        self._registered.discard(fd)
        self._poll_object.unregister(fd)

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        """Wait for events; poll(2) counts milliseconds, rounded up so we never spin."""
        milliseconds = None if timeout is None else math.ceil(timeout * 1000)
        return self._poll_object.poll(milliseconds)

    def fileno(self) -> int:
        """poll(2) has no descriptor of its own to hand to a host loop."""
        raise NotImplementedError("the poll backend has no pollable fd; use epoll or kqueue for embedding")

    def close(self) -> None:
        """Nothing to release: poll(2) keeps no kernel state."""
