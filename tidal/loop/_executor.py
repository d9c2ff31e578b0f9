"""Thread-pool work: ``run_in_executor``, its default executor, and name resolution.

``getaddrinfo``/``getnameinfo`` run the blocking libc calls in the default
executor unless a resolver hook is set: the loop may not import the DNS layer
(imports point down), so ``tidal.dns.install_getaddrinfo(loop)`` hands it
``hook(host, port, family, type, proto, flags)`` through
:meth:`ExecutorLoop.set_getaddrinfo_hook`, and then ``getaddrinfo`` (and so
every ``create_connection``) resolves without a thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
from collections.abc import Callable
from typing import Any, Awaitable, TypeVar, TypeVarTuple, Unpack

from tidal.loop._core import LoopCore, logger

__all__ = ["ExecutorLoop"]

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

AddrInfo = tuple[Any, Any, int, str, Any]
GetaddrinfoHook = Callable[[Any, Any, int, int, int, int], Awaitable[list[AddrInfo]]]


class ExecutorLoop(LoopCore):
    """Adds the default executor, ``run_in_executor`` and resolver methods."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._default_executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._executor_shutdown_called = False
        self._getaddrinfo_hook: GetaddrinfoHook | None = None

    def set_getaddrinfo_hook(self, hook: GetaddrinfoHook | None) -> None:
        """Answer :meth:`getaddrinfo` with ``hook`` (None: the libc call in a thread again)."""
        self._getaddrinfo_hook = hook

    def run_in_executor(self, executor: Any, func: Callable[[Unpack[_Ts]], _T], *args: Unpack[_Ts]) -> asyncio.Future[_T]:
        """Run ``func(*args)`` in ``executor`` (None: the loop's default thread pool)."""
        self._check_closed()
        if self._debug:
            self._check_callback(func, "run_in_executor")
        if executor is None:
            executor = self._default_executor
            if self._executor_shutdown_called:
                raise RuntimeError("Executor shutdown has been called")
            if executor is None:
                executor = self._default_executor = concurrent.futures.ThreadPoolExecutor(
                    thread_name_prefix="tidal"
                )
        return asyncio.wrap_future(executor.submit(func, *args), loop=self)

    def set_default_executor(self, executor: Any) -> None:
        """Use ``executor`` (a ``ThreadPoolExecutor``) for ``run_in_executor(None, ...)``."""
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            raise TypeError("executor must be ThreadPoolExecutor")
        self._default_executor = executor

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        """Shut the default executor down, waiting for its threads without blocking the loop."""
        self._executor_shutdown_called = True
        executor = self._default_executor
        if executor is None:
            return
        done = self.create_future()
        thread = threading.Thread(target=self._join_executor, args=(executor, done), daemon=True)
        thread.start()
        try:
            await asyncio.wait_for(asyncio.shield(done), timeout)
        except asyncio.TimeoutError:
            import warnings

            warnings.warn(
                f"The executor did not finish joining its threads within {timeout} seconds.",
                RuntimeWarning,
                stacklevel=2,
            )
            executor.shutdown(wait=False)
        else:
            thread.join()

    def _join_executor(self, executor: concurrent.futures.Executor, done: asyncio.Future[None]) -> None:
        try:
            executor.shutdown(wait=True)
            if not self.is_closed():
                self.call_soon_threadsafe(_resolve, done)
        except Exception as exc:
            if not self.is_closed():
                self.call_soon_threadsafe(done.set_exception, exc)

    def _close_resources(self) -> None:
        super()._close_resources()
        executor = self._default_executor
        if executor is not None:
            self._executor_shutdown_called = True
            self._default_executor = None
            executor.shutdown(wait=False)

    async def getaddrinfo(
        self,
        host: Any,
        port: Any,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[tuple[Any, Any, int, str, Any]]:
        """The resolver hook's answer if one is set, else ``socket.getaddrinfo`` in the default executor."""
        hook = self._getaddrinfo_hook
        if hook is not None:
            return await hook(host, port, family, type, proto, flags)
        if not self._debug:
            return await self.run_in_executor(None, socket.getaddrinfo, host, port, family, type, proto, flags)
        started = self.time()
        result = await self.run_in_executor(None, socket.getaddrinfo, host, port, family, type, proto, flags)
        elapsed = self.time() - started
        level = logger.info if elapsed >= self.slow_callback_duration else logger.debug
        level("getaddrinfo(%r, %r) took %.3f ms", host, port, elapsed * 1e3)
        return result

    async def getnameinfo(self, sockaddr: Any, flags: int = 0) -> tuple[str, str]:
        """``socket.getnameinfo`` in the default executor."""
        return await self.run_in_executor(None, socket.getnameinfo, sockaddr, flags)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
