"""``getaddrinfo`` on the resolver: the stdlib's arguments and result, no thread.

Theory of operation
-------------------
The order follows glibc with ``hosts: files dns`` in nsswitch.conf:

1. ``host`` ``None`` is the loopback (or, with ``AI_PASSIVE``, the wildcard)
   address; a numeric host (IPv4 in any ``inet_aton`` form, IPv6 with an
   optional ``%scope``) is used as is, and ``AI_NUMERICHOST`` refuses
   anything else;
2. the hosts file; ``localhost`` and ``*.localhost`` are the loopback even
   when the file lacks them (RFC 6761 §6.3);
3. names under ``.local`` belong to mDNS, which only the system's NSS
   modules speak: they go to ``socket.getaddrinfo`` in the default executor
   -- the one place a thread is used, and documented as such;
4. DNS: the search list and ndots as for :meth:`Resolver.resolve`, with the
   A and AAAA queries of each candidate name sent in parallel.

Addresses are then ordered by RFC 6724 (:mod:`._rfc6724`), and expanded to
the socket types asked for.  Errors are ``socket.gaierror`` with glibc's
codes and messages, so callers cannot tell the difference.  A service name
("http") is looked up in the services database in the executor as well
(numeric ports, the common case, never are).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from typing import TYPE_CHECKING, Any

from tidal.protocols.dns import Outcome, OutcomeKind

from . import _errors as errors
from ._rfc6724 import sort_addresses

if TYPE_CHECKING:
    from ._resolver import Resolver

__all__ = ["getaddrinfo", "AddrInfo"]

AddrInfo = tuple[Any, Any, int, str, Any]

_A, _AAAA = 1, 28
_INET_ATON = re.compile(r"[0-9a-fA-FxX.]+")
# glibc's socket type/protocol table (sysdeps/posix/getaddrinfo.c), in its order:
# (type, protocol, any protocol goes, refuses a service, listed when neither is asked)
_SOCK_DCCP, _IPPROTO_DCCP, _IPPROTO_UDPLITE, _IPPROTO_SCTP = 6, 33, 136, 132
_TYPE_PROTOCOLS = (
    (socket.SOCK_STREAM, socket.IPPROTO_TCP, False, False, True),
    (socket.SOCK_DGRAM, socket.IPPROTO_UDP, False, False, True),
    (_SOCK_DCCP, _IPPROTO_DCCP, False, False, False),
    (socket.SOCK_DGRAM, _IPPROTO_UDPLITE, False, False, False),
    (socket.SOCK_STREAM, _IPPROTO_SCTP, False, False, False),
    (socket.SOCK_SEQPACKET, _IPPROTO_SCTP, False, False, False),
    (socket.SOCK_RAW, 0, True, True, True),
)
_KNOWN_FLAGS = int(  # a plain int: ~ on an IntFlag inverts only the named bits
    socket.AI_PASSIVE | socket.AI_CANONNAME | socket.AI_NUMERICHOST | socket.AI_V4MAPPED | socket.AI_ALL
    | socket.AI_ADDRCONFIG | socket.AI_NUMERICSERV | getattr(socket, "AI_IDN", 0x40)
    | getattr(socket, "AI_CANONIDN", 0x80) | 0x100 | 0x200  # glibc's two deprecated IDN flags
)
_MESSAGES = {
    socket.EAI_BADFLAGS: "Bad value for ai_flags",
    socket.EAI_NONAME: "Name or service not known",
    socket.EAI_AGAIN: "Temporary failure in name resolution",
    socket.EAI_FAIL: "Non-recoverable failure in name resolution",
    socket.EAI_FAMILY: "ai_family not supported",
    socket.EAI_SERVICE: "Servname not supported for ai_socktype",
    socket.EAI_SOCKTYPE: "ai_socktype not supported",
    socket.EAI_ADDRFAMILY: "Address family for hostname not supported",
    socket.EAI_NODATA: "No address associated with hostname",
}


def gai_error(code: int) -> socket.gaierror:
    """A ``socket.gaierror`` carrying glibc's code and message."""
    return socket.gaierror(code, _MESSAGES[code])


