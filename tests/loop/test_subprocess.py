"""Subprocesses (subprocess_exec/shell, asyncio.create_subprocess_*) on tidal's loop and asyncio's.

Every child is reaped: tests that start children check that none is left
as a zombie, and the loop fixture fails a test that leaks descriptors.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

Run = Callable[..., Any]
PIPE = asyncio.subprocess.PIPE
DEVNULL = asyncio.subprocess.DEVNULL

# A child that blocks until it is signalled (or its stdin closes).
BLOCKED = [sys.executable, "-c", "import sys; print('ready', flush=True); sys.stdin.read()"]

# Streams stdin to stdout and to stderr as it arrives (so both directions are busy at once).
ECHO_BOTH = [
    sys.executable,
    "-c",
    "import sys\n"
    "while True:\n"
    "    chunk = sys.stdin.buffer.read1(65536)\n"
    "    if not chunk:\n"
    "        break\n"
    "    sys.stdout.buffer.write(chunk); sys.stdout.buffer.flush()\n"
    "    sys.stderr.buffer.write(chunk); sys.stderr.buffer.flush()\n",
]


def is_unreaped_child(pid: int) -> bool:
    """True if ``pid`` is a zombie child of this process (exited, nobody called waitpid)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] == "Z" and int(fields[1]) == os.getpid()


def assert_reaped(pids: list[int]) -> None:
    """Every pid was reaped already: waitpid finds no such child and no zombie is left."""
    for pid in pids:
        assert not is_unreaped_child(pid), f"child {pid} is a zombie"
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


