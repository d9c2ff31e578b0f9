"""The connection pool: synchronous bookkeeping, then the awaits it asks for.

Theory of operation (STYLE.md #7).  :class:`PoolState` owns every count and
list and never awaits: :meth:`PoolState.checkout` answers "reuse this idle
connection", "open a new one (a slot is now reserved for you)" or "wait";
:meth:`PoolState.checkin` and :meth:`PoolState.discard` return the
connections the caller must close.  :class:`ConnectionPool` carries those
answers out.  Because no decision spans an await, a cancellation at any await
point leaves the counts exact: a reserved slot or a connection handed over is
given back in the same synchronous step that notices the cancellation.

Idle connections of one origin sit in an insertion-ordered dict used as a
stack (the most recently used is reused first: the likeliest to be alive),
and in one global ordered dict (oldest first) for the idle-count limit and
lazy expiry, so checkout, checkin and eviction are O(1) amortized.  Expired
connections are noticed when the pool is next used, not by a timer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

from ._errors import ClientClosed
from ._limits import Limits
from ._urls import Origin

__all__ = ["PoolState", "ConnectionPool", "PooledConnection", "CONNECT"]


class PooledConnection(Protocol):
    """What the pool needs from a connection."""

    origin: Origin
    idle_since: float

    def is_stale(self) -> bool:
        """True when the peer closed or sent unsolicited bytes while idle."""

    async def aclose(self) -> None:
        """Close the transport."""


_C = TypeVar("_C", bound=PooledConnection)


class _Connect:
    """The checkout answer "a slot is reserved: open a new connection"."""

    def __repr__(self) -> str:
        return "CONNECT"


CONNECT = _Connect()


class PoolState(Generic[_C]):
    """Counts, idle stacks and waiters; every method is synchronous."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._open: dict[Origin, int] = {}  # connections + reserved slots per origin
        self._total = 0
        self._idle: dict[Origin, dict[_C, None]] = {}
        self._idle_all: dict[_C, None] = {}  # oldest first
        self._waiters: deque[tuple[Origin, asyncio.Future[_C | _Connect]]] = deque()
        # Queued futures not yet served or abandoned: an O(1) "is anyone waiting?".
        self._live_waiters: set[asyncio.Future[_C | _Connect]] = set()
        self.closed = False

    # -- observation (tests and stats) ---------------------------------------

    @property
    def open_count(self) -> int:
        """Open connections plus reserved slots."""
        return self._total

    @property
    def idle_count(self) -> int:
        """Idle connections kept for reuse."""
        return len(self._idle_all)

    @property
    def waiting_count(self) -> int:
        """Requests waiting for a slot."""
        return len(self._live_waiters)

    # -- decisions -----------------------------------------------------------

    def checkout(self, origin: Origin, now: float) -> tuple[_C | _Connect | None, list[_C]]:
        """Take an idle connection, reserve a slot (:data:`CONNECT`), or None: wait.

        Also returns the connections to close (expired or evicted).  A
        returned idle connection still counts as open; the caller checks
        :meth:`PooledConnection.is_stale` and :meth:`discard`\\ s it if so.
        """
        if self.closed:
            raise ClientClosed("the client was closed; create a new one")
        to_close = self._expire(now)
        if self._live_waiters:
            return None, to_close  # first come, first served
        return self._grant(origin, to_close), to_close

    def take_idle(self, origin: Origin, now: float) -> _C | None:
        """An idle connection for ``origin`` when that is all :meth:`checkout` would do, else None.

        None (and nothing changed) whenever :meth:`checkout` would have more
        to decide: the pool is closed, requests are waiting, an idle
        connection has expired, or ``origin`` has no idle connection.  The
        caller checks staleness as after :meth:`checkout`.
        """
        idle = self._idle.get(origin)
        if not idle or self.closed or self._live_waiters:
            return None
        if next(iter(self._idle_all)).idle_since <= now - self.limits.idle_expiry:
            return None
        connection, _ = idle.popitem()
        del self._idle_all[connection]
        if not idle:
            del self._idle[origin]
        return connection

    def _grant(self, origin: Origin, to_close: list[_C]) -> _C | _Connect | None:
        idle = self._idle.get(origin)
        if idle:
            connection, _ = idle.popitem()
            del self._idle_all[connection]
            if not idle:
                del self._idle[origin]
            return connection
        if self._open.get(origin, 0) >= self.limits.max_connections_per_host:
            return None
        if self._total >= self.limits.max_connections:
            if not self._idle_all:
                return None
            to_close.append(self._evict_oldest())
        self._reserve(origin)
        return CONNECT

    def _reserve(self, origin: Origin) -> None:
        self._open[origin] = self._open.get(origin, 0) + 1
        self._total += 1

    def _forget(self, origin: Origin) -> None:
        count = self._open[origin] - 1
        if count:
            self._open[origin] = count
        else:
            del self._open[origin]
        self._total -= 1

    def _evict_oldest(self) -> _C:
        connection = next(iter(self._idle_all))
        self._remove_idle(connection)
        self._forget(connection.origin)
        return connection

    def _remove_idle(self, connection: _C) -> None:
        del self._idle_all[connection]
        idle = self._idle[connection.origin]
        del idle[connection]
        if not idle:
            del self._idle[connection.origin]

    def _expire(self, now: float) -> list[_C]:
        expired: list[_C] = []
        deadline = now - self.limits.idle_expiry
        while self._idle_all:
            oldest = next(iter(self._idle_all))
            if oldest.idle_since > deadline:
                break
            self._remove_idle(oldest)
            self._forget(oldest.origin)
            expired.append(oldest)
        return expired

    def add_waiter(self, origin: Origin, future: asyncio.Future[_C | _Connect]) -> list[_C]:
        """Queue a request that :meth:`checkout` told to wait, and serve the queue.

        Waiters blocked by their origin's limit do not hold up the others, so
        ``future`` may be resolved on return.  Returns what to close.
        """
        self._waiters.append((origin, future))
        self._live_waiters.add(future)
        to_close: list[_C] = []
        self._wake(to_close)
        return to_close

    def checkin(self, connection: _C, now: float) -> list[_C]:
        """A connection finished a cycle and may be reused; returns what to close."""
        if self.closed:
            self._forget(connection.origin)
            return [connection]
        connection.idle_since = now
        idle = self._idle.get(connection.origin)
        if idle is None:
            idle = self._idle[connection.origin] = {}
        idle[connection] = None
        self._idle_all[connection] = None
        to_close: list[_C] = []
        if self._waiters:
            self._wake(to_close)
        while len(self._idle_all) > self.limits.max_idle_connections:
            to_close.append(self._evict_oldest())
        return to_close

    def discard(self, connection: _C) -> list[_C]:
        """A checked-out connection will be closed by the caller; free its slot."""
        self._forget(connection.origin)
        to_close: list[_C] = []
        self._wake(to_close)
        return to_close

    def release_slot(self, origin: Origin) -> list[_C]:
        """A reserved slot was not used (connecting failed or was cancelled)."""
        self._forget(origin)
        to_close: list[_C] = []
        self._wake(to_close)
        return to_close

    def give_back(self, origin: Origin, grant: _C | _Connect, now: float) -> list[_C]:
        """Undo a grant that reached a waiter who was cancelled before using it."""
        if isinstance(grant, _Connect):
            return self.release_slot(origin)
        return self.checkin(grant, grant.idle_since)

    def _wake(self, to_close: list[_C]) -> None:
        """Serve waiters in order while the pool can; skip ones that still cannot proceed.

        Each call is linear in the waiters it looks at: abandoned ones are
        dropped as they are met, and only waiters blocked by their own
        origin's limit are looked at again.
        """
        waiters = self._waiters
        blocked: deque[tuple[Origin, asyncio.Future[_C | _Connect]]] = deque()
        while waiters:
            origin, future = waiters.popleft()
            if future.done():
                self._live_waiters.discard(future)  # abandoned
                continue
            grant = self._grant(origin, to_close)
            if grant is None:
                blocked.append((origin, future))
                if self._total >= self.limits.max_connections and not self._idle_all:
                    break  # nobody else can be served either
                continue
            future.set_result(grant)
            self._live_waiters.discard(future)
        blocked.extend(waiters)
        self._waiters = blocked

    def abandon_wait(self, future: asyncio.Future[_C | _Connect]) -> None:
        """A waiter gave up (timeout, cancellation) before being served."""
        future.cancel()
        self._live_waiters.discard(future)

    def close(self) -> list[_C]:
        """Stop pooling: returns every idle connection to close; later checkins close too.

        Requests still waiting for a slot fail with :class:`ClientClosed`.
        """
        self.closed = True
        waiters, self._waiters = self._waiters, deque()
        self._live_waiters.clear()
        for _, future in waiters:
            if not future.done():
                future.set_exception(ClientClosed("the client was closed while this request waited for a connection"))
        to_close = list(self._idle_all)
        for connection in to_close:
            self._remove_idle(connection)
            self._forget(connection.origin)
        return to_close


