"""Learning when child processes exit, without zombies and without a global watcher.

Theory of operation
-------------------
Each child is watched by the loop that started it, through one of three
strategies, best first:

* **pidfd** (Linux >= 5.3): ``os.pidfd_open(pid)`` gives a descriptor that
  becomes readable when the child exits; the loop watches it like any
  socket, then reaps the child with ``waitpid`` (which cannot block any
  more) and closes the descriptor.  No signal handler, no thread, and it
  works on any loop in any thread.
* **SIGCHLD** (where pidfd is missing: macOS, BSDs, old kernels, sandboxes
  that forbid the syscall): a handler installed with
  ``loop.add_signal_handler`` (so through ``signal.set_wakeup_fd``) polls
  ``waitpid(pid, WNOHANG)`` for the children *this* watcher started --
  never ``waitpid(-1)``, which would steal other code's children.  On
  tidal's loop the handler is an *internal* one (``_signals.py``): a
  handler the user adds for SIGCHLD runs beside it instead of replacing it,
  and removing the user's leaves the watcher's in place (issue #8).  On
  other loops there is only ``add_signal_handler``, which the user's own
  SIGCHLD handler would replace.  Signal handlers exist only in the main
  thread, so:
* **a thread per child** blocking in ``waitpid(pid, 0)`` is the last resort
  (a loop outside the main thread without pidfd), as asyncio's
  ``ThreadedChildWatcher`` does.

A child is reaped exactly once, by its watcher; the pid cannot be reused
before that, so signalling a child that was not reaped yet is always safe.
``waitpid`` failing with ``ECHILD`` means someone else reaped it (a
``Popen.poll()`` call, a stray ``SIGCHLD=SIG_IGN``); its status is lost and
the exit code reported is 255, as asyncio does.

When the loop closes while children still run, :func:`close_watcher` closes
their pidfds (or drops the SIGCHLD handler) and starts one reaper thread per
child, so none is left a zombie; the thread hands the exit code to an
optional ``after_close`` hook (the subprocess transport gives it to the
``Popen`` object, which would otherwise warn that the child still runs).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import weakref
from collections.abc import Callable

__all__ = ["ChildWatcher", "close_watcher", "watcher_for"]

logger = logging.getLogger("asyncio")

ExitCallback = Callable[[int], object]

# Exit code reported when the child's status was collected by someone else.
UNKNOWN_EXIT_CODE = 255

_watchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ChildWatcher] = weakref.WeakKeyDictionary()


def watcher_for(loop: asyncio.AbstractEventLoop) -> ChildWatcher:
    """The child watcher of ``loop`` (created on first use)."""
    watcher = _watchers.get(loop)
    if watcher is None:
        watcher = _watchers[loop] = ChildWatcher(loop)
    return watcher


def close_watcher(loop: asyncio.AbstractEventLoop) -> None:
    """Close ``loop``'s child watcher, if it has one (the loop is closing)."""
    watcher = _watchers.pop(loop, None)
    if watcher is not None:
        watcher.close()


def _reap(pid: int, flags: int) -> int | None:
    """The exit code of ``pid`` if it has exited (None if still running)."""
    try:
        reaped, status = os.waitpid(pid, flags)
    except ChildProcessError:
        logger.warning("child process pid %d was reaped by someone else; its exit code is unknown", pid)
        return UNKNOWN_EXIT_CODE
    if reaped == 0:
        return None
    return os.waitstatus_to_exitcode(status)