class Recorder(asyncio.SubprocessProtocol):
    """Records the subprocess protocol calls; futures for exit and connection_lost."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.events: list[str] = []
        self.output: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
        self.exited: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.pipe_lost: dict[int, asyncio.Future[None]] = {fd: loop.create_future() for fd in (0, 1, 2)}
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.events.append("made")

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if self.events[-1] != f"data {fd}":
            self.events.append(f"data {fd}")
        self.output[fd] += data

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.events.append(f"pipe lost {fd}")
        self.pipe_lost[fd].set_result(None)

    def process_exited(self) -> None:
        self.events.append("exited")
        self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append("lost")
        self.lost.set_result(None)


# -- pipes and data ---------------------------------------------------------------------


def test_communicate_large_data_both_ways(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    payload = os.urandom(2 * 1024 * 1024)  # 32 times a pipe buffer, each way

    async def main() -> tuple[bytes, bytes, int]:
        proc = await asyncio.create_subprocess_exec(*ECHO_BOTH, stdin=PIPE, stdout=PIPE, stderr=PIPE)
        out, err = await proc.communicate(payload)
        return out, err, await proc.wait()

    out, err, code = run(main())
    assert out == payload and err == payload
    assert code == 0


def test_stdin_stdout_streaming(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> list[bytes]:
        proc = await asyncio.create_subprocess_exec(*ECHO_BOTH, stdin=PIPE, stdout=PIPE, stderr=DEVNULL)
        assert proc.stdin is not None and proc.stdout is not None
        lines = []
        for line in (b"first\n", b"second\n"):
            proc.stdin.write(line)
            await proc.stdin.drain()
            lines.append(await proc.stdout.readline())
        assert proc.returncode is None
        proc.stdin.close()
        assert await proc.stdout.read() == b""
        assert await proc.wait() == 0
        assert await proc.wait() == 0  # again: same answer
        assert proc.returncode == 0
        return lines

    assert run(main()) == [b"first\n", b"second\n"]


def test_stderr_to_stdout(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    code = "import sys; sys.stdout.write('out '); sys.stdout.flush(); sys.stderr.write('err')"

    async def main() -> bytes:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, stdout=PIPE, stderr=subprocess.STDOUT
        )
        out, err = await proc.communicate()
        assert err is None
        return out

    assert run(main()) == b"out err"


def test_shell_with_env_and_cwd(loop: asyncio.AbstractEventLoop, run: Run, tmp_path: Any) -> None:
    async def main() -> tuple[bytes, int]:
        proc = await asyncio.create_subprocess_shell(
            'echo "$TIDAL_VALUE"; pwd; exit 3',
            stdout=PIPE,
            env={"TIDAL_VALUE": "from the parent", "PATH": os.environ.get("PATH", "/bin:/usr/bin")},
            cwd=tmp_path,
        )
        out, _ = await proc.communicate()
        return out, await proc.wait()

    out, code = run(main())
    assert out.decode().splitlines() == ["from the parent", str(tmp_path.resolve())]
    assert code == 3


def test_pass_fds(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    read_fd, write_fd = os.pipe()
    code = "import os, sys; os.write(int(sys.argv[1]), b'through a passed fd')"

    async def main() -> int:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, str(write_fd), pass_fds=(write_fd,), stdin=DEVNULL
        )
        return await proc.wait()

    try:
        assert run(main()) == 0
        os.close(write_fd)
        write_fd = -1
        with open(read_fd, "rb", closefd=False) as file:
            assert file.read() == b"through a passed fd"
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)


# -- exits, pipes and their order --------------------------------------------------------


def test_exit_before_pipes_close(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    # The child exits at once; a grandchild keeps its stdout open until released.
    release_read, release_write = os.pipe()
    grandchild = "import os, sys; os.read(int(sys.argv[1]), 1); sys.stdout.write('late'); sys.stdout.flush()"
    child = (
        "import subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', {grandchild!r}, sys.argv[1]], pass_fds=(int(sys.argv[1]),))\n"
        "sys.exit(5)\n"
    )

    async def main() -> Recorder:
        transport, protocol = await loop.subprocess_exec(
            lambda: Recorder(loop), sys.executable, "-c", child, str(release_read),
            stdin=DEVNULL, stdout=PIPE, stderr=DEVNULL, pass_fds=(release_read,),
        )
        assert isinstance(protocol, Recorder)
        await protocol.exited
        assert transport.get_returncode() == 5
        assert not protocol.pipe_lost[1].done()
        os.write(release_write, b"x")
        await protocol.lost
        assert transport.get_returncode() == 5
        transport.close()
        return protocol

    try:
        protocol = run(main())
    finally:
        os.close(release_read)
        os.close(release_write)
    assert protocol.events == ["made", "exited", "data 1", "pipe lost 1", "lost"]
    assert protocol.output[1] == b"late"


def test_pipes_close_before_exit(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    child = "import os; os.close(1); os.close(2); os.read(0, 1); os._exit(0)"

    async def main() -> Recorder:
        transport, protocol = await loop.subprocess_exec(lambda: Recorder(loop), sys.executable, "-c", child)
        assert isinstance(protocol, Recorder)
        await protocol.pipe_lost[1]
        await protocol.pipe_lost[2]
        assert transport.get_returncode() is None
        stdin = transport.get_pipe_transport(0)
        assert isinstance(stdin, asyncio.WriteTransport)
        stdin.write(b"go")
        await protocol.lost
        assert transport.get_returncode() == 0
        transport.close()
        return protocol

    protocol = run(main())
    assert protocol.events[0] == "made"
    assert sorted(protocol.events[1:3]) == ["pipe lost 1", "pipe lost 2"]
    assert sorted(protocol.events[3:5]) == ["exited", "pipe lost 0"]
    assert protocol.events[5:] == ["lost"]


# -- signals and closing ----------------------------------------------------------------


@pytest.mark.parametrize(
    "method, expected",
    [("kill", -signal.SIGKILL), ("terminate", -signal.SIGTERM), ("send_signal", -signal.SIGHUP)],
)
def test_signals(loop: asyncio.AbstractEventLoop, run: Run, method: str, expected: int) -> None:
    async def main() -> int:
        proc = await asyncio.create_subprocess_exec(*BLOCKED, stdin=PIPE, stdout=PIPE, restore_signals=True)
        assert proc.stdout is not None
        assert await proc.stdout.readline() == b"ready\n"
        if method == "send_signal":
            proc.send_signal(signal.SIGHUP)
        else:
            getattr(proc, method)()
        code = await proc.wait()
        # Once the transport finished, signalling is an error, as in asyncio.
        with pytest.raises(ProcessLookupError):
            proc.kill()
        return code

    assert run(main()) == expected


def test_signal_handled_by_the_child(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    code = (
        "import signal, sys\n"
        "signal.signal(signal.SIGUSR1, lambda *_: sys.exit(42))\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
    )

    async def main() -> int:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, stdin=PIPE, stdout=PIPE)
        assert proc.stdout is not None
        assert await proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGUSR1)
        return await proc.wait()

    assert run(main()) == 42


def test_cancelled_wait_leaves_the_child_alone(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> int:
        proc = await asyncio.create_subprocess_exec(*BLOCKED, stdin=PIPE, stdout=DEVNULL)
        waiter = asyncio.ensure_future(proc.wait())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert proc.returncode is None
        proc.kill()
        return await proc.wait()

    assert run(main()) == -signal.SIGKILL


def test_close_kills_a_running_child(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> tuple[int | None, list[str]]:
        transport, protocol = await loop.subprocess_exec(lambda: Recorder(loop), *BLOCKED)
        assert isinstance(protocol, Recorder)
        pid = transport.get_pid()
        transport.close()
        assert transport.is_closing()
        await protocol.lost
        assert_reaped([pid])
        return transport.get_returncode(), protocol.events

    code, events = run(main())
    assert code == -signal.SIGKILL
    assert events[0] == "made" and events[-1] == "lost" and "exited" in events


def test_close_after_exit_does_not_signal(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> int | None:
        transport, protocol = await loop.subprocess_exec(
            lambda: Recorder(loop), sys.executable, "-c", "pass", stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL
        )
        assert isinstance(protocol, Recorder)
        await protocol.lost
        transport.close()
        return transport.get_returncode()

    assert run(main()) == 0


# -- bad input --------------------------------------------------------------------------


def test_missing_program(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        with pytest.raises(FileNotFoundError):
            await asyncio.create_subprocess_exec("/nonexistent/tidal-no-such-program", stdin=PIPE, stdout=PIPE)
        with pytest.raises(FileNotFoundError):
            await asyncio.create_subprocess_exec(sys.executable, "-c", "pass", cwd="/nonexistent/tidal-dir")
        # The loop is unharmed: the next child runs.
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
        assert await proc.wait() == 0

    run(main())


def test_invalid_arguments(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        for kwargs in ({"text": True}, {"encoding": "utf-8"}, {"errors": "strict"}, {"universal_newlines": True},
                       {"bufsize": 4096}):
            with pytest.raises(ValueError):
                await loop.subprocess_exec(asyncio.SubprocessProtocol, sys.executable, **kwargs)
            with pytest.raises(ValueError):
                await loop.subprocess_shell(asyncio.SubprocessProtocol, "true", **kwargs)
        with pytest.raises(ValueError):
            await loop.subprocess_exec(asyncio.SubprocessProtocol, sys.executable, shell=True)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            await loop.subprocess_shell(asyncio.SubprocessProtocol, "true", shell=False)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            await loop.subprocess_shell(asyncio.SubprocessProtocol, ["ls", "-l"])  # type: ignore[arg-type]

    run(main())


def zombie_children() -> list[int]:
    """This process's children that exited and were not reaped (Linux /proc)."""
    pids: list[int] = []
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as file:
                pids += [int(pid) for pid in file.read().split()]
    except OSError:
        return []
    return [pid for pid in pids if is_unreaped_child(pid)]


