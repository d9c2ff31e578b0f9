"""The TTL cache on a fake clock."""

from __future__ import annotations

from tidal.protocols.dns import CacheHit, DNSCache, Outcome, OutcomeKind, RRset, classify, parse_response

from .test_dns_helpers import a_query, make_response, soa


def answer(name: str = "www.example.com.", ttl: int = 60, rdtype: int = 1) -> Outcome:
    rrset = RRset(name, rdtype, 1, ttl, ("192.0.2.1",))
    return Outcome(OutcomeKind.ANSWER, name, rdtype, 1, 0, name, (), rrset, ttl)


def test_hit_until_expiry() -> None:
    cache = DNSCache()
    outcome = answer(ttl=60)
    assert cache.put(outcome, now=1000.0)
    assert cache.get("www.example.com.", 1, now=1000.0) == CacheHit(outcome, 60)
    assert cache.get("WWW.Example.COM", "A", now=1059.5) == CacheHit(outcome, 0)
    assert cache.get("www.example.com.", 1, now=1060.0) is None
    assert len(cache) == 0  # the expired entry was dropped on lookup


def test_key_includes_type_and_class() -> None:
    cache = DNSCache()
    cache.put(answer(), now=0)
    assert cache.get("www.example.com.", "AAAA", now=1) is None
    assert cache.get("www.example.com.", 1, 3, now=1) is None


def test_ttl_zero_is_not_cached() -> None:
    cache = DNSCache()
    assert not cache.put(answer(ttl=0), now=0)
    assert cache.get("www.example.com.", 1, now=0) is None


def test_negative_caching_from_soa() -> None:
    cache = DNSCache()
    nxdomain = classify(parse_response(make_response(a_query("gone.example"), [], [soa("example.", 3600, 120)], rcode=3)))
    nodata = classify(parse_response(make_response(a_query("v4only.example", "AAAA"), [], [soa("example.", 30, 120)])))
    assert cache.put(nxdomain, now=0) and cache.put(nodata, now=0)
    hit = cache.get("gone.example.", "A", now=119)
    assert hit is not None and hit.outcome.kind is OutcomeKind.NXDOMAIN and hit.ttl == 1
    assert cache.get("gone.example.", "A", now=120) is None
    assert cache.get("v4only.example.", "AAAA", now=29.9) is not None
    assert cache.get("v4only.example.", "AAAA", now=30) is None


def test_negative_without_soa_and_errors_are_not_cached() -> None:
    cache = DNSCache()
    bare_nxdomain = classify(parse_response(make_response(a_query("gone.example"), rcode=3)))
    servfail = classify(parse_response(make_response(a_query(), rcode=2)))
    assert not cache.put(bare_nxdomain, now=0) and not cache.put(servfail, now=0) and len(cache) == 0


def test_ttl_caps() -> None:
    cache = DNSCache(max_ttl=100, max_negative_ttl=10)
    cache.put(answer(ttl=10**6), now=0)
    assert cache.get("www.example.com.", 1, now=99) is not None and cache.get("www.example.com.", 1, now=100) is None
    nxdomain = classify(parse_response(make_response(a_query("gone.example"), [], [soa("example.", 3600, 3600)], rcode=3)))
    cache.put(nxdomain, now=0)
    assert cache.get("gone.example.", 1, now=10) is None


def test_size_bound_evicts_least_recently_used() -> None:
    cache = DNSCache(max_entries=3)
    for index in range(3):
        cache.put(answer(f"n{index}.example."), now=0)
    assert cache.get("n0.example.", 1, now=1) is not None  # n0 becomes most recent
    cache.put(answer("n3.example."), now=1)
    assert len(cache) == 3
    assert cache.get("n1.example.", 1, now=1) is None
    assert all(cache.get(f"n{i}.example.", 1, now=1) is not None for i in (0, 2, 3))


def test_replacing_an_entry_refreshes_it() -> None:
    cache = DNSCache()
    cache.put(answer(ttl=10), now=0)
    newer = answer(ttl=50)
    cache.put(newer, now=5)
    hit = cache.get("www.example.com.", 1, now=20)
    assert hit is not None and hit.outcome is newer and hit.ttl == 35 and len(cache) == 1


def test_purge_and_clear() -> None:
    cache = DNSCache()
    cache.put(answer("a.example.", ttl=10), now=0)
    cache.put(answer("b.example.", ttl=100), now=0)
    assert cache.purge(now=50) == 1 and len(cache) == 1
    cache.clear()
    assert len(cache) == 0
