"""The engine's states and, as data, which operations each state allows.

STYLE.md #2: transitions are decided by the engine, but *whether an operation
is legal at all* is looked up here, so the rules can be read in one place and
a misuse names the state it happened in.
"""

from __future__ import annotations

import enum
from typing import Final, Mapping

__all__ = ["TLSState", "ALLOWED_OPERATIONS"]


class TLSState(enum.Enum):
    """Where a :class:`~tidal.protocols.tls.TLSEngine` is in its life."""

    #: The handshake has not finished yet.
    HANDSHAKING = "HANDSHAKING"
    #: Application data flows both ways.
    OPEN = "OPEN"
    #: One side has closed: we sent close_notify, or the peer ended its
    #: direction (close_notify or an allowed ragged EOF).  No more sending.
    CLOSING = "CLOSING"
    #: Both directions are finished; only the last bytes remain to flush.
    CLOSED = "CLOSED"
    #: A fatal TLS error happened; only the pending alert may be flushed.
    ERROR = "ERROR"


_ALWAYS: Final = frozenset({"data_to_send"})

#: operation name -> the states in which it may be called.
ALLOWED_OPERATIONS: Final[Mapping[TLSState, frozenset[str]]] = {
    TLSState.HANDSHAKING: _ALWAYS | {"receive_data", "do_handshake", "next_event", "read_into"},
    TLSState.OPEN: _ALWAYS
    | {"receive_data", "do_handshake", "next_event", "read_into", "send", "start_close"},
    TLSState.CLOSING: _ALWAYS | {"receive_data", "next_event", "read_into", "start_close"},
    TLSState.CLOSED: _ALWAYS
    | {"receive_data", "next_event", "read_into", "start_close", "unwrap"},
    TLSState.ERROR: _ALWAYS,
}
