"""Subprocess transports: ``loop.subprocess_exec`` / ``subprocess_shell``.

Theory of operation
-------------------
``subprocess.Popen`` starts the child with pipes; each pipe becomes a pipe
transport (:mod:`tidal.loop._pipes`) whose small protocol forwards to the
:class:`SubprocessTransport`; the child's exit comes from the loop's
:mod:`~tidal.loop._child_watcher` (pidfd on Linux).  The subprocess
protocol sees, in order: ``connection_made``, then ``pipe_data_received`` /
``pipe_connection_lost`` / ``process_exited`` as they happen (queued until
``connection_made`` ran), and ``connection_lost`` once the process exited
*and* every pipe is closed.

Signals go to the child through the watcher: ``pidfd_send_signal`` when it
holds a pidfd (immune to pid reuse), else ``os.kill``, which is safe because
only the watcher reaps, so the pid cannot have been reused while
``returncode`` is None.  ``Popen.send_signal``/``poll`` are not used: they
call ``waitpid`` themselves and would steal the exit status from the
watcher.  A child that user code reaped through the ``Popen`` object is
never signalled again.

Pipes are wrapped through the loop's public ``connect_read_pipe`` /
``connect_write_pipe``.  If that fails or the start is cancelled, the
transport is *abandoned*: the child is killed, the protocol is never called,
and the caller still waits until the child was reaped, so neither a zombie
nor a descriptor is left behind.

``asyncio.create_subprocess_exec`` works unchanged: its ``Process`` calls
the transport's ``_wait()`` coroutine, which this class provides.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import warnings
from collections.abc import Callable
from typing import Any

from tidal.loop._child_watcher import watcher_for
from tidal.loop._pipes import connect_read_pipe, connect_write_pipe
from tidal.loop._transports import set_result_unless_cancelled

__all__ = ["SubprocessTransport", "subprocess_exec", "subprocess_shell"]

logger = logging.getLogger("asyncio")

SubprocessProtocolFactory = Callable[[], asyncio.SubprocessProtocol]


class _PipeProtocol(asyncio.Protocol):
    """Connects one pipe transport (fd 0, 1 or 2) to the subprocess transport."""

    def __init__(self, owner: SubprocessTransport, fd: int) -> None:
        self.owner = owner
        self.fd = fd
        self.pipe: asyncio.BaseTransport | None = None
        self.disconnected = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.pipe = transport
        self.owner._pipe_connected(self.fd, self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.disconnected = True
        self.owner._pipe_connection_lost(self.fd, exc)

    def data_received(self, data: bytes) -> None:
        self.owner._pipe_data_received(self.fd, data)

    def eof_received(self) -> bool | None:
        return None

    def pause_writing(self) -> None:
        self.owner._protocol_call("pause_writing")

    def resume_writing(self) -> None:
        self.owner._protocol_call("resume_writing")

    def __repr__(self) -> str:
        return f"<_PipeProtocol fd={self.fd} pipe={self.pipe!r}>"


class SubprocessTransport(asyncio.SubprocessTransport):
    """A child process and its pipes, as asyncio's ``SubprocessTransport``."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol: asyncio.SubprocessProtocol,
        args: Any,
        shell: bool,
        stdin: Any,
        stdout: Any,
        stderr: Any,
        bufsize: int,
        **kwargs: Any,
    ) -> None:
        self._extra: dict[str, Any] = {}
        super().__init__(self._extra)
        self._loop: asyncio.AbstractEventLoop = loop
        self._protocol: asyncio.SubprocessProtocol | None = protocol
        self._closed = False
        self._finished = False
        self._returncode: int | None = None
        self._exit_waiters: list[asyncio.Future[int]] | None = []
        self._pending_calls: list[tuple[Callable[..., object], tuple[Any, ...]]] | None = []
        self._pipes: dict[int, _PipeProtocol | None] = {}
        for fd, argument in ((0, stdin), (1, stdout), (2, stderr)):
            if argument == subprocess.PIPE:
                self._pipes[fd] = None
        self._pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        try:
            self._proc = subprocess.Popen(
                args, shell=shell, stdin=stdin, stdout=stdout, stderr=stderr,
                universal_newlines=False, bufsize=bufsize, **kwargs,
            )
        except BaseException:
            self._closed = True  # nothing started: nothing to close or warn about
            raise
        self._pid = self._proc.pid
        self._extra["subprocess"] = self._proc
        if loop.get_debug():
            logger.debug("process %r created: pid %s", args, self._pid)
        self._watcher = watcher_for(loop)
        self._watcher.add_child(self._pid, self._process_exited, self._exited_after_loop_closed)

    def __repr__(self) -> str:
        parts = [type(self).__name__]
        if self._closed:
            parts.append("closed")
        parts.append(f"pid={self._pid}")
        if self._returncode is not None:
            parts.append(f"returncode={self._returncode}")
        elif self._closed:
            parts.append("running")
        for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
            pipe = self._pipes.get(fd)
            if pipe is not None:
                parts.append(f"{name}={pipe.pipe!r}")
        return "<{}>".format(" ".join(parts))

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if not getattr(self, "_closed", True):
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self.close()

    async def _connect_pipes(self) -> None:
        """Wrap the child's pipes in transports, then call connection_made.

        The pipes are connected through the loop's public methods, so a loop
        subclass (or a test) that overrides ``connect_read_pipe`` is honoured.
        """
        proc = self._proc
        assert proc is not None
        loop = self._loop
        if proc.stdin is not None:
            await loop.connect_write_pipe(lambda: _PipeProtocol(self, 0), proc.stdin)
        if proc.stdout is not None:
            await loop.connect_read_pipe(lambda: _PipeProtocol(self, 1), proc.stdout)
        if proc.stderr is not None:
            await loop.connect_read_pipe(lambda: _PipeProtocol(self, 2), proc.stderr)
        assert self._protocol is not None and self._pending_calls is not None
        loop.call_soon(self._protocol.connection_made, self)
        for callback, args in self._pending_calls:
            loop.call_soon(callback, *args)
        self._pending_calls = None
        # Return only after connection_made ran, as asyncio does: callers
        # (asyncio.subprocess.Process) use what the protocol set up there.
        made: asyncio.Future[None] = loop.create_future()
        loop.call_soon(set_result_unless_cancelled, made)
        await made

    def _abandon(self) -> None:
        """Starting failed or was cancelled: kill the child and never call the protocol.

        Pipes not wrapped yet are closed here; :meth:`_wait` still returns once
        the child was reaped and the wrapped pipes are closed.
        """
        if self._pending_calls is None:
            # connection_made is already scheduled: the protocol sees the
            # whole life, ending with connection_lost after the kill.
            self.close()
            return
        self._protocol = None
        self._pending_calls = None
        proc = self._proc
        for fd in [fd for fd, pipe in self._pipes.items() if pipe is None]:
            del self._pipes[fd]
            if proc is not None:
                (proc.stdin, proc.stdout, proc.stderr)[fd].close()  # type: ignore[union-attr]
        self.close()
        self._try_finish()

    # -- events from the pipes and the watcher ------------------------------------------
    def _call(self, callback: Callable[..., object], *args: Any) -> None:
        if self._pending_calls is not None:
            self._pending_calls.append((callback, args))
        else:
            self._loop.call_soon(callback, *args)

    def _protocol_call(self, method: str) -> None:
        if self._protocol is not None:
            getattr(self._protocol, method)()

    def _pipe_connected(self, fd: int, pipe: _PipeProtocol) -> None:
        self._pipes[fd] = pipe

    def _pipe_data_received(self, fd: int, data: bytes) -> None:
        if self._protocol is not None:
            self._call(self._protocol.pipe_data_received, fd, data)

    def _pipe_connection_lost(self, fd: int, exc: BaseException | None) -> None:
        if self._protocol is not None:
            self._call(self._protocol.pipe_connection_lost, fd, exc)
        self._try_finish()

    def _process_exited(self, returncode: int) -> None:
        if self._returncode is not None:
            return
        if self._proc is not None and self._proc.returncode is not None:
            # User code reaped the child through the Popen object (wait/poll):
            # the watcher only saw ECHILD, the Popen object has the real status.
            returncode = self._proc.returncode
        if self._loop.get_debug():
            logger.info("%r exited with return code %r", self, returncode)
        self._returncode = returncode
        if self._proc is not None and self._proc.returncode is None:
            # Popen warns at garbage collection about a child it thinks runs.
            self._proc.returncode = returncode
        if self._protocol is not None:
            self._call(self._protocol.process_exited)
        self._try_finish()

    def _exited_after_loop_closed(self, returncode: int) -> None:
        # From the reaper thread: the loop is gone, only the Popen object
        # still cares (it would warn that the child "is still running").
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.returncode = returncode

    def _try_finish(self) -> None:
        if self._finished or self._returncode is None:
            return
        if all(pipe is not None and pipe.disconnected for pipe in self._pipes.values()):
            self._finished = True
            self._call(self._call_connection_lost, None)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            if self._protocol is not None:
                self._protocol.connection_lost(exc)  # type: ignore[arg-type]
        finally:
            for waiter in self._exit_waiters or ():
                if not waiter.cancelled():
                    waiter.set_result(self._returncode)  # type: ignore[arg-type]
            self._exit_waiters = None
            self._proc = None
            self._protocol = None

    async def _wait(self) -> int:
        """Wait until the child exited and its pipes closed; its return code.

        ``asyncio.subprocess.Process.wait`` calls this.
        """
        if self._exit_waiters is None:
            assert self._returncode is not None
            return self._returncode
        waiter: asyncio.Future[int] = self._loop.create_future()
        self._exit_waiters.append(waiter)
        return await waiter

    # -- asyncio.SubprocessTransport ------------------------------------------------
    def get_pid(self) -> int:
        """The child's process id."""
        assert self._pid is not None
        return self._pid

    def get_returncode(self) -> int | None:
        """The exit code (negative: killed by that signal), None while running."""
        return self._returncode

    def get_pipe_transport(self, fd: int) -> asyncio.BaseTransport | None:
        """The transport of the child's stdin (0), stdout (1) or stderr (2), if piped."""
        pipe = self._pipes.get(fd)
        return None if pipe is None else pipe.pipe

    def _check_running(self) -> None:
        if self._proc is None:
            raise ProcessLookupError()

    def _signal_child(self, signum: int) -> None:
        """Signal the child unless it is known to have exited (then do nothing)."""
        proc = self._proc
        if proc is None or self._returncode is not None or proc.returncode is not None:
            return
        assert self._pid is not None
        try:
            self._watcher.send_signal(self._pid, signum)
        except ProcessLookupError:
            pass  # exited meanwhile: as with Popen.send_signal, nothing to do

    def send_signal(self, signal: int) -> None:
        """Send ``signal`` to the child (nothing once it has exited).

        Raises ProcessLookupError once the transport finished (child reaped,
        pipes closed), as asyncio's does.
        """
        self._check_running()
        self._signal_child(signal)

    def terminate(self) -> None:
        """Ask the child to end (SIGTERM)."""
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """End the child (SIGKILL)."""
        self.send_signal(signal.SIGKILL)

    def is_closing(self) -> bool:
        """True once close() was called."""
        return self._closed

    def close(self) -> None:
        """Close the pipes and kill the child if it still runs (it is still reaped)."""
        if self._closed:
            return
        self._closed = True
        for pipe in self._pipes.values():
            if pipe is not None and pipe.pipe is not None:
                pipe.pipe.close()
        if self._loop.get_debug() and self._proc is not None and self._returncode is None:
            logger.warning("Close running child process: kill %r", self)
        self._signal_child(signal.SIGKILL)