@pytest.mark.parametrize("iterations", range(10))
def test_cancelled_start_reaps_the_child(loop: asyncio.AbstractEventLoop, run: Run, iterations: int) -> None:
    """Cancelled after 0..9 loop iterations: either no protocol call at all, or a whole life."""

    async def main() -> list[str]:
        protocol = Recorder(loop)
        task = asyncio.ensure_future(loop.subprocess_exec(lambda: protocol, *BLOCKED))
        for _ in range(iterations):
            await asyncio.sleep(0)
        task.cancel()
        try:
            transport, _ = await task
        except asyncio.CancelledError:
            if protocol.events:  # connection_made had run: connection_lost follows the kill
                await protocol.lost
        else:
            transport.close()
            await protocol.lost
        assert zombie_children() == []
        return protocol.events

    events = run(main())
    assert events == [] or (events[0] == "made" and events[-1] == "lost")


# -- many children ----------------------------------------------------------------------


def test_many_short_children(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    echo = shutil.which("echo") or "/bin/echo"
    count, concurrency = 200, 20
    gate = asyncio.Semaphore(concurrency)
    pids: list[int] = []

    async def one(index: int) -> bytes:
        async with gate:
            proc = await asyncio.create_subprocess_exec(echo, str(index), stdout=PIPE, stderr=DEVNULL)
            pids.append(proc.pid)
            out, _ = await proc.communicate()
            assert proc.returncode == 0
            return out

    async def main() -> list[bytes]:
        return await asyncio.gather(*(one(index) for index in range(count)))

    started = time.monotonic()
    outputs = run(main(), timeout=60)
    elapsed = time.monotonic() - started
    assert outputs == [f"{index}\n".encode() for index in range(count)]
    assert len(pids) == count
    assert_reaped(pids)
    assert elapsed < 60


# -- tidal's child watcher strategies ---------------------------------------------------


def _strategy_round(loop: asyncio.AbstractEventLoop) -> tuple[list[int], list[int]]:
    """A few children ending in different ways; their exit codes and pids."""

    async def main() -> tuple[list[int], list[int]]:
        codes, pids = [], []
        for script in ("pass", "import sys; sys.exit(3)"):
            proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script)
            pids.append(proc.pid)
            codes.append(await proc.wait())
        proc = await asyncio.create_subprocess_exec(*BLOCKED, stdin=PIPE, stdout=PIPE)
        pids.append(proc.pid)
        assert proc.stdout is not None
        await proc.stdout.readline()
        proc.kill()
        codes.append(await proc.wait())
        return codes, pids

    return loop.run_until_complete(asyncio.wait_for(main(), 30))


