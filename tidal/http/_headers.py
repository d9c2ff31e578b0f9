"""``Headers``: an ordered, case-insensitive multi-dict of HTTP header fields.

Client responses, server requests and both sides' outgoing messages share
this one type.  Fields keep their order and repetitions (``Set-Cookie``,
``Via``) because HTTP gives them meaning; lookups ignore case.  Names and
values are ``str`` for users and are encoded as Latin-1 on the wire
(RFC 9110 §5.5: field values are historically ISO-8859-1; anything else is
opaque bytes), so any byte sequence a peer sends round-trips.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Union

__all__ = ["Headers", "HeadersLike"]

HeadersLike = Union[
    "Headers",
    Mapping[str, str],
    Iterable[tuple[str, str]],
    Iterable[tuple[bytes, bytes]],
]
"""Anything :class:`Headers` accepts: a mapping or (name, value) pairs, str or bytes."""


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


class Headers(MutableMapping[str, str]):
    """Ordered header fields with case-insensitive names.

    ``headers["content-type"]`` returns the first value (``KeyError`` if
    absent), :meth:`get_all` every value in order, ``headers[name] = value``
    replaces all fields of that name, and :meth:`add` appends one more.
    Iteration yields each distinct name once, in first-seen spelling.
    """

    __slots__ = ("_fields",)

    def __init__(self, fields: HeadersLike | None = None) -> None:
        self._fields: list[tuple[str, str]] = []
        if fields is None:
            return
        if isinstance(fields, Headers):
            self._fields = list(fields._fields)
            return
        items = fields.items() if isinstance(fields, Mapping) else fields
        for name, value in items:
            self._fields.append((_text(name), _text(value)))

    def __getitem__(self, name: str) -> str:
        key = name.lower()
        for field_name, value in self._fields:
            if field_name.lower() == key:
                return value
        raise KeyError(name)

    def __setitem__(self, name: str, value: str) -> None:
        key = name.lower()
        self._fields = [field for field in self._fields if field[0].lower() != key]
        self._fields.append((name, value))

    def __delitem__(self, name: str) -> None:
        key = name.lower()
        kept = [field for field in self._fields if field[0].lower() != key]
        if len(kept) == len(self._fields):
            raise KeyError(name)
        self._fields = kept

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = name.lower()
        return any(field_name.lower() == key for field_name, _ in self._fields)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for name, _ in self._fields:
            key = name.lower()
            if key not in seen:
                seen.add(key)
                yield name

    def __len__(self) -> int:
        return len({name.lower() for name, _ in self._fields})

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._normalized() == other._normalized()
        if isinstance(other, Mapping):
            return self._normalized() == Headers(other)._normalized()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable

    def _normalized(self) -> list[tuple[str, str]]:
        return [(name.lower(), value) for name, value in self._fields]

    def __repr__(self) -> str:
        return f"Headers({self._fields!r})"

    def add(self, name: str, value: str) -> None:
        """Append one field, keeping any earlier fields of the same name."""
        self._fields.append((name, value))

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in the order received (empty if absent)."""
        key = name.lower()
        return [value for field_name, value in self._fields if field_name.lower() == key]

    def contains_any(self, names: Iterable[str]) -> bool:
        """True if some field is named (in any case) one of ``names``; one pass for all of them."""
        joined = "\n" + "\n".join([name for name, _ in self._fields]).lower() + "\n"
        for name in names:
            if f"\n{name.lower()}\n" in joined:
                return True
        return False

    def fields(self) -> list[tuple[str, str]]:
        """All fields as (name, value) pairs, in order, repetitions included."""
        return list(self._fields)

    def as_key(self) -> tuple[tuple[str, str], ...]:
        """The fields as a hashable tuple (names as spelled, in order): a cache key for exactly these fields."""
        return tuple(self._fields)

    def raw(self) -> list[tuple[bytes, bytes]]:
        """All fields encoded for the wire (Latin-1), as h11 takes them."""
        return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in self._fields]

    @classmethod
    def from_raw(cls, fields: Iterable[tuple[bytes, bytes]]) -> Headers:
        """Headers from wire pairs (Latin-1 bytes), as an engine hands them over; the fast path."""
        headers = cls.__new__(cls)
        headers._fields = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in fields]
        return headers

    def copy(self) -> Headers:
        """An independent copy."""
        headers = Headers.__new__(Headers)  # what Headers(self) builds, without its type checks
        headers._fields = self._fields.copy()
        return headers
