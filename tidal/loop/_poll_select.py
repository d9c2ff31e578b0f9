"""The select(2) backend: the last resort, limited to fds below FD_SETSIZE."""

from __future__ import annotations

import select

from tidal.loop._poller import ERROR, READ, WRITE

__all__ = ["SelectPoller"]


class SelectPoller:
    """A :class:`~tidal.loop._poller.Poller` over ``select.select``."""

    name = "select"
    forgets_closed_fds = False  # a closed fd in the sets makes select() fail

    def __init__(self) -> None:
        self._readers: set[int] = set()
        self._writers: set[int] = set()

    def register(self, fd: int, mask: int) -> None:
        """Watch ``fd``; like epoll, registering twice is an error."""
        if fd in self._readers or fd in self._writers:
            raise FileExistsError(f"fd {fd} is already registered")
        self._set(fd, mask)

    def modify(self, fd: int, mask: int) -> None:
        """Change the interest of a registered ``fd``."""
        self._set(fd, mask)

    def unregister(self, fd: int) -> None:
        """Forget ``fd``."""
        self._readers.discard(fd)
        self._writers.discard(fd)

    def _set(self, fd: int, mask: int) -> None:
        if fd < 0:
            raise ValueError(f"invalid file descriptor {fd}")
        (self._readers.add if mask & READ else self._readers.discard)(fd)
        (self._writers.add if mask & WRITE else self._writers.discard)(fd)

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        """Wait with select(2) and fold the three result lists into (fd, mask) pairs."""
        readable, writable, failed = select.select(self._readers, self._writers, self._writers, timeout)
        events: dict[int, int] = {}
        for fd in readable:
            events[fd] = READ
        for fd in writable:
            events[fd] = events.get(fd, 0) | WRITE
        for fd in failed:  # on Windows a failed connect() is reported here
            events[fd] = events.get(fd, 0) | ERROR
        return list(events.items())

    def fileno(self) -> int:
        """select(2) has no descriptor of its own to hand to a host loop."""
        raise NotImplementedError("the select backend has no pollable fd; use epoll or kqueue for embedding")

    def close(self) -> None:
        """Forget every fd."""
        self._readers.clear()
        self._writers.clear()
