"""Building DNS queries.

A stub query is small and regular, so its bytes are assembled directly
(header, one question, and an EDNS0 OPT record advertising a 1232-byte UDP
payload, the DNS Flag Day 2020 value that avoids IP fragmentation).  The
result is byte-identical to ``dns.message.make_query(..., use_edns=0,
payload=1232)`` with the same ID, which the tests check.

The ID comes from :mod:`secrets`: together with the transport's random source
port it is what an off-path spoofer has to guess (RFC 5452 §9.2).  With 0x20
enabled the question name's letters are also randomized, and the response
must echo them exactly.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass
from functools import lru_cache

import dns.exception
import dns.rdataclass
import dns.rdatatype

from ._errors import BadQuery
from ._names import name_to_wire, randomize_case, wire_to_text

__all__ = ["EDNS_PAYLOAD", "Query", "build_query", "rdtype_from", "rdclass_from"]

EDNS_PAYLOAD = 1232
"""The UDP payload size advertised in EDNS0 (DNS Flag Day 2020)."""

_OPT = 41
_ANY = 255
_FLAG_RD = 0x0100
_HEADER = struct.Struct("!HHHHHH")
_QUESTION_TAIL = struct.Struct("!HH")
_OPT_RECORD = struct.Struct("!BHHIH")  # root owner, type, payload, ext-rcode/flags, rdlen


@dataclass(frozen=True, slots=True)
class Query:
    """One query ready to send, and what its response must echo.

    ``name`` is the question name exactly as sent (0x20 case included) in
    absolute presentation form; ``wire`` is the UDP message; ``use_0x20``
    makes response matching case-exact.
    """

    id: int
    name: str
    rdtype: int
    rdclass: int
    wire: bytes
    use_0x20: bool


def build_query(
    name: str,
    rdtype: int | str = "A",
    rdclass: int | str = "IN",
    *,
    use_0x20: bool = False,
    edns: bool = True,
    payload: int = EDNS_PAYLOAD,
    recursion_desired: bool = True,
    query_id: int | None = None,
) -> Query:
    """Build a query for ``name`` (made absolute) and ``rdtype``.

    ``query_id`` is for tests and for reusing an ID on a TCP retry; leave it
    ``None`` to draw a fresh random ID.  Raises :class:`BadQuery` for names
    that cannot be encoded, meta types (other than ANY) and bad arguments.
    """
    qtype, qclass = rdtype_from(rdtype), rdclass_from(rdclass)
    if not 512 <= payload <= 65535:
        raise BadQuery(f"EDNS payload {payload} is outside 512..65535")
    qid = secrets.randbits(16) if query_id is None else query_id
    if not 0 <= qid <= 0xFFFF:
        raise BadQuery(f"query ID {qid} is not a 16-bit value")
    qname = name_to_wire(name)
    if use_0x20:
        qname = randomize_case(qname)
    flags = _FLAG_RD if recursion_desired else 0
    parts = [_HEADER.pack(qid, flags, 1, 0, 0, 1 if edns else 0), qname, _QUESTION_TAIL.pack(qtype, qclass)]
    if edns:
        parts.append(_OPT_RECORD.pack(0, _OPT, payload, 0, 0))
    return Query(qid, wire_to_text(qname), qtype, qclass, b"".join(parts), use_0x20)


@lru_cache(maxsize=256)
def rdtype_from(rdtype: int | str) -> int:
    """The numeric query type for ``rdtype`` ("AAAA", "mx", 28 ...).

    Meta types other than ANY (OPT, TSIG, AXFR ...) are refused: a stub
    resolver never asks for them.
    """
    try:
        value = int(dns.rdatatype.from_text(rdtype) if isinstance(rdtype, str) else dns.rdatatype.RdataType.make(rdtype))
    except (dns.exception.DNSException, ValueError) as exc:
        raise BadQuery(f"unknown record type {rdtype!r}") from exc
    if value == 0 or (value != _ANY and dns.rdatatype.is_metatype(dns.rdatatype.RdataType.make(value))):
        raise BadQuery(f"record type {rdtype!r} cannot be queried by a stub resolver")
    return value


@lru_cache(maxsize=16)
def rdclass_from(rdclass: int | str) -> int:
    """The numeric query class for ``rdclass`` ("IN", 1 ...)."""
    try:
        value = int(dns.rdataclass.from_text(rdclass) if isinstance(rdclass, str) else dns.rdataclass.RdataClass.make(rdclass))
    except (dns.exception.DNSException, ValueError) as exc:
        raise BadQuery(f"unknown record class {rdclass!r}") from exc
    if value == 0:
        raise BadQuery("record class 0 is reserved")
    return value
