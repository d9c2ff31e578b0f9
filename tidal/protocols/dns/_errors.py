"""Errors raised by the DNS engine.

STYLE.md #3: a :class:`BadQuery` is our caller's mistake (a name that cannot
be encoded, a meta type, an address that is not an IP literal); a
:class:`BadResponse` is the peer's (a malformed packet); a
:class:`MismatchedResponse` is a well-formed packet that does not answer the
query we sent (wrong ID, question or source), which a UDP transport drops
while it keeps waiting for the real answer.
"""

from __future__ import annotations

from .._errors import LocalProtocolError, RemoteProtocolError

__all__ = ["BadQuery", "BadResponse", "MismatchedResponse"]


class BadQuery(LocalProtocolError):
    """The caller asked for a query or lookup the engine cannot express."""


class BadResponse(RemoteProtocolError):
    """The peer sent bytes that are not an acceptable DNS response."""


class MismatchedResponse(BadResponse):
    """A well-formed DNS message that does not answer the query that was sent.

    Off-path spoofing shows up as this error; a UDP transport should drop the
    packet and keep waiting for the real answer until its deadline.
    """
