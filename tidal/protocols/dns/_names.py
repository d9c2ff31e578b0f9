"""Domain names between text and wire form, with 0x20 case randomization.

The common case (ASCII letters, digits, ``-`` and ``_``) is encoded and
formatted here directly; anything else (escapes, IDNA, odd bytes) goes
through dnspython so both paths agree byte for byte (see the differential
tests).  Text names are always absolute, with the trailing dot, in the same
presentation form as ``dns.name.Name.to_text()``.
"""

from __future__ import annotations

import re
import secrets

import dns.exception
import dns.name

from ._errors import BadQuery

__all__ = ["name_to_wire", "labels_to_text", "randomize_case", "wire_to_text"]

# Labels made only of these bytes need no escaping and no IDNA treatment.
_PLAIN_TEXT_NAME = re.compile(r"[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})*\.?")
# Bytes dnspython prints verbatim: printable ASCII minus its escaped set.
_VERBATIM_LABEL = re.compile(rb'[^\x00-\x20\x7f-\xff"().;\\@$]+')
_VERBATIM_NAME = re.compile(rb'[^\x00-\x20\x7f-\xff"();\\@$]+')
_ESCAPED_BYTES = frozenset(b'"().;\\@$')
_MAX_NAME_WIRE_LENGTH = 255
_ASCII_LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def name_to_wire(name: str) -> bytes:
    """Encode ``name`` (text, made absolute) as uncompressed wire labels.

    Raises :class:`BadQuery` when the name cannot be a DNS name.
    """
    if name == ".":
        return b"\x00"
    if _PLAIN_TEXT_NAME.fullmatch(name):
        labels = name.rstrip(".").split(".")
        wire = b"".join(bytes((len(label),)) + label.encode("ascii") for label in labels) + b"\x00"
        if len(wire) > _MAX_NAME_WIRE_LENGTH:
            raise BadQuery(f"name {name!r} is {len(wire)} bytes in wire form; the limit is 255")
        return wire
    return _name_to_wire_slow(name)


def _name_to_wire_slow(name: str) -> bytes:
    try:
        wire = dns.name.from_text(name).to_wire()
    except (dns.exception.DNSException, UnicodeError, ValueError) as exc:
        raise BadQuery(f"cannot encode {name!r} as a DNS name: {exc}") from exc
    assert wire is not None  # to_wire() without a file returns bytes
    return wire


def _label_to_text(label: bytes) -> str:
    if _VERBATIM_LABEL.fullmatch(label):
        return label.decode("ascii")
    parts = []
    for byte in label:
        if byte in _ESCAPED_BYTES:
            parts.append("\\" + chr(byte))
        elif 0x20 < byte < 0x7F:
            parts.append(chr(byte))
        else:
            parts.append(f"\\{byte:03d}")
    return "".join(parts)


def labels_to_text(labels: list[bytes]) -> str:
    """Presentation form of an absolute name given its non-root labels."""
    if not labels:
        return "."
    joined = b".".join(labels)
    # One regex pass for the whole name; a dot inside a label needs escaping,
    # which the dot count reveals.
    if _VERBATIM_NAME.fullmatch(joined) and joined.count(b".") == len(labels) - 1:
        return joined.decode("ascii") + "."
    return ".".join([_label_to_text(label) for label in labels]) + "."


def wire_to_text(wire: bytes) -> str:
    """Presentation form of an uncompressed, well-formed wire name."""
    labels = []
    position = 0
    length = wire[0]
    while length:
        labels.append(wire[position + 1 : position + 1 + length])
        position += 1 + length
        length = wire[position]
    return labels_to_text(labels)


def randomize_case(wire: bytes) -> bytes:
    """Flip the case of each ASCII letter of a wire name at random (0x20).

    Length bytes are at most 63, below every letter, so only label bytes
    change.  Randomness comes from :mod:`secrets`: the added entropy is worth
    something only if an off-path attacker cannot predict it.
    """
    letters = [index for index, byte in enumerate(wire) if byte in _ASCII_LETTERS]
    if not letters:
        return wire
    bits = secrets.randbits(len(letters))
    out = bytearray(wire)
    for index in letters:
        out[index] = (out[index] | 0x20) if bits & 1 else (out[index] & ~0x20)
        bits >>= 1
    return bytes(out)