async def getaddrinfo(
    resolver: Resolver, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
) -> list[AddrInfo]:
    """``socket.getaddrinfo(host, port, family, type, proto, flags)`` through ``resolver``."""
    host_text = _text(host)
    if host_text is None and port is None:
        raise gai_error(socket.EAI_NONAME)
    if flags & ~_KNOWN_FLAGS or (flags & socket.AI_CANONNAME and host_text is None):
        raise gai_error(socket.EAI_BADFLAGS)
    if family not in (socket.AF_UNSPEC, socket.AF_INET, socket.AF_INET6):
        raise gai_error(socket.EAI_FAMILY)
    if host_text is not None and _is_mdns(host_text) and not _numeric(host_text):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, socket.getaddrinfo, host, port, family, type, proto, flags)
    kinds = _socket_kinds(type, proto, port is not None)
    port_number = await _port(port, kinds, flags)
    addresses, canonical = await _addresses(resolver, host_text, family, flags)
    ordered = sort_addresses(addresses) if len(addresses) > 1 else addresses
    return _expand(ordered, port_number, kinds, canonical if flags & socket.AI_CANONNAME else "")


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("ascii")
    raise TypeError(f"getaddrinfo() argument 1 must be string or None, not {type(value).__name__}")


def _is_mdns(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name == "local" or name.endswith(".local")


def _numeric(host: str) -> tuple[str, int] | None:
    """(address text, scope id) for a numeric host, else ``None``."""
    if ":" in host:
        text, _, zone = host.partition("%")
        try:
            address = ipaddress.IPv6Address(text)
        except ValueError:
            return None
        return str(address), _scope_id(zone)
    if _INET_ATON.fullmatch(host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host)), 0
        except OSError:
            return None
    return None


def _scope_id(zone: str) -> int:
    if not zone:
        return 0
    if zone.isdigit():
        return int(zone)
    try:
        return socket.if_nametoindex(zone)
    except OSError:
        raise gai_error(socket.EAI_NONAME) from None


def _socket_kinds(type: int, proto: int, has_port: bool) -> list[tuple[int, int]]:
    """The (type, protocol) pairs to return, chosen as glibc chooses them."""
    if not type and not proto:
        return [(kind, number) for kind, number, _, _, listed in _TYPE_PROTOCOLS if listed]
    for kind, number, any_protocol, no_service, _ in _TYPE_PROTOCOLS:
        if (not type or kind == type) and (not proto or any_protocol or number == proto):
            if has_port and no_service:
                raise gai_error(socket.EAI_SERVICE)
            return [(kind, proto if any_protocol else number)]
    raise gai_error(socket.EAI_SOCKTYPE if type else socket.EAI_SERVICE)


async def _port(port: Any, kinds: list[tuple[int, int]], flags: int) -> int:
    if port is None:
        return 0
    if isinstance(port, int):
        return port
    text = port.decode("ascii") if isinstance(port, (bytes, bytearray)) else str(port)
    if text.isdigit():
        return int(text)
    if flags & socket.AI_NUMERICSERV or text == "":
        raise gai_error(socket.EAI_NONAME)
    protocol = "udp" if kinds[0][0] == socket.SOCK_DGRAM else "tcp"
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(None, socket.getservbyname, text, protocol)
    except OSError:
        raise gai_error(socket.EAI_SERVICE) from None


async def _addresses(
    resolver: Resolver, host: str | None, family: int, flags: int
) -> tuple[list[tuple[str, int]], str]:
    if host is None:
        return _unnamed(family, flags), ""
    numeric = _numeric(host)
    if numeric is not None:
        return _numeric_for_family(numeric, family, flags), host
    if flags & socket.AI_NUMERICHOST or not host:
        raise gai_error(socket.EAI_NONAME)
    found = _from_hosts(resolver, host, family, flags)
    if found is not None:
        return found
    return await _from_dns(resolver, host, family, flags)


def _unnamed(family: int, flags: int) -> list[tuple[str, int]]:
    if flags & socket.AI_PASSIVE:
        both = [("0.0.0.0", 0), ("::", 0)]
    else:
        both = [("::1", 0), ("127.0.0.1", 0)]
    return [entry for entry in both if _family_of(entry[0]) in (family, socket.AF_UNSPEC) or not family]


