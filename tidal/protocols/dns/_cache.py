"""A bounded TTL cache of classified outcomes, on a caller-supplied clock.

Entries are keyed by (lower-case absolute name, type, class) in an
``OrderedDict`` used as an LRU list: a hit moves the entry to the end, an
insert beyond ``max_entries`` drops the oldest, so both are O(1).  Expired
entries are dropped when they are looked up (and by :meth:`DNSCache.purge`),
never by a background sweep: the engine does no I/O and reads no clock, so
``now`` is passed in by the caller (a monotonic clock in production, a fake
one in tests).

Positive answers live for their TTL (min over the CNAME chain); NXDOMAIN and
NODATA live for the RFC 2308 negative TTL.  TTL 0 means "use once, do not
cache" (RFC 1035 §3.2.1), and both TTLs are capped (RFC 2308 §5 suggests
at most a few hours for negative answers).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from ._classify import Outcome, OutcomeKind
from ._errors import BadQuery
from ._query import rdtype_from

__all__ = ["CacheHit", "DNSCache"]

_CACHEABLE = frozenset({OutcomeKind.ANSWER, OutcomeKind.NXDOMAIN, OutcomeKind.NODATA})
_CLASS_IN = 1


@dataclass(frozen=True, slots=True)
class CacheHit:
    """A cached outcome and the whole seconds of TTL it has left."""

    outcome: Outcome
    ttl: int


class DNSCache:
    """An LRU-bounded cache of :class:`Outcome` objects with TTL expiry."""

    def __init__(self, max_entries: int = 10_000, *, max_ttl: int = 86_400, max_negative_ttl: int = 10_800) -> None:
        if max_entries < 1 or max_ttl < 0 or max_negative_ttl < 0:
            raise BadQuery("cache sizes and TTL caps must be positive")
        self.max_entries = max_entries
        self.max_ttl = max_ttl
        self.max_negative_ttl = max_negative_ttl
        self._entries: OrderedDict[tuple[str, int, int], tuple[float, Outcome]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, outcome: Outcome, *, now: float) -> bool:
        """Cache ``outcome`` as of time ``now``; return whether it was stored.

        Only ANSWER, NXDOMAIN and NODATA outcomes with a TTL above 0 are
        stored; an existing entry for the same question is replaced.
        """
        if outcome.kind not in _CACHEABLE or outcome.ttl is None:
            return False
        cap = self.max_ttl if outcome.kind is OutcomeKind.ANSWER else self.max_negative_ttl
        ttl = min(outcome.ttl, cap)
        if ttl <= 0:
            return False
        key = (_normalize(outcome.name), outcome.rdtype, outcome.rdclass)
        entries = self._entries
        entries[key] = (now + ttl, outcome)
        entries.move_to_end(key)
        if len(entries) > self.max_entries:
            entries.popitem(last=False)
        return True

    def get(self, name: str, rdtype: int | str, rdclass: int = _CLASS_IN, *, now: float) -> CacheHit | None:
        """The live entry for (``name``, ``rdtype``, ``rdclass``) at ``now``, if any."""
        key = (_normalize(name), rdtype if isinstance(rdtype, int) else rdtype_from(rdtype), rdclass)
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, outcome = entry
        if now >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return CacheHit(outcome, int(expires - now))

    def purge(self, *, now: float) -> int:
        """Drop every entry expired at ``now``; return how many were dropped."""
        expired = [key for key, (expires, _) in self._entries.items() if now >= expires]
        for key in expired:
            del self._entries[key]
        return len(expired)

    def clear(self) -> None:
        """Drop every entry."""
        self._entries.clear()


def _normalize(name: str) -> str:
    name = name.lower()
    return name if name.endswith(".") else name + "."
