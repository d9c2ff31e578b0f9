"""A conformance checker for the stream contract in :mod:`tidal.streams._abc`.

Theory of operation
-------------------
``await check_two_way_stream(make_pair)`` (or ``check_one_way_stream``) runs
a list of small scenarios, each on a fresh pair from ``make_pair()``, and
raises :class:`ConformanceError` naming the scenario and what went wrong.

Every scenario drives the two ends from *separate tasks at the same time*:
a wrapper such as TLS needs its peer to answer a handshake before a single
application byte moves, so "send, then receive" from one task would
deadlock on a correct implementation.  A generous real-time bound turns a
deadlock into a failure instead of a hung test.

The cancellation scenarios are the heart of the checker.  A transfer is
started, the receiving (or sending) task is cancelled after exactly ``k``
trips through the event loop, for ``k = 0, 1, 2 ...`` until the transfer
finishes first, and then the transfer is completed by a fresh task.  At
every cancellation point the stream must either deliver every byte exactly
once, or raise :class:`StreamBroken` from then on.  Anything else -- a lost
chunk, a duplicated chunk, a hang -- is the silent corruption the contract
forbids.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from tidal.streams import ByteStream, ReceiveStream, SendStream, StreamBroken, StreamBusy, StreamClosed

__all__ = ["ConformanceError", "check_one_way_stream", "check_two_way_stream"]

_SendT = TypeVar("_SendT", bound=SendStream)
_ReceiveT = TypeVar("_ReceiveT", bound=ReceiveStream)
OneWayPairMaker = Callable[[], Awaitable[tuple[SendStream, ReceiveStream]]]
TwoWayPairMaker = Callable[[], Awaitable[tuple[ByteStream, ByteStream]]]

#: Real-time bound on one scenario; only a deadlocked implementation hits it.
SCENARIO_TIMEOUT = 20.0
#: Enough data to fill any loopback socket buffer, so a send really blocks.
CLOGGING_SIZE = 16 * 1024 * 1024


class ConformanceError(AssertionError):
    """A stream broke its contract; the message names the scenario."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConformanceError(message)


async def check_one_way_stream(
    make_pair: OneWayPairMaker, *, large_size: int = 2 * 1024 * 1024, max_cancel_points: int = 60
) -> None:
    """Check the send/receive contract on pairs ``(send_stream, receive_stream)``.

    ``large_size`` sets the size of the bulk transfer and ``max_cancel_points``
    bounds how many cancellation points each cancellation scenario visits.
    """
    for scenario in _ONE_WAY_SCENARIOS:
        await _run_scenario(scenario, make_pair)
    await _run_scenario(_large_transfer, make_pair, large_size)
    await _run_scenario(_cancel_receive_everywhere, make_pair, max_cancel_points)
    await _run_scenario(_cancel_send_everywhere, make_pair, max_cancel_points)


