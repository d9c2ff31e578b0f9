"""Per-fd records: persistent registrations and completion emulation.

Theory of operation
-------------------
Each watched fd has exactly one :class:`FdRecord`.  It holds the
``add_reader``/``add_writer`` callbacks, two queues of submitted
:class:`~tidal.loop._ops.Operation` objects (read side, write side), the
futures of plain readiness waits (``loop.sock_wait_readable``: resolved, no
syscall), plus the interest mask currently armed in the poller.

A socket operation is first tried directly by the loop method; only when the
kernel answers EAGAIN is it queued here, and only if the record's read (or
write) interest is not armed yet does this cost an ``epoll_ctl``.  When an
operation completes and its queue empties, the interest is *not* dropped at
once.  On the read side it stays armed until the fd next reports readable
with nothing queued (with epoll and kqueue, which forget an fd when it is
closed; poll and select would report a closed fd forever, so there the
record goes idle at once); on the write side (a socket is nearly always
writable) the record joins the ``idle`` set at once.  Idle records are swept just
before the loop next blocks in the poller, dropping interests nobody wants
any more.  A coroutine that receives in a loop therefore re-queues its next
receive long before that point and the registration survives untouched:
asyncio's ``sock_recv`` pays an epoll register/unregister pair per receive,
this pays none in the steady state, and no per-message bookkeeping either.

A failed ``recv`` costs more than a successful one in Python (the
interpreter builds a ``BlockingIOError`` with its message), and a receive
loop that answers each message meets one per message.  So a record also
remembers a short read (``read_drained``: the kernel had no more) until the
poller next reports the fd readable; receives asked for meanwhile skip their
first try and queue at once.  That is only a hint and always safe: the read
interest stays armed and readiness is level-triggered, so bytes that did
arrive in between complete the queued receive at the next poll.

fd numbers are reused by the kernel as soon as an fd is closed, and closing
an fd silently removes it from epoll.  A record therefore remembers which
object (socket or int) armed it; when a different object shows up for the same
fd number the record re-arms with a real syscall instead of trusting its
cached mask (STYLE.md: "key state by object where fd reuse can bite").
Explicit removals (``remove_reader``/``remove_writer``) unregister at once,
so a transport that removes its callbacks before closing its socket never
leaves a closed fd in the poller.
"""

from __future__ import annotations

import asyncio
from asyncio import InvalidStateError
from collections import deque
from typing import Any

from tidal.loop._ops import Operation
from tidal.loop._poller import READ, WAKES_READ, WAKES_WRITE, WRITE, Poller

__all__ = ["FdRecord", "IoRegistry", "fileobj_to_fd"]


def fileobj_to_fd(fileobj: Any) -> int:
    """The fd of an int or of an object with ``fileno()``, validated like asyncio does."""
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fileobj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


class FdRecord:
    """Everything the loop knows about one watched fd."""

    __slots__ = (
        "fd",
        "owner",
        "armed",
        "reader",
        "writer",
        "read_ops",
        "write_ops",
        "read_waiters",
        "internal",
        "read_drained",
    )

    def __init__(self, fd: int, owner: object) -> None:
        self.fd = fd
        self.owner = owner  # the object that armed the fd (see module docstring)
        self.armed = 0  # the mask the poller currently holds for fd
        self.reader: asyncio.Handle | None = None
        self.writer: asyncio.Handle | None = None
        self.read_ops: deque[Operation] = deque()
        # Futures resolved (with None) when the fd reports readable: readiness
        # waits that make no syscall of their own (loop.sock_wait_readable).
        self.read_waiters: list[asyncio.Future[None]] = []
        self.write_ops: deque[Operation] = deque()
        self.internal: Any = None  # loop-owned fds (wakeup, signals): called directly
        # A receive got fewer bytes than it asked for, and the poller has not
        # reported the fd readable since: the next receive skips its first try.
        self.read_drained = False

    def wanted(self) -> int:
        """The interest mask this record needs right now."""
        mask = READ if (self.reader is not None or self.read_ops or self.read_waiters or self.internal is not None) else 0
        if self.writer is not None or self.write_ops:
            mask |= WRITE
        return mask


