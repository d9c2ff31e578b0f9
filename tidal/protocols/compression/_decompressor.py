"""The public incremental decoder: a chain of coding stages plus limits.

Theory of operation.  Codings are undone in reverse order of application
(RFC 9110 §8.4: ``Content-Encoding: gzip, br`` was gzipped, then brotli'd).
Output is *pulled* from the last stage; a stage that needs input pulls from
the one before it, and only the first stage receives new bytes.  Each pull
returns at most ``max_length`` bytes, so however hostile the input, a single
call never materializes more than one ``max_length`` slice per stage: the
defence the streaming readers of urllib3 (CVE-2025-66471) and others lacked.

Over the whole stream, ``max_output`` caps the decoded size and ``max_ratio``
caps decoded bytes per *consumed* input byte (consumed, not fed: a caller may
hand over a large chunk at once, and the ratio must trip while it is being
expanded).  The ratio is only judged once the output passes
``RATIO_GRACE_BYTES``, so short, very repetitive bodies are not refused.

Faults and split independence.  Every byte decoded before a fault reaches
the caller, whatever the split of the input: a call that decodes output and
then meets a fault (corrupt data, a bad checksum, trailing garbage) returns
the output, and the error is raised by the next call (``feed`` or
``finish``); :attr:`Decompressor.needs_input` stays false until then, so the
usual loop reaches it.  Stages keep the fault (see ``_stage``).
``max_output`` works the same way: exactly ``max_output`` bytes are returned,
and the next call raises.  The ratio limit raises at once: it judges the
input consumed so far, which depends on the split by nature.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._codings import MAX_CODINGS, make_stage, parse_content_encoding
from ._errors import CompressionError, CompressionUsageError, DecompressionLimitError
from ._stage import Stage

__all__ = ["Decompressor", "DEFAULT_MAX_LENGTH", "DEFAULT_MAX_RATIO", "RATIO_GRACE_BYTES"]

DEFAULT_MAX_LENGTH = 256 * 1024
DEFAULT_MAX_RATIO = 1000.0
RATIO_GRACE_BYTES = 1024 * 1024


class Decompressor:
    """Incrementally undo one or more content-codings, within output limits.

    ``codings`` lists the codings in the order they were applied, exactly as
    ``Content-Encoding`` does: a string (``"gzip"``, ``"gzip, br"``) or a
    sequence of names.  An empty list means identity: bytes pass through.

    Use: ``out = d.feed(chunk)`` for each input chunk; while
    :attr:`needs_input` is false, call ``d.feed(b"")`` for more output (one
    call returns at most ``max_length`` bytes).  At end of input call
    :meth:`finish`, which raises :class:`TruncatedStreamError` if the stream
    is incomplete.  ``feed(b"")`` therefore means "no new input", never EOF.

    Limits: ``max_output`` (total decoded bytes, ``None`` = unlimited) and
    ``max_ratio`` (decoded bytes per consumed input byte, judged after the
    first MiB of output; ``None`` = unlimited) raise
    :class:`DecompressionLimitError`.  After any error, further calls raise
    :class:`CompressionUsageError`.

    Faults: output decoded before a fault is never dropped.  A call that
    decodes some output and then meets a fault (corrupt or trailing bytes, a
    bad checksum; ``max_output`` after exactly that many bytes) returns the
    output, and the next :meth:`feed` or :meth:`finish` raises the error, so
    the bytes returned before an error are the same whatever the split of
    the input (for ``br``, see its stage).
    """

    def __init__(
        self,
        codings: str | Sequence[str] = "gzip",
        *,
        max_output: int | None = None,
        max_ratio: float | None = DEFAULT_MAX_RATIO,
        max_length: int = DEFAULT_MAX_LENGTH,
        max_codings: int = MAX_CODINGS,
    ) -> None:
        if max_length < 1:
            raise ValueError(f"max_length must be positive, not {max_length}")
        names = parse_content_encoding(codings, max_codings=max_codings)
        self.codings: tuple[str, ...] = tuple(names)
        self._stages: list[Stage] = [make_stage(name) for name in reversed(names)]
        self._max_output = max_output
        self._max_ratio = max_ratio
        self._max_length = max_length
        self._total_in = 0
        self._total_out = 0
        self._failure: BaseException | None = None
        self._deferred: DecompressionLimitError | None = None  # max_output, raised by the next call
        self._finished = False

    @property
    def total_in(self) -> int:
        """Compressed bytes fed so far."""
        return self._total_in

    @property
    def total_out(self) -> int:
        """Decoded bytes returned so far."""
        return self._total_out

    @property
    def needs_input(self) -> bool:
        """True when every fed byte has been decoded and returned: feed more, or finish."""
        return self._deferred is None and all(stage.needs_input for stage in self._stages)

    def feed(self, data: bytes) -> bytes:
        """Add ``data`` (may be empty) and return up to ``max_length`` decoded bytes."""
        self._check_usable("feed()")
        self._total_in += len(data)
        try:
            self._raise_deferred()
            if not self._stages:
                return self._account(data)
            if data:
                self._stages[0].push(data)
            return self._account(self._pull(len(self._stages) - 1, self._next_length()))
        except CompressionError as error:
            self._failure = error
            raise

    def finish(self) -> None:
        """Declare end of input; raise :class:`TruncatedStreamError` if a stream is incomplete.

        All output must have been taken first (:attr:`needs_input` true).  An
        input of zero bytes is accepted as an empty body whatever the codings,
        since servers send empty bodies with a ``Content-Encoding`` header.
        """
        self._check_usable("finish()")
        try:
            self._raise_deferred()
            for stage in self._stages:
                if stage.fault is not None:
                    raise stage.fault
        except CompressionError as error:
            self._failure = error
            raise
        if not self.needs_input:
            raise CompressionUsageError("finish() called while decoded output is pending: call feed(b'') until needs_input")
        self._finished = True
        if self._total_in == 0:
            return
        try:
            for stage in self._stages:
                stage.finish()
        except CompressionError as error:
            self._failure = error
            raise

    def _pull(self, index: int, max_length: int) -> bytes:
        stage = self._stages[index]
        while True:
            out = stage.pull(max_length)
            if out or index == 0:
                return out
            upstream = self._pull(index - 1, max_length)
            if not upstream:
                return b""
            stage.push(upstream)

    def _next_length(self) -> int:
        # Never decode more than one byte past max_output: the bomb stops there.
        if self._max_output is None:
            return self._max_length
        return max(1, min(self._max_length, self._max_output - self._total_out + 1))

    def _raise_deferred(self) -> None:
        if self._deferred is not None:
            raise self._deferred

    def _account(self, out: bytes) -> bytes:
        """Count ``out`` against the limits; return what may be handed out."""
        total = self._total_out + len(out)
        if self._max_output is not None and total > self._max_output:
            error = DecompressionLimitError(f"decompressed size exceeds max_output={self._max_output} bytes")
            allowed = self._max_output - self._total_out
            if allowed <= 0:
                raise error
            self._deferred = error  # hand out exactly max_output bytes; the next call raises
            out = out[:allowed]
            total = self._max_output
        self._total_out = total
        if self._max_ratio is not None and self._stages and total > RATIO_GRACE_BYTES:
            consumed = self._total_in - self._stages[0].pending_input
            if total > self._max_ratio * consumed:
                raise DecompressionLimitError(
                    f"decompression ratio exceeds max_ratio={self._max_ratio:g}"
                    f" ({total} bytes out of {consumed} compressed bytes)"
                )
        return out

    def _check_usable(self, call: str) -> None:
        if self._failure is not None:
            raise CompressionUsageError(f"{call} after the decompressor failed: {self._failure}")
        if self._finished:
            raise CompressionUsageError(f"{call} after finish()")
