"""The one small interface every readiness backend implements.

A :class:`Poller` watches file descriptors for readiness.  Interest and
reported events share one bit layout, chosen to equal Linux's ``EPOLLIN`` /
``POLLIN`` (1), ``EPOLLOUT`` / ``POLLOUT`` (4), ``EPOLLERR`` / ``POLLERR`` (8)
and ``EPOLLHUP`` / ``POLLHUP`` (16), so the epoll and poll backends hand the
kernel's masks through untranslated; select and kqueue translate.

Registrations are persistent: the loop registers an fd once, modifies the
mask when its interest changes and unregisters it before the fd is closed.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["READ", "WRITE", "ERROR", "HANGUP", "WAKES_READ", "WAKES_WRITE", "Poller", "available_pollers", "make_poller"]

READ = 1
WRITE = 4
ERROR = 8
HANGUP = 16
# An error or hang-up wakes both directions so the pending syscall reports it.
WAKES_READ = READ | ERROR | HANGUP | 32  # 32: POLLNVAL
WAKES_WRITE = WRITE | ERROR | HANGUP | 32


class Poller(Protocol):
    """A readiness backend (epoll, kqueue, poll or select)."""

    name: str
    forgets_closed_fds: bool
    """True when closing an fd removes it from the backend (epoll, kqueue): the
    loop may then leave an interest armed after the last operation on it."""

    def register(self, fd: int, mask: int) -> None:
        """Start watching ``fd`` for the events in ``mask`` (READ and/or WRITE)."""

    def modify(self, fd: int, mask: int) -> None:
        """Change the events watched on an already registered ``fd``."""

    def unregister(self, fd: int) -> None:
        """Stop watching ``fd``; must be called before the fd is closed."""

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        """Wait up to ``timeout`` seconds (None: forever); return (fd, mask) pairs."""
        ...

    def fileno(self) -> int:
        """A descriptor that polls readable when an event is pending, if the backend has one."""
        ...

    def close(self) -> None:
        """Release the backend's kernel resources."""


def available_pollers() -> list[str]:
    """Names of the backends this platform supports, the default first."""
    import select

    names = []
    if hasattr(select, "epoll"):
        names.append("epoll")
    if hasattr(select, "kqueue"):
        names.append("kqueue")
    if hasattr(select, "poll"):
        names.append("poll")
    names.append("select")
    return names


def make_poller(name: str | None = None) -> Poller:
    """A new backend by name (``"epoll"``, ``"kqueue"``, ``"poll"``, ``"select"``).

    ``None`` picks the platform's best backend.
    """
    if name is None:
        name = available_pollers()[0]
    if name == "epoll":
        from tidal.loop._poll_epoll import EpollPoller

        return EpollPoller()
    if name == "kqueue":
        from tidal.loop._poll_kqueue import KqueuePoller

        return KqueuePoller()
    if name == "poll":
        from tidal.loop._poll_poll import PollPoller

        return PollPoller()
    if name == "select":
        from tidal.loop._poll_select import SelectPoller

        return SelectPoller()
    raise ValueError(f"unknown poller {name!r}; available: {', '.join(available_pollers())}")