class IoRegistry:
    """The fd records of one loop and their registrations in its poller."""

    def __init__(self, poller: Poller, ready: deque[asyncio.Handle]) -> None:
        self._poller = poller
        self._ready = ready
        self._records: dict[int, FdRecord] = {}
        self._idle: set[FdRecord] = set()
        self.idle = self._idle  # read-only view for the loop: "is a sweep due?"
        self.records = self._records  # read-only view for the loop's hot paths
        # Leaving a read interest armed after the last operation is only safe
        # when closing the fd removes it from the backend (see module docstring).
        self._keep_read_interest = bool(getattr(poller, "forgets_closed_fds", False))
        # Bound once: dispatch() runs every iteration.
        self._ready_append = ready.append
        self._idle_add = self._idle.add

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, fd: int) -> bool:
        return fd in self._records

    # -- callbacks (add_reader & co) -----------------------------------------

    def set_callback(self, fd: int, owner: object, handle: asyncio.Handle, write: bool) -> None:
        """Install the reader (or writer) callback of ``fd``, replacing any previous one."""
        record = self._record(fd, owner)
        previous = record.writer if write else record.reader
        if write:
            record.writer = handle
        else:
            record.reader = handle
        try:
            self._update(record)
        except BaseException:
            if write:
                record.writer = previous
            else:
                record.reader = previous
            self._drop_if_unused(record)
            raise
        if previous is not None:
            previous.cancel()

    def remove_callback(self, fd: int, write: bool) -> bool:
        """Remove the reader (or writer) callback of ``fd``; True if there was one."""
        record = self._records.get(fd)
        if record is None:
            return False
        handle = record.writer if write else record.reader
        if handle is None:
            return False
        if write:
            record.writer = None
        else:
            record.reader = None
        handle.cancel()
        self._update(record)  # eager: callers remove before they close the fd
        return True

    def fd_owned_by(self, owner: object) -> int | None:
        """The fd whose record was armed by ``owner`` (for objects already closed)."""
        for record in self._records.values():
            if record.owner is owner:
                return record.fd
        return None

    def has_callback(self, fd: int, write: bool) -> bool:
        """True when ``fd`` has a live reader (or writer) callback."""
        record = self._records.get(fd)
        if record is None:
            return False
        return (record.writer if write else record.reader) is not None

    def add_internal(self, fd: int, on_readable: Any) -> None:
        """Watch a loop-owned fd whose readiness calls ``on_readable()`` directly."""
        record = self._record(fd, fd)
        record.internal = on_readable
        self._update(record)

    def remove_internal(self, fd: int) -> None:
        """Stop watching a loop-owned fd (before closing it)."""
        record = self._records.get(fd)
        if record is not None:
            record.internal = None
            self._update(record)

    # -- operations ----------------------------------------------------------

    def submit_read(self, fd: int, owner: object, operation: Operation) -> FdRecord:
        """Queue a read-side operation that just got EAGAIN (or skipped its try); returns the fd's record."""
        record = self._records.get(fd)
        if record is None or record.owner is not owner:
            record = self._record(fd, owner)
        queue = record.read_ops
        _prune_cancelled(queue)  # repeated timeouts must not pile up dead operations
        queue.append(operation)
        if not record.armed & READ:
            self._arm_for(record, queue)
        return record

    def add_read_waiter(self, fd: int, owner: object, waiter: asyncio.Future[None]) -> None:
        """Resolve ``waiter`` the next time ``fd`` reports readable (cancelling it stops the wait)."""
        record = self._records.get(fd)
        if record is None or record.owner is not owner:
            record = self._record(fd, owner)
        waiters = record.read_waiters
        if waiters:  # repeated timeouts must not pile up cancelled waits
            waiters[:] = [pending for pending in waiters if not pending.done()]
        waiters.append(waiter)
        if not record.armed & READ:
            try:
                self._update(record)
            except BaseException:
                waiters.pop()
                self._drop_if_unused(record)
                raise

    def submit_write(self, fd: int, owner: object, operation: Operation) -> None:
        """Queue a write-side operation that just got EAGAIN."""
        record = self._records.get(fd)
        if record is None or record.owner is not owner:
            record = self._record(fd, owner)
        queue = record.write_ops
        _prune_cancelled(queue)
        queue.append(operation)
        if not record.armed & WRITE:
            self._arm_for(record, queue)

    def _arm_for(self, record: FdRecord, queue: deque[Operation]) -> None:
        try:
            self._update(record)
        except BaseException:
            queue.pop()
            self._drop_if_unused(record)
            raise

    # -- readiness -----------------------------------------------------------

    def dispatch(self, events: list[tuple[int, int]]) -> None:
        """Complete queued operations and schedule callbacks for ready fds."""
        # Runs once per ready fd: names bound to locals and the completion
        # loop inlined on purpose.
        records = self._records
        ready_append = self._ready_append
        idle_add = self._idle_add
        keep_read_interest = self._keep_read_interest
        wakes_read = WAKES_READ
        wakes_write = WAKES_WRITE
        for fd, mask in events:
            record = records.get(fd)
            if record is None:
                continue  # unregistered earlier in this same batch
            if mask & wakes_read:
                record.read_drained = False
                internal = record.internal
                if internal is not None:
                    internal()
                # Served ops and waiters leave the read interest armed and the
                # record out of the idle set: a receive loop asks again in this
                # same iteration.  If nobody does, the next readiness finds
                # nothing queued, and only then is the interest dropped.
                served = False
                queue = record.read_ops
                if queue:
                    served = keep_read_interest
                    while queue:
                        operation = queue[0]
                        # a done future: cancelled while waiting, just drop it
                        if not operation.future.done() and not operation.attempt():
                            break
                        queue.popleft()
                waiters = record.read_waiters
                if waiters:
                    served = keep_read_interest
                    for waiter in waiters:  # set_result only schedules: the list cannot change here
                        try:
                            waiter.set_result(None)
                        except InvalidStateError:  # cancelled while waiting
                            pass
                    waiters.clear()
                reader = record.reader
                if reader is not None:
                    if reader._cancelled:
                        record.reader = None
                        idle_add(record)
                    else:
                        ready_append(reader)
                elif not served and not queue and record.internal is None:
                    idle_add(record)  # nobody waits (any more, on poll and select)
            if mask & wakes_write:
                queue = record.write_ops
                while queue:
                    operation = queue[0]
                    if not operation.future.done() and not operation.attempt():
                        break
                    queue.popleft()
                writer = record.writer
                if writer is not None:
                    if writer._cancelled:
                        record.writer = None
                        idle_add(record)
                    else:
                        ready_append(writer)
                elif not queue:
                    idle_add(record)

    def sweep(self) -> None:
        """Drop the interests of records that went idle; called before blocking."""
        records = self._records
        for record in self._idle:
            if records.get(record.fd) is not record:
                continue
            read_ops = record.read_ops
            while read_ops and read_ops[0].future.done():
                read_ops.popleft()
            read_waiters = record.read_waiters
            if read_waiters and read_waiters[0].done():  # a cancelled wait; the list is short
                read_waiters[:] = [waiter for waiter in read_waiters if not waiter.done()]
            write_ops = record.write_ops
            while write_ops and write_ops[0].future.done():
                write_ops.popleft()
            # Usually a receive loop queued its next operation already and the
            # interest stays as armed: checked inline, without a call.
            wanted = READ if (read_ops or read_waiters or record.reader is not None or record.internal is not None) else 0
            if write_ops or record.writer is not None:
                wanted |= WRITE
            if not wanted or wanted != record.armed:
                self._update(record)
        self._idle.clear()

    # -- registration --------------------------------------------------------

    def _record(self, fd: int, owner: object) -> FdRecord:
        record = self._records.get(fd)
        if record is None:
            record = self._records[fd] = FdRecord(fd, owner)
        elif record.owner is not owner:
            # Possibly a reused fd number: the cached mask may describe a closed
            # file the kernel already forgot, so the next update must hit the poller.
            record.owner = owner
            record.read_drained = False
            self._rearm(record)
        return record

    def _rearm(self, record: FdRecord) -> None:
        if record.armed:
            mask = record.wanted() or record.armed
            self._set_mask(record, mask, record.armed)

    def _update(self, record: FdRecord) -> None:
        wanted = record.wanted()
        if wanted == record.armed:
            if not wanted:
                self._forget(record)
            return
        if not wanted:
            self._forget(record)
            return
        self._set_mask(record, wanted, record.armed)

    def _set_mask(self, record: FdRecord, mask: int, armed: int) -> None:
        if not mask & READ:
            record.read_drained = False  # a hint is only kept while readiness is watched
        poller = self._poller
        if armed:
            try:
                poller.modify(record.fd, mask)
            except FileNotFoundError:  # the kernel dropped it when the fd closed
                poller.register(record.fd, mask)
        else:
            try:
                poller.register(record.fd, mask)
            except FileExistsError:
                poller.modify(record.fd, mask)
        record.armed = mask

    def _forget(self, record: FdRecord) -> None:
        if self._records.get(record.fd) is record:
            del self._records[record.fd]
        if record.armed:
            record.armed = 0
            try:
                self._poller.unregister(record.fd)
            except (OSError, ValueError, KeyError):
                pass  # already closed: the kernel removed it with the fd

    def _drop_if_unused(self, record: FdRecord) -> None:
        if not record.wanted():
            self._forget(record)

    def close(self) -> None:
        """Unregister every fd (the loop is closing)."""
        for record in list(self._records.values()):
            record.reader = record.writer = record.internal = None
            record.read_ops.clear()
            record.read_waiters.clear()
            record.write_ops.clear()
            self._forget(record)
        self._idle.clear()


def _prune_cancelled(queue: deque[Operation]) -> None:
    """Drop operations at the head whose futures are done (cancelled while waiting)."""
    while queue and queue[0].future.done():
        queue.popleft()
