"""``tidal.http.run()``: serve from this process or from N worker processes.

Theory of operation.  Each worker is a forked process with its own tidal
event loop and its own listening socket bound with ``SO_REUSEPORT``, so the
kernel spreads new connections across the workers and no process accepts on
behalf of another.  The supervisor (the parent) first binds a placeholder
socket with ``SO_REUSEPORT`` -- never listening -- to pin the port number
(``port=0`` then means one free port shared by every worker), forks the
workers, and waits for them.  A worker that dies is restarted (after a
second if it lived less than a second, so a crash loop does not spin).
SIGTERM or SIGINT makes the supervisor forward SIGTERM to every worker; each
worker then shuts its server down gracefully and exits, and the supervisor
returns once all of them have.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl as _ssl
import sys
import time
from collections.abc import Callable
from typing import Any

from ._serve import serve
from ._server import Server

__all__ = ["run"]

ReadyCallback = Callable[[Server], None]
_RESTART_PAUSE = 1.0


def run(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    workers: int = 1,
    ssl: _ssl.SSLContext | None = None,
    on_ready: ReadyCallback | None = None,
    say: Callable[[str], None] | None = None,
    **options: Any,
) -> int:
    """Serve ``app`` until SIGTERM/SIGINT, on tidal's loop; returns an exit status.

    With ``workers > 1`` the app is served by that many forked processes
    sharing the port (Linux ``SO_REUSEPORT``); a worker that dies is
    restarted.  ``on_ready(server)`` is called in each serving process once
    it listens; ``say`` receives supervisor messages (default: stderr).
    ``options`` are passed to :func:`tidal.http.serve`.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if workers == 1:
        return _run_worker(app, host, port, ssl, False, on_ready, options)
    if not hasattr(socket, "SO_REUSEPORT") or not hasattr(os, "fork"):
        raise RuntimeError("worker processes need fork() and SO_REUSEPORT (Linux, BSD, macOS)")
    return _Supervisor(app, host, port, workers, ssl, on_ready, say or _to_stderr, options).run()


def _to_stderr(message: str) -> None:
    sys.stderr.write(message + "\n")  # one write: workers share the stream
    sys.stderr.flush()


def _run_worker(
    app: Any,
    host: str,
    port: int,
    ssl: _ssl.SSLContext | None,
    reuse_port: bool,
    on_ready: ReadyCallback | None,
    options: dict[str, Any],
) -> int:
    import tidal.loop

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await serve(app, host, port, ssl=ssl, reuse_port=reuse_port, **options)
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            if on_ready is not None:
                on_ready(server)
            await stop.wait()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            await server.aclose()

    tidal.loop.run(main())
    return 0


class _Supervisor:
    """The parent process: forks, watches and restarts workers."""

    def __init__(
        self,
        app: Any,
        host: str,
        port: int,
        workers: int,
        ssl: _ssl.SSLContext | None,
        on_ready: ReadyCallback | None,
        say: Callable[[str], None],
        options: dict[str, Any],
    ) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._workers = workers
        self._ssl = ssl
        self._on_ready = on_ready
        self._say = say
        self._options = options
        self._children: dict[int, float] = {}  # pid -> start time
        self._stopping = False

    def run(self) -> int:
        placeholder = self._pin_port()
        previous = {signum: signal.signal(signum, self._stop) for signum in (signal.SIGTERM, signal.SIGINT)}
        try:
            for _ in range(self._workers):
                self._spawn()
            self._watch()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            placeholder.close()
        return 0

    def _pin_port(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        placeholder = socket.socket(family, socket.SOCK_STREAM)
        placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        placeholder.bind((self._host, self._port))
        self._port = placeholder.getsockname()[1]
        self._placeholder = placeholder
        return placeholder

    def _spawn(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            status = 1
            try:
                for signum in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(signum, signal.SIG_DFL)
                self._placeholder.close()
                status = _run_worker(self._app, self._host, self._port, self._ssl, True, self._on_ready, self._options)
            except BaseException as exc:  # noqa: BLE001 - report, then leave the forked process
                sys.stderr.write(f"worker {os.getpid()} failed: {exc!r}\n")
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        self._children[pid] = time.monotonic()
        self._say(f"worker {pid} started")

    def _stop(self, signum: int, frame: object) -> None:
        self._stopping = True
        for pid in self._children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _watch(self) -> None:
        while self._children:
            pid, status = os.wait()
            started = self._children.pop(pid, None)
            if started is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            if self._stopping:
                self._say(f"worker {pid} stopped (exit status {code})")
                continue
            self._say(f"worker {pid} exited unexpectedly (exit status {code}); restarting it")
            if time.monotonic() - started < _RESTART_PAUSE:
                time.sleep(_RESTART_PAUSE)
            if not self._stopping:
                self._spawn()
