"""The server's limits and timeouts, with their documented defaults.

Every size limit maps onto :class:`tidal.protocols.http.HTTPLimits` (the
engine enforces them whatever the TCP split); the rest are enforced by the
connection cycle and the accept loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from tidal.protocols.http import HTTPLimits

__all__ = ["ServerLimits", "ServerTimeouts", "DEFAULT_SERVER_LIMITS", "DEFAULT_SERVER_TIMEOUTS"]


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Bounds on what one client, or all of them together, may make the server hold.

    * ``max_header_bytes`` (64 KiB): the request head, request line and final
      empty line included; larger heads are answered with 431.
    * ``max_header_count`` (100): header fields per request (431).
    * ``max_request_line_bytes`` (8 KiB): the request line with its CRLF (414).
    * ``max_body_bytes`` (16 MiB; ``None`` for unlimited): the request body
      after transfer decoding (413).
    * ``max_connections`` (1024): connections served at once.
    * ``overload`` (``"reject"``): what happens to a connection beyond
      ``max_connections``: ``"reject"`` answers it with 503 and closes it,
      ``"backlog"`` stops accepting until a slot frees, leaving new clients in
      the kernel's listen queue.
    * ``max_requests_per_connection`` (10000; ``None`` for unlimited): the
      last allowed response carries ``Connection: close``.
    * ``max_unread_body_bytes`` (1 MiB): when a handler answers without
      reading the whole request body, up to this many body bytes are read and
      discarded so the connection can be reused; a longer body closes it.
    """

    max_header_bytes: int = 64 * 1024
    max_header_count: int = 100
    max_request_line_bytes: int = 8 * 1024
    max_body_bytes: int | None = 16 * 1024 * 1024
    max_connections: int = 1024
    overload: Literal["reject", "backlog"] = "reject"
    max_requests_per_connection: int | None = 10_000
    max_unread_body_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("max_connections", "max_unread_body_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0 or (name == "max_connections" and value < 1):
                raise ValueError(f"{name} must be a positive int, not {value!r}")
        if self.overload not in ("reject", "backlog"):
            raise ValueError(f"overload must be 'reject' or 'backlog', not {self.overload!r}")
        requests = self.max_requests_per_connection
        if requests is not None and (not isinstance(requests, int) or requests < 1):
            raise ValueError(f"max_requests_per_connection must be None or a positive int, not {requests!r}")
        self.engine_limits()  # validates the size limits

    def engine_limits(self) -> HTTPLimits:
        """The size limits in the engine's terms."""
        return HTTPLimits(
            max_header_bytes=self.max_header_bytes,
            max_header_count=self.max_header_count,
            max_start_line_bytes=self.max_request_line_bytes,
            max_body_bytes=self.max_body_bytes,
        )


@dataclass(frozen=True, slots=True)
class ServerTimeouts:
    """How long the server waits for each thing, in seconds.

    * ``header_read`` (10.0): from the first byte of a request head until the
      whole head has arrived.  The deadline does not move when more bytes
      trickle in, so a client dripping one byte a second (slowloris) is cut
      off; it gets 408 and the connection is closed.
    * ``body_read`` (30.0): the longest gap between two pieces of the request
      body while the handler reads it (408 if no response has started).
    * ``keep_alive`` (5.0): how long an idle connection waits for the first
      byte of its next request (also for the first request of a new
      connection) before it is closed quietly.
    * ``write`` (30.0): the longest a single send may wait for the client to
      read; a client that stops reading loses its connection.
    * ``tls_handshake`` (10.0): the TLS handshake of a new connection.
    * ``shutdown_grace`` (10.0): after :meth:`Server.close`, how long
      in-flight requests may take to finish before they are cancelled.
    """

    header_read: float = 10.0
    body_read: float = 30.0
    keep_alive: float = 5.0
    write: float = 30.0
    tls_handshake: float = 10.0
    shutdown_grace: float = 10.0

    def __post_init__(self) -> None:
        for name in ("header_read", "body_read", "keep_alive", "write", "tls_handshake", "shutdown_grace"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
                raise ValueError(f"{name} must be a number of seconds >= 0, not {value!r}")


DEFAULT_SERVER_LIMITS = ServerLimits()
DEFAULT_SERVER_TIMEOUTS = ServerTimeouts()