async def _start(
    loop: asyncio.AbstractEventLoop,
    protocol_factory: SubprocessProtocolFactory,
    args: Any,
    shell: bool,
    stdin: Any,
    stdout: Any,
    stderr: Any,
    bufsize: int,
    kwargs: dict[str, Any],
) -> tuple[SubprocessTransport, asyncio.SubprocessProtocol]:
    protocol = protocol_factory()
    transport = SubprocessTransport(loop, protocol, args, shell, stdin, stdout, stderr, bufsize, **kwargs)
    try:
        await transport._connect_pipes()
    except BaseException:
        transport._abandon()
        await transport._wait()
        raise
    return transport, protocol


def _check_common(universal_newlines: bool, bufsize: int, encoding: Any, errors: Any, text: Any) -> None:
    if universal_newlines:
        raise ValueError("universal_newlines must be False")
    if bufsize != 0:
        raise ValueError("bufsize must be 0")
    if text:
        raise ValueError("text must be False")
    if encoding is not None:
        raise ValueError("encoding must be None")
    if errors is not None:
        raise ValueError("errors must be None")


async def subprocess_exec(
    loop: asyncio.AbstractEventLoop,
    protocol_factory: SubprocessProtocolFactory,
    program: Any,
    *args: Any,
    stdin: Any = subprocess.PIPE,
    stdout: Any = subprocess.PIPE,
    stderr: Any = subprocess.PIPE,
    universal_newlines: bool = False,
    shell: bool = False,
    bufsize: int = 0,
    encoding: Any = None,
    errors: Any = None,
    text: Any = None,
    **kwargs: Any,
) -> tuple[SubprocessTransport, asyncio.SubprocessProtocol]:
    """Run ``program`` with ``args``; ``loop.subprocess_exec``'s contract."""
    if shell:
        raise ValueError("shell must be False")
    _check_common(universal_newlines, bufsize, encoding, errors, text)
    return await _start(loop, protocol_factory, (program, *args), False, stdin, stdout, stderr, bufsize, kwargs)


async def subprocess_shell(
    loop: asyncio.AbstractEventLoop,
    protocol_factory: SubprocessProtocolFactory,
    cmd: str | bytes,
    *,
    stdin: Any = subprocess.PIPE,
    stdout: Any = subprocess.PIPE,
    stderr: Any = subprocess.PIPE,
    universal_newlines: bool = False,
    shell: bool = True,
    bufsize: int = 0,
    encoding: Any = None,
    errors: Any = None,
    text: Any = None,
    **kwargs: Any,
) -> tuple[SubprocessTransport, asyncio.SubprocessProtocol]:
    """Run ``cmd`` through the shell; ``loop.subprocess_shell``'s contract."""
    if not isinstance(cmd, (bytes, str)):
        raise ValueError("cmd must be a string")
    if not shell:
        raise ValueError("shell must be True")
    _check_common(universal_newlines, bufsize, encoding, errors, text)
    return await _start(loop, protocol_factory, cmd, True, stdin, stdout, stderr, bufsize, kwargs)
