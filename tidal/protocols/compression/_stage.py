"""The contract between :class:`Decompressor` and one coding's decoder.

A stage decodes exactly one content-coding.  Input is handed over with
:meth:`Stage.push` and output is pulled with :meth:`Stage.pull`, which never
returns more than ``max_length`` bytes.  Keeping "give input" and "take
output" apart is what lets a chain of codings stay bounded: a stage is only
pushed more input when it has nothing left to give, so every buffer between
two stages holds at most one ``max_length`` slice.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod

from ._errors import ChecksumError, CorruptStreamError

__all__ = ["Stage", "zlib_error"]


class Stage(ABC):
    """One coding's incremental decoder (internal interface)."""

    @abstractmethod
    def push(self, data: bytes) -> None:
        """Queue compressed ``data``; nothing is decoded until :meth:`pull`."""

    @abstractmethod
    def pull(self, max_length: int) -> bytes:
        """Return 1..``max_length`` decoded bytes, or ``b""`` when more input is needed."""

    @property
    @abstractmethod
    def needs_input(self) -> bool:
        """True when :meth:`pull` would return ``b""`` until more input is pushed."""

    @property
    @abstractmethod
    def pending_input(self) -> int:
        """How many pushed bytes have not been consumed yet (for the ratio limit)."""

    @abstractmethod
    def finish(self) -> None:
        """Declare end of input; raise if the stream is incomplete."""


def zlib_error(what: str, error: zlib.error) -> CorruptStreamError:
    """Translate a :class:`zlib.error` into our exception, keeping zlib's reason."""
    reason = str(error).split(": ", 1)[-1]
    if "incorrect data check" in reason or "incorrect length check" in reason:
        return ChecksumError(f"{what}: checksum mismatch ({reason})")
    if reason.startswith("Error 2 "):
        return CorruptStreamError(f"{what}: stream needs a preset dictionary, which HTTP does not allow")
    return CorruptStreamError(f"{what} is corrupt: {reason}")
