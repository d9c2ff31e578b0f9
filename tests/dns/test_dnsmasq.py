"""The resolver against a real dnsmasq, on every loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import pytest

import tidal.dns
from tidal.dns import MXRecord, NoAnswer, NXDomain, Resolver, SRVRecord, TXTRecord

from .conftest import DnsmasqServer

Run = Callable[..., Any]


def make_resolver(server: DnsmasqServer, **options: Any) -> Resolver:
    options.setdefault("hosts_file", None)
    options.setdefault("resolv_conf", None)
    options.setdefault("timeout", 2)
    return Resolver([server.address], **options)


def test_a_record(dnsmasq: DnsmasqServer, run: Run) -> None:
    answer = run(make_resolver(dnsmasq).resolve("web.test"))
    assert answer.records == ("127.0.0.5",)
    assert answer.addresses == ("127.0.0.5",)
    assert answer.name == answer.canonical_name == "web.test."
    assert answer.rdtype == "A"
    assert answer.ttl == 300
    assert answer.server == dnsmasq.address
    assert not answer.from_cache


def test_aaaa_record(dnsmasq: DnsmasqServer, run: Run) -> None:
    answer = run(make_resolver(dnsmasq).resolve("both.test", "AAAA"))
    assert answer.addresses == ("::9",)
    assert answer.rdtype == "AAAA"


def test_several_addresses_keep_the_servers_order(dnsmasq: DnsmasqServer, run: Run) -> None:
    answer = run(make_resolver(dnsmasq).resolve("multi.test"))
    assert sorted(answer.addresses) == ["127.0.0.7", "127.0.0.8"]


def test_cname_chain_is_followed_and_reported(dnsmasq: DnsmasqServer, run: Run) -> None:
    answer = run(make_resolver(dnsmasq).resolve("alias2.test"))
    assert answer.addresses == ("127.0.0.5",)
    assert answer.canonical_name == "web.test."
    assert answer.cname_chain == (("alias2.test.", "alias.test."), ("alias.test.", "web.test."))


def test_cname_query_returns_the_target(dnsmasq: DnsmasqServer, run: Run) -> None:
    answer = run(make_resolver(dnsmasq).resolve("alias.test", "CNAME"))
    assert answer.records == ("web.test.",)


def test_mx_records(dnsmasq: DnsmasqServer, run: Run) -> None:
    answer = run(make_resolver(dnsmasq).resolve("mail.test", "MX"))
    assert sorted(answer.records, key=lambda record: record.preference) == [  # type: ignore[union-attr]
        MXRecord(10, "mx1.test."),
        MXRecord(20, "mx2.test."),
    ]


def test_txt_record(dnsmasq: DnsmasqServer, run: Run) -> None:
    answer = run(make_resolver(dnsmasq).resolve("txt.test", "TXT"))
    (record,) = answer.records
    assert record == TXTRecord((b"hello world", b"second"))
    assert record.text == "hello worldsecond"


def test_srv_record(dnsmasq: DnsmasqServer, run: Run) -> None:
    answer = run(make_resolver(dnsmasq).resolve("_http._tcp.web.test", "SRV"))
    assert answer.records == (SRVRecord(priority=1, weight=5, port=8080, target="web.test."),)


def test_ptr_via_resolve_address(dnsmasq: DnsmasqServer, run: Run) -> None:
    answer = run(make_resolver(dnsmasq).resolve_address("127.0.0.6"))
    assert answer.name == "6.0.0.127.in-addr.arpa."
    assert answer.records == ("api.test.",)


def test_ipv6_ptr(dnsmasq: DnsmasqServer, run: Run) -> None:
    answer = run(make_resolver(dnsmasq).resolve_address("::9"))
    assert answer.records == ("both.test.",)


def test_nxdomain(dnsmasq: DnsmasqServer, run: Run) -> None:
    with pytest.raises(NXDomain) as caught:
        run(make_resolver(dnsmasq).resolve("missing.test"))
    assert caught.value.name == "missing.test."
    assert "missing.test does not exist" in str(caught.value)


def test_nodata(dnsmasq: DnsmasqServer, run: Run) -> None:
    with pytest.raises(NoAnswer, match="web.test has no MX records"):
        run(make_resolver(dnsmasq).resolve("web.test", "MX"))


def test_errors_are_oserrors(dnsmasq: DnsmasqServer, run: Run) -> None:
    with pytest.raises(OSError):
        run(make_resolver(dnsmasq).resolve("missing.test"))


def test_tcp_on_request(dnsmasq: DnsmasqServer, run: Run) -> None:
    answer = run(make_resolver(dnsmasq, tcp=True).resolve("alias.test"))
    assert answer.addresses == ("127.0.0.5",)
    answer = run(make_resolver(dnsmasq).resolve("mail.test", "MX", tcp=True))
    assert len(answer.records) == 2


def test_0x20_queries_are_answered(dnsmasq: DnsmasqServer, run: Run) -> None:
    answer = run(make_resolver(dnsmasq, use_0x20=True).resolve("alias2.test"))
    assert answer.addresses == ("127.0.0.5",)
    assert answer.name.lower() == "alias2.test."


def test_search_list_and_ndots(dnsmasq: DnsmasqServer, run: Run) -> None:
    resolver = make_resolver(dnsmasq, search=["sub.test", "test"], ndots=1)
    assert resolver.candidates("web") == ("web.sub.test.", "web.test.", "web.")
    answer = run(resolver.resolve("web"))
    assert answer.name == "web.test."
    assert answer.addresses == ("127.0.0.5",)
    with pytest.raises(NXDomain, match=r"asked: nothing.sub.test., nothing.test., nothing. \(Refused\)"):
        run(resolver.resolve("nothing"))


def test_search_can_be_turned_off(dnsmasq: DnsmasqServer, run: Run) -> None:
    resolver = make_resolver(dnsmasq, search=["test"])
    assert run(resolver.resolve("api")).name == "api.test."
    with pytest.raises(tidal.dns.Refused, match="api. A refused by"):  # outside dnsmasq's local zone
        run(resolver.resolve("api", search=False))


def test_nodata_on_one_search_candidate_is_reported_as_no_answer(dnsmasq: DnsmasqServer, run: Run) -> None:
    resolver = make_resolver(dnsmasq, search=["test"])
    with pytest.raises(NoAnswer):
        run(resolver.resolve("web", "MX"))


def test_cache_answers_the_second_lookup(dnsmasq: DnsmasqServer, run: Run) -> None:
    now = [1000.0]
    resolver = make_resolver(dnsmasq, clock=lambda: now[0])

    async def twice() -> tuple[tidal.dns.Answer, tidal.dns.Answer, tidal.dns.Answer]:
        first = await resolver.resolve("web.test")
        now[0] += 120.5
        second = await resolver.resolve("WEB.test")
        now[0] += 180
        third = await resolver.resolve("web.test")
        return first, second, third

    first, second, third = run(twice())
    assert first.server == dnsmasq.address and first.ttl == 300
    assert second.from_cache and second.ttl == 179 and second.addresses == first.addresses
    assert third.server == dnsmasq.address and third.ttl == 300  # expired, asked again


def test_without_cache_every_lookup_asks(dnsmasq: DnsmasqServer, run: Run) -> None:
    resolver = make_resolver(dnsmasq, cache=False)

    async def twice() -> list[str | None]:
        return [(await resolver.resolve("web.test")).server for _ in range(2)]

    assert run(twice()) == [dnsmasq.address, dnsmasq.address]


def test_getaddrinfo_through_dns(dnsmasq: DnsmasqServer, run: Run) -> None:
    resolver = make_resolver(dnsmasq)
    infos = run(resolver.getaddrinfo("both.test", 443, type=socket.SOCK_STREAM))
    assert {info[4] for info in infos} == {("127.0.0.9", 443), ("::9", 443, 0, 0)}
    assert all(info[1] == socket.SOCK_STREAM and info[2] == socket.IPPROTO_TCP for info in infos)
    v4 = run(resolver.getaddrinfo("both.test", 443, family=socket.AF_INET, type=socket.SOCK_STREAM))
    assert v4 == [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.9", 443))]


def test_getaddrinfo_canonical_name_and_search(dnsmasq: DnsmasqServer, run: Run) -> None:
    resolver = make_resolver(dnsmasq, search=["test"])
    infos = run(resolver.getaddrinfo("alias", 80, family=socket.AF_INET, proto=socket.IPPROTO_TCP,
                                     flags=socket.AI_CANONNAME))
    assert infos == [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "web.test", ("127.0.0.5", 80))]


def test_getaddrinfo_errors_are_gaierrors(dnsmasq: DnsmasqServer, run: Run) -> None:
    resolver = make_resolver(dnsmasq)
    with pytest.raises(socket.gaierror) as missing:
        run(resolver.getaddrinfo("missing.test", 80))
    assert missing.value.errno == socket.EAI_NONAME
    with pytest.raises(socket.gaierror) as nodata:
        run(resolver.getaddrinfo("v6only.test", 80, family=socket.AF_INET))
    assert nodata.value.errno == socket.EAI_NODATA


def test_getaddrinfo_v4_mapped(dnsmasq: DnsmasqServer, run: Run) -> None:
    resolver = make_resolver(dnsmasq)
    infos = run(resolver.getaddrinfo("api.test", 80, family=socket.AF_INET6, type=socket.SOCK_STREAM,
                                     flags=socket.AI_V4MAPPED))
    assert [info[4] for info in infos] == [("::ffff:127.0.0.6", 80, 0, 0)]


def test_hosts_file_wins_over_dns(dnsmasq: DnsmasqServer, run: Run, tmp_path: Any) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("10.1.2.3 web.test\n")
    resolver = make_resolver(dnsmasq, hosts_file=str(hosts))
    infos = run(resolver.getaddrinfo("web.test", 80, type=socket.SOCK_STREAM))
    assert [info[4] for info in infos] == [("10.1.2.3", 80)]


def test_installed_getaddrinfo_feeds_open_connection(
    dnsmasq: DnsmasqServer, run: Run, loop: Any, loop_kind: str
) -> None:
    if loop_kind == "uvloop":
        with pytest.raises(TypeError, match="does not let its getaddrinfo be replaced"):
            tidal.dns.install_getaddrinfo(loop, make_resolver(dnsmasq))
        return
    resolver = tidal.dns.install_getaddrinfo(loop, make_resolver(dnsmasq))

    async def scenario() -> bytes:
        async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"hello")
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(greet, "127.0.0.6", 0)  # api.test's address in dnsmasq
        async with server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("api.test", port)
            data = await reader.read()
            writer.close()
            await writer.wait_closed()
        tidal.dns.uninstall_getaddrinfo(loop)
        return data

    assert run(scenario()) == b"hello"
    assert resolver.cache is not None and len(resolver.cache) == 1  # the A answer; NODATA without SOA is not cached
    assert loop.getaddrinfo.__self__ is loop  # uninstalled: the loop's own method again


def test_happy_eyeballs_through_the_resolver(dnsmasq: DnsmasqServer, run: Run) -> None:
    from tidal.streams import open_tcp_stream

    resolver = make_resolver(dnsmasq)

    async def scenario() -> tuple[bytes, list[Any], list[Any]]:
        async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"hello")
            writer.close()

        server = await asyncio.start_server(greet, "127.0.0.9", 0)  # both.test: 127.0.0.9 and ::9
        async with server:
            port = server.sockets[0].getsockname()[1]
            v6 = await resolver.stream_addresses("both.test", port, socket.AF_INET6)
            v4 = await resolver.stream_addresses("both.test", port, socket.AF_INET)
            stream = await open_tcp_stream("both.test", port, family_resolver=resolver.stream_addresses)
            async with stream:
                return await stream.receive_some(100), v6, v4

    greeting, v6, v4 = run(scenario())
    assert greeting == b"hello"
    assert [address for _, address in v6] == [("::9", v6[0][1][1], 0, 0)]
    assert [family for family, _ in v4] == [socket.AF_INET]
