"""The scheduling core of tidal's event loop.

Theory of operation
-------------------
One iteration (:meth:`LoopCore._run_once`) does, in order:

1. drop poller interests that went idle during the last iteration
   (see :mod:`tidal.loop._io`);
2. block in the poller for no longer than the nearest timer (not at all if
   callbacks are already ready or ``stop()`` was called);
3. complete the operations and queue the callbacks of ready fds;
4. move due timers to the ready queue;
5. run exactly the callbacks that are ready now; callbacks they schedule
   wait for the next iteration, so one iteration is always bounded.

``run_forever`` repeats this until ``stop()``; the embedding API
(:meth:`LoopCore.step`) runs one iteration with a capped wait and tells the
host loop when to call again.  Callbacks are asyncio's own ``Handle`` and
``TimerHandle`` objects and futures are asyncio's C ``Future``/``Task``, so
everything written for asyncio sees the objects it expects.  Three hot
spots skip a Python frame each without changing what anyone can observe:
``call_soon`` (every task wakeup) fills a ``Handle``'s slots the way its
``__init__`` would outside debug mode; the run loop does what
``Handle._run`` does inline, with the same error report; and ``get_debug``,
which asyncio's C ``Future`` calls once per future created (one per
receive that has to wait), is answered by a C callable stored on the
instance whenever debug mode changes.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import heapq
import itertools
import logging
import os
import sys
import threading
import time
import traceback
import warnings
import weakref
from asyncio import events, format_helpers
from collections.abc import Callable, Coroutine, Generator
from contextvars import Context
from typing import Any, TypeVar, TypeVarTuple, Unpack

from tidal.loop._io import IoRegistry, fileobj_to_fd
from tidal.loop._poller import Poller, make_poller
from tidal.loop._wakeup import Waker

__all__ = ["LoopCore", "logger"]

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

# The "asyncio" logger: tools that filter or capture asyncio's loop messages
# keep working when the loop is tidal's.
logger = logging.getLogger("asyncio")

_MAX_WAIT = 24 * 3600.0  # epoll rejects huge timeouts; wake up daily instead
_MIN_TIMERS_TO_PURGE = 100  # below this many timers, cancelled ones are popped lazily
_DEBUG_STACK_DEPTH = 10


class LoopCore(asyncio.AbstractEventLoop):
    """Scheduling, running, the exception handler, async generators and fd callbacks."""

    slow_callback_duration: float = 0.1
    """In debug mode, callbacks running longer than this many seconds are logged."""

    def __init__(self, *, poller: str | Poller | None = None) -> None:
        self._closed = False
        self._poller: Poller = poller if poller is not None and not isinstance(poller, str) else make_poller(poller)
        self._ready: collections.deque[Any] = collections.deque()  # asyncio Handles
        self._scheduled: list[Any] = []  # a heap of asyncio TimerHandles
        self._timer_cancelled_count = 0
        self._io = IoRegistry(self._poller, self._ready)
        self._idle = self._io.idle  # checked once per iteration: a sweep is rarely needed
        self._waker = Waker()
        self._io.add_internal(self._waker.fileno(), self._waker.drain)
        self._stopping = False
        self._thread_id: int | None = None
        self._debug = sys.flags.dev_mode or (
            not sys.flags.ignore_environment and bool(os.environ.get("PYTHONASYNCIODEBUG"))
        )
        self._publish_debug()
        self._clock_resolution = time.get_clock_info("monotonic").resolution
        self._exception_handler: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None = None
        self._task_factory: Any = None
        self._current_handle: Any = None  # the running Handle, tracked in debug mode
        self._asyncgens: weakref.WeakSet[Any] = weakref.WeakSet()
        self._asyncgens_shutdown_called = False
        self._old_agen_hooks: Any = None
        self._coroutine_origin_depth: int | None = None

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} running={self.is_running()} closed={self.is_closed()} "
            f"debug={self.get_debug()} poller={self._poller.name}>"
        )

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if not getattr(self, "_closed", True):
            _warn(f"unclosed event loop {self!r}", ResourceWarning, source=self)
            if not self.is_running():
                self.close()

    # -- clock and scheduling ------------------------------------------------

    def time(self) -> float:
        """The loop's clock: ``time.monotonic()``."""
        return time.monotonic()

    def call_soon(self, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts], context: Context | None = None) -> asyncio.Handle:
        """Run ``callback(*args)`` in the next iteration, in FIFO order."""
        # Hot path (every task wakeup comes through here): checks inlined.
        if self._closed:
            raise RuntimeError("Event loop is closed")
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_soon")
            handle: Any = asyncio.Handle(callback, args, self, context)
            if handle._source_traceback:
                del handle._source_traceback[-1]
        else:
            # Handle.__init__ inlined (what it does outside debug mode): no
            # Python frame and no get_debug() call per task wakeup.
            handle = _new_handle(_Handle)
            handle._callback = callback
            handle._args = args
            handle._cancelled = False
            handle._loop = self
            handle._source_traceback = None
            handle._repr = None
            handle._context = _copy_context() if context is None else context
        self._ready.append(handle)
        return handle  # type: ignore[no-any-return]

    def call_soon_threadsafe(
        self, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts], context: Context | None = None
    ) -> asyncio.Handle:
        """Like :meth:`call_soon`, from any thread: wakes the loop if it is blocked."""
        self._check_closed()
        if self._debug:
            self._check_callback(callback, "call_soon_threadsafe")
        handle: Any = asyncio.Handle(callback, args, self, context)
        if handle._source_traceback:
            del handle._source_traceback[-1]
        self._ready.append(handle)  # deque.append is atomic
        self._waker.wake()
        return handle  # type: ignore[no-any-return]

    def call_later(
        self, delay: float, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts], context: Context | None = None
    ) -> asyncio.TimerHandle:
        """Run ``callback(*args)`` after ``delay`` seconds."""
        if delay is None:
            raise TypeError("delay must not be None")
        timer: Any = self.call_at(self.time() + delay, callback, *args, context=context)
        if timer._source_traceback:
            del timer._source_traceback[-1]
        return timer  # type: ignore[no-any-return]

    def call_at(
        self, when: float, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts], context: Context | None = None
    ) -> asyncio.TimerHandle:
        """Run ``callback(*args)`` at loop time ``when``."""
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_at")
        timer: Any = asyncio.TimerHandle(when, callback, args, self, context)
        if timer._source_traceback:
            del timer._source_traceback[-1]
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True
        return timer  # type: ignore[no-any-return]

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        """Called by ``TimerHandle.cancel()``: count it for lazy purging."""
        if getattr(handle, "_scheduled", False):
            self._timer_cancelled_count += 1

    def _check_callback(self, callback: object, method: str) -> None:
        if asyncio.iscoroutine(callback) or asyncio.iscoroutinefunction(callback):
            raise TypeError(f"coroutines cannot be used with {method}()")
        if not callable(callback):
            raise TypeError(f"a callable object was expected by {method}(), got {callback!r}")

    def _check_thread(self) -> None:
        if self._thread_id is not None and self._thread_id != threading.get_ident():
            raise RuntimeError(
                "Non-thread-safe operation invoked on an event loop other than the current one"
            )

    def _check_closed(self) -> None:
        if self._closed:
            raise RuntimeError("Event loop is closed")

    # -- futures and tasks ---------------------------------------------------

    def create_future(self) -> asyncio.Future[Any]:
        """A new asyncio (C) ``Future`` bound to this loop."""
        return _Future(loop=self)

    def create_task(
        self,
        coro: Coroutine[Any, Any, _T] | Generator[Any, None, _T],
        *,
        name: str | None = None,
        context: Context | None = None,
    ) -> asyncio.Task[_T]:
        """Wrap ``coro`` in a task (through the task factory, if one is set)."""
        self._check_closed()
        if self._task_factory is None:
            task: asyncio.Task[_T] = asyncio.Task(coro, loop=self, name=name, context=context)
            if task._source_traceback:  # type: ignore[attr-defined]
                del task._source_traceback[-1]  # type: ignore[attr-defined]
            return task
        if context is None:
            task = self._task_factory(self, coro)
        else:
            task = self._task_factory(self, coro, context=context)
        if name is not None:
            try:
                task.set_name(name)
            except AttributeError:
                pass  # a factory may return a Future-like object without names
        return task

    def set_task_factory(self, factory: Any) -> None:
        """Use ``factory(loop, coro[, context=...])`` to create tasks; None restores the default."""
        if factory is not None and not callable(factory):
            raise TypeError("task factory must be a callable or None")
        self._task_factory = factory

    def get_task_factory(self) -> Any:
        """The task factory, or None for the default."""
        return self._task_factory

    # -- running -------------------------------------------------------------

    def run_forever(self) -> None:
        """Run iterations until :meth:`stop` is called."""
        self._enter_running()
        try:
            self._run_iterations(None, once=False)
        finally:
            self._exit_running()

    def run_until_complete(self, future: Any) -> Any:
        """Run until ``future`` (a future, task or coroutine) is done; return its result."""
        self._check_closed()
        self._check_running()
        new_task = not asyncio.isfuture(future)
        future = asyncio.ensure_future(future, loop=self)
        if new_task:
            future._log_destroy_pending = False  # the caller cannot see this task
        future.add_done_callback(_stop_loop_when_done)
        try:
            self.run_forever()
        except BaseException:
            if new_task and future.done() and not future.cancelled():
                future.exception()  # mark retrieved: the caller gets it raised
            raise
        finally:
            future.remove_done_callback(_stop_loop_when_done)
        if not future.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return future.result()

    def stop(self) -> None:
        """Stop after the current iteration (or after one iteration if not running)."""
        self._stopping = True

    def is_running(self) -> bool:
        """True while the loop runs (``run_forever`` or inside :meth:`step`)."""
        return self._thread_id is not None

    def is_closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Close the loop: drop pending callbacks and release its fds and executor."""
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self._closed:
            return
        if self._debug:
            logger.debug("Close %r", self)
        self._closed = True
        self._ready.clear()
        self._scheduled.clear()
        self._timer_cancelled_count = 0
        self._close_resources()
        self._io.close()
        self._waker.close()
        self._poller.close()

    def _close_resources(self) -> None:
        """Hook for subclasses: release their resources before the poller closes."""

    def _check_running(self) -> None:
        if self.is_running():
            raise RuntimeError("This event loop is already running")
        if events._get_running_loop() is not None:
            raise RuntimeError("Cannot run the event loop while another loop is running")

    def _enter_running(self) -> None:
        self._check_closed()
        self._check_running()
        self._thread_id = threading.get_ident()
        self._old_agen_hooks = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook, finalizer=self._asyncgen_finalizer_hook)
        self._set_coroutine_origin_tracking(self._debug)
        events._set_running_loop(self)

    def _exit_running(self) -> None:
        self._stopping = False
        self._thread_id = None
        events._set_running_loop(None)
        self._set_coroutine_origin_tracking(False)
        sys.set_asyncgen_hooks(*self._old_agen_hooks)

    def _set_coroutine_origin_tracking(self, enabled: bool) -> None:
        if enabled == (self._coroutine_origin_depth is not None):
            return
        if enabled:
            self._coroutine_origin_depth = sys.get_coroutine_origin_tracking_depth()
            sys.set_coroutine_origin_tracking_depth(_DEBUG_STACK_DEPTH)
        else:
            sys.set_coroutine_origin_tracking_depth(self._coroutine_origin_depth or 0)
            self._coroutine_origin_depth = None

    def _run_once(self, max_wait: float | None) -> None:
        """One iteration; see the module docstring."""
        self._run_iterations(max_wait, once=True)

    def _run_iterations(self, max_wait: float | None, once: bool) -> None:
        """Iterations until ``stop()`` (or exactly one); see the module docstring.

        One body for :meth:`run_forever` and :meth:`step`, looping here rather
        than in the caller so that the names the hot path uses are bound to
        locals once per run, not once per iteration.
        """
        ready = self._ready
        popleft = ready.popleft
        idle = self._idle
        io = self._io
        dispatch = io.dispatch
        poll = self._poller.poll
        while True:
            if idle:
                io.sweep()
            if self._scheduled:
                self._purge_cancelled_timers()
            scheduled = self._scheduled  # after the purge: it may rebuild the heap
            if ready or self._stopping:
                timeout: float | None = 0.0
            elif scheduled:
                timeout = min(max(scheduled[0]._when - self.time(), 0.0), _MAX_WAIT)
            else:
                timeout = None
            if max_wait is not None and (timeout is None or timeout > max_wait):
                timeout = max_wait
            events = poll(timeout)
            if events:
                dispatch(events)
            if scheduled:
                self._collect_due_timers()
            if self._debug:
                self._run_ready_debug()
            else:
                # Handle._run() inlined: one Python frame less per callback;
                # errors get the same report Handle._run() would make.
                for _ in range(len(ready)):
                    handle = popleft()
                    if handle._cancelled:
                        continue
                    try:
                        handle._context.run(handle._callback, *handle._args)
                    except (SystemExit, KeyboardInterrupt):
                        raise
                    except BaseException as exc:
                        _report_callback_error(handle, exc)
                handle = None  # no reference to the last callback between iterations
            if once or self._stopping:
                return

    def _purge_cancelled_timers(self) -> None:
        scheduled = self._scheduled
        count = len(scheduled)
        if count > _MIN_TIMERS_TO_PURGE and self._timer_cancelled_count * 2 > count:
            # Rebuilding is O(n) but runs only when most timers are dead.
            kept = []
            for timer in scheduled:
                if timer._cancelled:
                    timer._scheduled = False
                else:
                    kept.append(timer)
            heapq.heapify(kept)
            self._scheduled = kept
            self._timer_cancelled_count = 0
            return
        while scheduled and scheduled[0]._cancelled:
            self._timer_cancelled_count -= 1
            timer = heapq.heappop(scheduled)
            timer._scheduled = False

    def _collect_due_timers(self) -> None:
        scheduled = self._scheduled
        end_time = self.time() + self._clock_resolution
        while scheduled:
            timer = scheduled[0]
            if timer._when >= end_time:
                break
            heapq.heappop(scheduled)
            timer._scheduled = False
            if timer._cancelled:
                self._timer_cancelled_count -= 1
            else:
                self._ready.append(timer)

    def _run_ready_debug(self) -> None:
        ready = self._ready
        for _ in range(len(ready)):
            handle = ready.popleft()
            if handle._cancelled:
                continue
            self._current_handle = handle
            started = self.time()
            try:
                handle._run()
            finally:
                self._current_handle = None
            elapsed = self.time() - started
            if elapsed >= self.slow_callback_duration:
                logger.warning("Executing %s took %.3f seconds", _format_handle(handle), elapsed)

    # -- embedding -----------------------------------------------------------

    def step(self, timeout: float | None = 0) -> float | None:
        """Run one bounded slice of work: ready callbacks, due timers and ready I/O.

        Waits at most ``timeout`` seconds for I/O or a timer (``None``: until
        something happens).  Returns the number of seconds after which the
        loop next needs to run (``0.0`` when callbacks are already waiting),
        or ``None`` when it has nothing scheduled and only I/O -- signalled by
        :meth:`fileno` becoming readable -- can give it work.
        """
        self._enter_running()
        try:
            self._run_once(timeout)
        finally:
            self._exit_running()
        return self._seconds_until_work()

    def next_deadline(self) -> float | None:
        """Loop time (:meth:`time`) at which the loop next needs to run, or None when idle."""
        if self._ready:
            return self.time()
        self._purge_cancelled_timers()
        if self._scheduled:
            when: float = self._scheduled[0]._when
            return when
        return None

    def _seconds_until_work(self) -> float | None:
        deadline = self.next_deadline()
        if deadline is None:
            return None
        return max(deadline - self.time(), 0.0)

    def fileno(self) -> int:
        """A pollable fd that is readable whenever the loop has I/O or a wakeup to process.

        Host loops (Tk, Qt, GLib, a game loop) watch it and call :meth:`step`
        when it is readable or when the delay returned by ``step`` expires.
        Available on the epoll and kqueue backends.
        """
        self._check_closed()
        return self._poller.fileno()

    # -- fd callbacks --------------------------------------------------------

    def add_reader(self, fd: Any, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts]) -> None:
        """Call ``callback(*args)`` whenever ``fd`` is readable (level-triggered)."""
        self._check_closed()
        handle = asyncio.Handle(callback, args, self, None)
        self._io.set_callback(fileobj_to_fd(fd), fd, handle, write=False)

    def remove_reader(self, fd: Any) -> bool:
        """Stop watching ``fd`` for reading; True if a reader was registered."""
        if self._closed:
            return False
        return self._io.remove_callback(self._fd_for_removal(fd), write=False)

    def add_writer(self, fd: Any, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts]) -> None:
        """Call ``callback(*args)`` whenever ``fd`` is writable (level-triggered)."""
        self._check_closed()
        handle = asyncio.Handle(callback, args, self, None)
        self._io.set_callback(fileobj_to_fd(fd), fd, handle, write=True)

    def remove_writer(self, fd: Any) -> bool:
        """Stop watching ``fd`` for writing; True if a writer was registered."""
        if self._closed:
            return False
        return self._io.remove_callback(self._fd_for_removal(fd), write=True)

    def _fd_for_removal(self, fileobj: Any) -> int:
        try:
            return fileobj_to_fd(fileobj)
        except ValueError:
            # A socket closed before its callbacks were removed: fileno() is -1
            # now, but the record still knows which fd the object had.
            fd = self._io.fd_owned_by(fileobj)
            if fd is None:
                raise
            return fd

    # -- errors --------------------------------------------------------------

    def get_exception_handler(self) -> Any:
        """The custom exception handler, or None."""
        return self._exception_handler

    def set_exception_handler(self, handler: Any) -> None:
        """Install ``handler(loop, context)`` for errors no one else can receive."""
        if handler is not None and not callable(handler):
            raise TypeError(f"A callable object or None is expected, got {handler!r}")
        self._exception_handler = handler

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        """Log ``context`` to the ``asyncio`` logger, as asyncio's loops do."""
        message = context.get("message") or "Unhandled exception in event loop"
        exception = context.get("exception")
        exc_info: Any = (type(exception), exception, exception.__traceback__) if exception is not None else False
        handle = self._current_handle
        if "source_traceback" not in context and handle is not None and handle._source_traceback:
            context["handle_traceback"] = handle._source_traceback
        lines = [message]
        for key in sorted(context):
            if key in ("message", "exception"):
                continue
            lines.append(f"{key}: {_format_context_value(key, context[key])}")
        logger.error("\n".join(lines), exc_info=exc_info)

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        """Report an error through the custom handler, or the default one."""
        if self._exception_handler is None:
            try:
                self.default_exception_handler(context)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                logger.error("Exception in default exception handler", exc_info=True)
            return
        try:
            self._exception_handler(self, context)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            try:
                self.default_exception_handler(
                    {"message": "Unhandled error in exception handler", "exception": exc, "context": context}
                )
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                logger.error(
                    "Exception in default exception handler while handling an unexpected error "
                    "in custom exception handler",
                    exc_info=True,
                )

    # -- debug ---------------------------------------------------------------

    def get_debug(self) -> bool:
        """True in debug mode."""
        return self._debug

    def set_debug(self, enabled: bool) -> None:
        """Enable debug mode: thread checks, slow-callback warnings, origin tracking."""
        self._debug = enabled
        self._publish_debug()
        if self.is_running():
            self.call_soon_threadsafe(self._set_coroutine_origin_tracking, enabled)

    def _publish_debug(self) -> None:
        # asyncio's C Future calls loop.get_debug() for every future created;
        # an instance attribute shadows the method, and a C callable that
        # returns the flag costs no Python frame.  A subclass that overrides
        # get_debug keeps its own method.
        if type(self).get_debug is LoopCore.get_debug:
            setattr(self, "get_debug", itertools.repeat(self._debug).__next__)

    # -- async generators ----------------------------------------------------

    def _asyncgen_firstiter_hook(self, agen: Any) -> None:
        if self._asyncgens_shutdown_called:
            warnings.warn(
                f"asynchronous generator {agen!r} was scheduled after loop.shutdown_asyncgens() call",
                ResourceWarning,
                source=self,
            )
        self._asyncgens.add(agen)

    def _asyncgen_finalizer_hook(self, agen: Any) -> None:
        self._asyncgens.discard(agen)
        if not self.is_closed():
            self.call_soon_threadsafe(self.create_task, agen.aclose())

    async def shutdown_asyncgens(self) -> None:
        """Close every asynchronous generator still alive on this loop."""
        self._asyncgens_shutdown_called = True
        if not len(self._asyncgens):
            return
        closing = list(self._asyncgens)
        self._asyncgens.clear()
        results = await asyncio.gather(*[agen.aclose() for agen in closing], return_exceptions=True)
        for result, agen in zip(results, closing):
            if isinstance(result, Exception):
                self.call_exception_handler(
                    {
                        "message": f"an error occurred during closing of asynchronous generator {agen!r}",
                        "exception": result,
                        "asyncgen": agen,
                    }
                )


_Handle = asyncio.Handle
_new_handle = object.__new__
_Future = asyncio.Future
_copy_context = contextvars.copy_context


def _report_callback_error(handle: Any, exc: BaseException) -> None:
    """What ``Handle._run()`` reports when its callback raises."""
    callback = format_helpers._format_callback_source(handle._callback, handle._args)
    context = {"message": f"Exception in callback {callback}", "exception": exc, "handle": handle}
    if handle._source_traceback:
        context["source_traceback"] = handle._source_traceback
    handle._loop.call_exception_handler(context)


def _stop_loop_when_done(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        exc = future.exception()
        if isinstance(exc, (SystemExit, KeyboardInterrupt)):
            return  # the exception propagates out of run_forever by itself
    future.get_loop().stop()


def _format_context_value(key: str, value: Any) -> str:
    if key == "source_traceback":
        return "Object created at (most recent call last):\n" + "".join(traceback.format_list(value)).rstrip()
    if key == "handle_traceback":
        return "Handle created at (most recent call last):\n" + "".join(traceback.format_list(value)).rstrip()
    return repr(value)


def _format_handle(handle: Any) -> str:
    callback = handle._callback
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        return f"{handle} created at {task!r}"  # the task says which coroutine was slow
    return str(handle)
