"""The process-wide resolver behind ``tidal.run`` / ``tidal.new_event_loop``.

Theory of operation
-------------------
tidal's loop may not import this package (imports point down), so the loop
only offers ``set_getaddrinfo_hook``.  The top-level ``tidal.new_event_loop``
(above every layer) sets a small hook that imports this module on the first
name lookup and calls :func:`system_getaddrinfo`; a program that never
resolves a name never pays for importing the resolver.

All such loops share one :func:`system_resolver`, built from the system
files the first time it is needed, so its cache serves every loop of the
process, as the C library's would.  Like glibc (since 2.26) it notices when
``/etc/resolv.conf`` or ``/etc/hosts`` change: their modification times are
checked at most once per :data:`RECHECK_INTERVAL` seconds and the resolver
re-reads them when either moved.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ._getaddrinfo import AddrInfo
from ._resolver import Resolver

__all__ = ["system_resolver", "system_getaddrinfo", "RECHECK_INTERVAL"]

RECHECK_INTERVAL = 2.0
"""Seconds between two checks of the system files' modification times."""

_RESOLV_CONF = "/etc/resolv.conf"
_HOSTS = "/etc/hosts"


class _SystemResolver:
    """The shared resolver and the file stamps it was built from."""

    def __init__(self) -> None:
        self.resolver: Resolver | None = None
        self.stamps: tuple[float | None, ...] = ()
        self.checked_at = float("-inf")

    def get(self) -> Resolver:
        now = time.monotonic()
        if self.resolver is not None and now - self.checked_at < RECHECK_INTERVAL:
            return self.resolver
        self.checked_at = now
        stamps = (_mtime(_RESOLV_CONF), _mtime(_HOSTS))
        if self.resolver is None:
            self.resolver = Resolver(resolv_conf=_RESOLV_CONF, hosts_file=_HOSTS)
        elif stamps != self.stamps:
            self.resolver.reload()
        self.stamps = stamps
        return self.resolver


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


_SYSTEM = _SystemResolver()


def system_resolver() -> Resolver:
    """The process-wide resolver configured from ``/etc/resolv.conf`` and ``/etc/hosts``.

    Built on first use and re-read when either file changes (checked at
    most every :data:`RECHECK_INTERVAL` seconds).
    """
    return _SYSTEM.get()


async def system_getaddrinfo(
    host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
) -> list[AddrInfo]:
    """``socket.getaddrinfo`` answered by :func:`system_resolver`, without a thread.

    This is the hook ``tidal.new_event_loop()`` gives tidal's loop.
    """
    return await _SYSTEM.get().getaddrinfo(host, port, family, type, proto, flags)
