"""Happy Eyeballs v2 (RFC 8305) in open_tcp_stream, on virtual time.

Lookups and connection attempts are scripted (each takes a set virtual
time, then answers, fails, or never finishes), and the tests read the
virtual instants at which attempts start.  A 30-second scenario runs in
milliseconds, and the timings are exact.  The last tests use real sockets.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from tidal.streams import ConnectError, _connect, open_tcp_stream
from tidal.streams._connect import Address, ConnectPlan, happy_eyeballs_v2_connect
from tidal.testing import VirtualClock

V6 = [(socket.AF_INET6, (f"2001:db8::{i}", 443, 0, 0)) for i in range(1, 4)]
V4 = [(socket.AF_INET, (f"192.0.2.{i}", 443)) for i in range(1, 4)]
NEVER = float("inf")


@dataclass
class Script:
    """Virtual durations and outcomes for lookups and attempts; records attempt starts."""

    lookups: dict[int, tuple[float, Sequence[Address] | OSError]]
    connects: dict[Address, tuple[float, bool]] = field(default_factory=dict)  # seconds, succeeds
    started: list[tuple[float, Address]] = field(default_factory=list)
    cancelled: list[Address] = field(default_factory=list)
    sockets: list[tuple[Address, socket.socket]] = field(default_factory=list)

    async def lookup(self, host: str, port: int, family: socket.AddressFamily) -> Sequence[Address]:
        seconds, result = self.lookups[family]
        await asyncio.sleep(3600 if seconds == NEVER else seconds)
        if isinstance(result, OSError):
            raise result
        return result

    async def connect(self, address: Address, local_address: str | None) -> socket.socket:
        loop = asyncio.get_running_loop()
        self.started.append((round(loop.time(), 6), address))
        seconds, succeeds = self.connects.get(address, (NEVER, False))
        try:
            await asyncio.sleep(3600 if seconds == NEVER else seconds)
        except asyncio.CancelledError:
            self.cancelled.append(address)
            raise
        if not succeeds:
            raise ConnectionRefusedError(111, f"refused by {address[1][0]}")
        sock = socket.socket(address[0], socket.SOCK_STREAM)
        self.sockets.append((address, sock))
        return sock


@pytest.fixture(params=["tidal", "asyncio"])
def virtual(request: pytest.FixtureRequest) -> Iterator[Callable[[Coroutine[Any, Any, Any]], Any]]:
    """Run a coroutine on a loop driven by a VirtualClock starting at 0."""
    clock = VirtualClock()
    loop = clock.new_event_loop(request.param)

    def run(coro: Coroutine[Any, Any, Any]) -> Any:
        async def bounded() -> Any:
            async with asyncio.timeout(600):  # virtual seconds
                return await coro

        return loop.run_until_complete(bounded())

    try:
        yield run
    finally:
        loop.close()


def race(script: Script, monkeypatch: pytest.MonkeyPatch) -> Coroutine[Any, Any, tuple[float, Address]]:
    monkeypatch.setattr(_connect, "_connect_one", script.connect)

    async def scenario() -> tuple[float, Address]:
        sock = await happy_eyeballs_v2_connect("example.test", 443, script.lookup)
        try:
            winner = next(address for address, candidate in script.sockets if candidate is sock)
            return round(asyncio.get_running_loop().time(), 6), winner
        finally:
            sock.close()
            others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            assert not others, f"tasks outlived the race: {others}"

    return scenario()


def test_aaaa_first_starts_at_once_and_attempts_are_staggered(virtual: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script({socket.AF_INET6: (0.010, V6[:1]), socket.AF_INET: (0.020, V4[:1])},
                    {V4[0]: (0.005, True)})
    assert virtual(race(script, monkeypatch)) == (0.265, V4[0])
    assert script.started == [(0.010, V6[0]), (0.260, V4[0])]
    assert script.cancelled == [V6[0]]  # the loser is cancelled, its socket never kept


def test_a_first_waits_the_resolution_delay_for_aaaa(virtual: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script({socket.AF_INET6: (0.040, V6[:1]), socket.AF_INET: (0.010, V4[:1])}, {V6[0]: (0.001, True)})
    assert virtual(race(script, monkeypatch)) == (0.041, V6[0])
    assert script.started == [(0.040, V6[0])]  # IPv6 arrived within 50 ms: it goes first


def test_a_first_starts_after_50ms_and_late_aaaa_joins_the_list(virtual: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script({socket.AF_INET6: (0.200, V6[:1]), socket.AF_INET: (0.010, V4[:2])}, {V6[0]: (0.001, True)})
    assert virtual(race(script, monkeypatch)) == (0.311, V6[0])
    # IPv4 at 10 ms + 50 ms; IPv6 arrives at 200 ms and is next in line at 60 + 250 ms.
    assert script.started == [(0.060, V4[0]), (0.310, V6[0])]
    assert script.cancelled == [V4[0]]


def test_a_failed_aaaa_lookup_ends_the_resolution_delay(virtual: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    nodata = socket.gaierror(socket.EAI_NODATA, "No address associated with hostname")
    script = Script({socket.AF_INET6: (0.030, nodata), socket.AF_INET: (0.010, V4[:1])}, {V4[0]: (0.001, True)})
    assert virtual(race(script, monkeypatch)) == (0.031, V4[0])
    assert script.started == [(0.030, V4[0])]


def test_families_interleave_and_a_failure_starts_the_next_at_once(
    virtual: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    connects = {V6[0]: (0.002, False), V4[0]: (NEVER, False), V6[1]: (0.001, False), V4[1]: (0.003, True)}
    script = Script({socket.AF_INET6: (0.0, V6), socket.AF_INET: (0.0, V4[:2])}, connects)
    assert virtual(race(script, monkeypatch)) == (0.256, V4[1])
    assert script.started == [(0.0, V6[0]), (0.002, V4[0]), (0.252, V6[1]), (0.253, V4[1])]
    assert sorted(script.cancelled) == sorted([V4[0]])


def test_losers_that_connect_in_the_same_instant_are_closed(virtual: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script({socket.AF_INET6: (0.0, V6[:1]), socket.AF_INET: (0.0, V4[:1])},
                    {V6[0]: (0.300, True), V4[0]: (0.050, True)})
    assert virtual(race(script, monkeypatch)) == (0.300, V6[0])
    (loser,) = [sock for address, sock in script.sockets if address == V4[0]]
    assert loser.fileno() == -1


def test_every_attempt_failing_is_a_connect_error(virtual: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script({socket.AF_INET6: (0.0, V6[:1]), socket.AF_INET: (0.0, V4[:1])},
                    {V6[0]: (0.01, False), V4[0]: (0.01, False)})
    with pytest.raises(ConnectError, match="all connection attempts failed") as caught:
        virtual(race(script, monkeypatch))
    assert [type(error) for error in caught.value.errors] == [ConnectionRefusedError] * 2


def test_no_address_at_all_raises_the_lookup_error(virtual: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    nodata = socket.gaierror(socket.EAI_NODATA, "No address associated with hostname")
    noname = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    script = Script({socket.AF_INET6: (0.001, nodata), socket.AF_INET: (0.002, noname)})
    with pytest.raises(socket.gaierror) as caught:
        virtual(race(script, monkeypatch))
    assert caught.value is noname


def test_the_timeout_covers_lookups_and_attempts(virtual: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script({socket.AF_INET6: (NEVER, V6), socket.AF_INET: (0.010, V4[:1])})
    monkeypatch.setattr(_connect, "_connect_one", script.connect)

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            await open_tcp_stream("example.test", 443, family_resolver=script.lookup, timeout=30)
        return loop.time()

    assert virtual(scenario()) == pytest.approx(30.0)
    assert script.started == [(0.060, V4[0])]
    assert script.cancelled == [V4[0]]


def test_plan_is_plain_decisions() -> None:
    plan = ConnectPlan([socket.AF_INET6, socket.AF_INET], 0.05, 0.25)
    assert plan.next_attempt(0.0) is None and plan.wake_at() is None
    plan.resolved(socket.AF_INET, V4[:1], 1.0)
    assert plan.wake_at() == pytest.approx(1.05) and plan.next_attempt(1.01) is None
    plan.resolved(socket.AF_INET6, V6[:1], 1.02)
    assert plan.next_attempt(1.02) == V6[0] and plan.next_attempt(1.03) is None
    assert plan.wake_at() == pytest.approx(1.27)
    plan.attempt_failed(V6[0], ConnectionRefusedError())
    assert plan.next_attempt(1.04) == V4[0]
    assert plan.untried() == [] and not plan.exhausted()
    plan.attempt_failed(V4[0], ConnectionRefusedError())
    assert plan.exhausted() and isinstance(plan.failure("example.test"), ConnectError)


# -- real sockets ---------------------------------------------------------


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_real_race_falls_back_from_a_refused_ipv6_to_ipv4(run: Any) -> None:
    if not _ipv6_loopback():
        pytest.skip("no IPv6 loopback")

    async def scenario() -> bytes:
        async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"hello")
            writer.close()

        server = await asyncio.start_server(greet, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        with socket.socket(socket.AF_INET6) as closed:
            closed.bind(("::1", 0))  # bound, not listening: refused
            refused_port = closed.getsockname()[1]

            async def lookup(host: str, _port: int, family: socket.AddressFamily) -> list[Address]:
                if family == socket.AF_INET6:
                    return [(socket.AF_INET6, ("::1", refused_port, 0, 0))]
                return [(socket.AF_INET, ("127.0.0.1", port))]

            async with server:
                async with await open_tcp_stream("dual.test", port, family_resolver=lookup) as stream:
                    return await stream.receive_some(100)

    assert run(scenario()) == b"hello"


def test_real_numeric_and_whole_answer_resolvers_still_work(run: Any) -> None:
    async def scenario() -> list[bytes]:
        async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"hi")
            writer.close()

        server = await asyncio.start_server(greet, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]

        async def everything(host: str, _port: int) -> list[Address]:
            return [(socket.AF_INET, ("127.0.0.1", port))]

        received = []
        async with server:
            for options in ({}, {"resolver": everything}):
                host = "127.0.0.1" if not options else "named.test"
                async with await open_tcp_stream(host, port, **options) as stream:  # type: ignore[arg-type]
                    received.append(await stream.receive_some(100))
        return received

    assert run(scenario()) == [b"hi", b"hi"]
