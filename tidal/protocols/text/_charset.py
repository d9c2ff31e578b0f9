"""Choosing an encoding: declared charset, then byte order mark, then a fallback.

A declared charset (from ``Content-Type``, or the caller) wins.  Without one,
a UTF-8/16/32 byte order mark at the start decides and is stripped.  Without
either, the fallback is UTF-8 (RFC 8259 and most of today's text on the wire;
``default_encoding`` changes it).  A BOM of the declared encoding itself is
stripped too, since it is never content.  Python's codec names are used as-is:
``iso-8859-1`` means Latin-1, not WHATWG's windows-1252 reinterpretation.
"""

from __future__ import annotations

import codecs

from ._errors import UnknownEncodingError

__all__ = ["BOMS", "charset_from_content_type", "lookup_text_encoding", "sniff_bom"]

# Longest first: FF FE 00 00 is UTF-32-LE's BOM, not UTF-16-LE's plus a NUL.
BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def lookup_text_encoding(label: str) -> str:
    """Python's canonical name for a text encoding label; raise :class:`UnknownEncodingError`."""
    try:
        info = codecs.lookup(label.strip())
    except LookupError:
        raise UnknownEncodingError(f"unknown encoding {label!r}") from None
    if not getattr(info, "_is_text_encoding", True):
        raise UnknownEncodingError(f"{label!r} is not a text encoding")
    return info.name


def sniff_bom(head: bytes, final: bool, candidates: tuple[tuple[bytes, str], ...] = BOMS) -> tuple[str | None, int] | None:
    """Decide from the first bytes: ``(encoding or None, BOM length)``, or None to wait.

    ``None`` is returned while ``head`` is a proper prefix of a candidate BOM
    and more bytes may come; ``(None, 0)`` means "no BOM".
    """
    if not final and any(len(head) < len(bom) and bom.startswith(head) for bom, _ in candidates):
        return None
    for bom, name in candidates:
        if head.startswith(bom):
            return name, len(bom)
    return None, 0


def charset_from_content_type(value: str | bytes) -> str | None:
    """The encoding named by a ``Content-Type`` value's ``charset`` parameter.

    Returns Python's codec name (``"text/html; charset=ISO-8859-1"`` gives
    ``"iso8859-1"``), or None when there is no charset parameter or its label
    is unknown or not a text encoding: an unusable declaration is treated as
    no declaration, so the BOM and the fallback decide, as browsers do.
    """
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    for name, param in _parameters(value):
        if name == "charset" and param:
            try:
                return lookup_text_encoding(param)
            except UnknownEncodingError:
                return None
    return None


def _parameters(value: str) -> list[tuple[str, str]]:
    # RFC 9110 §5.6.6: parameters are token=token or token=quoted-string.
    params: list[tuple[str, str]] = []
    rest = value.split(";", 1)[1] if ";" in value else ""
    while rest:
        name, _, rest = rest.partition("=")
        rest = rest.lstrip()
        if rest.startswith('"'):
            param, rest = _quoted(rest)
            rest = rest.partition(";")[2]
        else:
            param, _, rest = rest.partition(";")
        params.append((name.strip().lower(), param.strip()))
    return params


def _quoted(text: str) -> tuple[str, str]:
    out, index = [], 1
    while index < len(text) and text[index] != '"':
        if text[index] == "\\" and index + 1 < len(text):
            index += 1
        out.append(text[index])
        index += 1
    return "".join(out), text[index + 1 :]
