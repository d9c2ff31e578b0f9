"""A struct-based parser for the common DNS response, without dnspython.

Theory of operation.  ``dns.message.from_wire`` builds Name, Rdata, Rdataset
and RRset objects for every record and dominates a pure-Python resolver's
cost.  A typical stub answer is one question, a few A/AAAA records, maybe a
CNAME chain, maybe an SOA for a negative answer, and an OPT record; this
module walks exactly that with ``struct`` and slicing and produces the same
:class:`Response` that the dnspython path produces (differential tests hold
the two together).

The rule that keeps it safe: this parser is never more permissive than
dnspython.  Whenever it meets anything it does not model exactly (TSIG,
RRSIG, malformed EDNS options, odd label types, an overrun, a pointer dnspython would
refuse) it returns ``None`` and the caller re-parses with dnspython, which
either accepts the message or raises the error that gets translated.
Compression pointers must point strictly backwards and the target must end
before the name that refers to it (the rule dnspython 2.9 enforces), so a
loop is impossible and each name is read in linear time.
"""

from __future__ import annotations

import struct

import dns.rdata
import dns.rdataclass
import dns.rdatatype

from ._message import Question, RecordValue, Response, RRset
from ._names import labels_to_text

__all__ = ["parse_fast", "format_ipv4", "format_ipv6"]

_HEADER = struct.Struct("!HHHHHH")
_QUESTION_TAIL = struct.Struct("!HH")
_RECORD_HEADER = struct.Struct("!HHIH")
_IPV6_WORDS = struct.Struct("!8H")
_A, _CNAME, _SOA, _AAAA, _OPT = 1, 5, 6, 28, 41
_CLASS_IN = 1
# Types whose parsing depends on more than the rdata (TSIG/TKEY need keys,
# SIG/RRSIG split rrsets by the covered type): left to dnspython.
_DELEGATED = frozenset({24, 46, 249, 250})
# dnspython keeps one rdata in these rdatasets: a later record replaces it.
_SINGLETONS = frozenset({5, 6, 30, 39, 47})
_MAX_POINTER_HOPS = 16
_MAX_TTL = 0x7FFFFFFF

# One parse's memo: name start offset -> (text, offset just past the name).
_NameMemo = dict[int, tuple[str, int]]


def parse_fast(wire: bytes) -> Response | None:
    """Parse a header-checked response, or return ``None`` to defer to dnspython."""
    qid, flags, _, ancount, nscount, arcount = _HEADER.unpack_from(wire)
    memo: _NameMemo = {}
    read = _read_name(wire, 12, len(wire), memo)
    if read is None or read[1] + 4 > len(wire):
        return None
    qname, position = read
    qtype, qclass = _QUESTION_TAIL.unpack_from(wire, position)
    sections: list[tuple[RRset, ...]] = []
    opt_record: list[tuple[int, int]] = []
    position += 4
    for section, count in enumerate((ancount, nscount, arcount)):
        parsed = _read_section(wire, position, count, section == 2, opt_record, memo)
        if parsed is None:
            return None
        rrsets, position = parsed
        sections.append(rrsets)
    if position != len(wire):
        return None
    edns_payload, rcode = None, flags & 0xF
    if opt_record:
        edns_payload, ednsflags = opt_record[0]
        rcode |= (ednsflags >> 20) & 0xFF0
    answer, authority, additional = sections
    return Response(qid, flags, rcode, Question(qname, qtype, qclass), answer, authority, additional, edns_payload)


def _read_section(
    wire: bytes, position: int, count: int, additional: bool, opt_record: list[tuple[int, int]], memo: _NameMemo
) -> tuple[tuple[RRset, ...], int] | None:
    if not count:
        return (), position
    merged: dict[tuple[str, int, int], _RRsetBuilder] = {}
    end = len(wire)
    for _ in range(count):
        read = _read_name(wire, position, end, memo)
        if read is None or read[1] + 10 > end:
            return None
        name, position = read
        rdtype, rdclass, ttl, rdlength = _RECORD_HEADER.unpack_from(wire, position)
        position += 10
        rdata_end = position + rdlength
        if rdata_end > end or rdtype in _DELEGATED:
            return None
        if rdtype == _OPT:
            if not additional or opt_record or name != "." or not _options_ok(wire, position, rdclass, rdlength):
                return None
            opt_record.append((rdclass, ttl))
        else:
            value = _read_value(wire, position, rdata_end, rdtype, rdclass, memo)
            if value is None:
                return None
            key = (name.lower(), rdtype, rdclass)
            builder = merged.get(key)
            if builder is None:
                builder = merged[key] = _RRsetBuilder(name, rdtype, rdclass, ttl)
            builder.add(0 if ttl > _MAX_TTL else ttl, value)
        position = rdata_end
    return tuple(builder.build() for builder in merged.values()), position


