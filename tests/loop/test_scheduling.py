"""Scheduling behaviour, pinned on tidal's loop and asyncio's (see conftest)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any

import pytest


def test_call_soon_runs_in_fifo_order(loop: asyncio.AbstractEventLoop) -> None:
    calls: list[int] = []
    for number in range(5):
        loop.call_soon(calls.append, number)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert calls == [0, 1, 2, 3, 4]


def test_callbacks_scheduled_by_callbacks_wait_for_next_iteration(loop: asyncio.AbstractEventLoop) -> None:
    calls: list[str] = []

    def first() -> None:
        calls.append("first")
        loop.call_soon(calls.append, "scheduled-by-first")

    loop.call_soon(first)
    loop.call_soon(calls.append, "second")
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert calls == ["first", "second"]
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert calls[-1] == "scheduled-by-first"


def test_cancelled_handle_does_not_run(loop: asyncio.AbstractEventLoop) -> None:
    calls: list[int] = []
    handle = loop.call_soon(calls.append, 1)
    handle.cancel()
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert calls == []


def test_call_later_orders_by_deadline(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    calls: list[str] = []

    async def main() -> None:
        done = loop.create_future()
        loop.call_later(0.02, calls.append, "late")
        loop.call_later(0.01, calls.append, "early")
        loop.call_later(0.03, done.set_result, None)
        await done

    run(main())
    assert calls == ["early", "late"]


def test_call_at_uses_loop_clock(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    async def main() -> float:
        fired = loop.create_future()
        start = loop.time()
        loop.call_at(start + 0.01, lambda: fired.set_result(loop.time()))
        return await fired - start

    assert run(main()) >= 0.01 - 0.002


def test_cancelled_timers_never_fire(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    calls: list[int] = []

    async def main() -> None:
        timers = [loop.call_later(0.001, calls.append, number) for number in range(300)]
        for timer in timers[:250]:
            timer.cancel()
        await asyncio.sleep(0.02)

    run(main())
    assert calls == list(range(250, 300))


def test_timer_none_arguments_are_rejected(loop: asyncio.AbstractEventLoop) -> None:
    with pytest.raises(TypeError):
        loop.call_later(None, print)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        loop.call_at(None, print)  # type: ignore[arg-type]


def test_call_soon_threadsafe_wakes_a_blocked_loop(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    async def main() -> str:
        answer: asyncio.Future[str] = loop.create_future()
        thread = threading.Thread(target=loop.call_soon_threadsafe, args=(answer.set_result, "from thread"))
        thread.start()
        try:
            return await answer  # no timer is pending: only the wakeup fd can end the wait
        finally:
            thread.join()

    assert run(main()) == "from thread"


def test_stop_before_run_forever_runs_one_iteration(loop: asyncio.AbstractEventLoop) -> None:
    calls: list[int] = []
    loop.call_soon(calls.append, 1)
    loop.stop()
    loop.run_forever()
    assert calls == [1]


def test_run_until_complete_returns_result_and_raises(loop: asyncio.AbstractEventLoop) -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    async def fail() -> None:
        raise ValueError("boom")

    assert loop.run_until_complete(answer()) == 42
    with pytest.raises(ValueError, match="boom"):
        loop.run_until_complete(fail())


def test_run_until_complete_stopped_early(loop: asyncio.AbstractEventLoop) -> None:
    future = loop.create_future()
    loop.call_soon(loop.stop)
    with pytest.raises(RuntimeError, match="stopped before Future completed"):
        loop.run_until_complete(future)


def test_running_state_and_reentrancy(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    async def main() -> None:
        assert loop.is_running()
        assert asyncio.get_running_loop() is loop
        with pytest.raises(RuntimeError):
            loop.run_forever()
        with pytest.raises(RuntimeError):
            loop.close()

    assert not loop.is_running()
    run(main())
    assert not loop.is_running()


def test_close_is_idempotent_and_final(loop: asyncio.AbstractEventLoop) -> None:
    loop.close()
    loop.close()
    assert loop.is_closed()
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_soon(print)
    with pytest.raises(RuntimeError, match="closed"):
        loop.run_forever()


def test_create_future_and_task_are_asyncio_objects(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    async def child() -> str:
        return "child"

    async def main() -> None:
        future = loop.create_future()
        assert type(future) is asyncio.Future
        assert future.get_loop() is loop
        task = loop.create_task(child(), name="the-child")
        assert type(task) is asyncio.Task
        assert task.get_name() == "the-child"
        assert await task == "child"

    run(main())


def test_task_factory(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    created: list[Any] = []

    def factory(the_loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=the_loop, **kwargs)
        created.append(task)
        return task

    async def child() -> int:
        return 7

    async def main() -> int:
        return await loop.create_task(child(), name="named")

    with pytest.raises(TypeError):
        loop.set_task_factory(1)  # type: ignore[arg-type]
    loop.set_task_factory(factory)
    assert loop.get_task_factory() is factory
    assert run(main()) == 7
    assert any(task.get_name() == "named" for task in created)
    loop.set_task_factory(None)
    assert loop.get_task_factory() is None


def test_callbacks_run_in_their_context(loop: asyncio.AbstractEventLoop) -> None:
    variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable", default="outer")
    context = contextvars.copy_context()
    context.run(variable.set, "inner")
    seen: list[str] = []
    loop.call_soon(lambda: seen.append(variable.get()), context=context)
    loop.call_soon(lambda: seen.append(variable.get()))
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["inner", "outer"]


def test_exception_handler_receives_callback_errors(
    loop: asyncio.AbstractEventLoop, loop_errors: list[dict[str, Any]]
) -> None:
    def broken() -> None:
        raise ZeroDivisionError("in callback")

    loop.call_soon(broken)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert len(loop_errors) == 1
    assert isinstance(loop_errors[0]["exception"], ZeroDivisionError)
    assert "handle" in loop_errors[0]
    loop_errors.clear()


def test_exception_handler_api(loop: asyncio.AbstractEventLoop, loop_errors: list[dict[str, Any]]) -> None:
    assert loop.get_exception_handler() is not None
    with pytest.raises(TypeError):
        loop.set_exception_handler("not callable")  # type: ignore[arg-type]
    loop.call_exception_handler({"message": "reported"})
    assert loop_errors == [{"message": "reported"}]
    loop_errors.clear()


def test_failing_exception_handler_falls_back_to_default(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_handler(_loop: asyncio.AbstractEventLoop, _context: dict[str, Any]) -> None:
        raise RuntimeError("handler broke")

    loop.set_exception_handler(broken_handler)
    with caplog.at_level("ERROR", logger="asyncio"):
        loop.call_exception_handler({"message": "original"})
    assert "Unhandled error in exception handler" in caplog.text


def test_default_exception_handler_logs_context(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    loop.set_exception_handler(None)
    with caplog.at_level("ERROR", logger="asyncio"):
        loop.call_exception_handler({"message": "something odd", "exception": KeyError("k"), "detail": 5})
    assert "something odd" in caplog.text
    assert "detail: 5" in caplog.text
    assert "KeyError" in caplog.text


def test_shutdown_asyncgens_closes_live_generators(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    closed: list[bool] = []

    async def numbers() -> Any:
        try:
            yield 1
            yield 2
        finally:
            closed.append(True)

    async def main() -> Any:
        generator = numbers()
        assert await generator.__anext__() == 1
        return generator

    generator = run(main())
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert closed == [True]
    del generator


def test_run_in_executor_and_default_executor(loop: asyncio.AbstractEventLoop, run: Any) -> None:
    import concurrent.futures

    async def main() -> tuple[int, str]:
        value = await loop.run_in_executor(None, sum, [1, 2, 3])
        name = await loop.run_in_executor(None, lambda: threading.current_thread().name)
        return value, name

    value, name = run(main())
    assert value == 6
    assert name != threading.current_thread().name
    with pytest.raises(TypeError):
        loop.set_default_executor(object())  # type: ignore[arg-type]
    executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="custom")
    loop.set_default_executor(executor)
    name = run(loop.run_in_executor(None, lambda: threading.current_thread().name))
    assert name.startswith("custom")
    loop.run_until_complete(loop.shutdown_default_executor())
    with pytest.raises(RuntimeError, match="shutdown"):
        loop.run_in_executor(None, print)


def test_debug_mode_toggle(loop: asyncio.AbstractEventLoop) -> None:
    loop.set_debug(True)
    assert loop.get_debug()
    loop.set_debug(False)
    assert not loop.get_debug()


def test_futures_see_the_current_debug_mode(loop: asyncio.AbstractEventLoop) -> None:
    # asyncio's C Future asks loop.get_debug() when it is created and, in
    # debug mode, records where: each toggle must reach futures made after it.
    assert loop.create_future()._source_traceback is None  # type: ignore[attr-defined]
    loop.set_debug(True)
    assert loop.create_future()._source_traceback  # type: ignore[attr-defined]
    loop.set_debug(False)
    assert loop.create_future()._source_traceback is None  # type: ignore[attr-defined]


def test_subclass_get_debug_override_is_honoured() -> None:
    import tidal.loop

    class AlwaysDebug(tidal.loop.EventLoop):
        def get_debug(self) -> bool:
            return True

    loop = AlwaysDebug()
    try:
        assert loop.get_debug()
        assert loop.create_future()._source_traceback  # type: ignore[attr-defined]
        loop.set_debug(False)
        assert loop.get_debug()
    finally:
        loop.close()


def test_debug_mode_logs_slow_callbacks(loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture) -> None:
    import time

    loop.set_debug(True)
    loop.slow_callback_duration = 0.01  # type: ignore[attr-defined]
    loop.call_soon(time.sleep, 0.02)  # a deliberately blocking callback
    loop.call_soon(loop.stop)
    with caplog.at_level("WARNING", logger="asyncio"):
        loop.run_forever()
    assert "took" in caplog.text and "seconds" in caplog.text


def test_debug_mode_rejects_coroutines_as_callbacks(loop: asyncio.AbstractEventLoop) -> None:
    async def coroutine_function() -> None:
        pass

    loop.set_debug(True)
    with pytest.raises(TypeError):
        loop.call_soon(coroutine_function)  # type: ignore[arg-type]


def test_call_soon_handles_are_complete_asyncio_handles(loop: asyncio.AbstractEventLoop) -> None:
    # tidal builds call_soon's handles without Handle.__init__ (hot path):
    # they must be indistinguishable from the ones asyncio builds.
    context = contextvars.copy_context()
    handle = loop.call_soon(print, "a", context=context)
    reference = asyncio.Handle(print, ("a",), loop, context)
    assert type(handle) is asyncio.Handle
    for name in asyncio.Handle.__slots__:
        if name != "__weakref__":
            assert getattr(handle, name) == getattr(reference, name), name
    assert repr(handle) == repr(reference)
    assert not handle.cancelled()
    implicit = loop.call_soon(print)
    assert isinstance(implicit._context, contextvars.Context)  # type: ignore[attr-defined]  # a copy, as asyncio makes
    handle.cancel()
    implicit.cancel()
    assert handle.cancelled()
    loop.call_soon(loop.stop)
    loop.run_forever()


def test_callback_error_report_matches_asyncio(
    loop: asyncio.AbstractEventLoop, loop_errors: list[dict[str, Any]]
) -> None:
    def broken(value: int) -> None:
        raise KeyError(value)

    handle = loop.call_soon(broken, 7)
    timer = loop.call_later(0, broken, 8)
    loop.call_later(0.001, loop.stop)
    loop.run_forever()
    describe = asyncio.format_helpers._format_callback_source  # type: ignore[attr-defined]  # what asyncio prints
    assert [context["message"] for context in loop_errors] == [
        f"Exception in callback {describe(broken, (7,))}",
        f"Exception in callback {describe(broken, (8,))}",
    ]
    assert [context["handle"] for context in loop_errors] == [handle, timer]
    assert all(isinstance(context["exception"], KeyError) for context in loop_errors)
    loop_errors.clear()


def test_system_exit_from_a_callback_leaves_the_rest_queued(loop: asyncio.AbstractEventLoop) -> None:
    ran: list[str] = []

    def leave() -> None:
        raise SystemExit(3)

    loop.call_soon(leave)
    loop.call_soon(ran.append, "after")
    with pytest.raises(SystemExit):
        loop.run_forever()
    assert ran == []
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert ran == ["after"]


def test_futures_belong_to_the_loop_that_made_them(loop: asyncio.AbstractEventLoop) -> None:
    # A future made by a loop that is not the running one (or while none
    # runs) belongs to the loop that made it, not to the running loop.
    import tidal.loop

    other = tidal.loop.new_event_loop()
    try:
        assert other.create_future().get_loop() is other  # nothing running

        async def main() -> None:
            assert loop.create_future().get_loop() is loop
            assert other.create_future().get_loop() is other  # another loop runs

        loop.run_until_complete(main())
    finally:
        other.close()
