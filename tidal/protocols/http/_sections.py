"""Finding and validating a header or trailer section, whatever the split.

Theory of operation.  h11 checks its size limit only while it waits for more
data (h11 issue #182), so a 1000-field section arriving in one read passes any
limit; and it tolerates bare LF, obs-fold and control characters.  A
:class:`SectionScanner` sits in front of it and owns one section:

* fast path, tried once per head: one ``match`` of the whole-section
  pattern (its field count bounded inside the regex) within the first
  ``max_header_bytes`` bytes.  A typical request arrives whole, so this is the
  only work done.  Request heads first try the "plain" variant, whose match
  also proves that no field affects framing (:attr:`SectionScanner.plain`),
  so the usual GET skips :func:`._framing.analyse_head`;
* slow path: a walk over complete lines from where the last call stopped
  (linear in bytes received: an incomplete line is never searched twice),
  validating each line and checking the limits, then checking the incomplete
  tail against the limits.  Trailer sections always take it, because only
  the walk checks field names against :data:`FORBIDDEN_TRAILERS`.

Every violation is reported at the first byte offset that proves it (a line is
judged when its LF arrives, a size limit when the byte after the limit
arrives), so the whole section, one byte at a time and any other split all
raise the same error with the same message.
"""

from __future__ import annotations

from ._errors import HTTPRemoteProtocolError
from ._grammar import (
    FIELD_LINE,
    HTTP_VERSION_SHAPE,
    REQUEST_LINE,
    STATUS_LINE,
    TOKEN,
    plain_request_pattern,
    section_pattern,
)
from ._limits import HTTPLimits

__all__ = ["SectionScanner", "FORBIDDEN_TRAILERS", "request_line_problem", "status_line_problem", "field_line_problem"]

# Trailer fields that would change framing, routing, connection handling,
# authentication or how the body is processed (RFC 9110 §6.5.1): a peer that
# sends them in a trailer is attempting something a proxy could be fooled by.
FORBIDDEN_TRAILERS = frozenset(
    {
        b"content-length", b"transfer-encoding", b"trailer", b"te", b"host", b"connection",
        b"keep-alive", b"proxy-connection", b"upgrade", b"expect", b"max-forwards",
        b"content-encoding", b"content-type", b"content-range", b"range",
        b"authorization", b"proxy-authorization", b"cookie", b"set-cookie",
    }
)

_PREVIEW_BYTES = 80
_VALUE_BYTES = frozenset(b"\t" + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100)))


class SectionScanner:
    """Locate and validate one section at the front of a receive buffer.

    ``start_line`` is ``"request"`` or ``"status"`` for a message head and
    ``None`` for a trailer section.  Call :meth:`scan` each time bytes arrive
    with the same buffer (whose front is the section's first byte); it returns
    the section length once the terminating empty line is in, ``-1`` while
    more bytes are needed, and raises :class:`HTTPRemoteProtocolError`.
    """

    __slots__ = (
        "_start_line", "_plain", "_fast", "_max_bytes", "_max_start", "_max_fields",
        "_tried", "_line_start", "_searched", "_lines", "_fields", "plain",
    )

    def __init__(self, start_line: str | None, limits: HTTPLimits) -> None:
        self._start_line = start_line
        self._plain = (
            plain_request_pattern(limits.max_header_count, limits.max_start_line_bytes)
            if start_line == "request"
            else None
        )
        self._fast = section_pattern(start_line, limits.max_header_count)
        self._max_bytes = limits.max_header_bytes
        self._max_start = limits.max_start_line_bytes if start_line else 0
        self._max_fields = limits.max_header_count
        self.reset()

    def reset(self) -> None:
        """Forget the previous section; the next :meth:`scan` starts a new one."""
        self._tried = False
        # True when the section just found holds no field that affects framing,
        # reuse or decoding (see _grammar.plain_request_pattern).
        self.plain = False
        self._line_start = 0  # offset of the first line not yet validated
        self._searched = 0  # bytes already searched for an LF, without finding one past _line_start
        self._lines = 0  # complete lines validated so far
        self._fields = 0

    def scan(self, buf: bytearray) -> int:
        """Return the section's length, or -1 if it is not complete yet."""
        if not self._tried:
            self._tried = True
            if self._start_line is None:
                # Trailer sections are rare and their field names must be
                # checked against FORBIDDEN_TRAILERS, which only the walk does.
                return self._walk(buf)
            if self._plain is not None:
                match = self._plain.match(buf, 0, self._max_bytes)
                if match is not None:  # the pattern bounds the request line itself
                    self.plain = True
                    return match.end()
            match = self._fast.match(buf, 0, self._max_bytes)
            if match is not None and (not self._max_start or buf.find(b"\n", 0, self._max_start) >= 0):
                return match.end()
        return self._walk(buf)

    def _walk(self, buf: bytearray) -> int:
        pos = self._line_start
        # An incomplete line is never searched twice: linear in bytes received
        # even when a long line arrives one byte per read.
        search_from = max(pos, self._searched)
        while (end := buf.find(b"\n", search_from)) >= 0:
            self._check_limits(end)
            if end - pos == 1 and buf[pos] == 0x0D and (self._lines or self._start_line is None):
                return end + 1
            self._check_line(bytes(buf[pos : end + 1]))
            self._lines += 1
            pos = search_from = end + 1
        self._line_start = pos
        size = self._searched = len(buf)
        if not self._lines and self._max_start and size >= self._max_start:
            raise self._start_line_too_long()
        if size >= self._max_bytes:
            raise self._section_too_large()
        return -1

    def _check_limits(self, line_end: int) -> None:
        if not self._lines and self._max_start and line_end >= self._max_start:
            raise self._start_line_too_long()
        if line_end >= self._max_bytes:
            raise self._section_too_large()

    def _check_line(self, line: bytes) -> None:
        if not self._lines and self._start_line is not None:
            self._check_start_line(line)
            return
        number = self._lines + 1
        if FIELD_LINE.fullmatch(line) is None:
            raise HTTPRemoteProtocolError(f"{self._name} line {number} {field_line_problem(line)}: {_preview(line)}")
        self._fields += 1
        if self._fields > self._max_fields:
            raise HTTPRemoteProtocolError(
                f"{self._name} has more than {self._max_fields} fields, the limit (field {self._fields} on line {number})",
                status=431,
            )
        if self._start_line is None:
            name = line[: line.index(b":")].lower()
            if name in FORBIDDEN_TRAILERS:
                raise HTTPRemoteProtocolError(f"trailer field {name.decode()!r} is not allowed in a trailer section")

    def _check_start_line(self, line: bytes) -> None:
        if self._start_line == "request":
            if REQUEST_LINE.fullmatch(line) is None:
                problem, status = request_line_problem(line)
                raise HTTPRemoteProtocolError(f"request line {problem}: {_preview(line)}", status=status)
        elif STATUS_LINE.fullmatch(line) is None:
            raise HTTPRemoteProtocolError(f"status line {status_line_problem(line)}: {_preview(line)}")

    @property
    def _name(self) -> str:
        return "trailer section" if self._start_line is None else "header section"

    def _start_line_too_long(self) -> HTTPRemoteProtocolError:
        kind = "request" if self._start_line == "request" else "status"
        return HTTPRemoteProtocolError(
            f"{kind} line exceeds the {self._max_start}-byte limit (no line end within its first {self._max_start} bytes)",
            status=414,
        )

    def _section_too_large(self) -> HTTPRemoteProtocolError:
        return HTTPRemoteProtocolError(
            f"{self._name} exceeds the {self._max_bytes}-byte limit (no end within its first {self._max_bytes} bytes)",
            status=431,
        )


