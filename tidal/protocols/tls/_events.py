"""Events the TLS engine reports from :meth:`TLSEngine.next_event`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Union

__all__ = [
    "HandshakeComplete",
    "Data",
    "EndOfStream",
    "CloseNotify",
    "RaggedEOF",
    "NeedData",
    "NEED_DATA",
    "Event",
]


@dataclass(frozen=True, slots=True)
class HandshakeComplete:
    """The handshake finished; reported exactly once, before any :class:`Data`.

    ``alpn_protocol`` is the negotiated ALPN protocol (``None`` when ALPN was
    not offered or not agreed) and ``tls_version`` the protocol version
    string, e.g. ``"TLSv1.3"``.
    """

    alpn_protocol: str | None
    tls_version: str


@dataclass(frozen=True, slots=True)
class Data:
    """Decrypted application data (never empty)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class EndOfStream:
    """Base of the events that end the peer's direction of the stream."""


@dataclass(frozen=True, slots=True)
class CloseNotify(EndOfStream):
    """The peer sent a TLS close_notify alert: a clean, authenticated EOF."""


@dataclass(frozen=True, slots=True)
class RaggedEOF(EndOfStream):
    """The transport hit EOF without a close_notify, and the policy allowed it.

    Reported only when the engine was created with ``allow_ragged_eof=True``,
    or when we had already sent our own close_notify (we asked to close, so
    nothing we still wanted can have been cut off).
    """


@dataclass(frozen=True, slots=True)
class NeedData:
    """The engine needs more bytes from the peer before it can make progress.

    Compare with the :data:`NEED_DATA` instance: ``event is NEED_DATA``.
    """


NEED_DATA: Final = NeedData()

Event = Union[HandshakeComplete, Data, CloseNotify, RaggedEOF, NeedData]
