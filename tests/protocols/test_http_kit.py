"""Shared helpers for the HTTP/1.1 engine tests (no tests of its own).

A test describes what the peer sends as one byte string and chooses how it is
cut into reads: whole, one byte at a time, or at random offsets.  The drivers
below play our side of the conversation (a server that answers every request,
or a client that sends its requests one cycle at a time) and return an
:class:`Outcome`: the events received, with consecutive ``Data`` events merged
so that outcomes of different splits compare equal, and the remote error that
ended the conversation, if any.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from tidal.protocols.http import (
    CLIENT,
    DONE,
    NEED_DATA,
    PAUSED,
    SERVER,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    HTTPConnection,
    HTTPLimits,
    HTTPRemoteProtocolError,
    Request,
    Response,
)

GET = Request(method="GET", target="/", headers=[("Host", "tidal.example")])
OK_EMPTY = Response(status_code=200, headers=[("Content-Length", "0")])
# A bound on next_event() calls per read: a driver loop that never ends is a bug.
MAX_EVENTS_PER_READ = 10_000


@dataclass(frozen=True)
class Received:
    """Body bytes received between two other events (``Data`` events merged)."""

    data: bytes


@dataclass
class Outcome:
    """What one conversation produced."""

    events: list[object] = field(default_factory=list)
    error: tuple[int, str] | None = None
    connection: HTTPConnection | None = None

    def record(self, event: Event) -> None:
        """Append ``event``, merging body bytes into the previous ``Received``."""
        if isinstance(event, Data):
            if self.events and isinstance(self.events[-1], Received):
                self.events[-1] = Received(self.events[-1].data + bytes(event.data))
            else:
                self.events.append(Received(bytes(event.data)))
        else:
            self.events.append(event)

    def comparable(self) -> tuple[list[object], tuple[int, str] | None]:
        """The parts that must not depend on how the input was split."""
        return self.events, self.error


def pieces(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` cut at the given offsets (out-of-range and repeated cuts ignored)."""
    out: list[bytes] = []
    previous = 0
    for cut in sorted({cut for cut in cuts if 0 < cut < len(data)}) + [len(data)]:
        if cut > previous:
            out.append(data[previous:cut])
            previous = cut
    return out


def whole(data: bytes) -> list[bytes]:
    """One read holding everything."""
    return [data] if data else []


def byte_by_byte(data: bytes) -> list[bytes]:
    """One read per byte."""
    return [data[index : index + 1] for index in range(len(data))]


def serve(
    reads: Sequence[bytes],
    *,
    limits: HTTPLimits | None = None,
    eof: bool = True,
    response: Response = OK_EMPTY,
) -> Outcome:
    """Play a server that answers each complete request with ``response``."""
    connection = HTTPConnection(SERVER, limits=limits)
    outcome = Outcome(connection=connection)

    def answer(event: Event) -> None:
        if isinstance(event, EndOfMessage) and connection.our_state is not DONE:
            connection.send(response)
            connection.send(EndOfMessage())

    _converse(connection, outcome, reads, eof, answer)
    return outcome


def fetch(
    reads: Sequence[bytes],
    *,
    requests: Sequence[Request] = (GET,),
    limits: HTTPLimits | None = None,
    eof: bool = True,
) -> Outcome:
    """Play a client that sends ``requests`` one keep-alive cycle at a time."""
    connection = HTTPConnection(CLIENT, limits=limits)
    outcome = Outcome(connection=connection)
    queue = list(requests)

    def send_next() -> None:
        connection.send(queue.pop(0))
        connection.send(EndOfMessage())

    def next_cycle(event: Event) -> None:
        if isinstance(event, EndOfMessage) and queue and connection.our_state is DONE and connection.their_state is DONE:
            connection.start_next_cycle()
            send_next()

    send_next()
    _converse(connection, outcome, reads, eof, next_cycle)
    return outcome


def _converse(
    connection: HTTPConnection,
    outcome: Outcome,
    reads: Sequence[bytes],
    eof: bool,
    on_event: Callable[[Event], None],
) -> None:
    feeds = list(reads) + ([b""] if eof else [])
    try:
        for read in feeds:
            connection.receive_data(read)
            if _pull(connection, outcome, on_event):
                return
    except HTTPRemoteProtocolError as exc:
        outcome.error = (exc.status, str(exc))


def _pull(connection: HTTPConnection, outcome: Outcome, on_event: Callable[[Event], None]) -> bool:
    """Take events until the engine needs data; True once the peer closed."""
    for _ in range(MAX_EVENTS_PER_READ):
        event = connection.next_event()
        if event is NEED_DATA:
            return False
        if event is PAUSED:
            if connection.our_state is DONE and connection.their_state is DONE:
                connection.start_next_cycle()
                continue
            return False
        outcome.record(event)
        if isinstance(event, ConnectionClosed):
            return True
        on_event(event)
    raise AssertionError(f"more than {MAX_EVENTS_PER_READ} events from one read")


def agree(run: Callable[[list[bytes]], Outcome], data: bytes, cuts: Iterable[int] = ()) -> Outcome:
    """Run ``run`` whole, byte by byte and cut at ``cuts``; assert they agree."""
    reference = run(whole(data))
    for reads in (byte_by_byte(data), pieces(data, cuts)):
        other = run(reads)
        assert other.comparable() == reference.comparable(), (reads[:5], other.comparable(), reference.comparable())
    return reference


__all__ = [
    "CLIENT",
    "GET",
    "OK_EMPTY",
    "Outcome",
    "Received",
    "SERVER",
    "agree",
    "byte_by_byte",
    "fetch",
    "pieces",
    "serve",
    "whole",
]
