"""A user's SIGCHLD handler beside the SIGCHLD child watcher (issue #8).

pidfd_open is removed for these tests, so tidal's loop watches children with
SIGCHLD.  The user's own ``add_signal_handler(SIGCHLD, ...)`` must not
replace the watcher's handler: both run, children are reaped and their exit
reported, and ``remove_signal_handler(SIGCHLD)`` removes only the user's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

import pytest

from .test_subprocess import BLOCKED, PIPE, assert_reaped

pytestmark = pytest.mark.parametrize("loop_kind", ["tidal"], indirect=True)


@pytest.fixture(autouse=True)
def _sigchld_watcher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "pidfd_open", raising=False)


def _run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> Any:
    return loop.run_until_complete(asyncio.wait_for(coro, 30))


class _Counter:
    """A SIGCHLD handler that counts its calls and wakes waiters."""

    def __init__(self) -> None:
        self.calls = 0
        self.called = asyncio.Event()

    def __call__(self) -> None:
        self.calls += 1
        self.called.set()


def test_user_handler_added_first_and_children_still_reaped(loop: asyncio.AbstractEventLoop) -> None:
    from tidal.loop._child_watcher import watcher_for

    assert watcher_for(loop).strategy == "sigchld"
    counter = _Counter()

    async def main() -> tuple[list[int], list[int]]:
        loop.add_signal_handler(signal.SIGCHLD, counter)
        codes, pids = [], []
        for script in ("pass", "import sys; sys.exit(5)"):
            proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script)
            pids.append(proc.pid)
            codes.append(await proc.wait())
        await counter.called.wait()
        return codes, pids

    codes, pids = _run(loop, main())
    assert codes == [0, 5]
    assert counter.calls >= 1
    assert_reaped(pids)
    # The watcher is done; the user's handler is still installed.
    assert signal.getsignal(signal.SIGCHLD) not in (signal.SIG_DFL, signal.SIG_IGN)
    assert loop.remove_signal_handler(signal.SIGCHLD) is True
    assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL


def test_user_handler_added_while_a_child_runs(loop: asyncio.AbstractEventLoop) -> None:
    counter = _Counter()

    async def main() -> tuple[int, int]:
        proc = await asyncio.create_subprocess_exec(*BLOCKED, stdin=PIPE, stdout=PIPE)
        assert proc.stdout is not None
        await proc.stdout.readline()
        loop.add_signal_handler(signal.SIGCHLD, counter)  # after the watcher's
        proc.kill()
        code = await proc.wait()
        await counter.called.wait()
        return code, proc.pid

    code, pid = _run(loop, main())
    assert code == -signal.SIGKILL
    assert_reaped([pid])
    assert loop.remove_signal_handler(signal.SIGCHLD) is True
    assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL


def test_removing_the_user_handler_keeps_the_watcher(loop: asyncio.AbstractEventLoop) -> None:
    counter = _Counter()

    async def main() -> tuple[int, int]:
        proc = await asyncio.create_subprocess_exec(*BLOCKED, stdin=PIPE, stdout=PIPE)
        assert proc.stdout is not None
        await proc.stdout.readline()
        loop.add_signal_handler(signal.SIGCHLD, counter)
        assert loop.remove_signal_handler(signal.SIGCHLD) is True
        assert loop.remove_signal_handler(signal.SIGCHLD) is False  # only the user's was there to remove
        # The watcher's handler still holds the signal.
        assert signal.getsignal(signal.SIGCHLD) not in (signal.SIG_DFL, signal.SIG_IGN)
        proc.terminate()
        return await proc.wait(), proc.pid

    code, pid = _run(loop, main())
    assert code == -signal.SIGTERM
    assert counter.calls == 0
    assert_reaped([pid])
    assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL  # neither handler is left


def test_user_handler_runs_after_the_watcher_is_done(loop: asyncio.AbstractEventLoop) -> None:
    counter = _Counter()
    arguments: list[tuple[Any, ...]] = []

    async def main() -> int:
        loop.add_signal_handler(signal.SIGCHLD, lambda *args: arguments.append(args), "user", 1)
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
        code = await proc.wait()
        assert_reaped([proc.pid])
        loop.add_signal_handler(signal.SIGCHLD, counter)  # replaces the user's first handler
        os.kill(os.getpid(), signal.SIGCHLD)
        await counter.called.wait()
        return code

    assert _run(loop, main()) == 0
    assert set(arguments) <= {("user", 1)}
    assert counter.calls >= 1
    assert loop.remove_signal_handler(signal.SIGCHLD) is True


def test_many_children_with_a_user_handler(loop: asyncio.AbstractEventLoop) -> None:
    counter = _Counter()

    async def one(index: int) -> tuple[int, int]:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", f"import sys; sys.exit({index})")
        return await proc.wait(), proc.pid

    async def main() -> list[tuple[int, int]]:
        loop.add_signal_handler(signal.SIGCHLD, counter)
        results = await asyncio.gather(*(one(index) for index in range(10)))
        await counter.called.wait()
        return list(results)

    results = _run(loop, main())
    assert [code for code, _ in results] == list(range(10))
    assert_reaped([pid for _, pid in results])
    assert loop.remove_signal_handler(signal.SIGCHLD) is True
