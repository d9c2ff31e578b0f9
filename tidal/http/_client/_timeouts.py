"""Timeouts: four per-phase budgets and one total deadline.

Theory of operation.  A request runs through phases -- waiting for a pooled
connection (``pool``), resolving, connecting and the TLS handshake
(``connect``), sending (``write``: each send may wait that long) and
receiving (``read``: each receive may wait that long for the next bytes).
``total`` is one absolute deadline fixed when the request starts; it covers
every phase, the whole body included (for a streamed response, until the body
is consumed or the response closed), so a server that drips one byte a
second is cut off by it even though no single read times out.

Each await picks the earlier of "now + the phase budget" and the total
deadline, and the expiry raises the type of whichever of the two was
binding.  Nothing here polls: one ``asyncio.timeout_at`` per await that
waits.  An operation that completes without waiting (most sends, most body
reads) is stepped once first and never builds the timer at all; that is
exactly asyncio's own rule, whose timeouts only take effect at a suspension.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Awaitable, Coroutine, Generator
from dataclasses import dataclass
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ._errors import ConnectTimeout, HTTPTimeout, PoolTimeout, ReadTimeout, TotalTimeout, WriteTimeout

if TYPE_CHECKING:
    from ._models import ClientRequest

__all__ = ["Timeout", "TimeoutLike", "Deadlines", "DEFAULT_TIMEOUT", "TraceHook", "ExpiryTimer"]

#: ``trace(event, details)``: see ``docs/http-client.md`` for the event names.
TraceHook = Callable[[str, dict[str, Any]], None]

_T = TypeVar("_T")
_PHASE_ERRORS: dict[str, type[HTTPTimeout]] = {
    "connect": ConnectTimeout,
    "read": ReadTimeout,
    "write": WriteTimeout,
    "pool": PoolTimeout,
}
_PHASE_WORDS = {
    "connect": "connecting (name resolution, TCP and TLS)",
    "read": "waiting for response bytes",
    "write": "sending the request",
    "pool": "waiting for a free connection in the pool",
}


@dataclass(frozen=True, slots=True)
class Timeout:
    """Time budgets in seconds; ``None`` disables one.

    ``connect``: resolution + TCP connect + TLS handshake of a new connection.
    ``read``: the longest wait for the next bytes of the response.
    ``write``: the longest wait for one send to complete.
    ``pool``: the longest wait for a connection slot when the pool is full.
    ``total``: one deadline for the whole exchange, from the call to the last
    body byte (or closing a streamed response), redirects included.
    """

    connect: float | None = 10.0
    read: float | None = 30.0
    write: float | None = 30.0
    pool: float | None = 10.0
    total: float | None = None

    def __post_init__(self) -> None:
        for name in ("connect", "read", "write", "pool", "total"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"Timeout.{name} must be a positive number or None, not {value!r}")

    @classmethod
    def coerce(cls, value: TimeoutLike) -> Timeout:
        """A :class:`Timeout` from a ``Timeout``, a number (every phase budget) or None (no limits)."""
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(connect=None, read=None, write=None, pool=None, total=None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls(connect=value, read=value, write=value, pool=value)
        raise TypeError(f"timeout must be a Timeout, a number or None, not {type(value).__name__}")


TimeoutLike = Timeout | float | None
DEFAULT_TIMEOUT = Timeout()


class Deadlines:
    """One exchange's clock: the total deadline, fixed at creation, and the phase budgets."""

    __slots__ = ("timeout", "started", "total_at", "request", "trace", "loop")

    def __init__(
        self, timeout: Timeout, request: ClientRequest | None = None, trace: TraceHook | None = None
    ) -> None:
        #: The running loop, looked up once per exchange.
        self.loop = asyncio.get_running_loop()
        #: Called with (event name, details) at each step of the exchange, or None.
        self.trace = trace
        self.timeout = timeout
        self.request = request
        self.started = self.loop.time()
        self.total_at = None if timeout.total is None else self.started + timeout.total

    def now(self) -> float:
        """The loop's clock."""
        return self.loop.time()

    def limit(self, phase: str) -> tuple[float | None, type[HTTPTimeout]]:
        """The absolute deadline for an await in ``phase`` and the error its expiry raises."""
        budget: float | None = getattr(self.timeout, phase)
        phase_at = None if budget is None else self.loop.time() + budget
        total_at = self.total_at
        if total_at is not None and (phase_at is None or total_at <= phase_at):
            return total_at, TotalTimeout
        return phase_at, _PHASE_ERRORS[phase]

    async def run(self, phase: str, awaitable: Awaitable[_T], timer: ExpiryTimer | None = None) -> _T:
        """Await ``awaitable`` within ``phase``'s budget and the total deadline.

        ``timer`` is a connection's :class:`ExpiryTimer` to arm instead of a
        new timer (a fresh one is used if it is serving another wait).
        """
        if awaitable.__class__ is types.CoroutineType:
            coroutine: Coroutine[Any, Any, _T] = awaitable
            try:
                suspended_on = coroutine.send(None)
            except StopIteration as finished:
                return finished.value  # type: ignore[no-any-return]
            awaitable = _resume(coroutine, suspended_on)
        # limit(phase), inlined: this runs for every await that waits.
        budget: float | None = getattr(self.timeout, phase)
        at = None if budget is None else self.loop.time() + budget
        total_at = self.total_at
        error: type[HTTPTimeout]
        if total_at is not None and (at is None or total_at <= at):
            at, error = total_at, TotalTimeout
        else:
            error = _PHASE_ERRORS[phase]
        if at is None:
            return await awaitable
        # asyncio.timeout_at's rule without its object: at the deadline the
        # task is cancelled; if that cancellation (and no other) is what ends
        # the await, it becomes the phase's timeout error.
        task = _current_task(self.loop)
        if task is None:
            raise RuntimeError("Deadlines.run must be awaited inside a task")
        cancelling = task.cancelling()
        if timer is None or timer._task is not None:  # None, or busy with another wait
            timer = ExpiryTimer(self.loop)
            one_shot = True
        else:
            one_shot = False
        timer.start(task, at)
        try:
            result = await awaitable
        except _CancelledError:
            if timer.fired and task.uncancel() <= cancelling:
                raise self.expired(phase, error) from None
            raise
        except BaseException:
            if timer.fired:
                task.uncancel()
            raise
        else:
            if timer.fired:
                task.uncancel()  # as asyncio.Timeout does when the await finished anyway
        finally:
            if one_shot:
                timer.close()
            else:
                timer._task = None  # stop(), inlined
        return result

    def expired(self, phase: str, error: type[HTTPTimeout]) -> HTTPTimeout:
        """The exception for an expiry of ``error``'s kind while in ``phase``."""
        if error is TotalTimeout:
            message = f"total timeout of {self.timeout.total:g} s expired while {_PHASE_WORDS[phase]}"
        else:
            message = f"{phase} timeout of {getattr(self.timeout, phase):g} s expired while {_PHASE_WORDS[phase]}"
        return error(message, request=self.request)

    def emit(self, event: str, **details: Any) -> None:
        """Report a step of the exchange to the trace hook, if there is one."""
        if self.trace is not None:
            self.trace(event, details)


