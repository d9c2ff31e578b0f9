"""resolv.conf parsing, checked against glibc's rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidal.protocols.dns import ResolvConf, parse_resolv_conf


def test_defaults_for_empty_text() -> None:
    conf = parse_resolv_conf("")
    assert conf == ResolvConf()
    assert (conf.nameservers, conf.search, conf.ndots, conf.timeout, conf.attempts) == (("127.0.0.1",), (), 1, 5, 2)
    assert not (conf.rotate or conf.edns0 or conf.use_vc or conf.no_tld_query)


def test_full_file() -> None:
    conf = parse_resolv_conf(
        "# generated\n"
        "; another comment\n"
        "nameserver 192.0.2.53\n"
        "nameserver\t2001:db8::53   # trailing words are ignored\n"
        "nameserver fe80::1%eth0\n"
        "nameserver 192.0.2.54\n"  # a fourth: beyond MAXNS
        "search corp.example lab.example\n"
        "options ndots:2 timeout:3 attempts:4 rotate edns0 use-vc single-request trust-ad\n"
        "sortlist 130.155.160.0/255.255.240.0\n"
    )
    assert conf.nameservers == ("192.0.2.53", "2001:db8::53", "fe80::1%eth0")
    assert conf.search == ("corp.example", "lab.example")
    assert (conf.ndots, conf.timeout, conf.attempts) == (2, 3, 4)
    assert conf.rotate and conf.edns0 and conf.use_vc
    assert {"single-request", "trust-ad"} <= conf.flags


@pytest.mark.parametrize(
    ("text", "search"),
    [
        ("domain a.example\nsearch b.example c.example\n", ("b.example", "c.example")),
        ("search b.example c.example\ndomain a.example\n", ("a.example",)),
        ("search b.example\nsearch\n", ("b.example",)),  # an empty line keeps the previous list
        ("domain a.example extra\n", ("a.example",)),
        ("search  x.example\t y.example \n", ("x.example", "y.example")),
    ],
)
def test_last_search_or_domain_wins(text: str, search: tuple[str, ...]) -> None:
    assert parse_resolv_conf(text).search == search


@pytest.mark.parametrize(
    ("options", "field", "value"),
    [
        ("ndots:0", "ndots", 0),
        ("ndots:99", "ndots", 15),
        ("ndots:-3", "ndots", 0),
        ("ndots:abc", "ndots", 0),
        ("ndots:4x", "ndots", 4),
        ("timeout:0", "timeout", 1),
        ("timeout:100", "timeout", 30),
        ("attempts:0", "attempts", 1),
        ("attempts:9", "attempts", 5),
        ("ndots:3 ndots:1", "ndots", 1),
    ],
)
def test_option_values_are_clamped_like_glibc(options: str, field: str, value: int) -> None:
    assert getattr(parse_resolv_conf(f"options {options}\n"), field) == value


@pytest.mark.parametrize(
    "line",
    [
        "nameserver not-an-address",
        "nameserver 300.1.1.1",
        "nameserver 192.0.2.1%eth0",
        "nameserver",
        "nameserver192.0.2.1",  # a keyword needs a blank after it
        "#nameserver 192.0.2.1",
        ";nameserver 192.0.2.1",
        " nameserver 192.0.2.1",  # glibc matches keywords at the line start only
    ],
)
def test_unusable_nameserver_lines_fall_back_to_loopback(line: str) -> None:
    assert parse_resolv_conf(line + "\n").nameservers == ("127.0.0.1",)


def test_unknown_options_and_keywords_are_ignored() -> None:
    conf = parse_resolv_conf("options frobnicate rotate:1 ndots\nlookup file bind\nnameserver ::1\n")
    assert conf.nameservers == ("::1",) and conf.flags == frozenset() and conf.ndots == 1


def test_hostname_supplies_default_search() -> None:
    assert parse_resolv_conf("", hostname="host.corp.example").search == ("corp.example",)
    assert parse_resolv_conf("", hostname="host").search == ()
    assert parse_resolv_conf("search x.example\n", hostname="host.corp.example").search == ("x.example",)


def test_environment_overrides() -> None:
    conf = parse_resolv_conf(
        "search file.example\noptions ndots:3 rotate\n", localdomain="env1.example env2.example", res_options="ndots:5 edns0"
    )
    assert conf.search == ("env1.example", "env2.example")
    assert conf.ndots == 5 and conf.rotate and conf.edns0


def test_crlf_and_no_final_newline() -> None:
    conf = parse_resolv_conf("nameserver 192.0.2.1\r\nsearch a.example\r\noptions ndots:2")
    assert conf.nameservers == ("192.0.2.1",) and conf.search == ("a.example",) and conf.ndots == 2


def test_no_tld_query_spellings() -> None:
    assert parse_resolv_conf("options no-tld-query\n").no_tld_query
    assert parse_resolv_conf("options no_tld_query\n").no_tld_query


@settings(deadline=None)
@given(st.lists(st.sampled_from(["nameserver", "search", "domain", "options", "ndots:", "timeout:", "attempts:", "rotate",
                                  "1", "99", "-2", "::1", "192.0.2.1", "fe80::1%eth0", "%", "#", ";", " ", "\t", "\n", "\r", ".", "x", "é"]),
                max_size=60).map("".join))
def test_any_text_parses_within_bounds(text: str) -> None:
    conf = parse_resolv_conf(text, res_options=text)
    assert 1 <= len(conf.nameservers) <= 3
    assert 0 <= conf.ndots <= 15 and 1 <= conf.timeout <= 30 and 1 <= conf.attempts <= 5
