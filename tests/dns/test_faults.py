"""Server faults and transport rules against scripted peers, on every loop.

Silent servers, SERVFAIL and REFUSED, truncation, rotation, shared queries,
the concurrency limit, random ports and IDs, EDNS0 and negative caching.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import pytest

from tidal.dns import BadResponse, NXDomain, Refused, Resolver, ServFail

from .scripted import Reply, answer, scripted_peer, with_rcode

Run = Callable[..., Any]
REAL = "192.0.2.1"


def make_resolver(*servers: str, **options: Any) -> Resolver:
    options.setdefault("hosts_file", None)
    options.setdefault("resolv_conf", None)
    options.setdefault("timeout", 2)
    options.setdefault("attempts", 1)
    return Resolver(list(servers), **options)


def good(query: dns.message.Message, wire: bytes) -> Sequence[Reply]:
    return [(answer(query, REAL), None)]


def silent(query: dns.message.Message, wire: bytes) -> Sequence[Reply]:
    return []


def test_falls_over_from_a_silent_server_within_the_deadline(run: Run, loop: Any) -> None:
    async def scenario() -> tuple[Any, float, int, int]:
        async with scripted_peer(silent) as mute, scripted_peer(good) as alive:
            resolver = make_resolver(mute.address, alive.address, timeout=0.2)
            started = loop.time()
            result = await resolver.resolve("name.test", timeout=1.0)
            return result, loop.time() - started, len(mute.queries), len(alive.queries)

    result, elapsed, asked_mute, asked_alive = run(scenario())
    assert result.addresses == (REAL,)
    assert 0.15 <= elapsed < 1.0  # one try's timeout on the silent server, then the answer
    assert (asked_mute, asked_alive) == (1, 1)


def test_attempts_repeat_the_server_list(run: Run) -> None:
    async def scenario() -> list[int]:
        async with scripted_peer(silent) as first, scripted_peer(silent) as second:
            resolver = make_resolver(first.address, second.address, timeout=0.05, attempts=2)
            with pytest.raises(Exception) as caught:
                await resolver.resolve("name.test")
            assert caught.value.servers == (first.address, second.address)  # type: ignore[attr-defined]
            return [len(first.queries), len(second.queries)]

    assert run(scenario()) == [2, 2]


def test_servfail_moves_to_the_next_server(run: Run) -> None:
    def failing(query: dns.message.Message, wire: bytes) -> Sequence[Reply]:
        return [(with_rcode(query, dns.rcode.SERVFAIL), None)]

    async def scenario() -> Any:
        async with scripted_peer(failing) as broken, scripted_peer(good) as alive:
            return await make_resolver(broken.address, alive.address).resolve("name.test")

    result = run(scenario())
    assert result.addresses == (REAL,)


@pytest.mark.parametrize(("rcode", "error"), [(dns.rcode.SERVFAIL, ServFail), (dns.rcode.REFUSED, Refused),
                                               (dns.rcode.NOTIMP, Refused)])
def test_every_server_failing_names_the_failure(run: Run, rcode: int, error: type[Exception]) -> None:
    def failing(query: dns.message.Message, wire: bytes) -> Sequence[Reply]:
        return [(with_rcode(query, rcode), None)]

    async def scenario() -> tuple[str, BaseException]:
        async with scripted_peer(failing) as peer:
            with pytest.raises(error) as caught:
                await make_resolver(peer.address).resolve("name.test.")
            return peer.address, caught.value

    address, raised = run(scenario())
    assert address in str(raised)


def test_truncated_udp_answer_is_asked_again_over_tcp(run: Run) -> None:
    many = [f"10.0.0.{i}" for i in range(1, 101)]

    def truncated(query: dns.message.Message, wire: bytes) -> Sequence[Reply]:
        return [(answer(query, flags=dns.flags.TC), None)]

    def full(query: dns.message.Message, wire: bytes) -> Sequence[Reply]:
        return [(answer(query, *many), None)]

    async def scenario() -> tuple[Any, int, int]:
        async with scripted_peer(truncated, respond_tcp=full) as peer:
            result = await make_resolver(peer.address).resolve("name.test")
            return result, len(peer.queries), peer.tcp_queries

    result, udp_queries, tcp_queries = run(scenario())
    assert sorted(result.addresses) == sorted(many)
    assert (udp_queries, tcp_queries) == (1, 1)


def test_rotate_spreads_queries_over_the_servers(run: Run) -> None:
    async def scenario() -> list[int]:
        async with scripted_peer(good) as first, scripted_peer(good) as second:
            resolver = make_resolver(first.address, second.address, rotate=True, cache=False)
            for _ in range(4):
                await resolver.resolve("name.test")
            return [len(first.queries), len(second.queries)]

    assert run(scenario()) == [2, 2]


def test_identical_concurrent_queries_share_one_query(run: Run) -> None:
    async def scenario() -> tuple[list[Any], int]:
        async with scripted_peer(good) as peer:
            resolver = make_resolver(peer.address, cache=False)
            results = await asyncio.gather(*(resolver.resolve("name.test") for _ in range(20)))
            return results, len(peer.queries)

    results, asked = run(scenario())
    assert asked == 1 and {result.addresses for result in results} == {(REAL,)}


def test_the_concurrency_limit_bounds_queries_on_the_wire(run: Run) -> None:
    async def scenario() -> tuple[list[Any], int]:
        async with scripted_peer(silent) as peer:  # answers are sent below, one at a time
            resolver = make_resolver(peer.address, max_concurrency=2)
            lookups = asyncio.gather(*(resolver.resolve(f"n{index}.test") for index in range(6)))
            peak = 0
            for answered in range(6):
                while len(peer.queries) < answered + min(2, 6 - answered):  # two may be on the wire
                    peer.arrived.clear()
                    await peer.arrived.wait()
                for _ in range(5):
                    await asyncio.sleep(0)  # room for a third query, were the limit not kept
                peak = max(peak, len(peer.queries) - answered)
                peer.reply(answer(peer.queries[answered], REAL), peer.sources[answered])
            return await lookups, peak

    results, peak = run(scenario())
    assert peak == 2
    assert [result.addresses for result in results] == [(REAL,)] * 6


def test_each_query_has_a_fresh_port_a_random_id_and_edns0(run: Run) -> None:
    async def scenario() -> tuple[list[Any], list[dns.message.Message]]:
        async with scripted_peer(good) as peer:
            resolver = make_resolver(peer.address, cache=False)
            for index in range(8):
                await resolver.resolve(f"n{index}.test")
            return peer.sources, peer.queries

    sources, queries = run(scenario())
    assert len({port for _, port in sources}) >= 7  # the kernel's random ephemeral ports
    assert len({query.id for query in queries}) >= 7
    assert all(query.edns == 0 and query.payload == 1232 for query in queries)
    assert all(query.flags & dns.flags.RD for query in queries)


def test_nxdomain_is_cached_for_the_soa_minimum(run: Run) -> None:
    now = [500.0]

    def missing(query: dns.message.Message, wire: bytes) -> Sequence[Reply]:
        return [(with_rcode(query, dns.rcode.NXDOMAIN, soa_minimum=30), None)]

    async def scenario() -> list[int]:
        async with scripted_peer(missing) as peer:
            resolver = make_resolver(peer.address, clock=lambda: now[0])
            counts = []
            for step in (0, 29, 2):
                now[0] += step
                with pytest.raises(NXDomain):
                    await resolver.resolve("gone.test.")
                counts.append(len(peer.queries))
            return counts

    assert run(scenario()) == [1, 1, 2]  # cached for min(SOA TTL 3600, MINIMUM 30) seconds


def test_a_cancelled_leader_hands_the_query_to_the_other_callers(run: Run) -> None:
    async def scenario() -> tuple[Any, int]:
        async with scripted_peer(silent) as peer:  # answered by hand below
            resolver = make_resolver(peer.address)
            leader = asyncio.ensure_future(resolver.resolve("name.test"))
            while not peer.queries:
                peer.arrived.clear()
                await peer.arrived.wait()
            follower = asyncio.ensure_future(resolver.resolve("name.test"))
            await asyncio.sleep(0)  # the follower joins the leader's query
            assert len(peer.queries) == 1
            leader.cancel()
            while len(peer.queries) < 2:  # the follower asks again, now as the leader
                peer.arrived.clear()
                await peer.arrived.wait()
            peer.reply(answer(peer.queries[1], REAL), peer.sources[1])
            result = await follower
            assert leader.cancelled()
            return result, len(peer.queries)

    result, asked = run(scenario())
    assert result.addresses == (REAL,) and asked == 2


def test_a_cancelled_follower_leaves_the_leader_alone(run: Run) -> None:
    async def scenario() -> Any:
        async with scripted_peer(silent) as peer:
            resolver = make_resolver(peer.address)
            leader = asyncio.ensure_future(resolver.resolve("name.test"))
            while not peer.queries:
                peer.arrived.clear()
                await peer.arrived.wait()
            follower = asyncio.ensure_future(resolver.resolve("name.test"))
            await asyncio.sleep(0)
            follower.cancel()
            await asyncio.sleep(0)
            peer.reply(answer(peer.queries[0], REAL), peer.sources[0])
            result = await leader
            assert follower.cancelled() and len(peer.queries) == 1
            return result

    assert run(scenario()).addresses == (REAL,)


def test_a_malformed_tcp_answer_is_a_bad_response(run: Run) -> None:
    def truncated(query: dns.message.Message, wire: bytes) -> Sequence[Reply]:
        return [(answer(query, flags=dns.flags.TC), None)]

    def garbage(query: dns.message.Message, wire: bytes) -> Sequence[Reply]:
        return [(answer(query, REAL)[:9], None)]

    async def scenario() -> BaseException:
        async with scripted_peer(truncated, respond_tcp=garbage) as peer:
            with pytest.raises(BadResponse) as caught:
                await make_resolver(peer.address).resolve("name.test")
            return caught.value

    assert "TCP message of 9 bytes is shorter than the 12-byte DNS header" in str(run(scenario()))


def test_the_cache_is_bounded(run: Run) -> None:
    async def scenario() -> list[int]:
        async with scripted_peer(good) as peer:
            resolver = make_resolver(peer.address, max_cache_entries=2)
            asked = []
            for name in ("a.test", "b.test", "a.test", "c.test", "a.test", "b.test"):
                await resolver.resolve(name)
                asked.append(len(peer.queries))
            assert resolver.cache is not None and len(resolver.cache) == 2
            return asked

    # a and b asked; a answered from memory; c asked and b, used least recently, is
    # forgotten by the memo in front of the cache (a by the cache): a and b are still answered
    assert run(scenario()) == [1, 2, 2, 3, 3, 3]


def test_an_unreachable_port_is_given_up_at_once(run: Run, loop: Any) -> None:
    # Nothing listens on UDP port 9 (discard) here: the kernel answers with ICMP
    # port unreachable, which the connected socket reports at once.
    async def scenario() -> tuple[Any, float, BaseException]:
        async with scripted_peer(good) as alive:
            started = loop.time()
            result = await make_resolver("127.0.0.1:9", alive.address, timeout=5).resolve("name.test")
            elapsed = loop.time() - started
            with pytest.raises(Exception) as caught:
                await make_resolver("127.0.0.1:9", timeout=5).resolve("name.test")
            return result, elapsed, caught.value

    result, elapsed, error = run(scenario())
    assert result.addresses == (REAL,) and elapsed < 2.5  # not the 5-second try timeout
    assert "127.0.0.1:9: Connection refused" in str(error)


def test_a_server_without_edns_is_asked_again_without_it(run: Run) -> None:
    def old_server(query: dns.message.Message, wire: bytes) -> Sequence[Reply]:
        if query.edns >= 0:
            return [(with_rcode(query, dns.rcode.FORMERR), None)]
        return [(answer(query, REAL), None)]

    async def scenario() -> tuple[Any, list[int]]:
        async with scripted_peer(old_server) as peer:
            result = await make_resolver(peer.address).resolve("name.test")
            return result, [query.edns for query in peer.queries]

    result, edns_versions = run(scenario())
    assert result.addresses == (REAL,) and edns_versions == [0, -1]


def test_without_edns_an_answer_over_512_bytes_is_refused(run: Run) -> None:
    def old_server(query: dns.message.Message, wire: bytes) -> Sequence[Reply]:
        if query.edns >= 0:
            return [(with_rcode(query, dns.rcode.FORMERR), None)]
        return [(answer(query, *[f"10.0.0.{i}" for i in range(1, 60)]), None)]  # about 1 kB

    async def scenario() -> BaseException:
        async with scripted_peer(old_server) as peer:
            with pytest.raises(BadResponse) as caught:
                await make_resolver(peer.address, timeout=0.2).resolve("name.test")
            return caught.value

    assert "exceeds the 512-byte limit" in str(run(scenario()))
