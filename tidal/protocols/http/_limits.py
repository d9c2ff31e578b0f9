"""Size limits for the HTTP/1.1 engine (all checked whatever the TCP split)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HTTPLimits", "DEFAULT_LIMITS"]


@dataclass(frozen=True, slots=True)
class HTTPLimits:
    """Bounds on what the peer may send; each crossing raises a remote error.

    * ``max_header_bytes``: the whole header section, start line and final
      empty line included (431).  The trailer section of a chunked body has
      its own budget of the same size.
    * ``max_header_count``: field lines in the header section (431); the
      trailer section has its own budget of the same count.
    * ``max_start_line_bytes``: the request line (414) or status line,
      including its CRLF.
    * ``max_body_bytes``: the message body after transfer decoding (413);
      ``None`` means unlimited.
    * ``max_chunk_line_bytes``: one chunk-size line with its extensions (400).
    * ``max_content_codings``: entries in ``Content-Encoding`` (415).
    """

    max_header_bytes: int = 64 * 1024
    max_header_count: int = 100
    max_start_line_bytes: int = 8 * 1024
    max_body_bytes: int | None = None
    max_chunk_line_bytes: int = 4 * 1024
    max_content_codings: int = 5

    def __post_init__(self) -> None:
        for name in ("max_header_bytes", "max_header_count", "max_start_line_bytes", "max_chunk_line_bytes", "max_content_codings"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, not {value!r}")
        if self.max_body_bytes is not None and (not isinstance(self.max_body_bytes, int) or self.max_body_bytes < 0):
            raise ValueError(f"max_body_bytes must be None or an int >= 0, not {self.max_body_bytes!r}")
        if self.max_start_line_bytes > self.max_header_bytes:
            raise ValueError(
                f"max_start_line_bytes ({self.max_start_line_bytes}) cannot exceed max_header_bytes ({self.max_header_bytes})"
            )


DEFAULT_LIMITS = HTTPLimits()