class ConnectionPool(Generic[_C]):
    """Carries out :class:`PoolState`'s decisions: waits, staleness checks, closes."""

    def __init__(self, limits: Limits) -> None:
        self.state: PoolState[_C] = PoolState(limits)

    async def acquire(
        self, origin: Origin, wait: Callable[[Awaitable[_C | _Connect]], Awaitable[_C | _Connect]],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> _C | _Connect:
        """An idle live connection for ``origin`` or :data:`CONNECT` (a reserved slot).

        ``wait`` wraps the wait for a slot (it applies the pool timeout).
        ``loop`` is the running loop when the caller has it at hand (finding
        it costs a system call on CPython 3.11).  The caller owns the result:
        it must :meth:`checkin`, :meth:`discard` or :meth:`release_slot` it,
        whatever happens.
        """
        state = self.state
        if loop is None:
            loop = asyncio.get_running_loop()
        while True:
            grant, to_close = state.checkout(origin, loop.time())
            if grant is None:
                grant = await self._wait(origin, wait, to_close, loop)
                to_close = []
            if to_close:
                await close_all(to_close)
            if isinstance(grant, _Connect) or not grant.is_stale():
                return grant
            await close_all([grant, *state.discard(grant)])

    async def _wait(
        self, origin: Origin, wait: Callable[[Awaitable[_C | _Connect]], Awaitable[_C | _Connect]], to_close: list[_C],
        loop: asyncio.AbstractEventLoop,
    ) -> _C | _Connect:
        future: asyncio.Future[_C | _Connect] = loop.create_future()
        to_close = to_close + self.state.add_waiter(origin, future)
        try:
            await close_all(to_close)
            return await wait(asyncio.shield(future))
        except BaseException:
            if not future.done():
                self.state.abandon_wait(future)
            elif not future.cancelled() and future.exception() is None:
                await close_all(self.state.give_back(origin, future.result(), loop.time()))
            raise

    def checkin(self, connection: _C, now: float | None = None) -> list[_C]:
        """Return a connection after a complete cycle; returns what the caller must close.

        ``now`` is the loop's time when the caller has it at hand.
        """
        return self.state.checkin(connection, asyncio.get_running_loop().time() if now is None else now)

    def discard(self, connection: _C) -> list[_C]:
        """Forget a connection the caller is closing; returns what else to close."""
        return self.state.discard(connection)

    def release_slot(self, origin: Origin) -> list[_C]:
        """Give back a reserved slot that was not used."""
        return self.state.release_slot(origin)

    async def aclose(self) -> None:
        """Close the idle connections; connections in use close when released."""
        await close_all(self.state.close())


async def close_all(connections: list[_C]) -> None:
    """Close each connection; every one is closed even if closing one is cancelled."""
    if not connections:
        return
    pending = list(connections)
    try:
        while pending:
            await pending.pop().aclose()
    finally:
        for connection in pending:
            await connection.aclose()
