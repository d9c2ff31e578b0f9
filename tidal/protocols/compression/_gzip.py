"""Multi-member gzip (RFC 1952) decoding.

Theory of operation.  A gzip stream is one or more *members*, each a header,
a raw deflate body and an 8-byte trailer (CRC-32 and length mod 2**32 of the
member's output).  RFC 1952 §2.2 says a decoder must handle several members
one after another (``cat a.gz b.gz`` is a valid gzip file), and some HTTP
servers and log rotators produce exactly that; decoders that stop after the
first member silently drop data.

We parse header and trailer ourselves and inflate the body as raw deflate.
That costs nothing extra (zlib would compute the same CRC-32 internally) and
tells us precisely where a stream was truncated (header, body or trailer) and
which check failed, so errors can say so.

After a member, the next bytes must be another member (``1f 8b``).  Zero
bytes are accepted as padding up to the end of the input, as gzip(1) and
Python's :mod:`gzip` accept them (tape and block devices pad files); any
non-zero byte after the padding is trailing garbage.  The header's optional
fields are bounded (64 KiB in total) so a header without its NUL terminator
cannot buffer without limit, and they are scanned incrementally so a header
arriving byte by byte costs linear time.
"""

from __future__ import annotations

import enum
import struct
import zlib

from ._errors import ChecksumError, CorruptStreamError, DecompressionError, TrailingDataError, TruncatedStreamError
from ._inflate import current_module
from ._stage import Stage, salvage_inflate, zlib_error

__all__ = ["GzipStage", "MAX_HEADER_BYTES"]

MAX_HEADER_BYTES = 64 * 1024
_MAGIC = b"\x1f\x8b"
_FHCRC, _FEXTRA, _FNAME, _FCOMMENT = 0x02, 0x04, 0x08, 0x10
_RESERVED_FLAGS = 0xE0


class _Phase(enum.Enum):
    HEADER = "header"
    BODY = "body"
    TRAILER = "trailer"
    PADDING = "padding"


class _HeaderParser:
    """Accumulates one member header; reports how many input bytes it used."""

    def __init__(self, member: int) -> None:
        self._member = member
        self._buf = bytearray()
        self._end = 10  # length the header is known to have so far
        self._fields = 0  # optional fields already located
        self._flags = 0
        self._scanned = 0  # how far a NUL-terminated field has been searched

    @property
    def size(self) -> int:
        """Header bytes buffered so far."""
        return len(self._buf)

    def feed(self, data: bytes) -> int | None:
        """Take header bytes from ``data``; return how many, or None if incomplete."""
        start = len(self._buf)
        self._buf += data[: MAX_HEADER_BYTES + 1 - start]
        end = self._parse()
        if end is None:
            if len(self._buf) > MAX_HEADER_BYTES:
                raise CorruptStreamError(f"gzip member {self._member}: header exceeds {MAX_HEADER_BYTES} bytes")
            return None
        del self._buf[end:]
        return end - start

    def _parse(self) -> int | None:
        buf = self._buf
        if buf[:1] != _MAGIC[: len(buf[:1])]:
            raise self._bad_magic(1)
        if buf[:2] != _MAGIC[: len(buf[:2])]:
            raise self._bad_magic(2)
        if len(buf) < 10:
            return None
        if self._fields == 0:
            self._check_fixed_fields()
        while self._fields < 4:
            field = (_FEXTRA, _FNAME, _FCOMMENT, _FHCRC)[self._fields]
            if self._flags & field and not self._locate(field):
                return None
            self._fields += 1
        return self._end

    def _check_fixed_fields(self) -> None:
        method, self._flags = self._buf[2], self._buf[3]
        if method != 8:
            raise CorruptStreamError(f"gzip member {self._member}: unknown compression method {method} (only 8, deflate)")
        if self._flags & _RESERVED_FLAGS:
            raise CorruptStreamError(f"gzip member {self._member}: reserved header flag bits set (0x{self._flags:02x})")

    def _locate(self, field: int) -> bool:
        # Extends self._end past one optional field if its bytes are all here.
        buf, end = self._buf, self._end
        if field == _FEXTRA:
            if len(buf) < end + 2:
                return False
            new_end = end + 2 + int.from_bytes(buf[end : end + 2], "little")
        elif field == _FHCRC:
            new_end = end + 2
        else:
            nul = buf.find(0, max(end, self._scanned))
            if nul < 0:
                self._scanned = len(buf)  # never rescan: linear even byte by byte
                return False
            new_end = nul + 1
        if len(buf) < new_end:
            return False
        if field == _FHCRC:
            self._check_header_crc(end)
        self._end = new_end
        return True

    def _check_header_crc(self, end: int) -> None:
        stored = int.from_bytes(self._buf[end : end + 2], "little")
        actual = zlib.crc32(self._buf[:end]) & 0xFFFF
        if stored != actual:
            raise ChecksumError(
                f"gzip member {self._member}: header CRC mismatch (stored 0x{stored:04x}, computed 0x{actual:04x})"
            )

    def _bad_magic(self, count: int) -> DecompressionError:
        # Show only the bytes that decided it, so the message is split-independent.
        found = bytes(self._buf[:count]).hex(" ")
        if self._member == 1:
            return CorruptStreamError(f"not a gzip stream: starts with {found}, expected 1f 8b")
        return TrailingDataError(
            f"trailing garbage after gzip member {self._member - 1}: {found} is neither another member (1f 8b)"
            " nor zero padding"
        )


