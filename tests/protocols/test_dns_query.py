"""Query building: byte-identical to dnspython, random IDs, 0x20, bad input."""

from __future__ import annotations

import dns.message
import dns.name
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidal.protocols.dns import BadQuery, EDNS_PAYLOAD, build_query, rdclass_from, rdtype_from
from tidal.protocols.dns._names import labels_to_text, name_to_wire

LABEL = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=63)
NAMES = st.lists(LABEL, min_size=1, max_size=4).map(".".join).filter(lambda n: len(n) < 250)


def dnspython_query(name: str, rdtype: str | int, query_id: int, **kwargs: object) -> bytes:
    message = dns.message.make_query(name, rdtype, use_edns=0, payload=EDNS_PAYLOAD, **kwargs)  # type: ignore[arg-type]
    message.id = query_id
    wire = message.to_wire()
    assert wire is not None
    return wire


def test_known_bytes() -> None:
    query = build_query("www.Example.com", "A", query_id=0x1234)
    assert query.wire.hex() == (
        "1234" "0100" "0001" "0000" "0000" "0001"
        "03777777" "074578616d706c65" "03636f6d" "00" "0001" "0001"
        "00" "0029" "04d0" "00000000" "0000"
    )
    assert (query.id, query.name, query.rdtype, query.rdclass, query.use_0x20) == (0x1234, "www.Example.com.", 1, 1, False)


@settings(deadline=None)
@given(NAMES, st.sampled_from(["A", "AAAA", "MX", "TXT", "SRV", "PTR", "HTTPS", "ANY"]), st.integers(0, 0xFFFF), st.booleans())
def test_fast_build_matches_dnspython(name: str, rdtype: str, query_id: int, absolute: bool) -> None:
    name = name + "." if absolute else name
    assert build_query(name, rdtype, query_id=query_id).wire == dnspython_query(name, rdtype, query_id)


@pytest.mark.parametrize("name", ["bücher.example", "a\\.b.example", "sp\\032ace.example", "@x.example", "."])
def test_slow_names_match_dnspython(name: str) -> None:
    assert build_query(name, "A", query_id=7).wire == dnspython_query(name, "A", 7)


@settings(deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=10), min_size=0, max_size=5))
def test_label_text_matches_dnspython(labels: list[bytes]) -> None:
    assert labels_to_text(labels) == dns.name.Name([*labels, b""]).to_text()


def test_without_edns_and_recursion() -> None:
    query = build_query("example.com", "A", edns=False, recursion_desired=False, query_id=1)
    message = dns.message.from_wire(query.wire)
    assert message.edns == -1 and message.flags == 0 and len(message.additional) == 0


def test_ids_are_random() -> None:
    ids = {build_query("example.com").id for _ in range(200)}
    assert len(ids) > 190  # 200 draws from 65536 values: a repeat or two at most


def test_0x20_randomizes_letters_only() -> None:
    names = {build_query("abcdefghijklmnop-0123.example", use_0x20=True).name for _ in range(50)}
    assert len(names) > 45
    for name in names:
        assert name.lower() == "abcdefghijklmnop-0123.example."
    query = build_query("abcdefghijklmnop.example", use_0x20=True, query_id=9)
    assert query.use_0x20 and dns.message.from_wire(query.wire).question[0].name.to_text() == query.name


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "a..b"}, "cannot encode 'a..b' as a DNS name"),
        ({"name": "x" * 64 + ".example"}, "cannot encode"),
        ({"name": ".".join(["abcdefghi"] * 26)}, "is 261 bytes in wire form; the limit is 255"),
        ({"name": "ok.example", "rdtype": "OPT"}, "record type 'OPT' cannot be queried"),
        ({"name": "ok.example", "rdtype": "AXFR"}, "record type 'AXFR' cannot be queried"),
        ({"name": "ok.example", "rdtype": "NOPE"}, "unknown record type 'NOPE'"),
        ({"name": "ok.example", "rdtype": 70000}, "unknown record type 70000"),
        ({"name": "ok.example", "rdclass": "XX"}, "unknown record class 'XX'"),
        ({"name": "ok.example", "payload": 100}, "EDNS payload 100 is outside 512..65535"),
        ({"name": "ok.example", "query_id": 65536}, "query ID 65536 is not a 16-bit value"),
    ],
)
def test_bad_queries(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(BadQuery, match=message.replace(".", r"\.").replace("(", r"\(")):
        build_query(**kwargs)  # type: ignore[arg-type]


def test_type_and_class_lookup() -> None:
    assert [rdtype_from(t) for t in ("a", "AAAA", 15, "HTTPS", "ANY")] == [1, 28, 15, 65, 255]
    assert rdclass_from("CH") == 3 and rdclass_from(1) == 1


def test_name_to_wire_root_and_trailing_dot() -> None:
    assert name_to_wire(".") == b"\x00"
    assert name_to_wire("a.b.") == name_to_wire("a.b") == b"\x01a\x01b\x00"
