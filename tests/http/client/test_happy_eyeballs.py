"""The HTTP client connects by per-family Happy Eyeballs through tidal.dns (issue #6, RFC 8305).

A real dnsmasq (and a hosts file) gives names A and AAAA records on
127.0.0.1 and ::1, where tidal's HTTP server answers with the address the
request arrived on.  A scripted nameserver that never answers AAAA shows
that the client connects over IPv4 without waiting for the AAAA lookup.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import dns.message
import dns.rdatatype
import pytest

from tests.dns.conftest import _wait_until_answering
from tests.dns.scripted import answer, scripted_peer
from tests.peers import free_port, require_binary
from tidal.dns import Resolver
from tidal.http import Client, Request, Response, Server, serve

Run = Callable[..., Any]

pytestmark = pytest.mark.skipif(not socket.has_ipv6, reason="needs IPv6 on loopback")


@pytest.fixture(scope="module")
def dnsmasq_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A dnsmasq on 127.0.0.1 serving dual.test (A and AAAA), v4.test and v6.test."""
    binary = require_binary("dnsmasq")
    port = free_port(socket.AF_INET, socket.SOCK_DGRAM)
    command = [
        binary, "--no-resolv", "--no-hosts", "--no-daemon", "--keep-in-foreground", f"--port={port}",
        "--listen-address=127.0.0.1", "--bind-interfaces", "--local=/test/",
        "--host-record=dual.test,127.0.0.1,::1", "--host-record=v4.test,127.0.0.1", "--host-record=v6.test,::1",
    ]
    if os.geteuid() == 0:
        command.append("--user=root")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_until_answering(port, process, name="dual.test")
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


async def _where(request: Request) -> Response:
    assert request.server is not None
    return Response(request.server[0].encode())


@asynccontextmanager
async def servers(*hosts: str) -> AsyncIterator[int]:
    """tidal's HTTP server on each of ``hosts`` with one shared port; yields the port."""
    for _ in range(20):  # the port taken on the first host may be busy on the next one
        started: list[Server] = []
        try:
            for host in hosts:
                started.append(await serve(_where, host, started[0].port if started else 0, access_log=False))
            break
        except OSError:
            for server in started:
                await server.aclose()
    else:
        raise RuntimeError(f"no port free on all of {hosts}")
    try:
        yield started[0].port
    finally:
        for server in started:
            await server.aclose()


def _tracing(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    return {"trace": [lambda event, details: events.append((event, details))]}


def test_dual_stack_name_connects_over_ipv6_first(run: Run, dnsmasq_port: int) -> None:
    events: list[tuple[str, dict[str, Any]]] = []

    async def main() -> bytes:
        resolver = Resolver(["127.0.0.1"], port=dnsmasq_port, hosts_file=None, resolv_conf=None)
        async with servers("::1", "127.0.0.1") as port, Client(resolver=resolver, hooks=_tracing(events)) as client:
            response = await client.get(f"http://dual.test:{port}/")
            return response.content

    assert run(main()) == b"::1"
    names = [name for name, _ in events]
    assert names[:4] == ["dns.start", "dns.end", "connect.start", "connect.end"]
    assert events[3][1]["peer"][0] == "::1"


def test_falls_back_to_ipv4_when_ipv6_refuses(run: Run, dnsmasq_port: int) -> None:
    async def main() -> bytes:
        resolver = Resolver(["127.0.0.1"], port=dnsmasq_port, hosts_file=None, resolv_conf=None)
        async with servers("127.0.0.1") as port, Client(resolver=resolver) as client:
            response = await client.get(f"http://dual.test:{port}/")
            return response.content

    assert run(main()) == b"127.0.0.1"


@pytest.mark.parametrize(("name", "expected"), [("v4.test", b"127.0.0.1"), ("v6.test", b"::1")])
def test_single_family_names(run: Run, dnsmasq_port: int, name: str, expected: bytes) -> None:
    async def main() -> bytes:
        resolver = Resolver(["127.0.0.1"], port=dnsmasq_port, hosts_file=None, resolv_conf=None)
        async with servers("::1", "127.0.0.1") as port, Client(resolver=resolver) as client:
            return (await client.get(f"http://{name}:{port}/")).content

    assert run(main()) == expected


def test_hosts_file_names_on_both_families(run: Run, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("::1 both.example\n127.0.0.1 both.example\n127.0.0.1 four.example\n")

    async def main() -> list[bytes]:
        resolver = Resolver(["127.0.0.1"], port=9, hosts_file=str(hosts), resolv_conf=None)
        async with servers("::1", "127.0.0.1") as port, Client(resolver=resolver) as client:
            return [(await client.get(f"http://{name}:{port}/")).content for name in ("both.example", "four.example")]

    assert run(main()) == [b"::1", b"127.0.0.1"]


def test_ipv4_answer_is_used_without_waiting_for_a_silent_aaaa(run: Run) -> None:
    """RFC 8305 §3: the AAAA query is never answered; the A answer alone starts connecting.

    The resolver would wait 60 s for the AAAA answer, longer than the 30 s
    bound of ``run``, so a client that waited for both lookups fails here.
    """
    asked: list[int] = []

    def respond(query: dns.message.Message, wire: bytes) -> list[tuple[bytes, None]]:
        rdtype = query.question[0].rdtype
        asked.append(rdtype)
        if rdtype == dns.rdatatype.A:
            return [(answer(query, "127.0.0.1"), None)]
        return []  # AAAA: silence

    async def main() -> tuple[bytes, float]:
        async with scripted_peer(respond) as peer:
            resolver = Resolver(["127.0.0.1"], port=peer.port, timeout=60, attempts=1, hosts_file=None, resolv_conf=None)
            async with servers("127.0.0.1") as port, Client(resolver=resolver) as client:
                response = await client.get(f"http://slow-aaaa.test:{port}/")
                return response.content, response.timing.dns

    content, dns_seconds = run(main())
    assert content == b"127.0.0.1"
    assert dns.rdatatype.AAAA in asked and dns.rdatatype.A in asked
    assert dns_seconds < 30


def test_literal_addresses_keep_the_trace_order(run: Run) -> None:
    events: list[str] = []

    async def main() -> list[bytes]:
        hooks = {"trace": [lambda event, details: events.append(event)]}
        async with servers("::1", "127.0.0.1") as port, Client(hooks=hooks) as client:
            return [(await client.get(f"http://{host}:{port}/")).content for host in ("127.0.0.1", "[::1]")]

    assert run(main()) == [b"127.0.0.1", b"::1"]
    assert events[:4] == ["dns.start", "dns.end", "connect.start", "connect.end"]


def test_unknown_name_is_a_connect_error(run: Run, dnsmasq_port: int) -> None:
    from tidal.http import ConnectError

    async def main() -> None:
        resolver = Resolver(["127.0.0.1"], port=dnsmasq_port, hosts_file=None, resolv_conf=None)
        async with Client(resolver=resolver) as client:
            with pytest.raises(ConnectError):
                await client.get("http://missing.test:9/")

    run(main())
