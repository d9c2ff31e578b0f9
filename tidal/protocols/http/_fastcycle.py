"""The fast cycle: a plain keep-alive exchange handled without h11.

Theory of operation.  Most cycles on a keep-alive connection are the same
shape: a request without a body (or with a ``Content-Length`` body the
client sends), answered by a response framed by ``Content-Length``, neither
asking for anything special.  For such a cycle h11's state machine moves
through fixed states and its parsers redo work the receive gate has already
done (the head is proven valid before h11 sees it).  So :class:`HTTPConnection
<._connection.HTTPConnection>` runs these cycles itself, with the rules below,
and h11 never sees them: after ``start_next_cycle()`` h11 is in the state it
would be in anyway (both sides ``IDLE``).

A cycle enters the fast path only when every message is one this module
handles exactly as h11 would (same events, same bytes, same errors):

* requests: HTTP/1.1, exactly one ``Host``, no ``Expect`` or ``Upgrade``
  field, no ``Connection: close``, not ``CONNECT``; a received request must
  also be "plain" (no framing field at all, so it has no body), a sent one may
  carry a ``Content-Length`` body;
* responses: HTTP/1.1, status 200-599 (no 1xx), framed by exactly one
  ``Content-Length`` (or bodiless: 204, 304, an answer to HEAD), no
  ``Transfer-Encoding`` field or ``Connection: close``.

Anything else -- a chunked or close-delimited body, ``100-continue``, an
informational response, a protocol switch, an error, an EOF, a question only
h11 can answer -- *materializes* the cycle: h11 is brought to the exact state
it would have reached by replaying equivalent messages (a head whose
``Content-Length`` is what is left of the body, so no body byte is replayed),
and the cycle continues through h11 from there.  Which messages take which
path never changes the events, bytes or errors a caller sees; the tests run
every scenario with the fast cycle on and off and compare.
"""

from __future__ import annotations

import re

import h11
from h11._headers import Headers

from ._events import Sentinel

__all__ = [
    "FastCycle",
    "parse_plain_request",
    "parse_response",
    "fast_request_framing",
    "fast_response_framing",
    "write_request_head",
    "write_response_head",
]

# Fields that ask for h11's handling (100-continue, a protocol switch), and
# Host, which h11 requires exactly once.  A validated field name is followed
# directly by its colon.
_SPECIAL_FIELD = re.compile(rb"\n(expect|upgrade|host):", re.IGNORECASE)
_NO_BODY_STATUSES = (204, 304)


class FastCycle:
    """What h11 would know about the cycle in progress (see the module docstring)."""

    __slots__ = (
        "our_state", "their_state", "pending_end", "head", "method",
        "send_remaining", "sent_head", "sent_end", "receive_status", "receive_remaining",
    )

    def __init__(self, our_state: type[Sentinel], their_state: type[Sentinel], method: bytes) -> None:
        self.our_state = our_state
        self.their_state = their_state
        # Server role: the request's EndOfMessage is still to be returned.
        self.pending_end = False
        # Server role: the received request head, exactly as received.
        self.head = b""
        self.method = method
        # Our message: sent yet, body bytes still owed, EndOfMessage sent.
        self.sent_head = False
        self.send_remaining = 0
        self.sent_end = False
        # Client role: the status received (0: no response yet) and body left.
        self.receive_status = 0
        self.receive_remaining = 0


def parse_plain_request(head: bytes) -> h11.Request | None:
    """The event for a validated plain request head, or None if h11 must see it.

    ``head`` matched the plain request pattern, so its lines are well formed
    and none of them is a framing field; what is left to check here is what
    would make h11 act differently (see the module docstring).
    """
    hosts = 0
    for match in _SPECIAL_FIELD.finditer(head):
        if len(match[1]) != 4:  # Expect or Upgrade
            return None
        hosts += 1
    if hosts != 1:
        return None
    lines = head.split(b"\r\n")
    method, target, version = lines[0].split(b" ")
    if version != b"HTTP/1.1" or method == b"CONNECT":
        return None
    items = []
    for line in lines[1:-2]:
        name, _, value = line.partition(b":")
        items.append((name, name.lower(), value.strip(b" \t")))
    return h11.Request(method=method, target=target, headers=Headers(items), http_version=b"1.1", _parsed=True)


def parse_response(head: bytes) -> h11.Response:
    """The event for a validated HTTP/1.1 status head with a final status."""
    lines = head.split(b"\r\n")
    status_line = lines[0]
    reason = status_line[13:]  # b"HTTP/1.1 200 " is 13 bytes; the reason may be absent
    items = []
    for line in lines[1:-2]:
        name, _, value = line.partition(b":")
        items.append((name, name.lower(), value.strip(b" \t")))
    return h11.Response(
        status_code=int(status_line[9:12]), headers=Headers(items), http_version=b"1.1", reason=reason, _parsed=True
    )


def _framing_length(headers: Headers) -> int | None:
    """The message's single Content-Length; None if absent; -1 if h11 must send it."""
    length: int | None = None
    for _, name, value in headers._full_items:
        if name == b"content-length":
            if length is not None:
                return -1
            length = int(value)  # h11 validated it as digits when the event was built
        elif name == b"connection":
            if b"close" in value.lower():  # ends keep-alive: h11's bookkeeping
                return -1
        elif name == b"transfer-encoding" or name == b"expect" or name == b"upgrade":
            return -1
    return length


def fast_request_framing(request: h11.Request) -> int:
    """The body length of a request the fast cycle can send, or -1."""
    if request.http_version != b"1.1" or request.method == b"CONNECT":
        return -1
    length = _framing_length(request.headers)
    return 0 if length is None else length


def fast_response_framing(response: h11.Response, request_method: bytes) -> int:
    """The body length of a response the fast cycle can send, or -1."""
    status = response.status_code
    if response.http_version != b"1.1" or status > 599:
        return -1
    length = _framing_length(response.headers)
    if length == -1:
        return -1
    if request_method == b"HEAD":
        # h11 frames a HEAD response as the GET one would be, adding
        # Transfer-Encoding: chunked when there is no Content-Length.
        return -1 if length is None else 0
    if status in _NO_BODY_STATUSES:
        return 0
    return -1 if length is None else length


def _write_fields(headers: Headers, parts: list[bytes]) -> None:
    # h11 writes Host first, then the rest in order; so do we.
    items = headers._full_items
    for raw_name, name, value in items:
        if name == b"host":
            parts.append(b"%s: %s\r\n" % (raw_name, value))
    for raw_name, name, value in items:
        if name != b"host":
            parts.append(b"%s: %s\r\n" % (raw_name, value))
    parts.append(b"\r\n")


def write_request_head(request: h11.Request) -> bytes:
    """The bytes h11 would write for ``request``."""
    parts = [b"%s %s HTTP/1.1\r\n" % (request.method, request.target)]
    _write_fields(request.headers, parts)
    return b"".join(parts)


def write_response_head(response: h11.Response) -> bytes:
    """The bytes h11 would write for ``response``."""
    parts = [b"HTTP/1.1 %d %s\r\n" % (response.status_code, response.reason)]
    _write_fields(response.headers, parts)
    return b"".join(parts)

