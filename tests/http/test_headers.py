"""Headers: order, repetition and case-insensitive lookup."""

from __future__ import annotations

import pytest

from tidal.http import Headers


def test_lookup_ignores_case_and_keeps_order() -> None:
    headers = Headers([("Set-Cookie", "a=1"), ("Content-Type", "text/plain"), ("set-cookie", "b=2")])
    assert headers["content-type"] == "text/plain"
    assert headers.get_all("SET-COOKIE") == ["a=1", "b=2"]
    assert list(headers) == ["Set-Cookie", "Content-Type"]
    assert len(headers) == 2 and "CONTENT-type" in headers and 3 not in headers


def test_set_replaces_every_field_and_add_appends() -> None:
    headers = Headers({"Accept": "*/*"})
    headers.add("accept", "text/html")
    headers["ACCEPT"] = "application/json"
    assert headers.fields() == [("ACCEPT", "application/json")]
    del headers["accept"]
    with pytest.raises(KeyError):
        del headers["accept"]
    with pytest.raises(KeyError):
        headers["accept"]


def test_bytes_round_trip_latin1() -> None:
    headers = Headers([(b"X-Raw", b"caf\xe9")])
    assert headers["x-raw"] == "caf\xe9"
    assert headers.raw() == [(b"X-Raw", b"caf\xe9")]


def test_equality_and_copy() -> None:
    headers = Headers({"A": "1"})
    copy = headers.copy()
    copy.add("b", "2")
    assert headers == {"a": "1"} and headers != copy
    assert headers != 1
