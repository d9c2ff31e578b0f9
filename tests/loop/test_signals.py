"""add_signal_handler/remove_signal_handler on tidal's loop and asyncio's."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from typing import Any

import pytest


def test_signal_wakes_a_blocked_loop(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    async def main() -> int:
        received: asyncio.Future[int] = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR1, received.set_result, signal.SIGUSR1)
        try:
            # Sent from another thread while the loop sits in the poller with no timer.
            thread = threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGUSR1))
            thread.start()
            result = await received
            thread.join()
            return result
        finally:
            assert loop.remove_signal_handler(signal.SIGUSR1)

    assert run(main()) == signal.SIGUSR1
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_handler_runs_once_per_delivery(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    async def main() -> list[str]:
        calls: list[str] = []
        loop.add_signal_handler(signal.SIGUSR2, calls.append, "usr2")
        try:
            for _ in range(3):
                os.kill(os.getpid(), signal.SIGUSR2)
                for _ in range(5):
                    await asyncio.sleep(0)
            return calls
        finally:
            loop.remove_signal_handler(signal.SIGUSR2)

    assert run(main()) == ["usr2"] * 3


def test_sigint_handler_restores_default_int_handler(loop: asyncio.AbstractEventLoop) -> None:
    loop.add_signal_handler(signal.SIGINT, print)
    assert loop.remove_signal_handler(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_signal_argument_errors(loop: asyncio.AbstractEventLoop) -> None:
    async def coroutine_function() -> None:
        pass

    with pytest.raises(TypeError):
        loop.add_signal_handler("SIGUSR1", print)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        loop.add_signal_handler(10_000, print)
    with pytest.raises(TypeError):
        loop.add_signal_handler(signal.SIGUSR1, coroutine_function)
    with pytest.raises(RuntimeError):
        loop.add_signal_handler(signal.SIGKILL, print)
    assert loop.remove_signal_handler(signal.SIGUSR1) is False


def test_close_removes_handlers(loop_kind: str) -> None:
    from tests.loop.conftest import make_loop

    loop = make_loop(loop_kind)
    loop.add_signal_handler(signal.SIGUSR1, print)
    loop.close()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_signal_handlers_need_the_main_thread(loop: asyncio.AbstractEventLoop) -> None:
    errors: list[BaseException] = []

    def in_thread() -> None:
        try:
            loop.add_signal_handler(signal.SIGUSR1, print)
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert len(errors) == 1
