"""Unix signal handlers that run as ordinary loop callbacks.

``signal.set_wakeup_fd`` makes the C-level signal handler write the signal
number into a socket the loop watches, so a signal wakes the loop at once
even while it is blocked in the poller; the loop reads the numbers back and
queues the registered callbacks.  The Python-level handler installed for the
signal does nothing: the byte in the socket is the whole message.

The loop's own machinery (the SIGCHLD child watcher, see
``_child_watcher.py``) registers *internal* handlers, kept apart from the
user's: one signal can have both, each runs when it arrives, and
``remove_signal_handler`` removes only the user's (issue #8: a user's SIGCHLD
handler used to replace the watcher's, so children were never reaped).  The
signal's disposition goes back to the default only when neither is left.
"""

from __future__ import annotations

import asyncio
import errno
import signal
import socket
import sys
import warnings
from collections.abc import Callable
from typing import Any, TypeVarTuple, Unpack

from tidal.loop._core import logger
from tidal.loop._executor import ExecutorLoop

__all__ = ["SignalLoop"]

_Ts = TypeVarTuple("_Ts")


def _ignore_in_python(signum: int, frame: Any) -> None:
    """Python-level handler: the wakeup fd already told the loop."""


class SignalLoop(ExecutorLoop):
    """Adds ``add_signal_handler`` and ``remove_signal_handler``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._signal_handlers: dict[int, asyncio.Handle] = {}
        self._internal_signal_handlers: dict[int, asyncio.Handle] = {}
        self._signal_sockets: tuple[socket.socket, socket.socket] | None = None

    def add_signal_handler(self, sig: int, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts]) -> None:
        """Run ``callback(*args)`` on the loop whenever signal ``sig`` arrives (main thread only)."""
        if asyncio.iscoroutine(callback) or asyncio.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        self._install_signal_handler(self._signal_handlers, sig, asyncio.Handle(callback, args, self, None))

    def _add_internal_signal_handler(self, sig: int, callback: Callable[[], object]) -> None:
        """Run ``callback()`` when ``sig`` arrives, beside (not instead of) a user's handler.

        For the loop's own use (the SIGCHLD child watcher); raises like
        :meth:`add_signal_handler`.  Undone by :meth:`_remove_internal_signal_handler`.
        """
        self._install_signal_handler(self._internal_signal_handlers, sig, asyncio.Handle(callback, (), self, None))

    def _remove_internal_signal_handler(self, sig: int) -> bool:
        """Remove the internal handler of ``sig``; a user's handler of it stays."""
        handle = self._internal_signal_handlers.pop(sig, None)
        if handle is None:
            return False
        handle.cancel()
        self._release_signal(sig)
        return True

    def _install_signal_handler(self, table: dict[int, asyncio.Handle], sig: int, handle: asyncio.Handle) -> None:
        _check_signal(sig)
        self._check_closed()
        receiver, sender = self._signal_socket_pair()
        try:
            # Raises ValueError outside the main thread.
            signal.set_wakeup_fd(sender.fileno())
        except (ValueError, OSError) as exc:
            raise RuntimeError(str(exc)) from None
        table[sig] = handle
        try:
            signal.signal(sig, _ignore_in_python)
            signal.siginterrupt(sig, False)  # let syscalls restart (PEP 475 style)
        except OSError as exc:
            del table[sig]
            if not self._signal_handlers and not self._internal_signal_handlers:
                _clear_wakeup_fd()
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig:d} cannot be caught") from None
            raise

    def remove_signal_handler(self, sig: int) -> bool:
        """Remove the handler of ``sig`` and restore the default; True if there was one.

        The loop's own handler of the signal, if any (the SIGCHLD child
        watcher's), stays, and so does the signal's disposition.
        """
        _check_signal(sig)
        handle = self._signal_handlers.pop(sig, None)
        if handle is None:
            return False
        handle.cancel()
        self._release_signal(sig)
        return True

    def _release_signal(self, sig: int) -> None:
        """Restore ``sig``'s default disposition once no handler of either kind is left."""
        if sig in self._signal_handlers or sig in self._internal_signal_handlers:
            return
        default = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        try:
            signal.signal(sig, default)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig:d} cannot be caught") from None
            raise
        if not self._signal_handlers and not self._internal_signal_handlers:
            _clear_wakeup_fd()

    def _signal_socket_pair(self) -> tuple[socket.socket, socket.socket]:
        if self._signal_sockets is None:
            receiver, sender = socket.socketpair()
            receiver.setblocking(False)
            sender.setblocking(False)
            self._signal_sockets = (receiver, sender)
            self._io.add_internal(receiver.fileno(), self._read_signals)
        return self._signal_sockets

    def _read_signals(self) -> None:
        assert self._signal_sockets is not None
        receiver = self._signal_sockets[0]
        while True:
            try:
                data = receiver.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            if not data:
                return
            for signum in data:
                self._dispatch_signal(signum)

    def _dispatch_signal(self, signum: int) -> None:
        internal = self._internal_signal_handlers.get(signum)
        if internal is not None:
            self._ready.append(internal)
        handle = self._signal_handlers.get(signum)
        if handle is None:
            return  # a signal whose handler was removed meanwhile
        if handle._cancelled:
            self.remove_signal_handler(signum)
        else:
            self._ready.append(handle)

    def _close_resources(self) -> None:
        if self._signal_handlers:
            if sys.is_finalizing():
                warnings.warn(
                    f"Closing the loop {self!r} on interpreter shutdown stage, skipping signal handlers removal",
                    ResourceWarning,
                    source=self,
                )
                self._signal_handlers.clear()
            else:
                for sig in list(self._signal_handlers):
                    self.remove_signal_handler(sig)
        for sig in list(self._internal_signal_handlers):
            if sys.is_finalizing():
                self._internal_signal_handlers.clear()
            else:
                self._remove_internal_signal_handler(sig)
        if self._signal_sockets is not None:
            receiver, sender = self._signal_sockets
            self._signal_sockets = None
            self._io.remove_internal(receiver.fileno())
            receiver.close()
            sender.close()
        super()._close_resources()


def _check_signal(sig: object) -> None:
    if not isinstance(sig, int):
        raise TypeError(f"sig must be an int, not {sig!r}")
    if sig not in signal.valid_signals():
        raise ValueError(f"invalid signal number {sig}")


def _clear_wakeup_fd() -> None:
    try:
        signal.set_wakeup_fd(-1)
    except (ValueError, OSError) as exc:
        logger.info("set_wakeup_fd(-1) failed: %s", exc)
