"""An asynchronous DNS stub resolver that never blocks the loop (see ``docs/dns.md``).

* :class:`Resolver`: system configuration (resolv.conf, hosts) by default,
  ``await resolver.resolve(name, "AAAA")`` returning a typed :class:`Answer`,
  ``resolve_address(ip)``, and ``getaddrinfo(...)`` in the stdlib's shape;
* errors as types: :class:`NXDomain`, :class:`NoAnswer`, :class:`ServFail`,
  :class:`Refused`, :class:`DNSTimeout`, :class:`BadResponse`;
* :func:`install_getaddrinfo`: answer ``loop.getaddrinfo`` with a resolver;
  :func:`system_resolver` / :func:`system_getaddrinfo`: the process-wide
  resolver that ``tidal.run`` and ``tidal.new_event_loop`` hand tidal's loop.

The wire work (queries, matching, parsing, caching rules) is done by the
sans-IO engine :mod:`tidal.protocols.dns`; this package adds sockets,
deadlines, retries and sharing.
"""

from ._answers import (
    Answer,
    CAARecord,
    GenericRecord,
    MXRecord,
    RecordData,
    SOARecord,
    SRVRecord,
    SVCBRecord,
    TXTRecord,
)
from ._config import Nameserver, parse_nameserver
from ._default import system_getaddrinfo, system_resolver
from ._errors import BadResponse, DNSError, DNSTimeout, NoAnswer, NXDomain, Refused, ServFail
from ._install import GetaddrinfoHook, install_getaddrinfo, uninstall_getaddrinfo
from ._resolver import Resolver, reverse_name

__all__ = [
    # resolver
    "Resolver",
    "Nameserver",
    "parse_nameserver",
    "reverse_name",
    # answers
    "Answer",
    "RecordData",
    "MXRecord",
    "TXTRecord",
    "SRVRecord",
    "SOARecord",
    "CAARecord",
    "SVCBRecord",
    "GenericRecord",
    # errors
    "DNSError",
    "NXDomain",
    "NoAnswer",
    "ServFail",
    "Refused",
    "DNSTimeout",
    "BadResponse",
    # loop integration
    "GetaddrinfoHook",
    "install_getaddrinfo",
    "uninstall_getaddrinfo",
    "system_resolver",
    "system_getaddrinfo",
]
