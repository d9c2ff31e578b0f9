"""connect_read_pipe / connect_write_pipe (pipes, socket pairs, PTYs) on tidal's loop and asyncio's."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
from collections.abc import Callable
from typing import Any, BinaryIO

import pytest

Run = Callable[..., Any]


class Recorder(asyncio.Protocol):
    """Records every protocol call; ``lost`` resolves with connection_lost's argument."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.events: list[str] = []
        self.data = bytearray()
        self.lost: asyncio.Future[BaseException | None] = loop.create_future()
        self.got_data = asyncio.Event()
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.events.append("made")

    def data_received(self, data: bytes) -> None:
        if not self.events or self.events[-1] != "data":
            self.events.append("data")
        self.data += data
        self.got_data.set()

    def eof_received(self) -> None:
        self.events.append("eof")

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append("lost")
        self.lost.set_result(exc)


def pipe_files() -> tuple[BinaryIO, BinaryIO]:
    read_fd, write_fd = os.pipe()
    return open(read_fd, "rb", buffering=0), open(write_fd, "wb", buffering=0)


async def spin(times: int = 10) -> None:
    """Let the loop run several iterations (no wall-clock wait)."""
    for _ in range(times):
        await asyncio.sleep(0)


# -- reading -----------------------------------------------------------------------------


