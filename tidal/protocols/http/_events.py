"""The events, states and roles of the HTTP/1.1 engine.

They are h11's own classes and sentinels, re-exported unchanged: wrapping them
would cost an allocation per event on the hot path and buy nothing, because
h11's events are already immutable, validated and typed.  ``Data.data`` of a
received event is a bytes-like object (h11 hands out ``bytearray`` slices).
"""

from __future__ import annotations

from h11 import (
    CLIENT,
    CLOSED,
    DONE,
    ERROR,
    IDLE,
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

# h11 defines these but leaves them out of its public __all__ (same objects).
from h11._state import MIGHT_SWITCH_PROTOCOL
from h11._util import Sentinel

__all__ = [
    "Sentinel",
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
    "NEED_DATA",
    "PAUSED",
    "Event",
    "Request",
    "InformationalResponse",
    "Response",
    "Data",
    "EndOfMessage",
    "ConnectionClosed",
]
