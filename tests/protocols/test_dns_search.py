"""Search-list candidate order, as glibc's res_nsearch tries names."""

from __future__ import annotations

import pytest

from tidal.protocols.dns import search_candidates

SEARCH = ("corp.example", "lab.example.")


@pytest.mark.parametrize(
    ("name", "ndots", "expected"),
    [
        ("www.example.com.", 1, ("www.example.com.",)),
        ("www.example.com", 1, ("www.example.com.", "www.example.com.corp.example.", "www.example.com.lab.example.")),
        ("host", 1, ("host.corp.example.", "host.lab.example.", "host.")),
        ("a.b", 2, ("a.b.corp.example.", "a.b.lab.example.", "a.b.")),
        ("a.b", 0, ("a.b.", "a.b.corp.example.", "a.b.lab.example.")),
        ("host", 0, ("host.", "host.corp.example.", "host.lab.example.")),
    ],
)
def test_order(name: str, ndots: int, expected: tuple[str, ...]) -> None:
    assert search_candidates(name, SEARCH, ndots) == expected


def test_no_tld_query_skips_bare_single_label() -> None:
    assert search_candidates("host", SEARCH, 1, no_tld_query=True) == ("host.corp.example.", "host.lab.example.")
    assert search_candidates("a.b", SEARCH, 2, no_tld_query=True)[-1] == "a.b."


def test_empty_root_and_duplicate_domains() -> None:
    assert search_candidates("host", ["", ".", "x.example", "x.example."], 1) == ("host.x.example.", "host.")
    assert search_candidates("host", [], 1) == ("host.",)