def test_read_pipe_data_then_eof(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    reader, writer = pipe_files()

    async def main() -> Recorder:
        transport, protocol = await loop.connect_read_pipe(lambda: Recorder(loop), reader)
        assert isinstance(protocol, Recorder)
        assert transport.get_extra_info("pipe") is reader
        writer.write(b"hello ")
        await protocol.got_data.wait()
        writer.write(b"world")
        writer.close()
        assert await protocol.lost is None
        assert transport.is_closing()
        return protocol

    protocol = run(main())
    assert protocol.data == b"hello world"
    assert protocol.events == ["made", "data", "eof", "lost"]
    assert reader.closed  # the transport owns the file object


def test_read_pipe_pause_and_resume(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    reader, writer = pipe_files()

    async def main() -> None:
        transport, protocol = await loop.connect_read_pipe(lambda: Recorder(loop), reader)
        assert isinstance(protocol, Recorder) and isinstance(transport, asyncio.ReadTransport)
        await spin()
        assert transport.is_reading()
        transport.pause_reading()
        transport.pause_reading()  # idempotent
        assert not transport.is_reading()
        writer.write(b"while paused")
        await spin()
        assert protocol.data == b""
        transport.resume_reading()
        assert transport.is_reading()
        await protocol.got_data.wait()
        assert protocol.data == b"while paused"
        transport.close()
        assert await protocol.lost is None
        assert not transport.is_reading()

    with writer:
        run(main())


def test_read_pipe_close_without_eof(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    reader, writer = pipe_files()

    async def main() -> list[str]:
        transport, protocol = await loop.connect_read_pipe(lambda: Recorder(loop), reader)
        assert isinstance(protocol, Recorder)
        transport.close()
        transport.close()  # idempotent
        assert await protocol.lost is None
        return protocol.events

    with writer:
        assert run(main()) == ["made", "lost"]


def test_read_pipe_from_socket(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    left, right = socket.socketpair()
    reader = left.makefile("rb", buffering=0)
    left.close()  # the file object keeps the socket open

    async def main() -> bytes:
        _, protocol = await loop.connect_read_pipe(lambda: Recorder(loop), reader)
        assert isinstance(protocol, Recorder)
        right.sendall(b"through a socket")
        right.close()
        await protocol.lost
        return bytes(protocol.data)

    assert run(main()) == b"through a socket"


def test_regular_files_are_refused(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        with tempfile.TemporaryFile() as file:
            with pytest.raises(ValueError):
                await loop.connect_read_pipe(asyncio.Protocol, file)
            with pytest.raises(ValueError):
                await loop.connect_write_pipe(asyncio.Protocol, file)

    run(main())


# -- writing -----------------------------------------------------------------------------


def test_write_pipe_then_eof(loop: asyncio.AbstractEventLoop, loop_kind: str, run: Run) -> None:
    reader, writer = pipe_files()

    async def main() -> None:
        transport, protocol = await loop.connect_write_pipe(lambda: Recorder(loop), writer)
        assert isinstance(protocol, Recorder) and isinstance(transport, asyncio.WriteTransport)
        assert transport.get_extra_info("pipe") is writer
        transport.write(b"one ")
        transport.writelines([b"two ", bytearray(b"three "), memoryview(b"four")])
        transport.write(b"")  # nothing
        assert transport.can_write_eof()
        transport.write_eof()
        assert transport.is_closing()
        if loop_kind == "tidal":  # deliberate: as on socket transports
            with pytest.raises(RuntimeError):
                transport.write(b"after eof")
        else:  # asyncio's pipe transport drops it silently
            transport.write(b"after eof")
        assert await protocol.lost is None
        assert protocol.events == ["made", "lost"]

    with reader:
        run(main())
        assert reader.read() == b"one two three four"
    assert writer.closed


def test_write_after_close_is_dropped(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    reader, writer = pipe_files()

    async def main() -> None:
        transport, protocol = await loop.connect_write_pipe(lambda: Recorder(loop), writer)
        assert isinstance(protocol, Recorder)
        transport.write(b"kept")
        transport.close()
        transport.write(b"dropped")  # as asyncio: ignored (a warning after many)
        assert await protocol.lost is None

    with reader:
        run(main())
        assert reader.read() == b"kept"


def test_write_rejects_non_bytes(loop: asyncio.AbstractEventLoop, loop_kind: str, run: Run) -> None:
    reader, writer = pipe_files()

    async def main() -> None:
        transport, protocol = await loop.connect_write_pipe(lambda: Recorder(loop), writer)
        assert isinstance(protocol, Recorder)
        # asyncio only asserts; tidal raises a TypeError that names the type
        with pytest.raises(TypeError if loop_kind == "tidal" else AssertionError):
            transport.write("text")  # type: ignore[arg-type]
        transport.close()
        await protocol.lost

    with reader:
        run(main())


def test_large_write_is_buffered_and_drained(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    payload = os.urandom(3 * 1024 * 1024)  # far beyond the 64 KiB pipe buffer
    read_end, writer = pipe_files()

    async def main() -> bytes:
        _, receiver = await loop.connect_read_pipe(lambda: Recorder(loop), read_end)
        transport, sender = await loop.connect_write_pipe(lambda: Recorder(loop), writer)
        assert isinstance(receiver, Recorder) and isinstance(sender, Recorder)
        transport.write(payload)
        assert 0 < transport.get_write_buffer_size() < len(payload)
        transport.close()  # after the buffered data
        assert await sender.lost is None
        assert await receiver.lost is None
        return bytes(receiver.data)

    assert run(main()) == payload


def test_write_buffer_limits_pause_and_resume(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    reader, writer = pipe_files()

    async def main() -> list[str]:
        transport, protocol = await loop.connect_write_pipe(lambda: Recorder(loop), writer)
        assert isinstance(protocol, Recorder) and isinstance(transport, asyncio.WriteTransport)
        transport.set_write_buffer_limits(high=1000, low=100)
        assert transport.get_write_buffer_limits() == (100, 1000)
        with pytest.raises(ValueError):
            transport.set_write_buffer_limits(high=10, low=20)
        transport.write(b"x" * 200_000)  # fills the pipe; the rest is buffered
        assert transport.get_write_buffer_size() > 1000
        assert protocol.events == ["made", "pause"]
        while "resume" not in protocol.events:  # the reader drains the pipe
            await loop.run_in_executor(None, reader.read, 65536)
        assert transport.get_write_buffer_size() <= 100
        transport.abort()  # drops what is still buffered
        assert transport.get_write_buffer_size() == 0
        assert await protocol.lost is None
        return protocol.events

    with reader:
        assert run(main()) == ["made", "pause", "resume", "lost"]


def test_write_pipe_disconnect_when_reader_closes(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    reader, writer = pipe_files()

    async def main() -> None:
        transport, protocol = await loop.connect_write_pipe(lambda: Recorder(loop), writer)
        assert isinstance(protocol, Recorder)
        transport.write(b"read before the reader leaves")
        await spin()
        reader.close()
        # Nothing was buffered: the loss is not an error (as asyncio).
        assert await protocol.lost is None
        assert transport.is_closing()
        transport.write(b"dropped")  # silently ignored once closed

    run(main())


def test_write_pipe_disconnect_with_buffered_data(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    reader, writer = pipe_files()

    async def main() -> None:
        transport, protocol = await loop.connect_write_pipe(lambda: Recorder(loop), writer)
        assert isinstance(protocol, Recorder)
        transport.write(b"x" * 500_000)
        assert transport.get_write_buffer_size() > 0
        reader.close()
        assert isinstance(await protocol.lost, BrokenPipeError)
        assert transport.get_write_buffer_size() == 0

    run(main())


# -- PTYs -------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="no PTYs on this platform")
def test_pty_both_directions(loop: asyncio.AbstractEventLoop, loop_kind: str, run: Run) -> None:
    master_fd, slave_fd = os.openpty()
    import tty

    tty.setraw(slave_fd)  # no echo, no line discipline: bytes pass unchanged
    master = open(master_fd, "rb", buffering=0)
    master_writer = open(os.dup(master_fd), "wb", buffering=0)
    slave_reader = open(slave_fd, "rb", buffering=0)
    slave_writer = open(os.dup(slave_fd), "wb", buffering=0)

    async def main() -> None:
        _, from_slave = await loop.connect_read_pipe(lambda: Recorder(loop), master)
        _, from_master = await loop.connect_read_pipe(lambda: Recorder(loop), slave_reader)
        to_master, _ = await loop.connect_write_pipe(lambda: Recorder(loop), master_writer)
        to_slave, _ = await loop.connect_write_pipe(lambda: Recorder(loop), slave_writer)
        assert isinstance(from_slave, Recorder) and isinstance(from_master, Recorder)
        to_slave.write(b"to the terminal")
        while bytes(from_slave.data) != b"to the terminal":
            from_slave.got_data.clear()
            await from_slave.got_data.wait()
        to_master.write(b"typed keys")
        while bytes(from_master.data) != b"typed keys":
            from_master.got_data.clear()
            await from_master.got_data.wait()
        # Closing every slave descriptor hangs the terminal up: the master
        # side reads EIO on Linux.  tidal reports that as EOF (deliberate);
        # asyncio passes the OSError to connection_lost.
        from_master.transport.close()
        to_slave.close()
        await from_master.lost
        if sys.platform.startswith("linux"):
            hangup = await from_slave.lost
            if loop_kind == "tidal":
                assert hangup is None
                assert from_slave.events[-2:] == ["eof", "lost"]
            else:
                assert isinstance(hangup, OSError)
        else:
            from_slave.transport.close()
            await from_slave.lost
        to_master.close()

    run(main())


def test_sendfile_refuses_pipe_transports(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    # As asyncio: loop.sendfile() is for socket transports only.
    reader, writer = pipe_files()

    async def main() -> None:
        transport, protocol = await loop.connect_write_pipe(lambda: Recorder(loop), writer)
        assert isinstance(protocol, Recorder)
        with tempfile.TemporaryFile() as file:
            file.write(b"data")
            file.seek(0)
            with pytest.raises(RuntimeError, match="not supported"):
                await loop.sendfile(transport, file)
        transport.close()
        await protocol.lost

    with reader:
        run(main())


def test_tidal_pipe_transports_on_either_loop(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    """tidal's pipe transports use only the public loop API: they also run on asyncio's loop."""
    from tidal.loop import _pipes

    read_end, writer = pipe_files()

    async def main() -> bytes:
        reading, receiver = await _pipes.connect_read_pipe(loop, lambda: Recorder(loop), read_end)
        writing, sender = await _pipes.connect_write_pipe(loop, lambda: Recorder(loop), writer)
        assert isinstance(reading, _pipes.ReadPipeTransport) and isinstance(writing, _pipes.WritePipeTransport)
        assert isinstance(receiver, Recorder) and isinstance(sender, Recorder)
        writing.write(b"x" * 300_000)
        writing.write_eof()
        assert await sender.lost is None
        assert await receiver.lost is None
        return bytes(receiver.data)

    assert run(main()) == b"x" * 300_000
