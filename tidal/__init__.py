"""tidal: an async-native protocol stack for Python.

The top-level names are loaded lazily so that importing one layer (say
``tidal.protocols.http``) never drags in the others:

* ``tidal.new_event_loop()``, ``tidal.run(coro)``, ``tidal.EventLoopPolicy``,
  ``tidal.install()`` and ``tidal.EventLoop`` come from :mod:`tidal.loop`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it; resolved on first attribute access.
_LAZY_EXPORTS = {
    "EventLoop": "tidal.loop",
    "EventLoopPolicy": "tidal.loop",
    "new_event_loop": "tidal.loop",
    "run": "tidal.loop",
    "install": "tidal.loop",
}

__all__ = ["__version__", *_LAZY_EXPORTS]

if TYPE_CHECKING:
    from tidal.loop import EventLoop, EventLoopPolicy, install, new_event_loop, run


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