class ExpiryTimer:
    """Cancels the waiting task at its deadline; one connection reuses it for all its waits.

    A wait calls :meth:`start` with its task and deadline and :meth:`stop`
    when it ends.  The loop timer is only replaced when a wait's deadline is
    *earlier* than the one already armed; a later deadline (the usual case:
    each wait's budget starts from now) leaves it armed, and when it fires
    early it arms itself again for the current wait's deadline, or lapses
    when no wait is in progress.  So successive short waits cost no timer
    scheduling at all, and a task is cancelled only when its own deadline
    has come, exactly once (:attr:`fired` says so).
    """

    __slots__ = ("_loop", "_handle", "_armed_at", "_task", "_at", "fired")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = 0.0
        self._task: asyncio.Task[Any] | None = None
        self._at = 0.0
        #: True when the current (or last) wait's deadline cancelled its task.
        self.fired = False

    @property
    def busy(self) -> bool:
        """True while a wait is in progress."""
        return self._task is not None

    def start(self, task: asyncio.Task[Any], at: float) -> None:
        """Begin a wait of ``task`` that must end by the loop time ``at``."""
        self._task, self._at, self.fired = task, at, False
        handle = self._handle
        if handle is None or at < self._armed_at:
            if handle is not None:
                handle.cancel()
            self._armed_at = at
            self._handle = self._loop.call_at(at, self._expire)

    def stop(self) -> None:
        """The wait ended; a timer still armed lapses when it fires."""
        self._task = None

    def close(self) -> None:
        """Stop and drop the loop timer (the connection is closing)."""
        self._task = None
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()

    def _expire(self) -> None:
        self._handle = None
        task = self._task
        if task is None:
            return
        if self._at <= self._armed_at:
            self._task = None
            self.fired = True
            task.cancel()
        else:
            self._armed_at = self._at
            self._handle = self._loop.call_at(self._at, self._expire)


_current_task = asyncio.current_task
_CancelledError = asyncio.CancelledError


@types.coroutine
def _resume(coroutine: Coroutine[Any, Any, _T], suspended_on: Any) -> Generator[Any, Any, _T]:
    """Go on awaiting a coroutine already stepped once (what ``await`` would do)."""
    while True:
        try:
            sent = yield suspended_on
        except GeneratorExit:
            coroutine.close()
            raise
        except BaseException as exc:  # cancellation or a timeout, thrown in by the task
            try:
                suspended_on = coroutine.throw(exc)
            except StopIteration as finished:
                return finished.value  # type: ignore[no-any-return]
        else:
            try:
                suspended_on = coroutine.send(sent)
            except StopIteration as finished:
                return finished.value  # type: ignore[no-any-return]
