"""Accepting a response only when it answers the query that was sent.

Theory of operation.  An off-path attacker who wants to poison a stub
resolver must deliver a forged UDP datagram that arrives before the real one
and matches everything the resolver checks (RFC 5452 §9.1): the source
address and port the query went to, the 16-bit ID, and the question name,
type and class.  With 0x20 (draft-vixie-dnsext-dns0x20) the question name's
random letter case must also come back exactly, adding a bit per letter.
The checks here run cheapest first, so garbage is refused before it is
parsed.  The random source port and ID themselves are the transport's and
:func:`build_query`'s job.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ._errors import BadQuery, MismatchedResponse
from ._message import MAX_MESSAGE_SIZE, Response, check_header, parse_checked
from ._query import Query

__all__ = ["match_response", "needs_tcp_retry", "same_address"]

Address = tuple[Any, ...]


def match_response(
    query: Query,
    wire: bytes,
    *,
    sent_to: Address,
    received_from: Address,
    max_size: int = MAX_MESSAGE_SIZE,
) -> Response:
    """Parse ``wire`` and check that it answers ``query``.

    ``sent_to`` is the socket address the query was sent to and
    ``received_from`` the one the datagram came from (``(host, port)`` or
    the 4-tuple of IPv6).  Raises :class:`MismatchedResponse` when the source,
    ID or question differ, :class:`BadResponse` when the bytes are malformed,
    and :class:`BadQuery` when ``sent_to`` is not an IP address.
    """
    if not same_address(sent_to, received_from):
        raise MismatchedResponse(
            f"response came from {_show(received_from)}, but the query was sent to {_show(sent_to)}"
        )
    check_header(wire, max_size)
    response_id = (wire[0] << 8) | wire[1]
    if response_id != query.id:
        raise MismatchedResponse(f"response ID {response_id:#06x} does not match query ID {query.id:#06x}")
    response = parse_checked(wire)
    _check_question(query, response)
    return response


def _check_question(query: Query, response: Response) -> None:
    question = response.question
    if question.rdtype != query.rdtype or question.rdclass != query.rdclass:
        raise MismatchedResponse(
            f"response question type/class {question.rdtype}/{question.rdclass} does not match "
            f"the query's {query.rdtype}/{query.rdclass}"
        )
    if question.name == query.name:
        return
    if query.use_0x20 and question.name.lower() == query.name.lower():
        raise MismatchedResponse(
            f"response question name {question.name!r} does not repeat the 0x20 case of {query.name!r}"
        )
    if question.name.lower() != query.name.lower():
        raise MismatchedResponse(f"response question name {question.name!r} does not match {query.name!r}")


def needs_tcp_retry(response: Response, *, over_tcp: bool) -> bool:
    """Whether to ask again over TCP: the TC bit on a UDP response (RFC 7766 §5).

    A TC bit over TCP means the server could not fit the answer even there;
    retrying would not help, so the caller uses what arrived.
    """
    return response.truncated and not over_tcp


def same_address(sent_to: Address, received_from: Address) -> bool:
    """Whether two socket addresses name the same IP, port (and IPv6 scope).

    Text forms are compared as addresses (``::1`` equals ``0::1``; an
    IPv4-mapped IPv6 address equals its IPv4 address).
    """
    if sent_to == received_from:
        return True
    if len(sent_to) < 2 or len(received_from) < 2 or sent_to[1] != received_from[1]:
        return False
    if len(sent_to) >= 4 and len(received_from) >= 4 and sent_to[3] and received_from[3]:
        if sent_to[3] != received_from[3]:
            return False
    try:
        ours = _normalize(sent_to[0])
    except ValueError as exc:
        raise BadQuery(f"the query was sent to {sent_to[0]!r}, which is not an IP address") from exc
    try:
        theirs = _normalize(received_from[0])
    except ValueError:
        return False
    return ours == theirs


def _normalize(host: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if not isinstance(host, str):
        raise ValueError(f"{host!r} is not text")
    # The scope travels separately (the 4-tuple's scope_id), and interface
    # names and numbers are two spellings of it, so it is dropped here.
    address = ipaddress.ip_address(host.partition("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _show(address: Address) -> str:
    if len(address) >= 2:
        host = str(address[0])
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return repr(address)
