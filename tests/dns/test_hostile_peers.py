"""Spoofed and malformed datagrams from a scripted peer, on every loop.

Each case sends junk *before* the real answer: the resolver must drop the
junk, keep waiting, and return the real answer (192.0.2.1); junk carries
6.6.6.6 so that accepting it shows.  Junk alone ends in a clear error.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import dns.flags
import dns.message
import dns.rrset
import pytest

from tidal.dns import BadResponse, DNSTimeout, Resolver

from .scripted import Reply, answer, loopback_sender, pointer_loop, scripted_peer

Run = Callable[..., Any]
REAL = "192.0.2.1"
FAKE = "6.6.6.6"


def make_resolver(*servers: str, **options: Any) -> Resolver:
    options.setdefault("hosts_file", None)
    options.setdefault("resolv_conf", None)
    options.setdefault("timeout", 2)
    options.setdefault("attempts", 1)
    return Resolver(list(servers), **options)


@pytest.fixture
def spoofers() -> Iterator[dict[str, socket.socket]]:
    """Sockets on another port of 127.0.0.1 and on 127.0.0.2."""
    sockets = {"other port": loopback_sender("127.0.0.1"), "other address": loopback_sender("127.0.0.2")}
    yield sockets
    for sock in sockets.values():
        sock.close()


def _renamed(query: dns.message.Message, name: str) -> bytes:
    renamed = dns.message.make_query(name, "A")
    renamed.id = query.id
    response = dns.message.make_response(renamed)
    response.answer.append(dns.rrset.from_text(name, 60, "IN", "A", FAKE))
    return response.to_wire()


def _retyped(query: dns.message.Message) -> bytes:
    wire = bytearray(answer(query, FAKE))
    end = 12
    while wire[end]:
        end += 1 + wire[end]
    wire[end + 1:end + 3] = b"\x00\x1c"  # question type AAAA instead of A
    return bytes(wire)


def _wrong_id(query: dns.message.Message) -> bytes:
    wire = answer(query, FAKE)
    return bytes([wire[0] ^ 0x55, wire[1]]) + wire[2:]


def _swapped_case(query: dns.message.Message) -> bytes:
    return _renamed(query, query.question[0].name.to_text().swapcase())


def _oversized(query: dns.message.Message) -> bytes:
    addresses = [FAKE] + [f"10.0.{i // 250}.{i % 250}" for i in range(150)]  # ~2.4 kB > 1232
    return answer(query, *addresses)


def _junk(kind: str, query: dns.message.Message, wire: bytes) -> bytes:
    builders: dict[str, Callable[[], bytes]] = {
        "wrong id": lambda: _wrong_id(query),
        "wrong name": lambda: _renamed(query, "evil.test."),
        "wrong type": lambda: _retyped(query),
        "0x20 case not echoed": lambda: _swapped_case(query),
        "cut short": lambda: answer(query, FAKE)[:-3],
        "header only": lambda: answer(query, FAKE)[:7],
        "pointer loop": lambda: pointer_loop(wire),
        "oversized": lambda: _oversized(query),
        "a query, not a response": lambda: wire,
    }
    return builders[kind]()


JUNK = ["wrong id", "wrong name", "wrong type", "0x20 case not echoed", "cut short", "header only",
        "pointer loop", "oversized", "a query, not a response"]


@pytest.mark.parametrize("kind", JUNK)
def test_junk_before_the_answer_is_dropped(run: Run, kind: str) -> None:
    def respond(query: dns.message.Message, wire: bytes) -> Sequence[Reply]:
        return [(_junk(kind, query, wire), None), (answer(query, REAL), None)]

    async def scenario() -> Any:
        async with scripted_peer(respond) as peer:
            return await make_resolver(peer.address, use_0x20=True).resolve("name.test")

    result = run(scenario())
    assert result.addresses == (REAL,)


@pytest.mark.parametrize("sender", ["other port", "other address"])
def test_answers_from_another_source_are_dropped(
    run: Run, spoofers: dict[str, socket.socket], sender: str
) -> None:
    def respond(query: dns.message.Message, wire: bytes) -> Sequence[Reply]:
        return [(answer(query, FAKE), spoofers[sender]), (answer(query, REAL), None)]

    async def scenario() -> Any:
        async with scripted_peer(respond) as peer:
            return await make_resolver(peer.address).resolve("name.test")

    assert run(scenario()).addresses == (REAL,)


def test_spoofed_only_ends_in_a_timeout_naming_the_server(run: Run, spoofers: dict[str, socket.socket]) -> None:
    def respond(query: dns.message.Message, wire: bytes) -> Sequence[Reply]:
        return [(answer(query, FAKE), spoofers["other port"]), (_wrong_id(query), None)]

    async def scenario() -> tuple[str, BaseException]:
        async with scripted_peer(respond) as peer:
            with pytest.raises(DNSTimeout) as caught:
                await make_resolver(peer.address, timeout=0.2).resolve("name.test")
            return peer.address, caught.value

    address, error = run(scenario())
    assert isinstance(error, DNSTimeout) and isinstance(error, TimeoutError)
    assert error.servers == (address,)
    assert f"tried {address}" in str(error)


def test_malformed_only_ends_in_bad_response(run: Run) -> None:
    def respond(query: dns.message.Message, wire: bytes) -> Sequence[Reply]:
        return [(answer(query, FAKE)[:-3], None)]

    async def scenario() -> BaseException:
        async with scripted_peer(respond) as peer:
            with pytest.raises(BadResponse) as caught:
                await make_resolver(peer.address, timeout=0.2).resolve("name.test")
            return caught.value

    error = run(scenario())
    assert re.match(r"only unusable responses for name\.test\. A( before the deadline)?: 127\.0\.0\.1:", str(error))
    assert "malformed DNS message" in str(error)


def test_silence_is_a_timeout_within_the_deadline(run: Run, loop: Any) -> None:
    async def scenario() -> tuple[float, BaseException]:
        async with scripted_peer(lambda query, wire: []) as peer:
            resolver = make_resolver(peer.address, timeout=5, attempts=3)
            started = loop.time()
            with pytest.raises(DNSTimeout) as caught:
                await resolver.resolve("name.test", timeout=0.25)
            return loop.time() - started, caught.value

    elapsed, error = run(scenario())
    assert 0.2 <= elapsed < 2.0  # the call's deadline, not timeout x attempts
    assert "before the deadline" in str(error)

