"""The exception roots shared by every sans-IO engine.

STYLE.md #3: errors say whose fault it was.  A :class:`LocalProtocolError`
means our caller misused an engine (sent a response before a request, wrote
after closing); a :class:`RemoteProtocolError` means the peer sent bytes the
protocol does not allow.  Each engine subclasses both so callers can catch
"anything this engine raises" or "only what the peer did".
"""

from __future__ import annotations

__all__ = ["ProtocolError", "LocalProtocolError", "RemoteProtocolError"]


class ProtocolError(Exception):
    """Base class of every error a tidal protocol engine raises."""


class LocalProtocolError(ProtocolError):
    """The engine's caller broke the protocol or the engine's API contract."""


class RemoteProtocolError(ProtocolError):
    """The peer sent data the protocol forbids, or data exceeding a limit."""
