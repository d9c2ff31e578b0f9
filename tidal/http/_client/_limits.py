"""Pool and body limits of the client (the HTTP engine's own limits are :class:`HTTPLimits`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits", "DEFAULT_LIMITS"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on the client's connections and on what a response may decode to.

    * ``max_connections``: open connections in total, idle ones included
      (requests beyond it wait up to ``Timeout.pool``).
    * ``max_connections_per_host``: open connections to one origin
      (scheme, host, port).
    * ``max_idle_connections``: idle keep-alive connections kept; the least
      recently used beyond it are closed.
    * ``idle_expiry``: seconds an idle connection is kept before it is
      closed instead of reused (checked lazily, at the next checkout).
    * ``max_decoded_body_bytes``: the size a response body may decompress
      to (``None``: only the compression ratio limit applies).
    """

    max_connections: int = 100
    max_connections_per_host: int = 20
    max_idle_connections: int = 20
    idle_expiry: float = 5.0
    max_decoded_body_bytes: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_connections", "max_connections_per_host"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive int, not {value!r}")
        if not isinstance(self.max_idle_connections, int) or self.max_idle_connections < 0:
            raise ValueError(f"Limits.max_idle_connections must be an int >= 0, not {self.max_idle_connections!r}")
        if not self.idle_expiry > 0:
            raise ValueError(f"Limits.idle_expiry must be positive, not {self.idle_expiry!r}")


DEFAULT_LIMITS = Limits()
