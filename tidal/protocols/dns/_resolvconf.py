"""Parsing ``resolv.conf`` text the way glibc's ``res_init`` reads it.

Rules kept from glibc (resolv/res_init.c), so tidal resolves like the
system does:

* a keyword counts only when followed by a space or tab; lines starting
  with ``#`` or ``;`` are comments; unknown keywords and options are ignored;
* at most three ``nameserver`` lines are used (MAXNS); text after the
  address is ignored; unparsable addresses are skipped; IPv6 addresses may
  carry a ``%scope``;
* ``domain`` and ``search`` replace one another, the last one wins; with
  neither, the search list is the domain part of the host name;
* the ``LOCALDOMAIN`` environment value replaces the file's search list and
  ``RES_OPTIONS`` is applied after the file's options (both passed in here);
* ``ndots`` is capped at 15, ``timeout`` at 30 s and ``attempts`` at 5;
  defaults are ndots 1, timeout 5, attempts 2, and 127.0.0.1 when no
  nameserver is usable.

Deliberate differences: option names match exactly (glibc compares
prefixes), IPv4 addresses must be dotted quads (glibc also takes
``inet_aton`` shorthands such as ``127.1``), and ``timeout``/``attempts``
are at least 1 (glibc stores 0, which it then treats as 1 second and as "no
attempt" respectively).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace

__all__ = ["ResolvConf", "parse_resolv_conf", "DEFAULT_NAMESERVER"]

DEFAULT_NAMESERVER = "127.0.0.1"
"""The nameserver glibc uses when resolv.conf names none."""

_MAX_NAMESERVERS = 3
_MAX_NDOTS, _MAX_TIMEOUT, _MAX_ATTEMPTS = 15, 30, 5
_FLAG_OPTIONS = frozenset(
    {"debug", "inet6", "rotate", "edns0", "use-vc", "single-request", "single-request-reopen",
     "no-tld-query", "no_tld_query", "no-reload", "trust-ad", "no-aaaa", "no-check-names", "ip6-bytestring",
     "ip6-dotint", "no-ip6-dotint"}
)
_ATOI = re.compile(r"[ \t]*([+-]?\d+)")


@dataclass(frozen=True, slots=True)
class ResolvConf:
    """The resolver configuration a resolv.conf text describes.

    ``flags`` holds every boolean option that was set (``"rotate"``,
    ``"single-request"``, ``"trust-ad"`` ...); the common ones also have
    their own attribute.
    """

    nameservers: tuple[str, ...] = (DEFAULT_NAMESERVER,)
    search: tuple[str, ...] = ()
    ndots: int = 1
    timeout: int = 5
    attempts: int = 2
    flags: frozenset[str] = field(default_factory=frozenset)

    @property
    def rotate(self) -> bool:
        """``options rotate``: spread queries over the nameservers."""
        return "rotate" in self.flags

    @property
    def edns0(self) -> bool:
        """``options edns0``."""
        return "edns0" in self.flags

    @property
    def use_vc(self) -> bool:
        """``options use-vc``: query over TCP only."""
        return "use-vc" in self.flags

    @property
    def no_tld_query(self) -> bool:
        """``options no-tld-query``: never ask for a single-label name as is."""
        return "no-tld-query" in self.flags or "no_tld_query" in self.flags


def parse_resolv_conf(
    text: str, *, hostname: str | None = None, localdomain: str | None = None, res_options: str | None = None
) -> ResolvConf:
    """Parse resolv.conf ``text``.

    ``hostname`` (the machine's name) supplies the default search domain;
    ``localdomain`` and ``res_options`` are the ``LOCALDOMAIN`` and
    ``RES_OPTIONS`` environment values, if set.  Never raises: like glibc,
    anything it cannot use is skipped.
    """
    conf = ResolvConf()
    nameservers: list[str] = []
    search: tuple[str, ...] | None = None
    for line in text.splitlines():
        keyword, _, rest = _split_keyword(line)
        if keyword == "nameserver" and len(nameservers) < _MAX_NAMESERVERS:
            address = _nameserver(rest)
            if address is not None:
                nameservers.append(address)
        elif keyword == "domain" and rest.split():
            search = (rest.split()[0],)
        elif keyword == "search" and rest.split():
            search = tuple(rest.split())
        elif keyword == "options":
            conf = _apply_options(conf, rest)
    if localdomain is not None:
        search = tuple(localdomain.split())
    if search is None and hostname and "." in hostname.strip("."):
        search = (hostname.strip(".").split(".", 1)[1],)
    if res_options is not None:
        conf = _apply_options(conf, res_options)
    return replace(conf, nameservers=tuple(nameservers) or conf.nameservers, search=search or ())


def _split_keyword(line: str) -> tuple[str, str, str]:
    if not line or line[0] in "#;":
        return "", "", ""
    for index, char in enumerate(line):
        if char in " \t":
            return line[:index], char, line[index + 1 :]
    return "", "", ""


def _nameserver(rest: str) -> str | None:
    words = rest.split()
    if not words:
        return None
    try:
        address = ipaddress.ip_address(words[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv4Address) and "%" in words[0]:
        return None
    return words[0]


def _apply_options(conf: ResolvConf, text: str) -> ResolvConf:
    flags = set(conf.flags)
    for option in text.split():
        name, colon, value = option.partition(":")
        if colon and name == "ndots":
            conf = replace(conf, ndots=_clamp(_atoi(value), 0, _MAX_NDOTS))
        elif colon and name == "timeout":
            conf = replace(conf, timeout=_clamp(_atoi(value), 1, _MAX_TIMEOUT))
        elif colon and name == "attempts":
            conf = replace(conf, attempts=_clamp(_atoi(value), 1, _MAX_ATTEMPTS))
        elif not colon and option in _FLAG_OPTIONS:
            flags.add(option)
    return replace(conf, flags=frozenset(flags))


def _atoi(text: str) -> int:
    # C's atoi: optional leading blanks and sign, then digits; anything else is 0.
    match = _ATOI.match(text)
    return int(match.group(1)) if match else 0


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))
