"""Content-coding names: parsing ``Content-Encoding`` and building stages.

Names follow the HTTP registry (RFC 9110 §8.4.1) plus two for files and raw
data: ``zlib`` (RFC 1950 only, no sniffing) and ``deflate-raw`` (RFC 1951, the
name the WHATWG Compression Streams standard uses).  ``x-gzip`` is an alias
of ``gzip`` (RFC 9110 §8.4.1.3).  ``identity`` means "no coding" and is
dropped, but still counts toward the limit on chained codings so a header
cannot grow without bound.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from types import ModuleType

from ._brotli import BrotliStage
from ._deflate import RAW_WBITS, ZLIB_WBITS, DeflateStage
from ._errors import MissingCodecError, TooManyCodingsError, UnsupportedCodingError
from ._gzip import GzipStage
from ._stage import Stage
from ._zstd import ZstdStage

__all__ = ["MAX_CODINGS", "SUPPORTED_CODINGS", "parse_content_encoding", "available_codings", "accept_encoding", "make_stage", "require_module"]

MAX_CODINGS = 5
SUPPORTED_CODINGS = ("gzip", "deflate", "zlib", "deflate-raw", "br", "zstd")
_ALIASES = {"x-gzip": "gzip"}
_OPTIONAL_PACKAGES = {"br": "brotli", "zstd": "zstandard"}
_REQUIREMENTS = {"br": "brotli>=1.2", "zstd": "zstandard"}
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def parse_content_encoding(value: str | Iterable[str], *, max_codings: int = MAX_CODINGS) -> list[str]:
    """Return the codings named by a ``Content-Encoding`` value, in the order applied.

    ``value`` is one header value (``"gzip, br"``) or several (one per header
    line).  Names are lower-cased, ``x-gzip`` becomes ``gzip`` and ``identity``
    is dropped.  Raises :class:`TooManyCodingsError` beyond ``max_codings``
    entries and :class:`UnsupportedCodingError` for an unknown or malformed
    name.  Decoding undoes the codings in reverse order.
    """
    values = [value] if isinstance(value, str) else list(value)
    names = [name.strip().lower() for item in values for name in item.split(",") if name.strip()]
    if len(names) > max_codings:
        raise TooManyCodingsError(f"{len(names)} content-codings exceed the limit of {max_codings}")
    for name in names:
        _check_known(name)
    return [_ALIASES.get(name, name) for name in names if name != "identity"]


def available_codings() -> list[str]:
    """The supported codings whose optional packages are importable, in preference order."""
    return [name for name in SUPPORTED_CODINGS if name not in _OPTIONAL_PACKAGES or _try_import(name) is not None]


def accept_encoding() -> str:
    """An ``Accept-Encoding`` value listing the HTTP codings this installation decodes."""
    http_names = ("zstd", "br", "gzip", "deflate")
    return ", ".join(name for name in http_names if name in available_codings())


def make_stage(name: str) -> Stage:
    """Build the decoding stage for one (already parsed) coding name."""
    if name == "gzip":
        return GzipStage()
    if name in ("deflate", "zlib", "deflate-raw"):
        wbits = {"deflate": None, "zlib": ZLIB_WBITS, "deflate-raw": RAW_WBITS}[name]
        return DeflateStage(name, wbits)
    module = require_module(name)
    return BrotliStage(module) if name == "br" else ZstdStage(module)


def _check_known(name: str) -> None:
    if not _TOKEN.fullmatch(name):
        raise UnsupportedCodingError(f"malformed content-coding {name!r}")
    if name != "identity" and _ALIASES.get(name, name) not in SUPPORTED_CODINGS:
        raise UnsupportedCodingError(f"unsupported content-coding {name!r} (supported: {', '.join(SUPPORTED_CODINGS)})")


def require_module(name: str) -> ModuleType:
    """The optional package behind ``br`` or ``zstd``; :class:`MissingCodecError` if absent."""
    module = _try_import(name)
    if module is None:
        package = _OPTIONAL_PACKAGES[name]
        raise MissingCodecError(
            f"content-coding {name!r} needs the optional {package!r} package"
            f" ({_REQUIREMENTS[name]}): pip install '{_REQUIREMENTS[name]}'  (or: pip install 'tidal[compression]')"
        )
    return module


def _try_import(name: str) -> ModuleType | None:
    try:
        module = importlib.import_module(_OPTIONAL_PACKAGES[name])
    except ImportError:
        return None
    if name == "br" and not hasattr(module.Decompressor(), "can_accept_more_data"):
        return None  # brotli < 1.2 cannot bound its output
    return module
