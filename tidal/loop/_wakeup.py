"""Waking a loop blocked in its poller from another thread.

An eventfd where the platform has one (one fd, an 8-byte counter that never
fills up under repeated wakeups), a non-blocking pipe elsewhere.
"""

from __future__ import annotations

import os

__all__ = ["Waker"]


class Waker:
    """A readable fd and a thread-safe :meth:`wake` that makes it readable."""

    def __init__(self) -> None:
        if hasattr(os, "eventfd"):
            self._read_fd = self._write_fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
            self._eventfd = True
        else:
            self._read_fd, self._write_fd = os.pipe()
            for fd in (self._read_fd, self._write_fd):
                os.set_blocking(fd, False)
            self._eventfd = False

    def fileno(self) -> int:
        """The fd the loop watches for readability."""
        return self._read_fd

    def wake(self) -> None:
        """Make :meth:`fileno` readable; safe from any thread and signal handlers."""
        try:
            if self._eventfd:
                os.eventfd_write(self._write_fd, 1)
            else:
                os.write(self._write_fd, b"\0")
        except (BlockingIOError, InterruptedError):
            pass  # already readable: the pending wakeup covers this one
        except OSError:
            pass  # closed concurrently by loop.close(): nothing left to wake

    def drain(self) -> None:
        """Consume pending wakeups so the fd stops polling readable."""
        try:
            if self._eventfd:
                os.eventfd_read(self._read_fd)
            else:
                while os.read(self._read_fd, 4096):
                    pass
        except (BlockingIOError, InterruptedError):
            pass

    def close(self) -> None:
        """Close the fd(s)."""
        fds = {self._read_fd, self._write_fd}
        self._read_fd = self._write_fd = -1
        for fd in fds:
            if fd >= 0:
                os.close(fd)
