"""What a validated header section says about framing, reuse and codings.

The raw section is searched once (one regex over the bytes) for the five
fields that matter before h11 sees the message: ``Content-Length`` and
``Transfer-Encoding`` decide where the body ends, so any ambiguity is refused
here, before a single body byte is interpreted (RFC 9112 §6.1-§6.3; h11 merges
duplicate Content-Length fields and keeps CL+TE messages open, which is how
request smuggling starts).  ``Connection`` decides reuse, and
``Content-Encoding`` lists the codings to undo, and a request's ``Host``
must be a valid ``uri-host [":" port]`` (RFC 9112 §3.2: h11 checks only
that there is exactly one).  The usual GET never gets here: the section
scanner's "plain" match has already proved it free of all of this.
"""

from __future__ import annotations

from typing import NamedTuple

from ._errors import HTTPRemoteProtocolError
from ._grammar import FRAMING_FIELDS, HOST_VALUE, TOKEN
from ._limits import HTTPLimits

__all__ = ["HeadFacts", "NO_FACTS", "analyse_head"]

# 18 decimal digits stay below 2**63; anything longer is refused before int().
MAX_CONTENT_LENGTH_DIGITS = 18


class HeadFacts(NamedTuple):
    """The framing-relevant content of one header section (a tuple: cheap to build)."""

    content_length: int | None = None
    chunked: bool = False
    close: bool = False
    content_codings: tuple[str, ...] = ()


NO_FACTS = HeadFacts()
_CLOSE_FACTS = HeadFacts(close=True)
# The five field names differ in length, which dispatches without lower().
_HOST, _CONNECTION, _CONTENT_LENGTH, _CONTENT_ENCODING, _TRANSFER_ENCODING = 4, 10, 14, 16, 17


def analyse_head(buf: bytearray, size: int, limits: HTTPLimits) -> HeadFacts:
    """Read the framing fields of the validated section ``buf[:size]``.

    Raises :class:`HTTPRemoteProtocolError` for CL+TE, duplicate or invalid
    Content-Length, any Transfer-Encoding other than a single ``chunked`` (or
    any at all in HTTP/1.0), and malformed or too many content-codings.
    """
    found = FRAMING_FIELDS.findall(buf, 0, size)
    if not found:
        return NO_FACTS
    lengths: list[bytes] = []
    transfer_encodings: list[bytes] = []
    content_encodings: list[bytes] = []
    close = False
    for raw_name, raw_value in found:
        name_length = len(raw_name)
        if name_length == _HOST:
            _check_host(raw_value.strip(b" \t"), buf)
        elif name_length == _CONNECTION:
            close = close or (b"close" in raw_value.lower() and b"close" in _list_items(raw_value))
        elif name_length == _CONTENT_LENGTH:
            lengths.append(raw_value.strip(b" \t"))
        elif name_length == _TRANSFER_ENCODING:
            transfer_encodings.append(raw_value.strip(b" \t"))
        else:
            content_encodings.append(raw_value)
    if not (lengths or transfer_encodings or content_encodings):
        return _CLOSE_FACTS if close else NO_FACTS
    if lengths and transfer_encodings:
        raise HTTPRemoteProtocolError(
            "message has both Content-Length and Transfer-Encoding, an ambiguous framing refused (RFC 9112 §6.1)"
        )
    if transfer_encodings and _is_http10(buf):
        raise HTTPRemoteProtocolError(
            "HTTP/1.0 message has Transfer-Encoding, which HTTP/1.0 does not define: faulty framing (RFC 9112 §6.1)"
        )
    return HeadFacts(
        content_length=_content_length(lengths) if lengths else None,
        chunked=_is_chunked(transfer_encodings) if transfer_encodings else False,
        close=close,
        content_codings=_content_codings(content_encodings, limits.max_content_codings),
    )


def _check_host(value: bytes, buf: bytearray) -> None:
    """Refuse a request's Host value that is not ``uri-host [":" port]`` (RFC 9112 §3.2)."""
    if buf.startswith(b"HTTP/"):
        return  # a response: Host means nothing there
    if HOST_VALUE.fullmatch(value) is None:
        raise HTTPRemoteProtocolError(f"invalid Host {value[:80]!r} (RFC 9112 §3.2: uri-host [':' port])")


def _is_http10(buf: bytearray) -> bool:
    """Whether the validated head at the front of ``buf`` is HTTP/1.0.

    A status line starts with the version; a request line ends with it (a
    method cannot start with "HTTP/": "/" is not a token character).
    """
    if buf.startswith(b"HTTP/"):
        return buf.startswith(b"HTTP/1.0")
    line_end = buf.find(b"\r\n")
    return buf[line_end - 8 : line_end] == b"HTTP/1.0"


def _list_items(value: bytes) -> list[bytes]:
    items = (item.strip(b" \t").lower() for item in value.split(b","))
    return [item for item in items if item]


def _content_length(values: list[bytes]) -> int:
    if len(values) > 1:
        raise HTTPRemoteProtocolError(
            f"message has {len(values)} Content-Length fields; duplicates are refused (RFC 9112 §6.3)"
        )
    value = values[0]
    if not value.isdigit():
        raise HTTPRemoteProtocolError(f"invalid Content-Length {value[:40]!r} (one decimal number required)")
    if len(value) > MAX_CONTENT_LENGTH_DIGITS:
        raise HTTPRemoteProtocolError(
            f"Content-Length of {len(value)} digits exceeds the {MAX_CONTENT_LENGTH_DIGITS}-digit limit"
        )
    return int(value)


def _is_chunked(values: list[bytes]) -> bool:
    if len(values) > 1:
        raise HTTPRemoteProtocolError(f"message has {len(values)} Transfer-Encoding fields; only one is accepted")
    value = values[0]
    if value.lower() == b"chunked":
        return True
    codings = _list_items(value)
    if not codings or codings[-1] != b"chunked":
        raise HTTPRemoteProtocolError(
            f"Transfer-Encoding {value[:40]!r} does not end in chunked, so the body length is unknown (RFC 9112 §6.3)"
        )
    if codings.count(b"chunked") > 1:
        raise HTTPRemoteProtocolError(f"Transfer-Encoding {value[:40]!r} applies chunked more than once")
    unsupported = next((coding for coding in codings if coding != b"chunked"), None)
    if unsupported is not None:
        raise HTTPRemoteProtocolError(
            f"unsupported transfer coding {unsupported[:40].decode('latin-1')!r} (only chunked is implemented)",
            status=501,
        )
    raise HTTPRemoteProtocolError(f"malformed Transfer-Encoding {value[:40]!r}")


def _content_codings(values: list[bytes], limit: int) -> tuple[str, ...]:
    codings = [coding for value in values for coding in _list_items(value) if coding != b"identity"]
    for coding in codings:
        if TOKEN.fullmatch(coding) is None:
            raise HTTPRemoteProtocolError(f"malformed content-coding {coding[:40]!r}", status=415)
    if len(codings) > limit:
        raise HTTPRemoteProtocolError(
            f"{len(codings)} content-codings exceed the limit of {limit} chained codings", status=415
        )
    return tuple(coding.decode("ascii") for coding in codings)
