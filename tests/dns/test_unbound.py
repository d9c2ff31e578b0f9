"""The resolver against a real unbound (a second implementation), on every loop.

unbound serves ``zone.test`` as a static zone with an SOA, so its negative
answers carry the RFC 2308 TTL, and it truncates a large rrset over UDP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tidal.dns import (
    CAARecord,
    MXRecord,
    NoAnswer,
    NXDomain,
    Resolver,
    SOARecord,
    SRVRecord,
    SVCBRecord,
)

from .conftest import UnboundServer

Run = Callable[..., Any]


def make_resolver(server: UnboundServer, **options: Any) -> Resolver:
    options.setdefault("hosts_file", None)
    options.setdefault("resolv_conf", None)
    options.setdefault("timeout", 2)
    return Resolver([server.address], **options)


@pytest.mark.parametrize(
    ("name", "rdtype", "records"),
    [
        ("www.zone.test", "A", ("192.0.2.10",)),
        ("www.zone.test", "AAAA", ("2001:db8::10",)),
        ("alias.zone.test", "CNAME", ("www.zone.test.",)),
        ("zone.test", "NS", ("ns.zone.test.",)),
        ("zone.test", "MX", (MXRecord(5, "mail.zone.test."),)),
        ("zone.test", "SOA", (SOARecord("ns.zone.test.", "admin.zone.test.", 7, 3600, 600, 86400, 120),)),
        ("zone.test", "CAA", (CAARecord(0, "issue", b"ca.zone.test"),)),
        ("_sip._udp.zone.test", "SRV", (SRVRecord(10, 60, 5060, "sip.zone.test."),)),
        ("svc.zone.test", "HTTPS", (SVCBRecord(1, ".", (("alpn", "h2,h3"), ("port", "8443"))),)),
    ],
)
def test_record_types(unbound: UnboundServer, run: Run, name: str, rdtype: str, records: tuple[Any, ...]) -> None:
    answer = run(make_resolver(unbound).resolve(name, rdtype))
    assert answer.records == records
    assert answer.rdtype == rdtype
    assert answer.server == unbound.address


def test_https_record_params(unbound: UnboundServer, run: Run) -> None:
    (record,) = run(make_resolver(unbound).resolve("svc.zone.test", "HTTPS")).records
    assert record.param("alpn") == "h2,h3" and record.param("port") == "8443" and record.param("ech") is None


def test_nxdomain_is_cached_for_the_soa_minimum(unbound: UnboundServer, run: Run) -> None:
    now = [0.0]
    resolver = make_resolver(unbound, clock=lambda: now[0])

    async def scenario() -> list[str]:
        kinds = []
        for step in (0, 119, 2):
            now[0] += step
            with pytest.raises(NXDomain):
                await resolver.resolve("nothing.zone.test")
            assert resolver.cache is not None
            hit = resolver.cache.get("nothing.zone.test.", "A", now=now[0])
            kinds.append(f"{hit.ttl if hit else None}")
        return kinds

    # min(SOA TTL 3600, MINIMUM 120): cached for 120 s, then asked again
    assert run(scenario()) == ["120", "1", "120"]


def test_nodata_is_no_answer_and_cached(unbound: UnboundServer, run: Run) -> None:
    resolver = make_resolver(unbound)
    with pytest.raises(NoAnswer, match="www.zone.test has no MX records"):
        run(resolver.resolve("www.zone.test", "MX"))
    assert resolver.cache is not None and resolver.cache.get("www.zone.test.", "MX", now=resolver.clock())


def test_an_alias_without_its_target_in_the_answer_is_no_answer(unbound: UnboundServer, run: Run) -> None:
    # unbound answers a static zone's CNAME without chasing it; a stub does not chase either.
    with pytest.raises(NoAnswer):
        run(make_resolver(unbound).resolve("alias.zone.test", "A"))


def test_a_truncated_udp_answer_is_fetched_over_tcp(
    unbound: UnboundServer, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tidal.dns import _resolver

    over_tcp: list[str] = []
    original = _resolver.tcp_exchange

    async def counting(query: Any, server: Any, wait_until: float, **options: Any) -> Any:
        over_tcp.append(query.name)
        return await original(query, server, wait_until, **options)

    monkeypatch.setattr(_resolver, "tcp_exchange", counting)
    answer = run(make_resolver(unbound).resolve("big.zone.test"))
    assert over_tcp == ["big.zone.test."]  # the UDP answer (120 records > 1232 bytes) came back with TC
    assert len(answer.addresses) == 120
    assert "10.0.0.1" in answer.addresses


def test_0x20_against_unbound(unbound: UnboundServer, run: Run) -> None:
    answer = run(make_resolver(unbound, use_0x20=True).resolve("www.zone.test"))
    assert answer.addresses == ("192.0.2.10",)


def test_getaddrinfo_both_families(unbound: UnboundServer, run: Run) -> None:
    import socket

    infos = run(make_resolver(unbound).getaddrinfo("www.zone.test", 443, type=socket.SOCK_STREAM))
    assert {info[4][0] for info in infos} == {"192.0.2.10", "2001:db8::10"}