def _family_of(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _numeric_for_family(numeric: tuple[str, int], family: int, flags: int) -> list[tuple[str, int]]:
    address_family = _family_of(numeric[0])
    if not family or family == address_family:
        return [numeric]
    if family == socket.AF_INET6 and flags & socket.AI_V4MAPPED:
        return [("::ffff:" + numeric[0], 0)]
    raise gai_error(socket.EAI_ADDRFAMILY)


def _from_hosts(resolver: Resolver, host: str, family: int, flags: int) -> tuple[list[tuple[str, int]], str] | None:
    hosts = resolver.hosts
    v4 = list(hosts.addresses(host, 4)) if family != socket.AF_INET6 else []
    v6 = list(hosts.addresses(host, 6)) if family != socket.AF_INET else []
    canonical = hosts.canonical_name(host) or host.rstrip(".")
    if not (v4 or v6) and _is_localhost(host):
        v4 = ["127.0.0.1"] if family != socket.AF_INET6 else []
        v6 = ["::1"] if family != socket.AF_INET else []
        canonical = host.rstrip(".")
    if family == socket.AF_INET6 and not v6 and flags & socket.AI_V4MAPPED:
        v6 = ["::ffff:" + address for address in hosts.addresses(host, 4)]
    if not (v4 or v6):
        return None
    return [(address, 0) for address in v6 + v4], canonical


def _is_localhost(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


async def _from_dns(resolver: Resolver, host: str, family: int, flags: int) -> tuple[list[tuple[str, int]], str]:
    types = [_AAAA, _A] if family == socket.AF_UNSPEC else [_AAAA] if family == socket.AF_INET6 else [_A]
    if family == socket.AF_INET6 and flags & socket.AI_V4MAPPED:
        types = [_AAAA, _A]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + resolver.lifetime
    failures: list[BaseException | Outcome] = []
    for candidate in resolver.candidates(host):
        results: list[Any] = [resolver.cached_outcome(candidate, rdtype) for rdtype in types]
        if None in results:  # not all cached: ask for every type in parallel
            lookups = [resolver.lookup_outcome(candidate, rdtype, deadline, resolver.tcp, loop) for rdtype in types]
            results = await asyncio.gather(*lookups, return_exceptions=True)
        answers = [result[0] for result in results if isinstance(result, tuple) and result[0].kind is OutcomeKind.ANSWER]
        if answers:
            return _dns_addresses(answers, family, flags), answers[0].canonical_name.rstrip(".")
        for result in results:
            if isinstance(result, errors.DNSTimeout):
                raise gai_error(socket.EAI_AGAIN) from result
            if isinstance(result, BaseException) and not isinstance(result, errors.DNSError):
                raise result
            failures.append(result[0] if isinstance(result, tuple) else result)
    raise _failure(failures)


def _dns_addresses(answers: list[Outcome], family: int, flags: int) -> list[tuple[str, int]]:
    v6 = [str(value) for outcome in answers if outcome.rdtype == _AAAA for value in outcome.values]
    v4 = [str(value) for outcome in answers if outcome.rdtype == _A for value in outcome.values]
    if family == socket.AF_INET6:
        if v6 and not flags & socket.AI_ALL:
            v4 = []
        v6 += ["::ffff:" + address for address in v4]
        v4 = []
    return [(address, 0) for address in v6 + v4]


def _failure(failures: list[BaseException | Outcome]) -> socket.gaierror:
    outcomes = [item for item in failures if isinstance(item, Outcome)]
    if any(outcome.kind is OutcomeKind.NODATA for outcome in outcomes):
        return gai_error(socket.EAI_NODATA)
    if outcomes and len(outcomes) == len(failures):
        return gai_error(socket.EAI_NONAME)
    if any(isinstance(item, (errors.ServFail, errors.DNSTimeout)) for item in failures):
        return gai_error(socket.EAI_AGAIN)
    if outcomes:
        return gai_error(socket.EAI_NONAME)
    return gai_error(socket.EAI_FAIL)


def _expand(addresses: list[tuple[str, int]], port: int, kinds: list[tuple[int, int]], canonical: str) -> list[AddrInfo]:
    result: list[AddrInfo] = []
    for address, scope_id in addresses:
        if ":" in address:
            family, sockaddr = socket.AF_INET6, (address, port, 0, scope_id)
        else:
            family, sockaddr = socket.AF_INET, (address, port)  # type: ignore[assignment]
        for kind, protocol in kinds:
            result.append((family, socket.SocketKind(kind), protocol, canonical, sockaddr))
            canonical = ""
    return result
