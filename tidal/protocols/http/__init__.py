"""Sans-IO HTTP/1.1 for client and server roles: h11 plus strictness and limits.

:class:`HTTPConnection` takes received bytes and returns events, and turns
events into bytes to send.  It refuses what h11 tolerates but a hardened peer
must not (CL+TE, duplicate Content-Length, obs-fold, bare CR/LF, control
characters, odd chunk framing, unsupported versions) and enforces
:class:`HTTPLimits` whatever the TCP split.  The events, states and sentinels
are h11's own classes, re-exported.  See ``docs/protocols/http.md``.
"""

from ._connection import HTTPConnection
from ._errors import HTTPLocalProtocolError, HTTPRemoteProtocolError
from ._events import (
    CLIENT,
    CLOSED,
    DONE,
    ERROR,
    IDLE,
    MIGHT_SWITCH_PROTOCOL,
    MUST_CLOSE,
    NEED_DATA,
    PAUSED,
    SEND_BODY,
    SEND_RESPONSE,
    SERVER,
    SWITCHED_PROTOCOL,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    InformationalResponse,
    Request,
    Response,
)
from ._limits import HTTPLimits

__all__ = [
    "HTTPConnection",
    "HTTPLimits",
    "HTTPLocalProtocolError",
    "HTTPRemoteProtocolError",
    "Event",
    "Request",
    "InformationalResponse",
    "Response",
    "Data",
    "EndOfMessage",
    "ConnectionClosed",
    "NEED_DATA",
    "PAUSED",
    "CLIENT",
    "SERVER",
    "IDLE",
    "SEND_RESPONSE",
    "SEND_BODY",
    "DONE",
    "MUST_CLOSE",
    "CLOSED",
    "ERROR",
    "MIGHT_SWITCH_PROTOCOL",
    "SWITCHED_PROTOCOL",
]
