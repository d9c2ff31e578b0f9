"""Typed answers: what :meth:`Resolver.resolve` hands back.

The engine's :class:`~tidal.protocols.dns.Outcome` holds text for A, AAAA and
CNAME values and dnspython rdata for everything else.  Here each supported
type becomes a small frozen dataclass with plain ``int``/``str``/``bytes``
fields, so callers never touch dnspython objects; a type without its own
class is kept as :class:`GenericRecord` (type number and wire-text form).
Names are absolute presentation text with the trailing dot, as dig shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeAlias

import dns.rdata
import dns.rdatatype
import dns.rdtypes.svcbbase

from tidal.protocols.dns import Outcome, RecordValue

__all__ = [
    "Answer",
    "MXRecord",
    "TXTRecord",
    "SRVRecord",
    "SOARecord",
    "CAARecord",
    "SVCBRecord",
    "GenericRecord",
    "RecordData",
    "answer_from_outcome",
    "convert_value",
    "type_name",
]


@dataclass(frozen=True, slots=True)
class MXRecord:
    """A mail exchanger: lower ``preference`` is tried first."""

    preference: int
    exchange: str


@dataclass(frozen=True, slots=True)
class TXTRecord:
    """A TXT record: its character-strings, in order."""

    strings: tuple[bytes, ...]

    @property
    def text(self) -> str:
        """The strings joined and decoded as UTF-8 (undecodable bytes replaced)."""
        return b"".join(self.strings).decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class SRVRecord:
    """A service location (RFC 2782)."""

    priority: int
    weight: int
    port: int
    target: str


@dataclass(frozen=True, slots=True)
class SOARecord:
    """A zone's start of authority."""

    mname: str
    rname: str
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int


@dataclass(frozen=True, slots=True)
class CAARecord:
    """A certification authority authorization (RFC 8659)."""

    flags: int
    tag: str
    value: bytes


@dataclass(frozen=True, slots=True)
class SVCBRecord:
    """An SVCB or HTTPS record (RFC 9460).

    ``params`` maps each SvcParamKey's name (``"alpn"``, ``"port"``,
    ``"ipv4hint"`` ...) to its presentation value without quotes.
    """

    priority: int
    target: str
    params: tuple[tuple[str, str], ...]

    def param(self, key: str) -> str | None:
        """The value of SvcParam ``key``, or ``None`` when absent."""
        return dict(self.params).get(key)


@dataclass(frozen=True, slots=True)
class GenericRecord:
    """A record of a type without its own class: its type and text form."""

    rdtype: int
    text: str


RecordData: TypeAlias = (
    str | MXRecord | TXTRecord | SRVRecord | SOARecord | CAARecord | SVCBRecord | GenericRecord
)
"""One record's data: ``str`` for A/AAAA (the address) and for CNAME, PTR,
NS and DNAME (the target name); a dataclass for the others."""


@dataclass(frozen=True, slots=True)
class Answer:
    """The records answering one question, and how they were reached.

    ``name`` is the name that was asked (absolute, after search-list
    expansion), ``canonical_name`` the end of the CNAME chain,
    ``cname_chain`` the ``(alias, target)`` links followed in order and
    ``ttl`` the seconds the answer stays valid (the minimum over the chain,
    counted down when it comes from the cache).  ``server`` is the
    ``ip:port`` that answered, or ``None`` for a cached answer.
    """

    name: str
    rdtype: str
    canonical_name: str
    cname_chain: tuple[tuple[str, str], ...]
    ttl: int
    records: tuple[RecordData, ...]
    server: str | None = None

    def __iter__(self) -> Iterator[RecordData]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def addresses(self) -> tuple[str, ...]:
        """The addresses of an A or AAAA answer (empty for other types)."""
        if self.rdtype not in ("A", "AAAA"):
            return ()
        return tuple(record for record in self.records if isinstance(record, str))

    @property
    def from_cache(self) -> bool:
        """Whether the answer came from the cache rather than a server."""
        return self.server is None


@lru_cache(maxsize=128)
def type_name(rdtype: int) -> str:
    """The mnemonic of a type number ("A", "HTTPS", "TYPE65280" ...)."""
    return dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))


def answer_from_outcome(outcome: Outcome, ttl: int, server: str | None) -> Answer:
    """Build the :class:`Answer` for an ANSWER outcome, with ``ttl`` left."""
    rrset = outcome.rrset
    values = () if rrset is None else rrset.values
    chain = tuple((link.name, str(link.values[0])) for link in outcome.cname_chain)
    return Answer(
        name=outcome.name,
        rdtype=type_name(outcome.rdtype),
        canonical_name=outcome.canonical_name,
        cname_chain=chain,
        ttl=ttl,
        records=tuple(convert_value(outcome.rdtype, value) for value in values),
        server=server,
    )


def convert_value(rdtype: int, value: RecordValue) -> RecordData:
    """Turn one engine value (text or dnspython rdata) into :data:`RecordData`."""
    if isinstance(value, str):
        return value
    converter = _CONVERTERS.get(rdtype)
    if converter is not None:
        return converter(value)
    target = getattr(value, "target", None)
    if rdtype in _NAME_TYPES and target is not None:
        return str(target)
    return GenericRecord(rdtype, value.to_text())


def _mx(value: dns.rdata.Rdata) -> RecordData:
    return MXRecord(int(value.preference), str(value.exchange))  # type: ignore[attr-defined]


def _txt(value: dns.rdata.Rdata) -> RecordData:
    return TXTRecord(tuple(value.strings))  # type: ignore[attr-defined]


def _srv(value: dns.rdata.Rdata) -> RecordData:
    fields = value  # dnspython's SRV rdata exposes these as attributes
    return SRVRecord(int(fields.priority), int(fields.weight), int(fields.port), str(fields.target))  # type: ignore[attr-defined]


def _soa(value: dns.rdata.Rdata) -> RecordData:
    soa = value
    return SOARecord(
        str(soa.mname),  # type: ignore[attr-defined]
        str(soa.rname),  # type: ignore[attr-defined]
        int(soa.serial),  # type: ignore[attr-defined]
        int(soa.refresh),  # type: ignore[attr-defined]
        int(soa.retry),  # type: ignore[attr-defined]
        int(soa.expire),  # type: ignore[attr-defined]
        int(soa.minimum),  # type: ignore[attr-defined]
    )


def _caa(value: dns.rdata.Rdata) -> RecordData:
    return CAARecord(int(value.flags), value.tag.decode("ascii", "replace"), bytes(value.value))  # type: ignore[attr-defined]


def _svcb(value: dns.rdata.Rdata) -> RecordData:
    params = value.params  # type: ignore[attr-defined]
    pairs = tuple(
        (dns.rdtypes.svcbbase.key_to_text(key),  # type: ignore[no-untyped-call]
         params[key].to_text().strip('"') if params[key] is not None else "")
        for key in sorted(params)
    )
    return SVCBRecord(int(value.priority), str(value.target), pairs)  # type: ignore[attr-defined]


_A, _NS, _CNAME, _SOA, _PTR, _MX, _TXT, _AAAA, _SRV, _DNAME, _SVCB, _HTTPS, _CAA = (
    1, 2, 5, 6, 12, 15, 16, 28, 33, 39, 64, 65, 257,
)
_NAME_TYPES = frozenset({_NS, _CNAME, _PTR, _DNAME})
_CONVERTERS = {_MX: _mx, _TXT: _txt, _SRV: _srv, _SOA: _soa, _CAA: _caa, _SVCB: _svcb, _HTTPS: _svcb}
