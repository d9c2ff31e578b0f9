"""Turning a matched response into an outcome a resolver can act on.

Theory of operation.  The rcode splits responses into NXDOMAIN, SERVFAIL,
REFUSED and other errors.  A NOERROR response is walked from the question
name through CNAME records in the answer section (RFC 1034 §4.3.2: a
recursive server puts the whole chain there) to the canonical name; an rrset
of the asked type there is an answer, its absence is NODATA (RFC 2308 §2.2).
Owner names compare case-insensitively because 0x20 or a server may change
case.  The answer's TTL is the minimum over the chain and the final rrset,
since the answer is only valid while every link is.

Negative answers carry the TTL RFC 2308 §5 prescribes: the minimum of the
SOA record's own TTL and its MINIMUM field, taken from the authority
section; without an SOA a negative answer is not cacheable (``ttl`` None).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import dns.rdtypes.ANY.SOA

from ._errors import BadResponse
from ._message import RecordValue, Response, RRset

__all__ = ["Outcome", "OutcomeKind", "classify", "negative_ttl"]

_CNAME, _SOA, _ANY = 5, 6, 255
_NOERROR, _SERVFAIL, _NXDOMAIN, _REFUSED = 0, 2, 3, 5
_MAX_CHAIN = 16


class OutcomeKind(enum.Enum):
    """What a response says about the question."""

    ANSWER = "answer"
    """NOERROR with an rrset of the asked type at the end of the chain."""
    NODATA = "nodata"
    """NOERROR, the name exists but has no rrset of the asked type."""
    NXDOMAIN = "nxdomain"
    """The (canonical) name does not exist."""
    SERVFAIL = "servfail"
    """The server failed to get an answer."""
    REFUSED = "refused"
    """The server refuses to answer us."""
    ERROR = "error"
    """Any other rcode (FORMERR, NOTIMP, BADVERS ...); see ``rcode``."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The classified meaning of one response.

    ``name`` is the question name (as echoed), ``canonical_name`` the end of
    the CNAME chain (equal to ``name`` without one), ``cname_chain`` the
    CNAME rrsets followed in order, ``rrset`` the final answer rrset.
    ``ttl`` is how long the outcome may be cached: min over the chain and
    answer for ANSWER, the RFC 2308 negative TTL (also capped by the chain)
    for NXDOMAIN/NODATA, and ``None`` when it must not be cached.
    """

    kind: OutcomeKind
    name: str
    rdtype: int
    rdclass: int
    rcode: int
    canonical_name: str
    cname_chain: tuple[RRset, ...] = ()
    rrset: RRset | None = None
    ttl: int | None = None

    @property
    def values(self) -> tuple[RecordValue, ...]:
        """The answer's values (addresses for A/AAAA), empty unless ANSWER."""
        return () if self.rrset is None else self.rrset.values

    @property
    def aliases(self) -> tuple[str, ...]:
        """The names that were aliases: the owners of the chain's CNAMEs."""
        return tuple(link.name for link in self.cname_chain)


_RCODE_KINDS = {_SERVFAIL: OutcomeKind.SERVFAIL, _REFUSED: OutcomeKind.REFUSED}


def classify(response: Response) -> Outcome:
    """Classify ``response`` (already matched to its query).

    Raises :class:`BadResponse` for a CNAME loop or a chain longer than 16.
    A truncated response is classified from what it holds; check
    :func:`needs_tcp_retry` first.
    """
    question = response.question
    if response.rcode not in (_NOERROR, _NXDOMAIN):
        return _outcome(_RCODE_KINDS.get(response.rcode, OutcomeKind.ERROR), response, question.name)
    chain, rrset = _follow(response)
    canonical = str(chain[-1].values[0]) if chain else question.name
    chain_ttl = min((link.ttl for link in chain), default=None)
    if response.rcode == _NOERROR and rrset is not None:
        ttl = _capped(rrset.ttl, chain_ttl)
        return _outcome(OutcomeKind.ANSWER, response, canonical, chain, rrset, ttl)
    kind = OutcomeKind.NXDOMAIN if response.rcode == _NXDOMAIN else OutcomeKind.NODATA
    return _outcome(kind, response, canonical, chain, None, _capped(negative_ttl(response), chain_ttl))


def _outcome(
    kind: OutcomeKind,
    response: Response,
    canonical: str,
    chain: tuple[RRset, ...] = (),
    rrset: RRset | None = None,
    ttl: int | None = None,
) -> Outcome:
    question = response.question
    return Outcome(
        kind, question.name, question.rdtype, question.rdclass, response.rcode, canonical, chain, rrset, ttl
    )


def _follow(response: Response) -> tuple[tuple[RRset, ...], RRset | None]:
    question = response.question
    index: dict[tuple[str, int], RRset] = {}
    for rrset in response.answer:
        if rrset.rdclass == question.rdclass:
            index.setdefault((rrset.name.lower(), rrset.rdtype), rrset)
    chain: list[RRset] = []
    current = question.name.lower()
    seen = {current}
    while True:
        answer = _answer_at(index, current, question.rdtype)
        if answer is not None or question.rdtype == _CNAME:
            return tuple(chain), answer
        link = index.get((current, _CNAME))
        if link is None:
            return tuple(chain), None
        chain.append(link)
        current = str(link.values[0]).lower()
        if current in seen or len(chain) > _MAX_CHAIN:
            names = " -> ".join([question.name, *(str(item.values[0]) for item in chain)])
            raise BadResponse(f"CNAME chain loops or exceeds {_MAX_CHAIN} links: {names}")
        seen.add(current)


def _answer_at(index: dict[tuple[str, int], RRset], name: str, rdtype: int) -> RRset | None:
    if rdtype != _ANY:
        return index.get((name, rdtype))
    # ANY: the first rrset owned by the name stands for the answer.
    return next((rrset for (owner, _), rrset in index.items() if owner == name), None)


def negative_ttl(response: Response) -> int | None:
    """The RFC 2308 §5 negative-caching TTL: min(SOA TTL, SOA MINIMUM).

    Taken from the first SOA in the authority section; ``None`` without one.
    """
    for rrset in response.authority:
        if rrset.rdtype == _SOA and rrset.values:
            soa = rrset.values[0]
            if isinstance(soa, dns.rdtypes.ANY.SOA.SOA):
                return min(rrset.ttl, int(soa.minimum))
    return None


def _capped(ttl: int | None, cap: int | None) -> int | None:
    if ttl is None or cap is None:
        return ttl
    return min(ttl, cap)
