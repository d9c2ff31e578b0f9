"""The embedding API: step(), fileno() and next_deadline(), driven by a foreign loop."""

from __future__ import annotations

import asyncio
import select
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tidal.loop import EventLoop, new_event_loop


@pytest.fixture
def loop() -> Iterator[EventLoop]:
    event_loop = new_event_loop()
    try:
        yield event_loop
    finally:
        event_loop.close()


def test_step_on_idle_loop_returns_none(loop: EventLoop) -> None:
    assert loop.step() is None
    assert loop.next_deadline() is None
    assert not loop.is_running()


def test_step_runs_ready_callbacks_once(loop: EventLoop) -> None:
    calls: list[str] = []

    def first() -> None:
        calls.append("first")
        loop.call_soon(calls.append, "later")

    loop.call_soon(first)
    assert loop.next_deadline() is not None
    assert loop.step() == 0.0  # "later" is waiting: run again at once
    assert calls == ["first"]
    assert loop.step() is None
    assert calls == ["first", "later"]


def test_step_reports_time_until_next_timer(loop: EventLoop) -> None:
    loop.call_later(5.0, print)
    delay = loop.step()
    assert delay is not None and 4.0 < delay <= 5.0
    deadline = loop.next_deadline()
    assert deadline is not None and abs(deadline - (loop.time() + delay)) < 0.5


def test_step_timeout_waits_for_timer(loop: EventLoop) -> None:
    fired: list[bool] = []
    loop.call_later(0.01, fired.append, True)
    while not fired:
        delay = loop.step(timeout=1.0)  # blocks until the timer is due, no longer
    assert delay is None


def test_running_loop_is_set_inside_step(loop: EventLoop) -> None:
    seen: list[object] = []
    loop.call_soon(lambda: seen.append(asyncio.get_running_loop()))
    loop.step()
    assert seen == [loop]
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


def test_step_refuses_nesting(loop: EventLoop) -> None:
    errors: list[BaseException] = []

    def nested() -> None:
        try:
            loop.step()
        except RuntimeError as exc:
            errors.append(exc)

    loop.call_soon(nested)
    loop.step()
    assert len(errors) == 1


def test_fileno_becomes_readable_on_io_and_wakeups(loop: EventLoop) -> None:
    watcher = select.poll()
    watcher.register(loop.fileno(), select.POLLIN)
    assert watcher.poll(0) == []
    left, right = socket.socketpair()
    with left, right:
        received: list[bytes] = []
        loop.add_reader(left, lambda: received.append(left.recv(10)))
        right.send(b"io")
        assert watcher.poll(1000) != []
        loop.step()
        assert received == [b"io"]
        loop.remove_reader(left)
    assert watcher.poll(0) == []
    thread = threading.Thread(target=loop.call_soon_threadsafe, args=(received.append, b"wakeup"))
    thread.start()
    thread.join()
    assert watcher.poll(1000) != []
    loop.step()
    assert received[-1] == b"wakeup"


def test_foreign_poll_loop_drives_tidal(loop: EventLoop) -> None:
    """A host loop built on select.poll runs an asyncio program through step()."""

    async def echo_round_trips(count: int) -> int:
        left, right = socket.socketpair()
        left.setblocking(False)
        right.setblocking(False)
        with left, right:
            for number in range(count):
                await asyncio.sleep(0.001)
                await loop.sock_sendall(left, b"%d" % number)
                assert await loop.sock_recv(right, 100) == b"%d" % number
        return count

    task = loop.create_task(echo_round_trips(20))
    host = select.poll()
    host.register(loop.fileno(), select.POLLIN)
    deadline = time.monotonic() + 10
    delay: float | None = 0.0
    host_iterations = 0
    while not task.done() and time.monotonic() < deadline:
        host_iterations += 1
        timeout_ms = None if delay is None else int(delay * 1000) + 1
        host.poll(timeout_ms)  # the host waits; tidal never blocks inside step(0)
        delay = loop.step(0)
    assert task.result() == 20
    assert host_iterations >= 20


@pytest.mark.parametrize("backend", ["poll", "select"])
def test_backends_without_pollable_fd_say_so(backend: str) -> None:
    loop = new_event_loop(poller=backend)
    try:
        with pytest.raises(NotImplementedError, match="no pollable fd"):
            loop.fileno()
        loop.call_soon(int)
        assert loop.step() is None  # step() itself works on every backend
    finally:
        loop.close()
