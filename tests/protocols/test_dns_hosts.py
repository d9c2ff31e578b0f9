"""/etc/hosts parsing: families, aliases, comments, case, reverse map."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tidal.protocols.dns import parse_hosts

HOSTS = """\
# The following lines are desirable for IPv4 capable hosts
127.0.0.1       localhost
127.0.1.1       Box.Example.org  box   # this machine
192.0.2.10      www.Example.com www alias.example.com.
192.0.2.11      www.example.com
::1             localhost ip6-localhost ip6-loopback
0:0::1          LOCALHOST
fe00::0         ip6-localnet
fe80::1%lo      linklocal
2001:db8::10    www.example.com
999.1.1.1       broken
justonefield
	 192.0.2.12	tabbed.example	# leading blanks and tabs
"""

hosts = parse_hosts(HOSTS)


def test_forward_lookups_collect_every_line_in_order() -> None:
    assert hosts.addresses("www.example.com") == ("192.0.2.10", "192.0.2.11", "2001:db8::10")
    assert hosts.addresses("localhost") == ("127.0.0.1", "::1")


def test_family_filter() -> None:
    assert hosts.addresses("www.example.com", 4) == ("192.0.2.10", "192.0.2.11")
    assert hosts.addresses("www.example.com", 6) == ("2001:db8::10",)


def test_names_are_case_insensitive_and_ignore_trailing_dot() -> None:
    assert hosts.addresses("WWW.EXAMPLE.COM.") == hosts.addresses("www.example.com")
    assert hosts.addresses("alias.example.com") == ("192.0.2.10",)
    assert hosts.addresses("BOX") == ("127.0.1.1",)


def test_canonical_name_is_first_name_of_first_line() -> None:
    assert hosts.canonical_name("www") == "www.Example.com"
    assert hosts.canonical_name("box") == "Box.Example.org"
    assert hosts.canonical_name("ip6-loopback") == "localhost"
    assert hosts.canonical_name("nowhere") is None


def test_reverse_map() -> None:
    assert hosts.names("192.0.2.10") == ("www.Example.com", "www", "alias.example.com")
    assert hosts.names("0::1") == ("localhost", "ip6-localhost", "ip6-loopback", "LOCALHOST")
    assert hosts.names("fe80::1%lo") == ("linklocal",)
    assert hosts.names("192.0.2.99") == () and hosts.names("garbage") == ()


def test_bad_lines_and_comments_skipped() -> None:
    assert hosts.addresses("broken") == () and hosts.addresses("justonefield") == ()
    assert hosts.addresses("this") == () and hosts.addresses("#") == ()
    assert hosts.addresses("tabbed.example") == ("192.0.2.12",)


def test_ipv6_spellings_are_normalized() -> None:
    assert hosts.addresses("ip6-localnet") == ("fe00::",)


def test_large_block_list_is_linear() -> None:
    text = "".join(f"0.0.0.0 ad{i}.example\n" for i in range(50_000))
    table = parse_hosts(text)
    assert len(table) == 50_000 and len(table.names("0.0.0.0")) == 50_000


@settings(deadline=None)
@given(st.lists(st.sampled_from(["::1", "127.0.0.1", "fe80::1%lo", "0:0::1", "1.2.3", "host", "HOST", "a.example", "a.example.",
                                  ".", "#", " ", "\t", "\n", "é"]), max_size=60).map("".join))
def test_any_text_parses_and_lookups_are_consistent(text: str) -> None:
    table = parse_hosts(text)
    for line in text.splitlines():
        fields = line.partition("#")[0].split()
        for name in fields[1:]:
            for address in table.addresses(name):
                assert name.lower().rstrip(".") in {n.lower() for n in table.names(address)} or name.rstrip(".") == ""
