"""Retry timing on a virtual clock: a 30-second give-up takes milliseconds and its timeline is exact.

The peers are real UDP sockets on loopback; only the timers jump (see
``tidal.testing.VirtualClock``), so every try starts at the exact virtual
instant the rules say.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any

import dns.message
import pytest

from tidal.dns import DNSTimeout, Resolver
from tidal.testing import VirtualClock

from .scripted import Reply, answer, scripted_peer


@pytest.fixture(params=["tidal", "asyncio"])
def virtual(request: pytest.FixtureRequest) -> Iterator[Callable[[Coroutine[Any, Any, Any]], Any]]:
    """Run a coroutine on a loop of the given kind driven by a VirtualClock at 0."""
    loop = VirtualClock().new_event_loop(request.param)

    def run(coro: Coroutine[Any, Any, Any]) -> Any:
        return loop.run_until_complete(coro)

    try:
        yield run
    finally:
        loop.close()


def recording(times: list[tuple[int, float]], index: int, answer_on: int | None = None) -> Any:
    """A peer that records (peer, virtual time) of each query and answers only its ``answer_on``-th."""
    seen = [0]

    def respond(query: dns.message.Message, wire: bytes) -> Sequence[Reply]:
        seen[0] += 1
        times.append((index, round(asyncio.get_running_loop().time(), 6)))
        return [(answer(query, "192.0.2.1"), None)] if seen[0] == answer_on else []

    return respond


def test_silence_everywhere_gives_up_after_timeout_x_attempts_x_servers(virtual: Any) -> None:
    times: list[tuple[int, float]] = []

    async def scenario() -> tuple[float, BaseException]:
        async with scripted_peer(recording(times, 0)) as a, scripted_peer(recording(times, 1)) as b, \
                scripted_peer(recording(times, 2)) as c:
            resolver = Resolver([a.address, b.address, c.address], timeout=5, attempts=2, hosts_file=None,
                                resolv_conf=None)
            with pytest.raises(DNSTimeout) as caught:
                await resolver.resolve("name.test")
            return asyncio.get_running_loop().time(), caught.value

    ended, error = virtual(scenario())
    assert ended == pytest.approx(30.0)
    assert times == [(0, 0.0), (1, 5.0), (2, 10.0), (0, 15.0), (1, 20.0), (2, 25.0)]
    assert len(error.servers) == 3  # type: ignore[attr-defined]


def test_an_answer_on_the_second_round(virtual: Any) -> None:
    times: list[tuple[int, float]] = []

    async def scenario() -> tuple[float, Any]:
        async with scripted_peer(recording(times, 0)) as a, scripted_peer(recording(times, 1, answer_on=2)) as b:
            resolver = Resolver([a.address, b.address], timeout=3, attempts=3, hosts_file=None, resolv_conf=None)
            result = await resolver.resolve("name.test")
            return asyncio.get_running_loop().time(), result

    ended, result = virtual(scenario())
    assert result.addresses == ("192.0.2.1",) and ended == pytest.approx(9.0, abs=0.01)
    assert times == [(0, 0.0), (1, 3.0), (0, 6.0), (1, 9.0)]


def test_the_call_deadline_cuts_the_rounds_short(virtual: Any) -> None:
    times: list[tuple[int, float]] = []

    async def scenario() -> float:
        async with scripted_peer(recording(times, 0)) as a, scripted_peer(recording(times, 1)) as b:
            resolver = Resolver([a.address, b.address], timeout=4, attempts=5, rotate=True, hosts_file=None,
                                resolv_conf=None)
            with pytest.raises(DNSTimeout):
                await resolver.resolve("name.test", timeout=10)
            return asyncio.get_running_loop().time()

    assert virtual(scenario()) == pytest.approx(10.0)
    assert times == [(0, 0.0), (1, 4.0), (0, 8.0)]  # the third try gets the 2 s that are left
