"""The parsed form of a DNS response, and the dnspython path that builds it.

A :class:`Response` is plain frozen data: the header fields a stub resolver
acts on, the single question, and each section as :class:`RRset` tuples in
the order dnspython would build them (records of one name/type/class merged,
duplicates dropped, TTL the minimum, TTLs above 2**31-1 read as 0 per
RFC 2181 §8).  Record values are the address text for A/AAAA, the target
name for CNAME, and a ``dns.rdata.Rdata`` for every other type.

:func:`parse_response` tries the struct-based fast path first
(:mod:`._fastparse`) and falls back to ``dns.message.from_wire`` for anything
unusual.  Every exception dnspython raises on hostile bytes is translated
here, at the boundary, into :class:`BadResponse`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TypeAlias

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdata
import dns.rrset

from ._errors import BadResponse

__all__ = ["MAX_MESSAGE_SIZE", "Question", "RecordValue", "RRset", "Response", "parse_response"]

MAX_MESSAGE_SIZE = 65535
"""The largest DNS message (the TCP length prefix is 16 bits)."""

RecordValue: TypeAlias = str | dns.rdata.Rdata
"""A record's value: text for A, AAAA and CNAME, dnspython rdata otherwise."""

_HEADER = struct.Struct("!HHHHHH")
_FLAG_QR = 0x8000
_FLAG_TC = 0x0200
_A, _CNAME, _AAAA = 1, 5, 28
_CLASS_IN = 1


@dataclass(frozen=True, slots=True)
class Question:
    """The question a response echoes; ``name`` keeps the case it arrived in."""

    name: str
    rdtype: int
    rdclass: int


@dataclass(frozen=True, slots=True)
class RRset:
    """The records of one owner name, type and class within a section."""

    name: str
    rdtype: int
    rdclass: int
    ttl: int
    values: tuple[RecordValue, ...]


@dataclass(frozen=True, slots=True)
class Response:
    """A parsed DNS response (see the module docstring for value types)."""

    id: int
    flags: int
    rcode: int
    question: Question
    answer: tuple[RRset, ...] = ()
    authority: tuple[RRset, ...] = ()
    additional: tuple[RRset, ...] = ()
    edns_payload: int | None = field(default=None)

    @property
    def truncated(self) -> bool:
        """The TC bit: the answer did not fit and should be asked over TCP."""
        return bool(self.flags & _FLAG_TC)

    @property
    def authoritative(self) -> bool:
        """The AA bit."""
        return bool(self.flags & dns.flags.AA)

    @property
    def recursion_available(self) -> bool:
        """The RA bit."""
        return bool(self.flags & dns.flags.RA)

    @property
    def authenticated_data(self) -> bool:
        """The AD bit (meaningful only from a trusted, validating resolver)."""
        return bool(self.flags & dns.flags.AD)


def parse_response(wire: bytes, *, max_size: int = MAX_MESSAGE_SIZE) -> Response:
    """Parse ``wire`` as a DNS response to a standard query.

    Raises :class:`BadResponse` for anything that is not one: too short or
    too long, not a response (QR clear), an opcode other than QUERY, a
    question count other than 1, or any malformation (truncated sections,
    compression loops or forward pointers, rdata overruns, trailing bytes).
    A response with TC set whose sections are cut short still parses, with
    empty sections, so the caller can retry over TCP.
    """
    check_header(wire, max_size)
    return parse_checked(wire)


def parse_checked(wire: bytes) -> Response:
    """Parse a message that already passed :func:`check_header`."""
    from ._fastparse import parse_fast  # local: the two modules refer to each other

    response = parse_fast(wire)
    return response if response is not None else _parse_slow(wire)


def check_header(wire: bytes, max_size: int) -> None:
    """Refuse messages whose size or header alone rules them out."""
    if len(wire) > max_size:
        raise BadResponse(f"message of {len(wire)} bytes exceeds the {max_size}-byte limit")
    if len(wire) < 12:
        raise BadResponse(f"message of {len(wire)} bytes is shorter than the 12-byte header")
    _, flags, qdcount, _, _, _ = _HEADER.unpack_from(wire)
    if not flags & _FLAG_QR:
        raise BadResponse("message is a query (QR bit clear), not a response")
    opcode = (flags >> 11) & 0xF
    if opcode != 0:
        raise BadResponse(f"response has opcode {opcode}; only QUERY (0) is accepted")
    if qdcount != 1:
        raise BadResponse(f"response carries {qdcount} questions; exactly 1 is required")


def _parse_slow(wire: bytes) -> Response:
    # Any exception from dnspython here was caused by the peer's bytes, so all
    # of them (not only DNSException: bad rdata can raise ValueError and
    # friends) become BadResponse.
    try:
        message = dns.message.from_wire(wire)
    except Exception as exc:
        if not wire[2] & (_FLAG_TC >> 8):
            raise BadResponse(f"malformed DNS message: {_describe(exc)}") from exc
        return _parse_truncated(wire)
    return _convert(message)


def _parse_truncated(wire: bytes) -> Response:
    try:
        message = dns.message.from_wire(wire, question_only=True)
    except Exception as exc:
        raise BadResponse(f"malformed DNS message: {_describe(exc)}") from exc
    return _convert(message)


def _describe(exc: Exception) -> str:
    for kind, text in _DESCRIPTIONS:
        if isinstance(exc, kind):
            return text
    return f"{type(exc).__name__}: {exc}"


_DESCRIPTIONS: tuple[tuple[type[Exception], str], ...] = (
    (dns.message.TrailingJunk, "trailing bytes after the last record"),
    (dns.name.BadPointer, "a compression pointer does not point backwards (a pointer loop or a forward pointer)"),
    (dns.name.PointerChainTooLong, "a chain of compression pointers is too long"),
    (dns.name.BadLabelType, "a name uses an unknown label type"),
    (dns.name.NameTooLong, "a name is longer than 255 bytes"),
    (dns.message.BadEDNS, "an OPT record is misplaced or repeated"),
    (dns.message.BadTSIG, "a TSIG record is misplaced"),
    (dns.message.UnknownTSIGKey, "the response is TSIG-signed but no key was expected"),
    (dns.exception.FormError, "a section or record runs past the end of the message, or record data is malformed"),
)


def _convert(message: dns.message.Message) -> Response:
    question = message.question[0]
    opt = message.opt
    return Response(
        id=message.id,
        flags=int(message.flags),
        rcode=int(message.rcode()),
        question=Question(question.name.to_text(), int(question.rdtype), int(question.rdclass)),
        answer=tuple(_convert_rrset(rrset) for rrset in message.answer),
        authority=tuple(_convert_rrset(rrset) for rrset in message.authority),
        additional=tuple(_convert_rrset(rrset) for rrset in message.additional),
        edns_payload=None if opt is None else int(opt.rdclass),
    )


def _convert_rrset(rrset: dns.rrset.RRset) -> RRset:
    rdtype, rdclass = int(rrset.rdtype), int(rrset.rdclass)
    values: tuple[RecordValue, ...]
    if rdclass == _CLASS_IN and rdtype in (_A, _AAAA):
        values = tuple(str(rdata.address) for rdata in rrset)
    elif rdtype == _CNAME:
        values = tuple(rdata.target.to_text() for rdata in rrset)
    else:
        values = tuple(rrset)
    return RRset(rrset.name.to_text(), rdtype, rdclass, int(rrset.ttl), values)
