"""iterate_queue: the C QueueIterator and its Python fallback behave the same, on three loops."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tidal.streams import _queue_iter
from tidal.streams._queue_iter import QUEUE_ITERATOR_IN_C, python_iterate_queue

Factory = Callable[..., AsyncIterator[Any]]


def _c_iterate_queue(*args: Any) -> AsyncIterator[Any]:
    from tidal.streams._speedups import QueueIterator

    iterator: AsyncIterator[Any] = QueueIterator(*args)
    return iterator


@pytest.fixture(params=["c", "python"])
def make(request: pytest.FixtureRequest) -> Factory:
    """Each implementation in turn; the C one must be built where a compiler exists (CI has one)."""
    if request.param == "python":
        return python_iterate_queue
    if not QUEUE_ITERATOR_IN_C:
        pytest.fail("tidal.streams._speedups was not built (pip install -e . compiles it)")
    return _c_iterate_queue


async def _nothing() -> None:
    return None


class Source:
    """Refills ``queue`` from ``batches`` one batch per call, awaiting the loop each time."""

    def __init__(self, batches: list[list[Any]], wait: Callable[[], Awaitable[Any]] | None = None) -> None:
        self.queue: deque[Any] = deque()
        self.batches = deque(batches)
        self.calls = 0
        self.wait = wait or (lambda: asyncio.sleep(0))

    async def refill(self) -> bool:
        self.calls += 1
        await self.wait()
        if not self.batches:
            return False
        self.queue.extend(self.batches.popleft())
        return True


def test_hands_out_every_item_then_stops(make: Factory, run: Callable[..., Any]) -> None:
    source = Source([[1, 2], [], [3], [4, 5, 6]])
    source.queue.append(0)

    async def main() -> list[Any]:
        return [item async for item in make(source.queue, source.refill, _nothing)]

    assert run(main()) == [0, 1, 2, 3, 4, 5, 6]
    assert source.calls == 5  # only when empty: four batches, then the False that ended it


def test_after_the_end_every_step_stops(make: Factory, run: Callable[..., Any]) -> None:
    source = Source([[1]])

    async def main() -> None:
        iterator = make(source.queue, source.refill, _nothing)
        assert await iterator.__anext__() == 1
        for _ in range(3):
            with pytest.raises(StopAsyncIteration):
                await iterator.__anext__()

    run(main())
    assert source.calls == 2


def test_refill_waiting_on_a_future_resumes_with_its_items(make: Factory, run: Callable[..., Any]) -> None:
    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        gate: asyncio.Future[None] = loop.create_future()
        source = Source([["late"]], wait=lambda: gate)
        loop.call_later(0.01, gate.set_result, None)
        return [item async for item in make(source.queue, source.refill, _nothing)]

    assert run(main()) == ["late"]


def test_breaking_out_leaves_the_rest_queued(make: Factory, run: Callable[..., Any]) -> None:
    source = Source([[1, 2, 3, 4]])

    async def main() -> None:
        async for item in make(source.queue, source.refill, _nothing):
            if item == 2:
                break

    run(main())
    assert list(source.queue) == [3, 4]


def test_cancelled_refill_propagates_and_keeps_what_was_queued(make: Factory, run: Callable[..., Any]) -> None:
    cleaned = []

    async def main() -> None:
        queue: deque[Any] = deque(["a"])

        async def refill() -> bool:
            try:
                await asyncio.sleep(30)
            finally:
                cleaned.append(True)
            return True

        iterator = make(queue, refill, _nothing)
        assert await iterator.__anext__() == "a"
        queue_before = list(queue)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.02):
                await iterator.__anext__()
        assert list(queue) == queue_before == []
        # An exception ends the iteration, as it ends an async generator.
        with pytest.raises(StopAsyncIteration):
            await iterator.__anext__()

    run(main())
    assert cleaned == [True]


def test_task_cancel_reaches_the_refill(make: Factory, run: Callable[..., Any]) -> None:
    async def main() -> None:
        started = asyncio.Event()
        seen: list[BaseException] = []

        async def refill() -> bool:
            started.set()
            try:
                await asyncio.Event().wait()
            except BaseException as error:
                seen.append(error)
                raise
            return True

        async def consume() -> None:
            async for _ in make(deque(), refill, _nothing):
                pass

        task = asyncio.ensure_future(consume())
        await started.wait()
        task.cancel("stop now")
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(seen) == 1 and isinstance(seen[0], asyncio.CancelledError)

    run(main())


def test_an_error_from_refill_propagates_and_ends_it(make: Factory, run: Callable[..., Any]) -> None:
    class Broken(Exception):
        pass

    async def main() -> None:
        async def refill() -> bool:
            await asyncio.sleep(0)
            raise Broken("the source failed")

        queue = deque([1])
        iterator = make(queue, refill, _nothing)
        assert await iterator.__anext__() == 1
        with pytest.raises(Broken, match="the source failed"):
            await iterator.__anext__()
        queue.append(2)  # queued after the end: left alone
        with pytest.raises(StopAsyncIteration):
            await iterator.__anext__()

    run(main())


def test_an_error_before_refill_awaits_propagates(make: Factory, run: Callable[..., Any]) -> None:
    async def main() -> None:
        async def refill() -> bool:
            raise LookupError("at once")

        with pytest.raises(LookupError, match="at once"):
            async for _ in make(deque(), refill, _nothing):
                pass

    run(main())


def test_refill_returning_a_non_awaitable_is_a_type_error(make: Factory, run: Callable[..., Any]) -> None:
    async def main() -> None:
        with pytest.raises(TypeError):
            async for _ in make(deque(), lambda: True, _nothing):
                pass

    run(main())


def test_aclose_ends_the_iteration_and_awaits_the_closer(make: Factory, run: Callable[..., Any]) -> None:
    closed = []

    async def closer() -> None:
        await asyncio.sleep(0)
        closed.append(True)

    async def main() -> None:
        source = Source([[1, 2]])
        iterator = make(source.queue, source.refill, closer)
        assert await iterator.__anext__() == 1
        await iterator.aclose()  # type: ignore[attr-defined]
        with pytest.raises(StopAsyncIteration):
            await iterator.__anext__()

    run(main())
    assert closed == [True]


def test_driven_through_the_generic_iterator_protocol(make: Factory, run: Callable[..., Any]) -> None:
    # wait_for() wraps a non-coroutine awaitable in a generator that uses
    # __await__(), send() and throw() rather than the interpreter's fast path.
    async def main() -> list[Any]:
        source = Source([[1], [2]])
        iterator = make(source.queue, source.refill, _nothing)
        items = [await asyncio.wait_for(anext(iterator), 5)]
        items.append(await asyncio.wait_for(anext(iterator), 5))
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(iterator), 5)
        return items

    assert run(main()) == [1, 2]


def test_nothing_is_kept_alive(make: Factory, run: Callable[..., Any]) -> None:
    class Item:
        pass

    async def main() -> list[weakref.ref[Any]]:
        source = Source([[Item(), Item()]])
        refs = [weakref.ref(item) for item in source.batches[0]]
        async for _ in make(source.queue, source.refill, _nothing):
            pass
        return refs

    refs = run(main())
    gc.collect()
    assert all(ref() is None for ref in refs)


def test_iterate_queue_uses_the_c_type_when_built() -> None:
    iterator = _queue_iter.iterate_queue(deque(), _refill_false)
    expected = "QueueIterator" if QUEUE_ITERATOR_IN_C else "async_generator"
    assert type(iterator).__name__ == expected


async def _refill_false() -> bool:
    return False


def test_text_lines_are_the_same_with_either_implementation(
    make: Factory, run: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tidal.streams import TextStream
    from tidal.testing import memory_stream_pair

    if make is python_iterate_queue:
        monkeypatch.setattr(_queue_iter, "_CQueueIterator", None)
    text = "".join(f"line {number} caf\u00e9\r\n" if number % 3 else f"line {number}\n" for number in range(2000))
    data = text.encode()

    async def main() -> tuple[list[str], str]:
        sender, receiver = memory_stream_pair()
        lines: list[str] = []

        async def send() -> None:
            for start in range(0, len(data), 997):
                await sender.send_all(data[start : start + 997])
            await sender.send_eof()

        sending = asyncio.ensure_future(send())
        stream = TextStream(receiver)
        async for line in stream:
            lines.append(line)
            if len(lines) == 700:
                break  # the rest stays in the stream: readline() and a new loop go on
        lines.append(await stream.readline())
        async for line in stream:
            lines.append(line)
        await sending
        return lines, type(stream.__aiter__()).__name__

    lines, kind = run(main())
    assert "".join(lines) == text.replace("\r\n", "\n")
    assert kind == ("QueueIterator" if make is not python_iterate_queue else "async_generator")


def test_no_speedups_environment_variable_selects_python() -> None:
    import subprocess
    import sys

    code = "from tidal.streams import _queue_iter as q; print(q.QUEUE_ITERATOR_IN_C)"
    env = {**__import__("os").environ, "TIDAL_NO_SPEEDUPS": "1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