def _options_ok(wire: bytes, position: int, payload: int, rdlength: int) -> bool:
    # EDNS options (cookies, padding, extended errors) are not exposed, but
    # dnspython refuses malformed ones, so it checks them here too.
    if not rdlength:
        return True
    try:
        dns.rdata.from_wire(dns.rdataclass.RdataClass.make(payload), dns.rdatatype.OPT, wire, position, rdlength)
    except Exception:
        return False
    return True


class _RRsetBuilder:
    """Collects one rrset the way dnspython's Rdataset.add does.

    Values keep first-seen order without duplicates, the TTL is the minimum,
    and a singleton type (CNAME, SOA ...) keeps only its last value.
    """

    __slots__ = ("name", "rdtype", "rdclass", "ttl", "values")

    def __init__(self, name: str, rdtype: int, rdclass: int, ttl: int) -> None:
        self.name, self.rdtype, self.rdclass = name, rdtype, rdclass
        self.ttl = 0 if ttl > _MAX_TTL else ttl
        self.values: dict[RecordValue, None] = {}

    def add(self, ttl: int, value: RecordValue) -> None:
        self.ttl = min(self.ttl, ttl)
        if self.rdtype in _SINGLETONS:
            self.values.clear()
        self.values[value] = None

    def build(self) -> RRset:
        return RRset(self.name, self.rdtype, self.rdclass, self.ttl, tuple(self.values))


def _read_value(
    wire: bytes, position: int, end: int, rdtype: int, rdclass: int, memo: _NameMemo
) -> RecordValue | None:
    length = end - position
    if rdclass == _CLASS_IN and rdtype == _A:
        return format_ipv4(wire[position:end]) if length == 4 else None
    if rdclass == _CLASS_IN and rdtype == _AAAA:
        return format_ipv6(wire[position:end]) if length == 16 else None
    if rdtype == _CNAME:
        read = _read_name(wire, position, end, memo)
        return read[0] if read is not None and read[1] == end else None
    try:
        rdata: RecordValue = dns.rdata.from_wire(
            dns.rdataclass.RdataClass.make(rdclass), dns.rdatatype.RdataType.make(rdtype), wire, position, length
        )
    except Exception:  # dnspython decides how to word this error on the slow path
        return None
    return rdata


def _read_name(wire: bytes, position: int, limit: int, memo: _NameMemo) -> tuple[str, int] | None:
    """Read the name at ``position``: (text, offset past it), or ``None``.

    ``limit`` bounds the reads of the name's first segment (the end of the
    message or of the enclosing rdata); after a pointer the bound becomes the
    start of the segment just left, so targets can never overlap or loop.
    """
    start = position
    labels: list[bytes] = []
    after: int | None = None
    wire_length, hops = 1, 0
    while True:
        if position >= limit:
            return None
        length = wire[position]
        if length == 0:
            break
        if length < 64:
            label_end = position + 1 + length
            if label_end > limit:
                return None
            labels.append(wire[position + 1 : label_end])
            wire_length += length + 1
            position = label_end
            continue
        if length < 192 or position + 1 >= limit:
            return None
        target = ((length & 0x3F) << 8) | wire[position + 1]
        if after is None:
            after = position + 2
        if target >= start or hops == _MAX_POINTER_HOPS:
            return None
        known = memo.get(target)
        if known is not None and known[1] <= start and not labels:
            # A bare pointer to a name read before: reuse its text.
            return known[0], after
        hops += 1
        limit, start, position = start, target, target
    if wire_length > 255:
        return None
    text = labels_to_text(labels)
    result = (text, position + 1 if after is None else after)
    if after is None:
        memo[start] = result
    return result


def format_ipv4(packed: bytes) -> str:
    """Dotted-quad text of a 4-byte address."""
    return "%d.%d.%d.%d" % (packed[0], packed[1], packed[2], packed[3])


def format_ipv6(packed: bytes) -> str:
    """RFC 5952 text of a 16-byte address, in the form dnspython prints.

    The longest run (first on ties) of two or more zero groups becomes
    ``::``; ``::a.b.c.d`` and ``::ffff:a.b.c.d`` keep the embedded IPv4
    address dotted, as ``dns.ipv6.inet_ntoa`` does.
    """
    words = _IPV6_WORDS.unpack(packed)
    best_start, best_length, run_start = 0, 0, -1
    for index, word in enumerate(words + (1,)):
        if word == 0 and run_start < 0:
            run_start = index
        elif word != 0 and run_start >= 0:
            if index - run_start > best_length:
                best_start, best_length = run_start, index - run_start
            run_start = -1
    if best_length < 2:
        return ":".join("%x" % word for word in words)
    if best_start == 0 and (best_length == 6 or (best_length == 5 and words[5] == 0xFFFF)):
        prefix = "::" if best_length == 6 else "::ffff:"
        return prefix + format_ipv4(packed[12:])
    head = ":".join("%x" % word for word in words[:best_start])
    tail = ":".join("%x" % word for word in words[best_start + best_length :])
    return head + "::" + tail
