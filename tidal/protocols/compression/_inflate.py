"""The inflate library behind the gzip, zlib and raw deflate stages.

Theory of operation.  Inflating is most of the CPU time of reading a gzip
file or body line by line (about a third of ``gzip.open(..., "rt")``), and
zlib-ng inflates the same streams, bit for bit and with the same API, in
less than half of zlib's time (it uses wider loads and SIMD for the window
copies and CRC-32).  When the optional ``zlib-ng`` package is installed
(``pip install 'tidal[speedups]'``) the stages use it; otherwise the
standard :mod:`zlib`.  Both give the same output and the same exceptions
from the stages: their error messages come from the same source, and the
stages catch whichever module's ``error`` the backend raises.

The choice is read when a stage is created, so :func:`set_inflate_backend`
affects streams started afterwards and never one in progress.
"""

from __future__ import annotations

import zlib
from types import ModuleType

from ._errors import MissingCodecError

__all__ = ["INFLATE_BACKENDS", "inflate_backend", "set_inflate_backend", "current_module"]

#: Backend names, fastest first.
INFLATE_BACKENDS = ("zlib-ng", "zlib")


def _load(name: str) -> ModuleType | None:
    if name == "zlib":
        return zlib
    try:
        from zlib_ng import zlib_ng
    except ImportError:
        return None
    return zlib_ng


_module: ModuleType = _load("zlib-ng") or zlib


def current_module() -> ModuleType:
    """The module new stages inflate with (``zlib`` or ``zlib_ng.zlib_ng``; internal)."""
    return _module


def inflate_backend() -> str:
    """The name of the library gzip, zlib and raw deflate are inflated with: ``"zlib-ng"`` or ``"zlib"``."""
    return "zlib" if _module is zlib else "zlib-ng"


def set_inflate_backend(name: str) -> None:
    """Inflate with ``name`` (``"zlib-ng"`` or ``"zlib"``) from now on; decoders already started keep theirs.

    ``"zlib-ng"`` needs the ``zlib-ng`` package (``pip install
    'tidal[speedups]'``); without it this raises
    :class:`~tidal.protocols.compression.MissingCodecError`.  The default is
    zlib-ng when it is installed, else the standard :mod:`zlib`.
    """
    global _module
    if name not in INFLATE_BACKENDS:
        raise ValueError(f"unknown inflate backend {name!r}; choose one of {', '.join(INFLATE_BACKENDS)}")
    module = _load(name)
    if module is None:
        raise MissingCodecError(f"the {name} inflate backend needs the zlib-ng package (pip install 'tidal[speedups]')")
    _module = module
