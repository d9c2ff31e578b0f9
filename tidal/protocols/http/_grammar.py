"""The HTTP/1.1 wire grammar as precompiled regular expressions.

Theory of operation: h11 parses leniently (bare LF line endings, control
characters in values, obs-fold, any ``HTTP/d.d`` version), so every byte the
peer sends is first matched against the strict grammar below (RFC 9112 §2-§7,
RFC 9110 §5.6).  A whole header section is checked by a single ``match`` of
:func:`section_pattern` in C; only when that fails (or the section arrives in
pieces) does :mod:`._sections` walk it line by line to find and name the
offending line.  Both paths are built from the same line patterns, so they
accept exactly the same bytes.

Deliberate narrowing of the RFC grammar:

* CRLF is the only line terminator (no bare LF, RFC 9112 §2.2 allows refusing);
* obs-fold is refused (RFC 9112 §5.2);
* field values may hold SP, HTAB, VCHAR and obs-text but no other control
  character, DEL included (RFC 9110 §5.5);
* only ``HTTP/1.0`` and ``HTTP/1.1`` are accepted (other versions: 505);
* status codes are 100-599 (RFC 9110 §15);
* no whitespace before the ``;`` of a chunk extension.
"""

from __future__ import annotations

import functools
import re

__all__ = [
    "TOKEN",
    "REQUEST_LINE",
    "STATUS_LINE",
    "FIELD_LINE",
    "HTTP_VERSION_SHAPE",
    "CHUNK_LINE_STRICT",
    "CHUNK_LINE_LENIENT",
    "FRAMING_FIELDS",
    "HOST_VALUE",
    "section_pattern",
    "plain_request_pattern",
]

_TCHAR = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]"
_TOKEN = _TCHAR + rb"+"
# Possessive repeats (``++``, ``*+``) never give back what they matched.  In
# the line patterns below every repeat is followed by a byte its class
# excludes, so they accept exactly the same bytes as greedy ones, and the
# regex engine skips the backtracking bookkeeping (a third of the match time).
_TOKEN_POSSESSIVE = _TCHAR + rb"++"
# field-value: SP / HTAB / VCHAR / obs-text, leading and trailing OWS included
# (h11 strips it).  No CR, LF, NUL or other control character.
_FIELD_LINE = _TOKEN_POSSESSIVE + rb":[\t\x20-\x7e\x80-\xff]*+\r\n"
# request-line = method SP request-target SP HTTP-version (RFC 9112 §3);
# every form of request-target is made of VCHARs.
_REQUEST_LINE = _TOKEN_POSSESSIVE + rb" [\x21-\x7e]++ HTTP/1\.[01]\r\n"
# status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4);
# the second SP is optional because real servers omit it with the reason.
_STATUS_LINE = rb"HTTP/1\.[01] [1-5][0-9][0-9](?: [\t\x20-\x7e\x80-\xff]*+)?\r\n"

TOKEN = re.compile(_TOKEN)
REQUEST_LINE = re.compile(_REQUEST_LINE)
STATUS_LINE = re.compile(_STATUS_LINE)
FIELD_LINE = re.compile(_FIELD_LINE)
# A start line whose version has the right shape but a number we refuse (505).
HTTP_VERSION_SHAPE = re.compile(rb"HTTP/([0-9])\.([0-9])")

# chunk = chunk-size [ chunk-ext ] CRLF (RFC 9112 §7.1.1), with
# chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ]),
# except that whitespace before ";" is refused: h11 cannot parse it, and
# senders have no reason to produce it.
_QUOTED_STRING = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_CHUNK_EXT = (
    rb"(?:;[ \t]*" + _TOKEN + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN + rb"|" + _QUOTED_STRING + rb"))?)*"
)
CHUNK_LINE_STRICT = re.compile(rb"([0-9A-Fa-f]+)" + _CHUNK_EXT + rb"\r\n")
# Servers in the wild pad the chunk-size line with spaces; a client accepts it.
CHUNK_LINE_LENIENT = re.compile(rb"([0-9A-Fa-f]+)" + _CHUNK_EXT + rb"[ \t]*\r\n")

# The fields whose raw occurrences decide framing and connection reuse.  The
# section has already been validated, so a name is directly followed by ":".
FRAMING_FIELDS = re.compile(
    rb"\n(host|content-length|transfer-encoding|content-encoding|connection):([^\r]*)", re.IGNORECASE
)


# Host = uri-host [ ":" port ] (RFC 9112 §3.2, RFC 3986 §3.2.2): an IP
# literal in brackets, or a reg-name / IPv4 address of unreserved, sub-delims
# and percent-encoded bytes (possibly empty).  No userinfo, path or space.
_HOST_VALUE = (
    rb"(?:\[(?:[0-9A-Fa-f:.]++|[vV][0-9A-Fa-f]++\.[-._~!$&'()*+,;=:0-9A-Za-z]++)\]"
    rb"|(?:[-._~!$&'()*+,;=0-9A-Za-z]++|%[0-9A-Fa-f]{2})*+)"
    rb"(?::[0-9]*+)?"
)
HOST_VALUE = re.compile(_HOST_VALUE)
# A field line that cannot affect framing, reuse, decoding or routing: not
# Content-Length, Content-Encoding or Transfer-Encoding, not a Connection
# field mentioning "close", and Host only with a valid value.  A request head
# made only of these (the usual GET) needs no further analysis.
_PLAIN_FIELD_LINE = (
    rb"(?:(?!(?i:host:|con(?:tent-(?:length|encoding):|nection:[^\r\n]*close)|transfer-encoding:))"
    + _FIELD_LINE
    + rb"|(?i:host):[ \t]*+" + _HOST_VALUE + rb"[ \t]*+\r\n)"
)


@functools.lru_cache(maxsize=32)
def plain_request_pattern(max_fields: int, max_start_line: int) -> re.Pattern[bytes]:
    """Like ``section_pattern("request", max_fields)``, but only for heads of plain fields.

    A match proves the head valid, its request line at most
    ``max_start_line`` bytes, and the head free of every field
    :func:`._framing.analyse_head` looks at, so its analysis can be skipped.
    """
    first_line_bound = rb"(?=[^\n]{0,%d}\n)" % (max_start_line - 1)
    return re.compile(
        first_line_bound + _REQUEST_LINE + rb"(?:" + _PLAIN_FIELD_LINE + rb"){0,%d}+\r\n" % max_fields
    )


@functools.lru_cache(maxsize=32)
def section_pattern(start_line: str | None, max_fields: int | None) -> re.Pattern[bytes]:
    """The pattern matching one whole section: optional start line, fields, CRLF.

    ``start_line`` is ``"request"``, ``"status"`` or ``None`` (a trailer
    section); ``max_fields`` bounds the field count inside the regex itself so
    the fast path needs no separate count (``None``: unbounded, for checking
    what we send).
    """
    first = {"request": _REQUEST_LINE, "status": _STATUS_LINE, None: b""}[start_line]
    repeat = b"*+" if max_fields is None else b"{0,%d}+" % max_fields
    return re.compile(first + rb"(?:" + _FIELD_LINE + rb")" + repeat + rb"\r\n")
