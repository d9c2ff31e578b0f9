"""Destination address ordering, RFC 6724 §6 in its simple form.

Theory of operation.  For each destination the kernel is asked which source
address it would use: a ``connect()`` on a UDP socket sends nothing but runs
the routing decision, exactly as glibc's getaddrinfo does.  No route means
the destination is unusable (rule 1).  Then, in order: prefer a source whose
scope matches the destination's (rule 2), a matching policy label (rule 5),
higher precedence in the default policy table (rule 6: ::1 > native IPv6 >
IPv4 > 6to4 > Teredo ...), and the smaller scope (rule 8).  Rule 9 (longest
matching prefix) is left out on purpose, as glibc does for IPv4, because it
defeats DNS round-robin; the sort is stable, so equal destinations keep the
order the server gave.  Probe results, and the ranks computed from them,
are memoized per address for ``_PROBE_TTL`` seconds (routes change rarely;
probing is a syscall and the policy lookups are slow).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Sequence

__all__ = ["sort_addresses", "precedence", "label", "scope"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_POLICY = [  # (prefix, precedence, label), RFC 6724 §2.1, longest prefix first
    (ipaddress.IPv6Network("::1/128"), 50, 0),
    (ipaddress.IPv6Network("::ffff:0:0/96"), 35, 4),
    (ipaddress.IPv6Network("::/96"), 1, 3),
    (ipaddress.IPv6Network("2001::/32"), 5, 5),
    (ipaddress.IPv6Network("2002::/16"), 30, 2),
    (ipaddress.IPv6Network("3ffe::/16"), 1, 12),
    (ipaddress.IPv6Network("fec0::/10"), 1, 11),
    (ipaddress.IPv6Network("fc00::/7"), 3, 13),
    (ipaddress.IPv6Network("::/0"), 40, 1),
]
_SCOPE_LINK, _SCOPE_SITE, _SCOPE_GLOBAL = 2, 5, 14
_PROBE_TTL = 30.0
_probes: dict[tuple[str, int], tuple[float, Address | None]] = {}


def _as_v6(address: Address) -> ipaddress.IPv6Address:
    if isinstance(address, ipaddress.IPv4Address):
        return ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + address.packed)
    return address


def _policy(address: Address) -> tuple[int, int]:
    mapped = _as_v6(address)
    for network, prec, lab in _POLICY:
        if mapped in network:
            return prec, lab
    return 40, 1  # unreachable: ::/0 matches everything


def precedence(address: Address) -> int:
    """The address's precedence in the default policy table."""
    return _policy(address)[0]


def label(address: Address) -> int:
    """The address's label in the default policy table."""
    return _policy(address)[1]


def scope(address: Address) -> int:
    """The address's scope (RFC 6724 §3.1; IPv4 loopback and link-local are link scope)."""
    if isinstance(address, ipaddress.IPv4Address):
        return _SCOPE_LINK if address.is_loopback or address.is_link_local else _SCOPE_GLOBAL
    if address.ipv4_mapped is not None:
        return scope(address.ipv4_mapped)
    if address.is_multicast:
        return address.packed[1] & 0x0F
    if address.is_loopback or address.is_link_local:
        return _SCOPE_LINK
    if address.is_site_local:
        return _SCOPE_SITE
    return _SCOPE_GLOBAL


def _source_for(address: Address, scope_id: int) -> Address | None:
    key = (str(address), scope_id)
    now = time.monotonic()
    known = _probes.get(key)
    if known is not None and known[0] > now:
        return known[1]
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    source: Address | None = None
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            target = (str(address), 9, 0, scope_id) if family == socket.AF_INET6 else (str(address), 9)
            probe.connect(target)  # routing decision only; no packet leaves
            source = ipaddress.ip_address(probe.getsockname()[0].partition("%")[0])
    except OSError:
        source = None
    if len(_probes) > 1024:
        _probes.clear()
    _probes[key] = (now + _PROBE_TTL, source)
    return source


_Rank = tuple[bool, bool, bool, int, int]
_ranks: dict[tuple[str, int], tuple[float, _Rank]] = {}


def _rank(entry: tuple[str, int]) -> _Rank:
    # A destination's rank only changes with its route, so it is memoized as
    # long as the route probe is (the policy table lookups are the slow part).
    now = time.monotonic()
    known = _ranks.get(entry)
    if known is not None and known[0] > now:
        return known[1]
    destination = ipaddress.ip_address(entry[0])
    source = _source_for(destination, entry[1])
    if source is None:
        rank: _Rank = (True, True, True, -precedence(destination), scope(destination))
    else:
        rank = (
            False,
            scope(source) != scope(destination),
            label(source) != label(destination),
            -precedence(destination),
            scope(destination),
        )
    if len(_ranks) > 1024:
        _ranks.clear()
    _ranks[entry] = (now + _PROBE_TTL, rank)
    return rank


def sort_addresses(addresses: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """Order ``(address text, scope_id)`` pairs best first (stable for ties)."""
    return sorted(addresses, key=_rank)
