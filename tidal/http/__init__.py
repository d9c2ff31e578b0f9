"""HTTP/1.1 client and server on tidal's streams and sans-IO engine.

See ``docs/http-client.md`` and ``docs/http-server.md``.  Shared by both
sides: :class:`Headers`, an ordered case-insensitive multi-dict.
"""

from ._headers import Headers, HeadersLike

__all__ = [
    "Headers",
    "HeadersLike",
]
