"""getaddrinfo without DNS: numeric hosts, flags, socket types, the hosts file, .local, RFC 6724.

Numeric hosts are checked against the C library itself: for every
combination below, ``Resolver.getaddrinfo`` must return exactly what
``socket.getaddrinfo`` returns, or fail with the same ``gaierror`` code.
The resolver's server is a closed loopback port, so any query it sent by
mistake would show up as a failure.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import socket
from pathlib import Path
from typing import Any

import pytest

from tidal.dns import Resolver
from tidal.dns._rfc6724 import label, precedence, scope, sort_addresses

HOSTS = ["127.0.0.1", "::1", "127.1", "0x7f.1", "1.2.3", None, "fe80::1%1"]
PORTS: list[Any] = [80, "80", None, 0]
FAMILIES = [0, socket.AF_INET, socket.AF_INET6]
TYPES = [0, socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW, socket.SOCK_SEQPACKET]
PROTOCOLS = [0, socket.IPPROTO_TCP, socket.IPPROTO_UDP, 132]
FLAGS = [0, socket.AI_PASSIVE, socket.AI_CANONNAME, socket.AI_V4MAPPED, socket.AI_NUMERICHOST,
         socket.AI_V4MAPPED | socket.AI_ALL, socket.AI_NUMERICSERV, 0x200, 0x4000]


def offline_resolver(**options: Any) -> Resolver:
    options.setdefault("hosts_file", None)
    return Resolver(["127.0.0.1:9"], resolv_conf=None, timeout=0.2, attempts=1, **options)


def outcome(call: Any) -> Any:
    try:
        return call()
    except socket.gaierror as error:
        return ("gaierror", error.errno)


@pytest.mark.parametrize("host", HOSTS)
def test_numeric_hosts_match_the_c_library(host: str | None) -> None:
    resolver = offline_resolver()

    async def compare() -> list[str]:
        differences = []
        for port, family, kind, protocol, flags in itertools.product(PORTS, FAMILIES, TYPES, PROTOCOLS, FLAGS):
            arguments = (host, port, family, kind, protocol, flags)
            expected = outcome(lambda: socket.getaddrinfo(*arguments))
            try:
                got = await resolver.getaddrinfo(*arguments)
            except socket.gaierror as error:
                got = ("gaierror", error.errno)
            if got != expected:
                differences.append(f"{arguments}: libc {expected!r}, tidal {got!r}")
        return differences

    assert asyncio.run(compare()) == []


def test_gaierror_messages_are_the_c_librarys() -> None:
    resolver = offline_resolver()
    cases = [("name.test", 80, 0, 0, 0, socket.AI_NUMERICHOST), (None, None, 0, 0, 0, 0),
             ("::1", 80, socket.AF_INET, 0, 0, 0), ("127.0.0.1", 80, 0, socket.SOCK_DGRAM, socket.IPPROTO_TCP, 0),
             ("127.0.0.1", 80, socket.AF_UNIX, 0, 0, 0), ("127.0.0.1", "http", 0, 0, 0, socket.AI_NUMERICSERV)]
    for arguments in cases:
        with pytest.raises(socket.gaierror) as libc:
            socket.getaddrinfo(*arguments)
        with pytest.raises(socket.gaierror) as ours:
            asyncio.run(resolver.getaddrinfo(*arguments))
        assert ours.value.args == libc.value.args, arguments


def test_service_names_are_looked_up() -> None:
    resolver = offline_resolver()
    infos = asyncio.run(resolver.getaddrinfo("127.0.0.1", "http", type=socket.SOCK_STREAM))
    assert infos == socket.getaddrinfo("127.0.0.1", "http", type=socket.SOCK_STREAM)
    with pytest.raises(socket.gaierror) as caught:
        asyncio.run(resolver.getaddrinfo("127.0.0.1", "no-such-service", type=socket.SOCK_STREAM))
    assert caught.value.errno == socket.EAI_SERVICE


def test_hosts_file_names_aliases_and_canonical_name(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("10.0.0.1 box.example box\n2001:db8::1 box.example\n10.0.0.2 other.example\n")
    resolver = offline_resolver(hosts_file=str(hosts))

    async def lookups() -> list[Any]:
        return [
            await resolver.getaddrinfo("box", 22, socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_CANONNAME),
            await resolver.getaddrinfo("BOX.example.", 22, socket.AF_INET6, socket.SOCK_STREAM),
            await resolver.getaddrinfo("other.example", 22, socket.AF_INET6, socket.SOCK_STREAM, 0,
                                       socket.AI_V4MAPPED),
        ]

    by_alias, by_name, mapped = asyncio.run(lookups())
    assert by_alias == [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "box.example", ("10.0.0.1", 22))]
    assert by_name == [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("2001:db8::1", 22, 0, 0))]
    assert [info[4] for info in mapped] == [("::ffff:10.0.0.2", 22, 0, 0)]


def test_localhost_is_the_loopback_even_without_a_hosts_file() -> None:
    resolver = offline_resolver()
    for name in ("localhost", "db.localhost", "LOCALHOST."):
        infos = asyncio.run(resolver.getaddrinfo(name, 80, type=socket.SOCK_STREAM))
        assert sorted(info[4][0] for info in infos) == ["127.0.0.1", "::1"]


def test_mdns_names_go_to_the_c_library_in_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []
    answer = [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("169.254.1.1", 80))]

    def system_getaddrinfo(*arguments: Any) -> list[Any]:
        calls.append(arguments)
        return answer

    monkeypatch.setattr(socket, "getaddrinfo", system_getaddrinfo)
    resolver = offline_resolver()
    assert asyncio.run(resolver.getaddrinfo("printer.local", 80, type=socket.SOCK_STREAM)) == answer
    assert calls == [("printer.local", 80, 0, socket.SOCK_STREAM, 0, 0)]


def test_bad_host_types() -> None:
    resolver = offline_resolver()
    with pytest.raises(TypeError, match="must be string or None, not int"):
        asyncio.run(resolver.getaddrinfo(12, 80))
    assert asyncio.run(resolver.getaddrinfo(b"127.0.0.1", 80, type=socket.SOCK_STREAM))[0][4] == ("127.0.0.1", 80)


def test_rfc6724_policy_table() -> None:
    address = ipaddress.ip_address
    assert [precedence(address(text)) for text in ("::1", "2001:db8::1", "127.0.0.1", "2002::1", "2001::1",
                                                   "fc00::1", "::5")] == [50, 40, 35, 30, 5, 3, 1]
    assert [label(address(text)) for text in ("::1", "2001:db8::1", "10.0.0.1", "2002::1")] == [0, 1, 4, 2]
    assert [scope(address(text)) for text in ("fe80::1", "127.0.0.1", "169.254.0.1", "8.8.8.8", "ff02::1",
                                              "fec0::1")] == [2, 2, 2, 14, 2, 5]


def test_rfc6724_prefers_ipv6_loopback_and_keeps_ties_in_order() -> None:
    assert sort_addresses([("127.0.0.1", 0), ("::1", 0)]) == [("::1", 0), ("127.0.0.1", 0)]
    ties = [("127.0.0.3", 0), ("127.0.0.1", 0), ("127.0.0.2", 0)]
    assert sort_addresses(ties) == ties  # no longest-prefix rule: round-robin survives
