"""Response parsing: the fast path against dnspython, and hostile bytes."""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.ipv6
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rrset
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tidal.protocols.dns import BadResponse, Response, build_query, parse_response
from tidal.protocols.dns._fastparse import format_ipv6, parse_fast
from tidal.protocols.dns._message import _parse_slow

from .test_dns_helpers import a_query, make_response, render, soa

LABEL = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=12)
NAMES = st.lists(LABEL, min_size=1, max_size=4).map(lambda labels: ".".join(labels) + ".")
TTLS = st.one_of(st.integers(0, 86400), st.integers(0, 2**32 - 1))
IPV4 = st.binary(min_size=4, max_size=4).map(lambda b: "%d.%d.%d.%d" % tuple(b))
IPV6_BYTES = st.lists(st.sampled_from([0, 0, 0, 1, 0xFFFF, 0x2001, 0xDB8]), min_size=8, max_size=8).map(
    lambda words: b"".join(w.to_bytes(2, "big") for w in words)
)
IPV6 = st.one_of(IPV6_BYTES, st.binary(min_size=16, max_size=16)).map(dns.ipv6.inet_ntoa)


@st.composite
def responses(draw: st.DrawFn) -> bytes:
    """A dnspython-built response of the shapes a stub resolver sees."""
    qname = draw(NAMES)
    rdtype = draw(st.sampled_from(["A", "AAAA", "CNAME", "MX"]))
    # An explicit ID: hypothesis wants no hidden randomness inside strategies.
    query = build_query(qname, rdtype, edns=draw(st.booleans()), query_id=draw(st.integers(0, 0xFFFF)))
    owner, answer = qname, []
    for target in draw(st.lists(NAMES, max_size=3)):
        answer.append((owner, draw(TTLS), "IN", "CNAME", [target]))
        owner = target
    if rdtype in ("A", "AAAA"):
        values = draw(st.lists(IPV4 if rdtype == "A" else IPV6, max_size=5))
        # Records of one rrset may arrive split, with their own TTLs, repeated.
        for value in values + draw(st.lists(st.sampled_from(values), max_size=2)) if values else []:
            answer.append((owner if draw(st.booleans()) else owner.upper(), draw(TTLS), "IN", rdtype, [value]))
    elif rdtype == "MX":
        answer.append((owner, draw(TTLS), "IN", "MX", ["10 mail.example."]))
    authority = []
    if draw(st.booleans()):
        authority.append(soa(draw(NAMES), draw(TTLS), draw(st.integers(0, 2**31))))
    if draw(st.booleans()):
        authority.append((draw(NAMES), draw(TTLS), "IN", "NS", [draw(NAMES)]))
    rcode = draw(st.sampled_from([0, 0, 0, 2, 3, 5, 16]))
    wire = make_response(query, answer, authority, rcode=rcode if query.wire[11] or rcode < 16 else 0)
    if draw(st.booleans()):  # some glue in the additional section
        message = dns.message.from_wire(wire)
        message.additional.append(dns.rrset.from_text(draw(NAMES), 60, "IN", "A", "192.0.2.1"))
        wire = render(message)
    return wire


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(responses())
def test_fast_path_equals_dnspython_path(wire: bytes) -> None:
    fast = parse_fast(wire)
    assert fast is not None, "every generated shape is on the fast path"
    assert fast == _parse_slow(wire)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(responses(), st.data())
def test_mutated_bytes_never_escape_as_foreign_errors(wire: bytes, data: st.DataObject) -> None:
    mutated = bytearray(wire)
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(2, len(mutated) - 1))  # keep the ID
        mutated[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(12, len(mutated) + 3))
    mutated = mutated[:cut] + (b"\x00" * 3 if cut > len(mutated) else b"")
    assume(len(mutated) >= 12)
    try:
        result = parse_response(bytes(mutated))
    except BadResponse:
        return
    assert isinstance(result, Response)
    fast = parse_fast(bytes(mutated))
    if fast is not None:
        # the fast path must never accept what dnspython refuses, nor disagree
        assert fast == _parse_slow(bytes(mutated))


@settings(deadline=None)
@given(st.one_of(IPV6_BYTES, st.binary(min_size=16, max_size=16)))
def test_ipv6_text_matches_dnspython(packed: bytes) -> None:
    assert format_ipv6(packed) == dns.ipv6.inet_ntoa(packed)


