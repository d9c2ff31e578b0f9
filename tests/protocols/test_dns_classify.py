"""Classification: rcodes, CNAME chains, NODATA, TTLs and negative TTLs."""

from __future__ import annotations

import pytest

from tidal.protocols.dns import BadResponse, OutcomeKind, classify, negative_ttl, parse_response

from .test_dns_helpers import a_query, make_response, soa

QUERY = a_query("www.example.com", "A")


def outcome_of(answer: list, authority: list = [], rcode: int = 0, query=QUERY):  # type: ignore[no-untyped-def,type-arg]
    return classify(parse_response(make_response(query, answer, authority, rcode=rcode)))


def test_plain_answer() -> None:
    outcome = outcome_of([("www.example.com.", 300, "IN", "A", ["192.0.2.1", "192.0.2.2"])])
    assert outcome.kind is OutcomeKind.ANSWER
    assert outcome.values == ("192.0.2.1", "192.0.2.2")
    assert (outcome.name, outcome.canonical_name, outcome.cname_chain, outcome.ttl) == ("www.example.com.", "www.example.com.", (), 300)


def test_cname_chain_followed_with_min_ttl() -> None:
    outcome = outcome_of([
        ("www.example.com.", 300, "IN", "CNAME", ["Edge.CDN.example."]),
        ("edge.cdn.example.", 30, "IN", "CNAME", ["node7.cdn.example."]),
        ("node7.cdn.example.", 120, "IN", "A", ["192.0.2.7"]),
        ("unrelated.example.", 5, "IN", "A", ["192.0.2.99"]),
    ])
    assert outcome.kind is OutcomeKind.ANSWER and outcome.values == ("192.0.2.7",)
    # Case is kept as it arrived; dnspython's compression reuses "CDN".
    assert outcome.canonical_name == "node7.CDN.example."
    assert [alias.lower() for alias in outcome.aliases] == ["www.example.com.", "edge.cdn.example."]
    assert outcome.ttl == 30


def test_cname_query_is_not_followed() -> None:
    query = a_query("www.example.com", "CNAME")
    outcome = outcome_of([("www.example.com.", 60, "IN", "CNAME", ["a.example."]), ("a.example.", 60, "IN", "CNAME", ["b.example."])], query=query)
    assert outcome.kind is OutcomeKind.ANSWER and outcome.values == ("a.example.",) and outcome.cname_chain == ()


def test_nodata_with_soa() -> None:
    outcome = outcome_of([], [soa(ttl=3600, minimum=300)])
    assert outcome.kind is OutcomeKind.NODATA and outcome.ttl == 300 and outcome.values == ()


def test_nodata_uses_soa_ttl_when_smaller_than_minimum() -> None:
    assert outcome_of([], [soa(ttl=60, minimum=300)]).ttl == 60


def test_nxdomain_with_and_without_soa() -> None:
    outcome = outcome_of([], [soa(ttl=900, minimum=600)], rcode=3)
    assert outcome.kind is OutcomeKind.NXDOMAIN and outcome.ttl == 600 and outcome.rcode == 3
    assert outcome_of([], [], rcode=3).ttl is None  # RFC 2308 §5: no SOA, no caching


def test_nxdomain_at_end_of_chain() -> None:
    outcome = outcome_of([("www.example.com.", 40, "IN", "CNAME", ["gone.example."])], [soa("example.", 900, 600)], rcode=3)
    assert outcome.kind is OutcomeKind.NXDOMAIN and outcome.canonical_name == "gone.example." and outcome.ttl == 40


def test_chain_without_final_data_is_nodata() -> None:
    outcome = outcome_of([("www.example.com.", 40, "IN", "CNAME", ["v6only.example."])])
    assert outcome.kind is OutcomeKind.NODATA and outcome.canonical_name == "v6only.example." and outcome.ttl is None


@pytest.mark.parametrize(("rcode", "kind"), [(2, OutcomeKind.SERVFAIL), (5, OutcomeKind.REFUSED), (1, OutcomeKind.ERROR), (4, OutcomeKind.ERROR)])
def test_error_rcodes(rcode: int, kind: OutcomeKind) -> None:
    outcome = outcome_of([], rcode=rcode)
    assert outcome.kind is kind and outcome.rcode == rcode and outcome.ttl is None


def test_cname_loop_is_a_bad_response() -> None:
    with pytest.raises(BadResponse, match="CNAME chain loops or exceeds 16 links: www.example.com. -> a.example. -> www.example.com."):
        outcome_of([("www.example.com.", 60, "IN", "CNAME", ["a.example."]), ("a.example.", 60, "IN", "CNAME", ["www.example.com."])])


def test_overlong_chain_is_a_bad_response() -> None:
    links = [(f"n{i}.example." if i else "www.example.com.", 60, "IN", "CNAME", [f"n{i + 1}.example."]) for i in range(20)]
    with pytest.raises(BadResponse, match="exceeds 16 links"):
        outcome_of(links)


def test_other_class_records_are_ignored() -> None:
    outcome = outcome_of([("www.example.com.", 60, "CH", "CNAME", ["a.example."]), ("a.example.", 60, "IN", "A", ["192.0.2.1"])])
    assert outcome.kind is OutcomeKind.NODATA


def test_any_query_takes_first_rrset() -> None:
    query = a_query("example.com", "ANY")
    outcome = outcome_of([("example.com.", 60, "IN", "MX", ["10 mx.example.com."]), ("example.com.", 60, "IN", "A", ["192.0.2.1"])], query=query)
    assert outcome.kind is OutcomeKind.ANSWER and outcome.rrset is not None and outcome.rrset.rdtype == 15


def test_negative_ttl_helper() -> None:
    assert negative_ttl(parse_response(make_response(QUERY, [], [soa(ttl=100, minimum=50)]))) == 50
    assert negative_ttl(parse_response(make_response(QUERY))) is None
