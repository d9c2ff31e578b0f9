"""The contract between :class:`Decompressor` and one coding's decoder.

A stage decodes exactly one content-coding.  Input is handed over with
:meth:`Stage.push` and output is pulled with :meth:`Stage.pull`, which never
returns more than ``max_length`` bytes.  Keeping "give input" and "take
output" apart is what lets a chain of codings stay bounded: a stage is only
pushed more input when it has nothing left to give, so every buffer between
two stages holds at most one ``max_length`` slice.

Faults.  Output decoded before a fault in the input is never dropped: a stage
that finds a fault after producing output in the same :meth:`Stage.pull`
returns that output, keeps the error in :attr:`Stage.fault` and raises it
from the next pull (its :attr:`Stage.needs_input` stays false meanwhile).
A zlib call that fails loses the output it had produced, so zlib-based stages
copy the inflater before each call and, when it fails, decode on copies the
longest prefix of that call's input that still decodes (:func:`salvage_inflate`,
a bisection): the output before the fault is then exactly what a
byte-by-byte feed would have given, whatever the split of the input.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from typing import Any

from ._errors import ChecksumError, CorruptStreamError, DecompressionError

__all__ = ["Stage", "zlib_error", "salvage_inflate"]


class Stage(ABC):
    """One coding's incremental decoder (internal interface)."""

    #: A fault found after output was decoded; raised by the next pull.
    fault: DecompressionError | None = None

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


def zlib_error(what: str, error: Exception) -> CorruptStreamError:
    """Translate a :class:`zlib.error` (or zlib-ng's) into our exception, keeping the library's reason."""
    reason = str(error).split(": ", 1)[-1]
    if "incorrect data check" in reason or "incorrect length check" in reason:
        return ChecksumError(f"{what}: checksum mismatch ({reason})")
    if reason.startswith("Error 2 "):
        return CorruptStreamError(f"{what}: stream needs a preset dictionary, which HTTP does not allow")
    return CorruptStreamError(f"{what} is corrupt: {reason}")


def salvage_inflate(
    inflater: Any, data: bytes, max_length: int, library_error: type[Exception] = zlib.error
) -> tuple[bytes, Exception | None]:
    """The output a byte-by-byte feed of ``data`` gives before it fails, and that failure.

    ``inflater`` is a copy taken before a call on ``data`` failed, and
    ``library_error`` the ``error`` class of its library (zlib or zlib-ng).  The
    longest prefix of ``data`` that decodes is found by bisection: a prefix
    fails exactly when it reaches the fault.  Each good probe's state is
    kept, so the whole search decodes about ``len(data)`` bytes plus
    ``log2(len(data))`` inflater copies, rather than one Python call per
    byte (which a hostile peer could make expensive).  Returns the output
    (at most ``max_length`` bytes) and the error of the shortest failing
    prefix (None if no probe failed: the failing call's own error stands).
    """
    out = b""
    start, end = 0, len(data)  # inflater has decoded data[:start]; data[:end] fails
    error: Exception | None = None
    while end - start > 1 and len(out) < max_length:
        middle = (start + end) // 2
        probe = inflater.copy()
        try:
            piece = probe.decompress(data[start:middle], max_length - len(out))
        except library_error as failure:
            end, error = middle, failure
            continue
        if probe.unconsumed_tail or probe.eof:
            break  # cannot happen before a fault (the failing call stopped short of max_length)
        inflater, start, out = probe, middle, out + piece
    return out, error