@pytest.mark.parametrize("loop_kind", ["tidal"], indirect=True)
@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="no pidfd_open on this platform")
def test_pidfd_watcher(loop: asyncio.AbstractEventLoop) -> None:
    from tidal.loop._child_watcher import watcher_for

    watcher = watcher_for(loop)
    assert watcher.strategy == "pidfd"
    codes, pids = _strategy_round(loop)
    assert codes == [0, 3, -signal.SIGKILL]
    assert watcher.strategy == "pidfd" and not watcher._pidfds
    assert_reaped(pids)


@pytest.mark.parametrize("loop_kind", ["tidal"], indirect=True)
def test_sigchld_watcher_without_pidfd(loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "pidfd_open", raising=False)
    from tidal.loop._child_watcher import watcher_for

    watcher = watcher_for(loop)
    assert watcher.strategy == "sigchld"
    codes, pids = _strategy_round(loop)
    assert codes == [0, 3, -signal.SIGKILL]
    assert_reaped(pids)
    # The SIGCHLD handler is removed once no child is watched.
    assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL


@pytest.mark.parametrize("loop_kind", ["tidal"], indirect=True)
@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="no pidfd_open on this platform")
def test_pidfd_refused_at_runtime_falls_back(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(pid: int, flags: int = 0) -> int:
        raise OSError(errno.ENOSYS, "pidfd_open refused by the sandbox")

    monkeypatch.setattr(os, "pidfd_open", refuse)
    from tidal.loop._child_watcher import watcher_for

    watcher = watcher_for(loop)
    codes, pids = _strategy_round(loop)
    assert watcher.strategy == "sigchld"
    assert codes == [0, 3, -signal.SIGKILL]
    assert_reaped(pids)


def test_thread_watcher_outside_the_main_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pidfd and outside the main thread (no signal handlers) a thread waits per child."""
    import tidal.loop
    from tidal.loop._child_watcher import watcher_for

    monkeypatch.delattr(os, "pidfd_open", raising=False)
    results: list[Any] = []

    def in_thread() -> None:
        loop = tidal.loop.new_event_loop()
        try:
            watcher = watcher_for(loop)
            results.append(watcher.strategy)
            results.append(_strategy_round(loop))
        except BaseException as exc:
            results.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(60)
    assert results[0] == "thread"
    codes, pids = results[1]
    assert codes == [0, 3, -signal.SIGKILL]
    assert_reaped(pids)


def test_loop_closed_with_a_running_child_still_reaps_it() -> None:
    import tidal.loop

    loop = tidal.loop.new_event_loop()

    async def start() -> tuple[asyncio.SubprocessTransport, asyncio.SubprocessProtocol]:
        return await loop.subprocess_exec(
            asyncio.SubprocessProtocol, sys.executable, "-c", "import time; time.sleep(60)",
            stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL,
        )

    transport, _ = loop.run_until_complete(start())
    pid = transport.get_pid()
    transport.close()  # SIGKILL: the loop closes before the exit is seen
    loop.close()
    for thread in threading.enumerate():
        if thread.name == f"tidal-reap-{pid}":
            thread.join(30)
    assert_reaped([pid])


@pytest.mark.parametrize("poller", ["epoll", "kqueue", "poll", "select"])
def test_every_poller_runs_children(poller: str) -> None:
    import tidal.loop

    if poller not in tidal.loop.available_pollers():
        pytest.skip(f"no {poller} on this platform")
    loop = tidal.loop.new_event_loop(poller=poller)
    try:
        codes, pids = _strategy_round(loop)
    finally:
        loop.close()
    assert codes == [0, 3, -signal.SIGKILL]
    assert_reaped(pids)


def test_tidal_subprocess_transport_on_either_loop(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    """tidal's subprocess transport and child watcher use only the public loop API."""
    from tidal.loop import _subprocess

    async def main() -> tuple[int | None, bytes]:
        transport, protocol = await _subprocess.subprocess_exec(
            loop, lambda: Recorder(loop), *ECHO_BOTH, stderr=DEVNULL
        )
        assert isinstance(protocol, Recorder)
        stdin = transport.get_pipe_transport(0)
        assert isinstance(stdin, asyncio.WriteTransport)
        stdin.write(b"echoed")
        stdin.close()
        await protocol.lost
        transport.close()
        assert_reaped([transport.get_pid()])
        return transport.get_returncode(), bytes(protocol.output[1])

    assert run(main()) == (0, b"echoed")
