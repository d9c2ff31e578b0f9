"""add_reader/add_writer and the sock_* coroutines, on tidal's loop and asyncio's."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import tempfile
from typing import Any

import pytest


def socket_pair() -> tuple[socket.socket, socket.socket]:
    left, right = socket.socketpair()
    left.setblocking(False)
    right.setblocking(False)
    return left, right


def test_reader_callback_is_level_triggered(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    left, right = socket_pair()
    with left, right:
        calls: list[bytes] = []

        async def main() -> None:
            done = loop.create_future()

            def on_readable() -> None:
                calls.append(left.recv(1))  # one byte per call: the fd stays readable
                if len(calls) == 3:
                    loop.remove_reader(left)
                    done.set_result(None)

            loop.add_reader(left, on_readable)
            right.send(b"abc")
            await done

        run(main())
        assert calls == [b"a", b"b", b"c"]
        assert loop.remove_reader(left) is False


def test_writer_callback_and_removal(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    left, right = socket_pair()
    with left, right:

        async def main() -> None:
            done = loop.create_future()
            loop.add_writer(left.fileno(), lambda: done.done() or done.set_result("writable"))
            assert await done == "writable"
            assert loop.remove_writer(left.fileno()) is True
            assert loop.remove_writer(left.fileno()) is False

        run(main())


def test_add_reader_replaces_previous_callback(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    left, right = socket_pair()
    with left, right:

        async def main() -> str:
            result = loop.create_future()
            loop.add_reader(left, lambda: result.set_result("first"))
            loop.add_reader(left, lambda: result.done() or result.set_result("second"))
            right.send(b"x")
            value: str = await result
            loop.remove_reader(left)
            return value

        assert run(main()) == "second"


def test_reader_and_writer_on_same_fd(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    left, right = socket_pair()
    with left, right:

        async def main() -> None:
            readable = loop.create_future()
            writable = loop.create_future()
            loop.add_reader(left, lambda: readable.done() or readable.set_result(left.recv(10)))
            loop.add_writer(left, lambda: writable.done() or writable.set_result(True))
            await writable
            loop.remove_writer(left)
            right.send(b"ping")
            assert await readable == b"ping"
            loop.remove_reader(left)

        run(main())


def test_invalid_file_objects(loop: asyncio.AbstractEventLoop) -> None:
    with pytest.raises(ValueError):
        loop.add_reader(-1, print)
    with pytest.raises(ValueError):
        loop.add_reader(object(), print)  # type: ignore[arg-type]


def test_sock_recv_waits_for_data(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    left, right = socket_pair()
    with left, right:

        async def main() -> bytes:
            receiving = asyncio.ensure_future(loop.sock_recv(left, 100))
            await asyncio.sleep(0)
            assert not receiving.done()
            await loop.sock_sendall(right, b"hello")
            return await receiving

        assert run(main()) == b"hello"


def test_sock_recv_into_and_eof(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    left, right = socket_pair()
    with left:

        async def main() -> tuple[int, int]:
            buffer = bytearray(10)
            receiving = asyncio.ensure_future(loop.sock_recv_into(left, buffer))
            await asyncio.sleep(0)
            right.send(b"12345")
            first = await receiving
            assert buffer[:first] == b"12345"
            right.close()
            return first, await loop.sock_recv_into(left, buffer)

        assert run(main()) == (5, 0)


def test_cancelled_receive_consumes_nothing(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    left, right = socket_pair()
    with left, right:

        async def main() -> bytes:
            receiving = asyncio.ensure_future(loop.sock_recv(left, 100))
            await asyncio.sleep(0)
            receiving.cancel()
            await asyncio.sleep(0)
            right.send(b"kept")
            return await loop.sock_recv(left, 100)

        assert run(main()) == b"kept"


def test_sock_sendall_large_payload_with_backpressure(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    left, right = socket_pair()
    payload = os.urandom(4 * 1024 * 1024)  # far beyond the socket buffers
    with left, right:

        async def drain() -> bytes:
            chunks = []
            received = 0
            while received < len(payload):
                chunk = await loop.sock_recv(right, 65536)
                chunks.append(chunk)
                received += len(chunk)
            return b"".join(chunks)

        async def main() -> bytes:
            reader = asyncio.ensure_future(drain())
            await loop.sock_sendall(left, memoryview(payload))
            return await reader

        assert run(main()) == payload


def test_sock_accept_and_connect_tcp(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        client = socket.socket()
        client.setblocking(False)

        async def main() -> bytes:
            accepting = asyncio.ensure_future(loop.sock_accept(listener))
            await loop.sock_connect(client, listener.getsockname())
            conn, address = await accepting
            with conn:
                assert conn.gettimeout() == 0
                assert address == client.getsockname()
                await loop.sock_sendall(client, b"over tcp")
                return await loop.sock_recv(conn, 100)

        with client:
            assert run(main()) == b"over tcp"


def test_sock_connect_resolves_names(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.socket() as client:
            client.setblocking(False)
            run(loop.sock_connect(client, ("localhost", listener.getsockname()[1])))
            assert client.getpeername() == listener.getsockname()
            listener.accept()[0].close()


def test_sock_connect_refused(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = probe.getsockname()  # bound but not listening: connect is refused
        with socket.socket() as client:
            client.setblocking(False)
            with pytest.raises(ConnectionRefusedError):
                run(loop.sock_connect(client, address))


def test_udp_sendto_and_recvfrom(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
        for sock in (a, b):
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)

        async def main() -> None:
            receiving = asyncio.ensure_future(loop.sock_recvfrom(b, 100))
            await asyncio.sleep(0)
            assert await loop.sock_sendto(a, b"datagram", b.getsockname()) == 8
            assert await receiving == (b"datagram", a.getsockname())
            buffer = bytearray(100)
            receiving_into = asyncio.ensure_future(loop.sock_recvfrom_into(b, buffer))
            await asyncio.sleep(0)
            await loop.sock_sendto(a, b"second", b.getsockname())
            size, source = await receiving_into
            assert (bytes(buffer[:size]), source) == (b"second", a.getsockname())
            await loop.sock_sendto(a, b"bounded", b.getsockname())
            size, _ = await loop.sock_recvfrom_into(b, buffer, 3)
            assert bytes(buffer[:size]) == b"bou"

        run(main())


@pytest.mark.parametrize("via", ["native", "fallback"])
def test_sock_sendfile(loop: asyncio.AbstractEventLoop, run: Any, via: str) -> None:
    data = os.urandom(300_000)
    left, right = socket_pair()
    with left, right, tempfile.TemporaryFile() as file:
        file.write(data)
        file.flush()

        async def receive(count: int) -> bytes:
            chunks = bytearray()
            while len(chunks) < count:
                chunks += await loop.sock_recv(right, 65536)
            return bytes(chunks)

        async def main() -> None:
            source: Any = file if via == "native" else _NoFileno(file)
            reader = asyncio.ensure_future(receive(len(data) - 1000 - 500))
            sent = await loop.sock_sendfile(left, source, 1000, len(data) - 1000 - 500)
            assert sent == len(data) - 1500
            assert await reader == data[1000:-500]
            assert file.tell() == len(data) - 500

        run(main())


def test_sock_sendfile_rejects_bad_arguments(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    left, right = socket_pair()
    with left, right, tempfile.TemporaryFile() as file:
        with pytest.raises(ValueError):
            run(loop.sock_sendfile(left, file, -1))
        with pytest.raises(ValueError):
            run(loop.sock_sendfile(left, file, 0, 0))
        with pytest.raises(TypeError):
            run(loop.sock_sendfile(left, file, "0"))  # type: ignore[arg-type]
        with pytest.raises(asyncio.SendfileNotAvailableError):
            run(loop.sock_sendfile(left, _NoFileno(file), fallback=False))


def test_debug_mode_rejects_blocking_sockets(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    left, right = socket.socketpair()
    with left, right:
        loop.set_debug(True)
        with pytest.raises(ValueError, match="non-blocking"):
            run(loop.sock_recv(left, 1))


class _NoFileno:
    """A binary file without a usable fileno(): forces the read-and-send path."""

    mode = "rb"

    def __init__(self, file: Any) -> None:
        self._file = file

    def fileno(self) -> int:
        import io

        raise io.UnsupportedOperation("no fileno")

    def seek(self, offset: int) -> int:
        result: int = self._file.seek(offset)
        return result

    def readinto(self, buffer: Any) -> int:
        result: int = self._file.readinto(buffer)
        return result


def test_remove_reader_of_closed_socket_object(loop: asyncio.AbstractEventLoop) -> None:
    left, right = socket_pair()
    with right:
        loop.add_reader(left, print)
        left.close()  # closed first; removing by the same object still works
        assert loop.remove_reader(left) is True
        with pytest.raises(ValueError):  # forgotten now, and fileno() is -1
            loop.remove_reader(left)


def test_sock_wait_readable_reads_nothing_and_keeps_its_registration() -> None:
    # tidal's loop extension used by tidal.streams: readiness without a read,
    # riding the fd's persistent registration (no epoll_ctl per wait).
    import tidal.loop

    loop = tidal.loop.new_event_loop()
    left, right = socket.socketpair()
    left.setblocking(False)
    right.setblocking(False)
    poller = loop._io._poller  # type: ignore[attr-defined]
    calls: list[str] = []
    for name in ("register", "modify", "unregister"):
        original = getattr(poller, name)
        setattr(poller, name, lambda *args, _name=name, _original=original: (calls.append(_name), _original(*args))[1])

    async def main() -> None:
        # cancelled while waiting: nothing queued is left behind, nothing lost
        waiter = loop.sock_wait_readable(left)  # type: ignore[attr-defined]
        await asyncio.sleep(0)
        waiter.cancel()
        right.send(b"kept")
        assert await loop.sock_wait_readable(left) is None  # type: ignore[attr-defined]
        assert left.recv(100) == b"kept"  # the wait itself read nothing
        calls.clear()
        for index in range(50):  # a receive loop: wait, then the syscall
            loop.call_soon(right.send, b"%d" % index)
            await loop.sock_wait_readable(left)  # type: ignore[attr-defined]
            assert left.recv(100) == b"%d" % index
        assert calls == [], calls  # steady state: no epoll_ctl at all

    try:
        loop.run_until_complete(main())
    finally:
        left.close()
        right.close()
        loop.close()


class CountingSocket(socket.socket):
    """A socket that counts its recv_into() syscalls (socket.socket has no room for instance attributes)."""

    receives = 0

    def recv_into(self, *args: Any) -> int:
        type(self).receives += 1
        return super().recv_into(*args)


def counting_pair() -> tuple[CountingSocket, socket.socket]:
    plain, right = socket.socketpair()
    left = CountingSocket(fileno=plain.detach())
    left.setblocking(False)
    right.setblocking(False)
    CountingSocket.receives = 0
    return left, right


def test_sock_recv_into_after_a_short_read_still_sees_later_data(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    # After a short read tidal's loop skips the syscall of the next receive
    # (it would most likely fail); data that arrived meanwhile must still be
    # delivered, by the level-triggered registration, on every loop.
    left, right = socket_pair()
    with left, right:
        buffer = bytearray(100)

        async def main() -> None:
            for index in range(5):
                pending = loop.create_task(loop.sock_recv_into(left, buffer))
                await asyncio.sleep(0)  # the receive waits: the socket is empty
                right.send(b"first %d" % index)
                assert await pending == 7  # a short read
                right.send(b"second")  # arrives before the next receive asks
                assert await loop.sock_recv_into(left, buffer) == 6
                assert bytes(buffer[:6]) == b"second"

        run(main())


def test_sock_recv_into_skips_the_failing_try_after_a_short_read() -> None:
    import tidal.loop

    loop = tidal.loop.new_event_loop()
    left, right = counting_pair()
    buffer = bytearray(100)
    seen: list[int] = []

    async def receive_loop() -> bytes:
        # A receive loop: the next receive is asked for in the same iteration
        # that completed the previous one, as echo servers and streams do.
        assert await loop.sock_recv_into(left, buffer) == 5
        seen.append(CountingSocket.receives)
        count = await loop.sock_recv_into(left, buffer)
        return bytes(buffer[:count])

    async def main() -> None:
        task = loop.create_task(receive_loop())
        await asyncio.sleep(0)
        assert CountingSocket.receives == 1  # tried once: EAGAIN, then queued
        right.send(b"short")
        while not seen:
            await asyncio.sleep(0)
        assert seen == [2]  # the first receive completed on the readiness event
        assert CountingSocket.receives == 2  # the second one made no syscall: known drained
        right.send(b"next")
        assert await task == b"next"
        assert CountingSocket.receives == 3

    try:
        loop.run_until_complete(main())
    finally:
        left.close()
        right.close()
        loop.close()


def test_sock_recv_into_or_wait_reports_data_eof_and_waits() -> None:
    import tidal.loop

    loop = tidal.loop.new_event_loop()
    left, right = counting_pair()
    buffer = bytearray(8)

    async def send_soon(data: bytes) -> None:
        await asyncio.sleep(0)
        right.send(data)

    async def main() -> None:
        receive_or_wait = loop.sock_recv_into_or_wait  # type: ignore[attr-defined]
        waiter = receive_or_wait(left, buffer)  # EAGAIN: a readiness future
        assert isinstance(waiter, asyncio.Future)
        right.send(b"0123456789")
        assert await waiter is None
        assert CountingSocket.receives == 1  # the wait itself made no syscall
        assert receive_or_wait(left, buffer) == 8  # a full buffer: more may be there
        assert receive_or_wait(left, buffer) == 2 and bytes(buffer[:2]) == b"89"
        # a short read while the fd is watched: the next call waits without
        # a syscall (the readiness event will say when to try again)
        sender = loop.create_task(send_soon(b"abc"))
        waiter = receive_or_wait(left, buffer)
        assert isinstance(waiter, asyncio.Future)
        assert CountingSocket.receives == 3
        await waiter
        assert receive_or_wait(left, buffer) == 3 and bytes(buffer[:3]) == b"abc"
        await sender
        right.shutdown(socket.SHUT_WR)
        await receive_or_wait(left, buffer)
        assert receive_or_wait(left, buffer) == 0  # EOF

    try:
        loop.run_until_complete(main())
    finally:
        left.close()
        right.close()
        loop.close()


def test_sock_recv_into_or_wait_raises_other_errors() -> None:
    import tidal.loop

    loop = tidal.loop.new_event_loop()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    server.setblocking(False)
    # SO_LINGER with a zero timeout: close() sends a reset, not a FIN
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()

    async def main() -> None:
        await loop.sock_wait_readable(server)  # type: ignore[attr-defined]
        with pytest.raises(ConnectionResetError):
            loop.sock_recv_into_or_wait(server, bytearray(8))  # type: ignore[attr-defined]

    try:
        loop.run_until_complete(main())
    finally:
        server.close()
        loop.close()


def test_readiness_waiters_all_wake_and_a_cancelled_one_drops_the_interest() -> None:
    import tidal.loop

    loop = tidal.loop.new_event_loop()
    left, right = socket_pair()

    async def main() -> None:
        first = loop.sock_wait_readable(left)  # type: ignore[attr-defined]
        second = loop.sock_wait_readable(left)  # type: ignore[attr-defined]
        right.send(b"x")
        assert await first is None and await second is None
        assert left.recv(10) == b"x"
        abandoned = loop.sock_wait_readable(left)  # type: ignore[attr-defined]
        abandoned.cancel()
        right.send(b"y")  # nobody waits any more: the registration goes away
        for _ in range(3):
            await asyncio.sleep(0)
        assert left.fileno() not in loop._io  # type: ignore[attr-defined]

    try:
        loop.run_until_complete(main())
    finally:
        left.close()
        right.close()
        loop.close()


def test_repeated_timeouts_do_not_pile_up_waiting_operations() -> None:
    # A receive (or readiness wait) that times out again and again on an idle
    # socket leaves a cancelled entry behind each time; the next submission
    # drops them, so the fd's queues stay bounded.
    import tidal.loop

    loop = tidal.loop.new_event_loop()
    left, right = socket_pair()
    buffer = bytearray(16)

    async def main() -> None:
        for _ in range(50):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(loop.sock_recv_into(left, buffer), 0.0001)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(loop.sock_wait_readable(left), 0.0001)  # type: ignore[attr-defined]
        record = loop._io.records[left.fileno()]  # type: ignore[attr-defined]
        assert len(record.read_ops) <= 1 and len(record.read_waiters) <= 1
        right.send(b"still works")
        assert await loop.sock_recv_into(left, buffer) == 11

    try:
        loop.run_until_complete(main())
    finally:
        left.close()
        right.close()
        loop.close()