class GzipStage(Stage):
    """Decode a gzip stream of any number of members (internal)."""

    def __init__(self) -> None:
        self._pending = b""
        self._consumed = 0
        self._member = 0
        self._more_output = False
        self._zlib = current_module()  # zlib-ng when installed; see _inflate
        self._start_member()

    def push(self, data: bytes) -> None:
        """Queue compressed bytes."""
        self._pending = self._pending + data if self._pending else data

    def pull(self, max_length: int) -> bytes:
        """Decode up to ``max_length`` bytes, crossing member boundaries as needed."""
        if self.fault is not None:
            raise self.fault
        while self._pending or self._more_output:
            if self._phase is not _Phase.BODY:
                self._step_framing()
                continue
            out = self._inflate(max_length)
            if out:
                # Eat the trailer (and the next header) now, so that needs_input
                # turns true as soon as the caller has all the output.
                try:
                    while self._pending and self._phase is not _Phase.BODY:
                        self._step_framing()
                except DecompressionError as error:
                    self._fail_after_output(error)
                return out
        return b""

    def _step_framing(self) -> None:
        if self._phase is _Phase.HEADER:
            self._take_header()
        elif self._phase is _Phase.TRAILER:
            self._take_trailer()
        else:
            self._take_padding()

    @property
    def needs_input(self) -> bool:
        """True when all queued input has been decoded and returned."""
        return not self._pending and not self._more_output and self.fault is None

    @property
    def pending_input(self) -> int:
        """Queued bytes not consumed yet."""
        return len(self._pending)

    def finish(self) -> None:
        """Raise unless the input ended on a member boundary (or in padding)."""
        if self._phase is _Phase.PADDING:
            return
        if self._phase is _Phase.HEADER and self._header.size == 0:
            return
        where = {
            _Phase.HEADER: f"in its header (after {self._header.size} header bytes)",
            _Phase.BODY: f"in its deflate body (after {self._output_size} decompressed bytes)",
            _Phase.TRAILER: f"in its 8-byte trailer (after {len(self._trailer)} trailer bytes)",
        }[self._phase]
        raise TruncatedStreamError(f"gzip stream truncated: member {self._member} ended {where}")

    def _start_member(self) -> None:
        self._member += 1
        self._phase = _Phase.HEADER
        self._header = _HeaderParser(self._member)
        self._trailer = b""
        self._crc = 0
        self._output_size = 0

    def _take_header(self) -> None:
        if self._member > 1 and self._header.size == 0 and self._pending[0] == 0:
            self._phase = _Phase.PADDING
            return
        used = self._header.feed(self._pending)
        if used is None:
            self._advance(len(self._pending))
            return
        self._advance(used)
        self._phase = _Phase.BODY
        self._inflater = self._zlib.decompressobj(-15)

    def _inflate(self, max_length: int) -> bytes:
        data = self._pending
        before = self._inflater.copy()  # to replay this call if it fails; see _stage
        try:
            out: bytes = self._inflater.decompress(data, max_length)
        except self._zlib.error as error:
            out, replay_error = salvage_inflate(before, data, max_length, self._zlib.error)
            fault = zlib_error(f"gzip member {self._member} deflate data", replay_error or error)
            if not out:
                raise fault from None
            self._output_size += len(out)
            self._fail_after_output(fault)
            return out
        self._crc = self._zlib.crc32(out, self._crc)
        self._output_size += len(out)
        if self._inflater.eof:
            self._pending = self._inflater.unused_data
            self._phase = _Phase.TRAILER
            self._more_output = False
        else:
            self._pending = self._inflater.unconsumed_tail
            # A full buffer may leave output inside zlib even with no input left.
            self._more_output = len(out) == max_length
        self._consumed += len(data) - len(self._pending)
        return out

    def _take_trailer(self) -> None:
        need = 8 - len(self._trailer)
        self._trailer += self._pending[:need]
        self._advance(min(need, len(self._pending)))
        if len(self._trailer) < 8:
            return
        crc, size = struct.unpack("<II", self._trailer)
        if crc != self._crc:
            raise ChecksumError(
                f"gzip member {self._member}: CRC-32 mismatch (trailer 0x{crc:08x}, data 0x{self._crc:08x})"
            )
        if size != self._output_size & 0xFFFFFFFF:
            raise ChecksumError(
                f"gzip member {self._member}: ISIZE mismatch (trailer {size}, data {self._output_size & 0xFFFFFFFF})"
            )
        self._start_member()

    def _take_padding(self) -> None:
        data = self._pending
        if data.count(0) != len(data):
            raise TrailingDataError(
                f"trailing garbage after gzip member {self._member - 1}: non-zero byte after zero padding"
            )
        self._advance(len(data))

    def _fail_after_output(self, error: DecompressionError) -> None:
        self.fault = error
        self._pending = b""
        self._more_output = False

    def _advance(self, count: int) -> None:
        self._pending = self._pending[count:]
        self._consumed += count
