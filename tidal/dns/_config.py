"""Where a resolver's settings come from: the system files, then the caller.

Rules (documented in ``docs/dns.md``):

* ``resolv.conf`` is parsed by :func:`tidal.protocols.dns.parse_resolv_conf`
  with the machine's host name and the ``LOCALDOMAIN``/``RES_OPTIONS``
  environment values, exactly as glibc reads it.  A missing or unreadable
  file gives glibc's defaults (127.0.0.1, ndots 1, timeout 5, attempts 2).
* Every explicit constructor argument replaces the file's value; ``None``
  means "take it from the file".
* Nameservers are written ``"ip"``, ``"ip:port"`` or ``"[v6]:port"``; the
  bare form uses the resolver's ``port``.  IPv6 may carry ``%scope``.

The files are read once, when the resolver is built (a few hundred bytes of
local file, before any loop work); :meth:`Resolver.reload` re-reads them.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

from tidal.protocols.dns import HostsFile, ResolvConf, parse_hosts, parse_resolv_conf

__all__ = ["Nameserver", "parse_nameserver", "read_resolv_conf", "read_hosts"]


@dataclass(frozen=True, slots=True)
class Nameserver:
    """One server to query: its socket family and address."""

    family: socket.AddressFamily
    host: str
    port: int
    scope_id: int = 0
    sockaddr: tuple[str, int] | tuple[str, int, int, int] = field(init=False, repr=False, compare=False)
    """The address as ``socket.connect`` takes it for this family."""
    text: str = field(init=False, repr=False, compare=False)
    """``ip:port`` or ``[v6]:port``, as errors and answers name the server."""

    def __post_init__(self) -> None:
        # Computed once: every query reads them.
        if self.family == socket.AF_INET6:
            sockaddr: tuple[str, int] | tuple[str, int, int, int] = (self.host, self.port, 0, self.scope_id)
            text = f"[{self.host}]:{self.port}"
        else:
            sockaddr, text = (self.host, self.port), f"{self.host}:{self.port}"
        object.__setattr__(self, "sockaddr", sockaddr)
        object.__setattr__(self, "text", text)

    def __str__(self) -> str:
        return self.text


def parse_nameserver(text: str, default_port: int) -> Nameserver:
    """Parse ``"ip"``, ``"ip:port"`` or ``"[v6]:port"`` (``ValueError`` if neither)."""
    host, port = text.strip(), default_port
    if host.startswith("["):
        inside, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"nameserver {text!r}: expected [address]:port")
        host = inside
        if rest:
            port = _port(rest[1:], text)
    elif host.count(":") == 1:
        host, _, port_text = host.partition(":")
        port = _port(port_text, text)
    address_text, _, scope = host.partition("%")
    try:
        address = ipaddress.ip_address(address_text)
    except ValueError:
        raise ValueError(f"nameserver {text!r} is not an IP address (with an optional port)") from None
    if address.version == 4:
        if scope:
            raise ValueError(f"nameserver {text!r}: an IPv4 address has no scope")
        return Nameserver(socket.AF_INET, str(address), port)
    return Nameserver(socket.AF_INET6, str(address), port, _scope_id(scope, text))


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"nameserver {whole!r}: port {text!r} is not in 1..65535")
    return int(text)


def _scope_id(scope: str, whole: str) -> int:
    if not scope:
        return 0
    if scope.isdigit():
        return int(scope)
    try:
        return socket.if_nametoindex(scope)
    except OSError:
        raise ValueError(f"nameserver {whole!r}: unknown interface {scope!r}") from None


def read_resolv_conf(path: str | None) -> ResolvConf:
    """The configuration in ``path`` (glibc's defaults when it cannot be read)."""
    text = ""
    if path is not None:
        try:
            with open(path, encoding="utf-8", errors="replace") as file:
                text = file.read()
        except OSError:
            text = ""
    return parse_resolv_conf(
        text,
        hostname=socket.gethostname(),
        localdomain=os.environ.get("LOCALDOMAIN"),
        res_options=os.environ.get("RES_OPTIONS"),
    )


def read_hosts(path: str | None) -> HostsFile:
    """The hosts file at ``path`` (empty when ``None`` or unreadable)."""
    if path is None:
        return HostsFile()
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return parse_hosts(file.read())
    except OSError:
        return HostsFile()


def nameservers_from(texts: Sequence[str], default_port: int) -> tuple[Nameserver, ...]:
    """Parse every entry of ``texts``; an empty list is an error."""
    servers = tuple(parse_nameserver(text, default_port) for text in texts)
    if not servers:
        raise ValueError("at least one nameserver is required")
    return servers