def _preview(line: bytes) -> str:
    if len(line) > _PREVIEW_BYTES:
        return repr(line[:_PREVIEW_BYTES]) + f"... ({len(line)} bytes)"
    return repr(line)


def _line_ending_problem(line: bytes) -> str | None:
    """Describe a line (ending in LF) that is not terminated by a lone CRLF."""
    if not line.endswith(b"\r\n"):
        return "ends in a bare LF (lines must end in CRLF, RFC 9112 §2.2)"
    bare_cr = line.find(b"\r")
    if bare_cr < len(line) - 2:
        return f"has a bare CR at byte {bare_cr} (RFC 9112 §2.2)"
    return None


def field_line_problem(line: bytes) -> str:
    """Say why ``line`` (a complete line, LF included) is not a valid field line."""
    problem = _line_ending_problem(line)
    if problem is not None:
        return problem
    content = line[:-2]
    if content[:1] in (b" ", b"\t"):
        return "starts with whitespace: obs-fold line folding is not allowed (RFC 9112 §5.2)"
    colon = content.find(b":")
    if colon < 0:
        return "has no colon"
    name = content[:colon]
    if not name:
        return "has an empty field name"
    if name[-1:] in (b" ", b"\t"):
        return "has whitespace between the field name and the colon (RFC 9112 §5.1)"
    if TOKEN.fullmatch(name) is None:
        bad_name_byte = next(byte for byte in name if TOKEN.fullmatch(bytes([byte])) is None)
        return f"has the invalid byte 0x{bad_name_byte:02x} in the field name {name!r}"
    bad = next((byte for byte in content[colon + 1 :] if byte not in _VALUE_BYTES), None)
    if bad is None:
        return "is malformed"
    what = "a NUL byte" if bad == 0 else f"the control character 0x{bad:02x}"
    return f"has {what} in the value of {name.decode('ascii')!r}"


def request_line_problem(line: bytes) -> tuple[str, int]:
    """Say why ``line`` is not a valid request line, with the status to answer."""
    problem = _line_ending_problem(line)
    if problem is not None:
        return problem, 400
    parts = line[:-2].split(b" ")
    if len(parts) != 3 or not all(parts):
        return "is not 'method SP request-target SP HTTP-version'", 400
    method, target, version = parts
    if TOKEN.fullmatch(method) is None:
        return "has an invalid method", 400
    if any(byte < 0x21 or byte > 0x7E for byte in target):
        return "has an invalid byte in the request-target", 400
    return _version_problem(version) or ("is malformed", 400)


def status_line_problem(line: bytes) -> str:
    """Say why ``line`` is not a valid status line."""
    problem = _line_ending_problem(line)
    if problem is not None:
        return problem
    version, _, rest = line[:-2].partition(b" ")
    version_problem = _version_problem(version)
    if version_problem is not None:
        return version_problem[0]
    code = rest[:3]
    if len(code) != 3 or not code.isdigit() or rest[3:4] not in (b"", b" "):
        return "has no three-digit status code"
    if not 100 <= int(code) <= 599:
        return f"has the status code {int(code)}, outside 100-599"
    bad = next((byte for byte in rest[4:] if byte not in _VALUE_BYTES), None)
    if bad is None:
        return "is malformed"
    return f"has the control character 0x{bad:02x} in its reason phrase"


def _version_problem(version: bytes) -> tuple[str, int] | None:
    shape = HTTP_VERSION_SHAPE.fullmatch(version)
    if shape is None:
        return f"has a malformed HTTP version {version!r}", 400
    if version not in (b"HTTP/1.0", b"HTTP/1.1"):
        return f"asks for HTTP/{shape[1].decode()}.{shape[2].decode()}; only HTTP/1.0 and HTTP/1.1 are supported", 505
    return None
