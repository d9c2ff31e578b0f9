"""tidal: an async-native protocol stack for Python.

The top-level names are loaded lazily so that importing one layer (say
``tidal.protocols.http``) never drags in the others:

* ``tidal.EventLoop`` and ``tidal.EventLoopPolicy`` come from :mod:`tidal.loop`;
* ``tidal.new_event_loop()``, ``tidal.run(coro)`` and ``tidal.install()`` give
  tidal's loop with ``getaddrinfo`` answered by :mod:`tidal.dns` instead of
  libc in a thread (see ``docs/dns.md``).  The loop layer cannot import the
  resolver, which sits above it, so this package -- above every layer --
  connects them: it sets a hook that imports :mod:`tidal.dns` on the first
  name lookup.  ``tidal.loop.new_event_loop()`` is the bare loop.
* ``tidal.open(path, mode, compression=..., encoding=...)`` (async files
  that never block the loop) comes from :mod:`tidal.streams`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, TypeVar

__version__ = "0.1.0"

# name -> module that defines it; resolved on first attribute access.
_LAZY_EXPORTS = {
    "EventLoop": "tidal.loop",
    "EventLoopPolicy": "tidal.loop",
    "open": "tidal.streams",
}

__all__ = ["__version__", *_LAZY_EXPORTS, "new_event_loop", "run", "install"]

if TYPE_CHECKING:
    from collections.abc import Coroutine

    # ``X as X``: explicit re-exports for type checkers (``__all__`` is built dynamically).
    from tidal.loop import EventLoop as EventLoop
    from tidal.loop import EventLoopPolicy as EventLoopPolicy
    from tidal.streams import open as open
    from tidal.loop._poller import Poller

_T = TypeVar("_T")


def new_event_loop(*, poller: str | Poller | None = None) -> EventLoop:
    """A new tidal loop whose ``getaddrinfo`` is :func:`tidal.dns.system_getaddrinfo`.

    ``poller`` names a backend as for :func:`tidal.loop.new_event_loop`.
    ``loop.set_getaddrinfo_hook(None)`` returns that loop to libc in a thread.
    """
    from tidal.loop import new_event_loop as new_bare_loop

    loop = new_bare_loop(poller=poller)
    loop.set_getaddrinfo_hook(_getaddrinfo_through_tidal_dns)
    return loop


def run(main: Coroutine[Any, Any, _T], *, debug: bool | None = None) -> _T:
    """Run ``main`` on a new :func:`new_event_loop` loop and close it, like ``asyncio.run``."""
    import asyncio

    with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
        return runner.run(main)


def install() -> None:
    """Make :func:`new_event_loop` loops the default for ``asyncio.run`` and ``asyncio.new_event_loop``."""
    import asyncio

    from tidal.loop import EventLoopPolicy

    class _ResolvingPolicy(EventLoopPolicy):
        def new_event_loop(self) -> EventLoop:
            return new_event_loop()

    asyncio.set_event_loop_policy(_ResolvingPolicy())


async def _getaddrinfo_through_tidal_dns(
    host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
) -> list[tuple[Any, Any, int, str, Any]]:
    # Imported here, on the first lookup: creating a loop never loads the resolver.
    from tidal.dns import system_getaddrinfo

    return await system_getaddrinfo(host, port, family, type, proto, flags)


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first use (PEP 562)."""
    module_name = _LAZY_EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'tidal' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
