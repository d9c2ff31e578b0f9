"""Completion-style socket operations.

An operation is submitted once and completes later by resolving its future.
On a readiness backend :mod:`tidal.loop._io` calls :meth:`Operation.attempt`
each time the fd reports readiness; ``attempt`` performs the syscall and
returns ``False`` only when the kernel said "not yet" (EAGAIN), in which case
the operation stays queued.  A completion backend (IOCP, io_uring) would hand
the same objects to the kernel instead.

Every ``attempt`` follows the exception ladder of CPython's selector loop:
"not ready" keeps waiting, ``SystemExit``/``KeyboardInterrupt`` propagate,
and anything else fails the operation's future, never the loop.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

__all__ = [
    "Operation",
    "Recv",
    "RecvInto",
    "RecvFrom",
    "RecvFromInto",
    "SendAll",
    "SendTo",
    "Accept",
    "Connect",
    "SendFile",
]


class Operation:
    """One pending syscall and the future its result completes."""

    __slots__ = ("future", "sock")

    def __init__(self, future: asyncio.Future[Any], sock: socket.socket) -> None:
        self.future = future
        self.sock = sock

    def attempt(self) -> bool:
        """Try the syscall; True when the operation finished (result or error)."""
        try:
            result = self.perform()
        except (BlockingIOError, InterruptedError):
            return False
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self.future.set_exception(exc)
            return True
        if result is _NOT_DONE:
            return False
        self.future.set_result(result)
        return True

    def perform(self) -> Any:
        """The syscall; raises BlockingIOError (or returns _NOT_DONE) when not ready."""
        raise NotImplementedError


# Returned by perform() of operations that made progress but are not finished.
_NOT_DONE: Any = object()


class Recv(Operation):
    """``sock.recv(nbytes)``."""

    __slots__ = ("nbytes",)

    def __init__(self, future: asyncio.Future[Any], sock: socket.socket, nbytes: int) -> None:
        super().__init__(future, sock)
        self.nbytes = nbytes

    def perform(self) -> Any:
        """Receive up to ``nbytes``."""
        return self.sock.recv(self.nbytes)


class RecvInto(Operation):
    """``sock.recv_into(buffer, nbytes)``."""

    __slots__ = ("buffer", "nbytes")

    def __init__(self, future: asyncio.Future[Any], sock: socket.socket, buffer: Any, nbytes: int) -> None:
        super().__init__(future, sock)
        self.buffer = buffer
        self.nbytes = nbytes

    def attempt(self) -> bool:
        """Inlined copy of :meth:`Operation.attempt`: this is the hot receive path."""
        try:
            received = self.sock.recv_into(self.buffer, self.nbytes)
        except (BlockingIOError, InterruptedError):
            return False
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self.future.set_exception(exc)
            return True
        self.future.set_result(received)
        return True


class RecvFrom(Operation):
    """``sock.recvfrom(nbytes)``."""

    __slots__ = ("nbytes",)

    def __init__(self, future: asyncio.Future[Any], sock: socket.socket, nbytes: int) -> None:
        super().__init__(future, sock)
        self.nbytes = nbytes

    def perform(self) -> Any:
        """Receive one datagram and its source address."""
        return self.sock.recvfrom(self.nbytes)


class RecvFromInto(Operation):
    """``sock.recvfrom_into(buffer, nbytes)``."""

    __slots__ = ("buffer", "nbytes")

    def __init__(self, future: asyncio.Future[Any], sock: socket.socket, buffer: Any, nbytes: int) -> None:
        super().__init__(future, sock)
        self.buffer = buffer
        self.nbytes = nbytes

    def perform(self) -> Any:
        """Receive one datagram into the buffer."""
        return self.sock.recvfrom_into(self.buffer, self.nbytes)


class SendAll(Operation):
    """``sock.send`` repeated until every byte of ``view`` is handed to the kernel."""

    __slots__ = ("view",)

    def __init__(self, future: asyncio.Future[Any], sock: socket.socket, view: memoryview) -> None:
        super().__init__(future, sock)
        self.view = view

    def perform(self) -> Any:
        """Send what the kernel accepts; finished when nothing is left."""
        sent = self.sock.send(self.view)
        self.view = self.view[sent:]
        return _NOT_DONE if self.view else None


class SendTo(Operation):
    """``sock.sendto(data, address)``."""

    __slots__ = ("data", "address")

    def __init__(self, future: asyncio.Future[Any], sock: socket.socket, data: Any, address: Any) -> None:
        super().__init__(future, sock)
        self.data = data
        self.address = address

    def perform(self) -> Any:
        """Send one datagram."""
        return self.sock.sendto(self.data, self.address)


class Accept(Operation):
    """``sock.accept()``; the accepted socket is made non-blocking."""

    __slots__ = ()

    def perform(self) -> Any:
        """Accept one connection."""
        conn, address = self.sock.accept()
        conn.setblocking(False)
        return conn, address


class Connect(Operation):
    """Completion of a non-blocking ``connect()`` already started."""

    __slots__ = ("address",)

    def __init__(self, future: asyncio.Future[Any], sock: socket.socket, address: Any) -> None:
        super().__init__(future, sock)
        self.address = address

    def perform(self) -> Any:
        """Read the connect() outcome once the socket reports writable."""
        error = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error != 0:
            raise OSError(error, f"Connect call failed {self.address}")
        return None


class SendFile(Operation):
    """``os.sendfile`` from a regular file, repeated until ``count`` bytes are sent."""

    __slots__ = ("file_fd", "offset", "remaining", "sent")

    def __init__(
        self, future: asyncio.Future[Any], sock: socket.socket, file_fd: int, offset: int, count: int
    ) -> None:
        super().__init__(future, sock)
        self.file_fd = file_fd
        self.offset = offset
        self.remaining = count
        self.sent = 0

    def perform(self) -> Any:
        """Send a chunk; finished at end of file or when ``count`` bytes went out.

        ``sent`` stays readable after a failure so the caller can seek the
        file past what did go out.
        """
        chunk = os.sendfile(self.sock.fileno(), self.file_fd, self.offset, min(self.remaining, 2**30))
        self.offset += chunk
        self.sent += chunk
        self.remaining -= chunk
        if chunk == 0 or self.remaining == 0:
            return self.sent
        return _NOT_DONE
