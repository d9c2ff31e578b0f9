"""Parsing ``/etc/hosts`` text into forward and reverse maps.

Format (hosts(5)): an IP address, a canonical name, then aliases, separated
by blanks; ``#`` starts a comment anywhere on a line.  Names compare
case-insensitively and a trailing dot is ignored.  As glibc's files backend
does for getaddrinfo, a name gets the addresses of every line that lists it
(in file order, without duplicates), and its canonical name comes from the
first such line.  Lines with an unparsable address are skipped.  Addresses
are stored in normalized text (``0:0::1`` becomes ``::1``).
"""

from __future__ import annotations

import ipaddress

__all__ = ["HostsFile", "parse_hosts"]


class HostsFile:
    """Lookups in a parsed hosts file (build it with :func:`parse_hosts`)."""

    def __init__(self) -> None:
        # Dicts with None values serve as insertion-ordered sets, so a hosts
        # file with 100k lines for one address (block lists) stays linear.
        self._addresses: dict[str, dict[str, None]] = {}
        self._canonical: dict[str, str] = {}
        self._names: dict[str, dict[str, None]] = {}

    def __len__(self) -> int:
        return len(self._addresses)

    def add(self, address: str, names: list[str]) -> None:
        """Record one hosts line: ``address`` followed by its ``names``."""
        normalized = _normalize_address(address)
        if normalized is None or not names:
            return
        for name in names:
            key = _key(name)
            self._canonical.setdefault(key, names[0].rstrip(".") or names[0])
            self._addresses.setdefault(key, {})[normalized] = None
            self._names.setdefault(normalized, {})[name.rstrip(".") or name] = None

    def addresses(self, name: str, version: int | None = None) -> tuple[str, ...]:
        """Addresses listed for ``name``; ``version`` 4 or 6 keeps one family."""
        found = self._addresses.get(_key(name), {})
        if version is None:
            return tuple(found)
        return tuple(address for address in found if (":" in address) == (version == 6))

    def canonical_name(self, name: str) -> str | None:
        """The canonical name (first name on the first line) for ``name``."""
        return self._canonical.get(_key(name))

    def names(self, address: str) -> tuple[str, ...]:
        """Names listed for ``address`` (for reverse lookups), canonical first."""
        normalized = _normalize_address(address)
        return () if normalized is None else tuple(self._names.get(normalized, {}))


def parse_hosts(text: str) -> HostsFile:
    """Parse hosts-file ``text``; never raises (bad lines are skipped)."""
    hosts = HostsFile()
    for line in text.splitlines():
        fields = line.partition("#")[0].split()
        if len(fields) >= 2:
            hosts.add(fields[0], fields[1:])
    return hosts


def _key(name: str) -> str:
    return name.lower().rstrip(".") or "."


def _normalize_address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None

