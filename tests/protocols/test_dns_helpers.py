"""Shared builders for the DNS engine tests (no tests live here).

Responses are built with dnspython so that the engine is checked against an
independent encoder.
"""

from __future__ import annotations

from collections.abc import Sequence

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rrset

from tidal.protocols.dns import Query, build_query

LOOPBACK = ("127.0.0.1", 53)

Record = tuple[str, int, str, str, list[str]]  # (owner, ttl, class, type, values)


def make_response(
    query: Query,
    answer: Sequence[Record] = (),
    authority: Sequence[Record] = (),
    *,
    rcode: int = 0,
    question_name: str | None = None,
    flags: int = 0,
) -> bytes:
    """Wire bytes of a response to ``query`` built by dnspython."""
    request = dns.message.from_wire(query.wire)
    if question_name is not None:
        request.question[0].name = dns.name.from_text(question_name)
    response = dns.message.make_response(request)
    response.set_rcode(dns.rcode.Rcode.make(rcode))
    response.flags |= flags | dns.flags.RA
    for section, records in ((response.answer, answer), (response.authority, authority)):
        for owner, ttl, rdclass, rdtype, values in records:
            section.append(dns.rrset.from_text_list(owner, ttl, rdclass, rdtype, values))
    return render(response)


def render(message: dns.message.Message) -> bytes:
    """Deterministic wire form (dnspython shuffles rrsets by default)."""
    wire = message.to_wire(want_shuffle=False)
    assert wire is not None
    return wire


def a_query(name: str = "www.example.com", rdtype: str = "A", **kwargs: object) -> Query:
    """A query with a fixed ID, for byte-exact tests."""
    return build_query(name, rdtype, query_id=0x4242, **kwargs)  # type: ignore[arg-type]


def soa(owner: str = "example.com.", ttl: int = 3600, minimum: int = 300) -> Record:
    """An SOA record for negative-answer tests."""
    return (owner, ttl, "IN", "SOA", [f"ns1.{owner} hostmaster.{owner} 1 7200 900 1209600 {minimum}"])
