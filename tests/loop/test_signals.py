"""add_signal_handler/remove_signal_handler on tidal's loop and asyncio's."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
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


def wait_channel(native_thread_id: int) -> str:
    """Where the thread sleeps in the kernel ("0" while it runs or when hidden)."""
    try:
        with open(f"/proc/self/task/{native_thread_id}/wchan") as file:
            return file.read().strip()
    except OSError:
        return ""


def kernel_shows_wait_channels() -> bool:
    """Whether /proc/<tid>/wchan names the kernel function a sleeping thread waits in."""
    asleep, release = threading.Event(), threading.Event()
    seen: list[str] = []

    def sleeper() -> None:
        seen.append(str(threading.get_native_id()))
        asleep.set()
        release.wait(10)

    thread = threading.Thread(target=sleeper)
    thread.start()
    asleep.wait(10)
    channel = ""
    give_up = time.monotonic() + 5
    while channel in ("", "0") and time.monotonic() < give_up:
        channel = wait_channel(int(seen[0]))
        time.sleep(0.001)
    release.set()
    thread.join()
    return channel not in ("", "0")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="observes the epoll wait through /proc")
def test_signal_runs_promptly_while_blocked_in_epoll_without_timers(
    loop: asyncio.AbstractEventLoop, loop_kind: str
) -> None:
    """The handler runs at once although the loop sleeps in epoll_wait with no timeout at all."""
    loop_thread = threading.get_native_id()
    if not kernel_shows_wait_channels():
        pytest.skip("this kernel does not show where a thread sleeps (/proc/<tid>/wchan)")
    sent_at: list[float] = []
    deadlines: list[float | None] = []
    handled = loop.create_future()

    def send_when_blocked() -> None:
        give_up = time.monotonic() + 10
        while "epoll" not in wait_channel(loop_thread):  # bounded poll of an observable state
            if time.monotonic() > give_up:
                loop.call_soon_threadsafe(handled.set_exception, AssertionError("loop never blocked in epoll"))
                return
            time.sleep(0.001)
        if loop_kind == "tidal":
            deadlines.append(loop.next_deadline())  # type: ignore[attr-defined]
        sent_at.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGUSR1)
        if not ran.wait(10):  # fail instead of hanging if the loop never woke up
            loop.call_soon_threadsafe(handled.set_exception, AssertionError("handler did not run"))

    def on_signal() -> None:
        ran.set()
        handled.set_result(time.monotonic())

    ran = threading.Event()
    loop.add_signal_handler(signal.SIGUSR1, on_signal)
    sender = threading.Thread(target=send_when_blocked)
    try:
        sender.start()
        # No wait_for(): nothing but the signal may wake the loop (no timer at all).
        handled_at = loop.run_until_complete(handled)
    finally:
        sender.join()
        loop.remove_signal_handler(signal.SIGUSR1)
    assert deadlines in ([None], [])  # tidal's loop had no timer while it slept
    assert handled_at - sent_at[0] < 2.0  # promptly: one wakeup, not a timeout


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
