"""The errors a resolver raises, one type per thing that can go wrong.

Every error is a :class:`DNSError`, itself an ``OSError`` so that code which
already catches connection failures (``except OSError``) also catches a name
that does not resolve, as it does with ``socket.gaierror``.  ``name`` is the
last name asked about (after search-list expansion) and ``rdtype`` the type.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["DNSError", "NXDomain", "NoAnswer", "ServFail", "Refused", "DNSTimeout", "BadResponse"]


class DNSError(OSError):
    """Base class of every error :mod:`tidal.dns` raises about a lookup."""

    def __init__(self, message: str, *, name: str = "", rdtype: str = "", servers: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.name = name
        self.rdtype = rdtype
        self.servers = tuple(servers)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class NXDomain(DNSError):
    """The name does not exist (RCODE NXDOMAIN for every candidate name)."""


class NoAnswer(DNSError):
    """The name exists but has no records of the asked type (NODATA)."""


class ServFail(DNSError):
    """Every server that answered said SERVFAIL (it could not get an answer)."""


class Refused(DNSError):
    """Every server that answered refused the query (RCODE REFUSED or another error code)."""


class DNSTimeout(DNSError, TimeoutError):
    """No usable answer arrived before the query's deadline, or no server could be reached.

    ``servers`` lists the servers that were tried, in order, as ``ip:port``.
    """


class BadResponse(DNSError):
    """Only malformed or unacceptable responses arrived before the deadline."""