async def check_two_way_stream(
    make_pair: TwoWayPairMaker,
    *,
    large_size: int = 2 * 1024 * 1024,
    max_cancel_points: int = 60,
    half_close: bool = True,
) -> None:
    """Check both directions of ``make_pair()``'s streams, then half-close and full duplex.

    With ``half_close=False`` (TLS, which cannot send after the peer's
    close_notify) the side that received EOF is not required to answer.
    """

    async def forward() -> tuple[SendStream, ReceiveStream]:
        return await make_pair()

    async def backward() -> tuple[SendStream, ReceiveStream]:
        left, right = await make_pair()
        return right, left

    await check_one_way_stream(forward, large_size=large_size, max_cancel_points=max_cancel_points)
    await check_one_way_stream(backward, large_size=large_size // 4, max_cancel_points=max_cancel_points // 4)
    await _run_scenario(_half_close, make_pair, half_close)
    await _run_scenario(_send_eof_after_close, make_pair)
    await _run_scenario(_full_duplex, make_pair, large_size // 2)


async def _run_scenario(scenario: Callable[..., Coroutine[Any, Any, None]], make_pair: Any, *args: Any) -> None:
    name = scenario.__name__.strip("_").replace("_", " ")
    send_stream, receive_stream = await make_pair()
    try:
        async with asyncio.timeout(SCENARIO_TIMEOUT):
            await scenario(send_stream, receive_stream, make_pair, *args)
    except ConformanceError as error:
        raise ConformanceError(f"[{name}] {error}") from None
    except TimeoutError:
        raise ConformanceError(f"[{name}] did not finish within {SCENARIO_TIMEOUT} s (deadlock?)") from None
    finally:
        await _close_all(send_stream, receive_stream)


async def _close_all(*streams: SendStream | ReceiveStream) -> None:
    for stream in streams:
        await stream.aclose()


async def _receive_to_eof(stream: ReceiveStream, sink: bytearray, max_bytes: int | None = None) -> None:
    while chunk := await stream.receive_some(max_bytes):
        sink.extend(chunk)


async def _settle() -> None:
    # Enough loop iterations for a task to reach its first real wait.
    for _ in range(20):
        await asyncio.sleep(0)


async def _expect(error_type: type[BaseException], operation: Awaitable[Any], what: str) -> None:
    try:
        await operation
    except error_type:
        return
    except Exception as error:
        raise ConformanceError(f"{what}: expected {error_type.__name__}, got {error!r}") from error
    raise ConformanceError(f"{what}: expected {error_type.__name__}, nothing was raised")


def _pattern(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


# -- one-way scenarios ------------------------------------------------------


async def _ordering_and_eof(sender: SendStream, receiver: ReceiveStream, _: Any) -> None:
    pieces: list[bytes | bytearray | memoryview] = [b"x", b"hello", _pattern(1000, 1), bytearray(b"ba"), memoryview(b"mv")]
    received = bytearray()

    async def send() -> None:
        for piece in pieces:
            await sender.send_all(piece)
        await sender.aclose()

    async with asyncio.TaskGroup() as group:
        group.create_task(send())
        group.create_task(_receive_to_eof(receiver, received))
    _require(bytes(received) == b"".join(bytes(p) for p in pieces), "bytes arrived changed or out of order")
    _require(await receiver.receive_some() == b"", "receive_some() after EOF did not return b''")
    _require(await receiver.receive_into(bytearray(10)) == 0, "receive_into() after EOF did not return 0")


async def _receive_limits(sender: SendStream, receiver: ReceiveStream, _: Any) -> None:
    await _expect(ValueError, receiver.receive_some(0), "receive_some(0)")
    await _expect(ValueError, receiver.receive_into(bytearray()), "receive_into(empty buffer)")
    message = _pattern(300, 2)
    chunks: list[bytes] = []

    async def receive() -> None:
        while chunk := await receiver.receive_some(7):
            _require(len(chunk) <= 7, f"receive_some(7) returned {len(chunk)} bytes")
            chunks.append(chunk)

    async def send() -> None:
        await sender.send_all(message)
        await sender.aclose()

    async with asyncio.TaskGroup() as group:
        group.create_task(send())
        group.create_task(receive())
    _require(b"".join(chunks) == message, "receive_some(7) lost or reordered bytes")


async def _receive_into_views(sender: SendStream, receiver: ReceiveStream, _: Any) -> None:
    message = _pattern(5000, 3)
    target = bytearray(6000)
    filled = 0

    async def receive() -> None:
        nonlocal filled
        while count := await receiver.receive_into(memoryview(target)[filled : filled + 1000]):
            _require(0 < count <= 1000, f"receive_into(1000-byte view) returned {count}")
            filled += count

    async def send() -> None:
        await sender.send_all(message)
        await sender.aclose()

    async with asyncio.TaskGroup() as group:
        group.create_task(send())
        group.create_task(receive())
    _require(bytes(target[:filled]) == message, "receive_into() wrote the wrong bytes")


async def _use_after_close(sender: SendStream, receiver: ReceiveStream, _: Any) -> None:
    await sender.aclose()
    await sender.aclose()  # idempotent
    await _expect(StreamClosed, sender.send_all(b"late"), "send_all() after aclose()")
    await receiver.aclose()
    await receiver.aclose()
    await _expect(StreamClosed, receiver.receive_some(), "receive_some() after aclose()")
    await _expect(StreamClosed, receiver.receive_into(bytearray(4)), "receive_into() after aclose()")


async def _receive_busy(sender: SendStream, receiver: ReceiveStream, _: Any) -> None:
    first = asyncio.ensure_future(receiver.receive_some())
    await _settle()
    _require(not first.done(), "receive_some() returned before anything was sent")
    await _expect(StreamBusy, receiver.receive_some(), "a second concurrent receive_some()")
    await _expect(StreamBusy, receiver.receive_into(bytearray(4)), "a second concurrent receive_into()")
    async with asyncio.TaskGroup() as group:
        group.create_task(sender.send_all(b"z"))
        result = await first
    _require(result == b"z", f"the first receiver got {result!r} instead of b'z'")


async def _send_busy(sender: SendStream, receiver: ReceiveStream, _: Any) -> None:
    payload = bytes(CLOGGING_SIZE)
    first = asyncio.ensure_future(sender.send_all(payload))
    await _settle()
    if not first.done():
        await _expect(StreamBusy, sender.send_all(b"y"), "a second concurrent send_all()")
    received = bytearray()

    async def drain() -> None:
        while len(received) < len(payload):
            chunk = await receiver.receive_some()
            _require(bool(chunk), "EOF before the clogging payload arrived")
            received.extend(chunk)

    async with asyncio.TaskGroup() as group:
        group.create_task(drain())
        await first
    _require(len(received) == len(payload), "the clogging payload arrived with a different length")


async def _close_while_receiving(sender: SendStream, receiver: ReceiveStream, _: Any) -> None:
    pending = asyncio.ensure_future(receiver.receive_some())
    await _settle()
    await receiver.aclose()
    await _expect(StreamClosed, pending, "a receive pending while its stream was closed")


async def _close_while_sending(sender: SendStream, receiver: ReceiveStream, _: Any) -> None:
    pending = asyncio.ensure_future(sender.send_all(bytes(CLOGGING_SIZE)))
    await _settle()
    if pending.done():  # the transport swallowed it all; nothing to interrupt
        await pending
        return
    await sender.aclose()
    await _expect(StreamClosed, pending, "a send pending while its stream was closed")


async def _send_to_closed_peer(sender: SendStream, receiver: ReceiveStream, _: Any) -> None:
    await receiver.aclose()

    async def keep_sending() -> None:
        for _ in range(256):  # the peer's reset may take a round trip to arrive
            await sender.send_all(bytes(65536))
            await asyncio.sleep(0)

    await _expect(StreamBroken, keep_sending(), "sending to a peer that closed")


async def _large_transfer(sender: SendStream, receiver: ReceiveStream, _: Any, size: int) -> None:
    message = _pattern(size, 4)
    received = bytearray()

    async def send() -> None:
        view = memoryview(message)
        step = 1
        while view:
            await sender.send_all(view[:step])
            view = view[step:]
            step = min(step * 3, 1 << 20)
        await sender.aclose()

    async def receive() -> None:
        buffer = bytearray(65536)
        while count := await receiver.receive_into(buffer):
            received.extend(memoryview(buffer)[:count])

    async with asyncio.TaskGroup() as group:
        group.create_task(send())
        group.create_task(receive())
    _require(received == message, f"sent {size} bytes, received {len(received)} different ones")


async def _cancel_receive_everywhere(sender: SendStream, receiver: ReceiveStream, make_pair: Any, limit: int) -> None:
    await _close_all(sender, receiver)
    for point in range(limit):
        send_stream, receive_stream = await make_pair()
        try:
            if await _cancel_receive_at(send_stream, receive_stream, point):
                return
        finally:
            await _close_all(send_stream, receive_stream)


async def _cancel_receive_at(sender: SendStream, receiver: ReceiveStream, point: int) -> bool:
    message = _pattern(200_000, 5)
    received = bytearray()

    async def receive_until_complete() -> None:
        while len(received) < len(message):
            chunk = await receiver.receive_some(16384)
            _require(bool(chunk), f"EOF after {len(received)} of {len(message)} bytes")
            received.extend(chunk)

    async def send_then_close() -> None:
        await sender.send_all(message)
        await sender.aclose()  # a lost chunk then shows up as an early EOF, not a hang

    send_task = asyncio.ensure_future(send_then_close())
    receive_task = asyncio.ensure_future(receive_until_complete())
    for _ in range(point):
        await asyncio.sleep(0)
    finished_first = receive_task.done()
    receive_task.cancel()
    try:
        await receive_task
    except asyncio.CancelledError:
        pass
    try:
        await receive_until_complete()
    except StreamBroken:
        send_task.cancel()
        await asyncio.gather(send_task, return_exceptions=True)
        return finished_first
    await send_task
    _require(received == message, f"cancelled at loop step {point}: received bytes differ from sent")
    return finished_first


async def _cancel_send_everywhere(sender: SendStream, receiver: ReceiveStream, make_pair: Any, limit: int) -> None:
    await _close_all(sender, receiver)
    for point in range(limit):
        send_stream, receive_stream = await make_pair()
        try:
            if await _cancel_send_at(send_stream, receive_stream, point):
                return
        finally:
            await _close_all(send_stream, receive_stream)


async def _cancel_send_at(sender: SendStream, receiver: ReceiveStream, point: int) -> bool:
    pieces = [_pattern(70_000, seed) for seed in (6, 7, 8)]
    completed = 0
    received = bytearray()
    receiver_broken = False

    async def send_pieces() -> None:
        nonlocal completed
        for piece in pieces:
            await sender.send_all(piece)
            completed += 1

    async def receive() -> None:
        nonlocal receiver_broken
        try:
            await _receive_to_eof(receiver, received)
        except StreamBroken:
            receiver_broken = True

    receive_task = asyncio.ensure_future(receive())
    send_task = asyncio.ensure_future(send_pieces())
    for _ in range(point):
        await asyncio.sleep(0)
    finished_first = send_task.done()
    send_task.cancel()
    await asyncio.gather(send_task, return_exceptions=True)
    sender_broken = await _finish_after_cancel(sender)
    await receive_task
    _check_after_send_cancel(pieces, completed, bytes(received), sender_broken or receiver_broken, point)
    return finished_first


async def _finish_after_cancel(sender: SendStream) -> bool:
    try:
        await sender.send_all(b"<tail>")
    except StreamBroken:
        await sender.aclose()
        return True
    await sender.aclose()
    return False


def _check_after_send_cancel(pieces: list[bytes], completed: int, received: bytes, broken: bool, point: int) -> None:
    whole = b"".join(pieces)
    if broken:
        _require(whole.startswith(received) or (whole + b"<tail>").startswith(received), f"cancelled at step {point}: broken stream delivered corrupt bytes")
        return
    before = b"".join(pieces[:completed])
    acceptable = [before + b"<tail>"]
    if completed < len(pieces):
        acceptable.append(before + pieces[completed] + b"<tail>")
    _require(received in acceptable, f"cancelled at step {point} after {completed} sends: stream not broken but bytes were lost or duplicated")


_ONE_WAY_SCENARIOS = [
    _ordering_and_eof,
    _receive_limits,
    _receive_into_views,
    _use_after_close,
    _receive_busy,
    _send_busy,
    _close_while_receiving,
    _close_while_sending,
    _send_to_closed_peer,
]


# -- two-way scenarios ------------------------------------------------------


async def _half_close(left: ByteStream, right: ByteStream, _: Any, answer_after_eof: bool) -> None:
    from_left = bytearray()
    from_right = bytearray()

    async def left_side() -> None:
        await left.send_all(b"request")
        await left.send_eof()
        await left.send_eof()  # idempotent
        await _expect(StreamClosed, left.send_all(b"more"), "send_all() after send_eof()")
        await _receive_to_eof(left, from_right)

    async def right_side() -> None:
        # The first part goes out while receiving: a lockstep peer must not
        # wait for it, and TLS must send it before the close_notify arrives.
        async with asyncio.TaskGroup() as group:
            group.create_task(right.send_all(b"response to "))
            group.create_task(_receive_to_eof(right, from_left))
        if answer_after_eof:
            await right.send_all(bytes(from_left))
        await right.send_eof()

    async with asyncio.TaskGroup() as group:
        group.create_task(left_side())
        group.create_task(right_side())
    _require(from_left == b"request", f"right received {bytes(from_left)!r} before EOF")
    expected = b"response to request" if answer_after_eof else b"response to "
    _require(from_right == expected, f"left received {bytes(from_right)!r} after half-close")


async def _send_eof_after_close(left: ByteStream, right: ByteStream, _: Any) -> None:
    await left.aclose()
    await _expect(StreamClosed, left.send_eof(), "send_eof() after aclose()")


async def _full_duplex(left: ByteStream, right: ByteStream, _: Any, size: int) -> None:
    left_message, right_message = _pattern(size, 9), _pattern(size, 10)
    at_left, at_right = bytearray(), bytearray()

    async def send(stream: ByteStream, message: bytes) -> None:
        for offset in range(0, len(message), 100_000):
            await stream.send_all(message[offset : offset + 100_000])

    async def receive(stream: ByteStream, sink: bytearray) -> None:
        while len(sink) < size:
            chunk = await stream.receive_some()
            _require(bool(chunk), f"EOF after {len(sink)} of {size} bytes")
            sink.extend(chunk)

    async def finish(stream: ByteStream) -> None:
        await stream.send_eof()
        _require(await stream.receive_some() == b"", "data after the full-duplex payload")

    # EOF only once both payloads arrived: TLS cannot send after the peer's close_notify.
    async with asyncio.TaskGroup() as group:
        group.create_task(send(left, left_message))
        group.create_task(send(right, right_message))
        group.create_task(receive(left, at_left))
        group.create_task(receive(right, at_right))
    _require(at_right == left_message and at_left == right_message, "full-duplex transfer corrupted data")
    async with asyncio.TaskGroup() as group:
        group.create_task(finish(left))
        group.create_task(finish(right))