class ChildWatcher:
    """Calls a callback, on the loop, with the exit code of each watched child."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._use_pidfd = hasattr(os, "pidfd_open")
        self._signal_children: dict[int, ExitCallback] = {}
        self._pidfds: dict[int, int] = {}  # pid -> pidfd still open
        self._after_close: dict[int, ExitCallback] = {}  # pid -> called if the loop closes first
        weakref.finalize(loop, _close_fds, self._pidfds)

    @property
    def strategy(self) -> str:
        """``"pidfd"``, ``"sigchld"`` or ``"thread"``: how the next child will be watched."""
        if self._use_pidfd:
            return "pidfd"
        return "sigchld" if threading.current_thread() is threading.main_thread() else "thread"

    def add_child(self, pid: int, callback: ExitCallback, after_close: ExitCallback | None = None) -> None:
        """Call ``callback(exit_code)`` on the loop once ``pid`` exits; it is then reaped.

        If the loop closes first, the child is still reaped (by a thread when
        it exits) and ``after_close(exit_code)`` is called from that thread.
        """
        if after_close is not None:
            self._after_close[pid] = after_close
        if self._use_pidfd and self._watch_pidfd(pid, callback):
            return
        if threading.current_thread() is threading.main_thread() and self._watch_sigchld(pid, callback):
            return
        self._watch_thread(pid, callback)

    def send_signal(self, pid: int, signum: int) -> None:
        """Send ``signum`` to the watched child ``pid``.

        Through its pidfd when there is one, which can never reach a
        different process that reused the pid; otherwise ``os.kill``, which
        is safe too as long as only this watcher reaps ``pid``.  Raises
        ProcessLookupError if the child is gone.
        """
        pidfd = self._pidfds.get(pid)
        if pidfd is not None:
            signal.pidfd_send_signal(pidfd, signum)
        else:
            os.kill(pid, signum)

    def close(self) -> None:
        """Stop watching; children still running are reaped by a thread when they exit.

        Called when the loop closes: descriptors are closed and the SIGCHLD
        handler removed, and no child is left behind as a zombie.
        """
        orphans = list(self._pidfds) + list(self._signal_children)
        for pid in list(self._pidfds):
            self._stop_pidfd(pid)
        if self._signal_children:
            self._signal_children.clear()
            self._remove_sigchld_handler()
        for pid in orphans:
            after_close = self._after_close.pop(pid, None)
            code = _reap(pid, os.WNOHANG)
            if code is None:
                threading.Thread(
                    target=_reap_then_call, args=(pid, after_close), name=f"tidal-reap-{pid}", daemon=True
                ).start()
            elif after_close is not None:
                after_close(code)

    def _exited(self, pid: int, callback: ExitCallback, code: int) -> None:
        self._after_close.pop(pid, None)
        callback(code)

    # -- pidfd -------------------------------------------------------------------
    def _watch_pidfd(self, pid: int, callback: ExitCallback) -> bool:
        try:
            pidfd = os.pidfd_open(pid)
        except OSError as exc:
            if isinstance(exc, ProcessLookupError):
                # Already gone (and a zombie, since only we reap it).
                code = _reap(pid, 0)
                self._loop.call_soon(self._exited, pid, callback, UNKNOWN_EXIT_CODE if code is None else code)
                return True
            logger.debug("pidfd_open() failed (%s); watching children with SIGCHLD", exc)
            self._use_pidfd = False  # ENOSYS, EPERM in sandboxes: same for every child
            return False
        self._pidfds[pid] = pidfd
        self._loop.add_reader(pidfd, self._on_pidfd_readable, pid, callback)
        return True

    def _on_pidfd_readable(self, pid: int, callback: ExitCallback) -> None:
        self._stop_pidfd(pid)
        code = _reap(pid, 0)  # it exited: waitpid returns at once
        self._exited(pid, callback, UNKNOWN_EXIT_CODE if code is None else code)

    def _stop_pidfd(self, pid: int) -> None:
        pidfd = self._pidfds.pop(pid, None)
        if pidfd is not None:
            if not self._loop.is_closed():
                self._loop.remove_reader(pidfd)
            os.close(pidfd)

    # -- SIGCHLD -------------------------------------------------------------------
    def _watch_sigchld(self, pid: int, callback: ExitCallback) -> bool:
        if not self._signal_children:
            add_internal = getattr(self._loop, "_add_internal_signal_handler", None)
            try:
                if add_internal is not None:  # tidal's loop: beside any handler of the user's
                    add_internal(signal.SIGCHLD, self._on_sigchld)
                else:
                    self._loop.add_signal_handler(signal.SIGCHLD, self._on_sigchld)
            except (RuntimeError, ValueError, NotImplementedError):
                return False
        self._signal_children[pid] = callback
        # The child may have exited before the handler existed.
        self._loop.call_soon(self._on_sigchld)
        return True

    def _on_sigchld(self) -> None:
        for pid, callback in list(self._signal_children.items()):
            code = _reap(pid, os.WNOHANG)
            if code is not None:
                del self._signal_children[pid]
                self._exited(pid, callback, code)
        if not self._signal_children:
            self._remove_sigchld_handler()

    def _remove_sigchld_handler(self) -> None:
        if self._loop.is_closed():
            return
        remove_internal = getattr(self._loop, "_remove_internal_signal_handler", None)
        if remove_internal is not None:
            remove_internal(signal.SIGCHLD)
        else:
            self._loop.remove_signal_handler(signal.SIGCHLD)

    # -- a thread per child ------------------------------------------------------------
    def _watch_thread(self, pid: int, callback: ExitCallback) -> None:
        thread = threading.Thread(
            target=self._wait_in_thread, args=(pid, callback), name=f"tidal-waitpid-{pid}", daemon=True
        )
        thread.start()

    def _wait_in_thread(self, pid: int, callback: ExitCallback) -> None:
        code = _reap(pid, 0)
        code = UNKNOWN_EXIT_CODE if code is None else code
        after_close = self._after_close.pop(pid, None)
        try:
            self._loop.call_soon_threadsafe(callback, code)
        except RuntimeError:  # the loop closed meanwhile
            if after_close is not None:
                after_close(code)


def _reap_then_call(pid: int, after_close: ExitCallback | None) -> None:
    """Reaper thread for a child whose loop closed before it exited."""
    code = _reap(pid, 0)
    if after_close is not None:
        after_close(UNKNOWN_EXIT_CODE if code is None else code)


def _close_fds(pidfds: dict[int, int]) -> None:
    # The loop was collected with children still running: release their pidfds.
    for pidfd in pidfds.values():
        os.close(pidfd)
    pidfds.clear()