@pytest.mark.parametrize(
    ("packed_hex", "text"),
    [
        ("00000000000000000000000000000001", "::1"),
        ("00000000000000000000ffff01020304", "::ffff:1.2.3.4"),
        ("00000000000000000000000001020304", "::1.2.3.4"),
        ("20010db8000000010000000000000001", "2001:db8:0:1::1"),
        ("20010db8000100010001000100010001", "2001:db8:1:1:1:1:1:1"),
    ],
)
def test_ipv6_text_examples(packed_hex: str, text: str) -> None:
    assert format_ipv6(bytes.fromhex(packed_hex)) == text


def test_typical_answer_values() -> None:
    query = a_query("www.example.com", "AAAA")
    wire = make_response(
        query,
        [("www.example.com.", 300, "IN", "CNAME", ["web.example.net."]),
         ("web.example.net.", 60, "IN", "AAAA", ["2001:db8::1", "2001:db8::2"])],
    )
    response = parse_response(wire)
    assert response.id == 0x4242 and response.rcode == 0 and response.edns_payload == 8192  # dnspython's default
    assert response.recursion_available and not response.truncated and not response.authoritative
    assert [(r.name, r.rdtype, r.ttl, r.values) for r in response.answer] == [
        ("www.example.com.", 5, 300, ("web.example.net.",)),
        ("web.example.net.", 28, 60, ("2001:db8::1", "2001:db8::2")),
    ]


def test_other_types_carry_dnspython_rdata() -> None:
    wire = make_response(a_query("example.com", "MX"), [("example.com.", 60, "IN", "MX", ["10 mx.example.com."])])
    (rrset,) = parse_response(wire).answer
    assert isinstance(rrset.values[0], dns.rdata.Rdata) and rrset.values[0].to_text() == "10 mx.example.com."


def test_ttl_above_2_to_31_reads_as_zero() -> None:
    wire = make_response(a_query(), [("www.example.com.", 2**31, "IN", "A", ["192.0.2.1"])])
    assert parse_response(wire).answer[0].ttl == 0


def test_extended_rcode_from_opt() -> None:
    message = dns.message.from_wire(make_response(a_query()))
    message.set_rcode(dns.rcode.BADVERS)
    assert parse_response(render(message)).rcode == 16


def test_truncated_response_with_cut_sections_still_parses() -> None:
    wire = make_response(a_query(), [("www.example.com.", 60, "IN", "A", ["192.0.2.1"])], flags=dns.flags.TC)
    header = bytearray(wire[:12])
    cut = bytes(header) + wire[12:-20]  # the records are cut short, as a lazy server might
    response = parse_response(cut)
    assert response.truncated and response.answer == () and response.question.name == "www.example.com."



@pytest.mark.parametrize(
    "options",
    [
        [dns.edns.GenericOption(dns.edns.OptionType.PADDING, b"\x00" * 20)],
        [dns.edns.CookieOption(b"c" * 8, b"s" * 16)],
        [dns.edns.EDEOption(dns.edns.EDECode.STALE_ANSWER, "served stale")],
    ],
)
def test_edns_options_stay_on_the_fast_path(options: list[dns.edns.Option]) -> None:
    message = dns.message.from_wire(make_response(a_query(), [("www.example.com.", 60, "IN", "A", ["192.0.2.1"])]))
    message.use_edns(0, 0, 1232, options=options)
    wire = render(message)
    fast = parse_fast(wire)
    assert fast is not None and fast == _parse_slow(wire) and fast.edns_payload == 1232


def test_malformed_edns_option_is_refused() -> None:
    message = dns.message.from_wire(make_response(a_query()))
    message.use_edns(0, 0, 1232, options=[dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"short")])
    wire = render(message)
    assert parse_fast(wire) is None
    with pytest.raises(BadResponse, match="^malformed DNS message: "):
        parse_response(wire)


@settings(deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=8), min_size=1, max_size=4))
def test_names_with_odd_bytes_agree(labels: list[bytes]) -> None:
    owner = dns.name.Name([*labels, b""])
    message = dns.message.from_wire(make_response(a_query("www.example.com", "CNAME")))
    message.answer.append(dns.rrset.from_rdata(
        dns.name.from_text("www.example.com."), 60, dns.rdata.from_text("IN", "CNAME", owner.to_text())
    ))
    message.additional.append(dns.rrset.from_text(owner, 60, "IN", "A", "192.0.2.1"))
    wire = render(message)
    fast = parse_fast(wire)
    assert fast is not None and fast == _parse_slow(wire)
    assert fast.answer[0].values == (owner.to_text(),)
