"""Resolver settings: system files, explicit arguments, nameserver syntax, the public names."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import tidal.dns
from tidal.dns import Nameserver, Resolver, parse_nameserver


@pytest.mark.parametrize(
    ("text", "family", "host", "port", "shown"),
    [
        ("192.0.2.53", socket.AF_INET, "192.0.2.53", 53, "192.0.2.53:53"),
        ("192.0.2.53:5353", socket.AF_INET, "192.0.2.53", 5353, "192.0.2.53:5353"),
        ("2001:db8::53", socket.AF_INET6, "2001:db8::53", 53, "[2001:db8::53]:53"),
        ("[2001:db8::53]:5353", socket.AF_INET6, "2001:db8::53", 5353, "[2001:db8::53]:5353"),
        ("[::1]", socket.AF_INET6, "::1", 53, "[::1]:53"),
        (" 0:0::1 ", socket.AF_INET6, "::1", 53, "[::1]:53"),
    ],
)
def test_nameserver_forms(text: str, family: int, host: str, port: int, shown: str) -> None:
    server = parse_nameserver(text, 53)
    assert (server.family, server.host, server.port, str(server)) == (family, host, port, shown)
    assert server.sockaddr == ((host, port) if family == socket.AF_INET else (host, port, 0, 0))


def test_nameserver_scope() -> None:
    server = parse_nameserver("[fe80::1%1]:53", 53)
    assert server.scope_id == 1 and server.sockaddr == ("fe80::1", 53, 0, 1)
    assert parse_nameserver("fe80::1%lo", 53).scope_id == socket.if_nametoindex("lo")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dns.example", "is not an IP address"),
        ("192.0.2.53:0", "port '0' is not in 1..65535"),
        ("192.0.2.53:99999", "port '99999' is not in 1..65535"),
        ("[2001:db8::1", "expected \\[address\\]:port"),
        ("[2001:db8::1]x", "expected \\[address\\]:port"),
        ("192.0.2.1%eth0", "an IPv4 address has no scope"),
        ("fe80::1%no-such-if", "unknown interface"),
    ],
)
def test_bad_nameservers(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_nameserver(text, 53)


def test_settings_come_from_resolv_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCALDOMAIN", raising=False)
    monkeypatch.delenv("RES_OPTIONS", raising=False)
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 192.0.2.1\nnameserver 2001:db8::1\nsearch a.example b.example\n"
                    "options ndots:2 timeout:3 attempts:4 rotate use-vc\n")
    resolver = Resolver(resolv_conf=str(conf), hosts_file=None)
    assert [str(server) for server in resolver.nameservers] == ["192.0.2.1:53", "[2001:db8::1]:53"]
    assert resolver.search == ("a.example", "b.example")
    assert (resolver.ndots, resolver.timeout, resolver.attempts, resolver.rotate, resolver.tcp) == (2, 3.0, 4, True, True)
    assert resolver.lifetime == 3.0 * 4 * 2
    assert resolver.candidates("host") == ("host.a.example.", "host.b.example.", "host.")


def test_explicit_arguments_win_and_survive_reload(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 192.0.2.1\noptions ndots:2 timeout:3\n")
    resolver = Resolver(["127.0.0.1"], port=5353, search=["x.example"], ndots=0, timeout=0.5, attempts=1,
                        rotate=False, tcp=False, resolv_conf=str(conf), hosts_file=None)
    conf.write_text("nameserver 192.0.2.2\noptions ndots:4 timeout:9 attempts:5 rotate\n")
    resolver.reload()
    assert [str(server) for server in resolver.nameservers] == ["127.0.0.1:5353"]
    assert (resolver.search, resolver.ndots, resolver.timeout, resolver.attempts, resolver.rotate) == (
        ("x.example",), 0, 0.5, 1, False)


def test_reload_rereads_the_files(tmp_path: Path) -> None:
    conf, hosts = tmp_path / "resolv.conf", tmp_path / "hosts"
    conf.write_text("nameserver 192.0.2.1\n")
    hosts.write_text("10.0.0.1 box\n")
    resolver = Resolver(resolv_conf=str(conf), hosts_file=str(hosts))
    conf.write_text("nameserver 192.0.2.9\n")
    hosts.write_text("10.0.0.9 box\n")
    resolver.reload()
    assert str(resolver.nameservers[0]) == "192.0.2.9:53"
    assert resolver.hosts.addresses("box", 4) == ("10.0.0.9",)


def test_missing_resolv_conf_gives_glibc_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RES_OPTIONS", raising=False)
    resolver = Resolver(resolv_conf=str(tmp_path / "absent"), hosts_file=str(tmp_path / "absent-hosts"))
    assert [str(server) for server in resolver.nameservers] == ["127.0.0.1:53"]
    assert (resolver.ndots, resolver.timeout, resolver.attempts) == (1, 5.0, 2)


@pytest.mark.parametrize("options", [{"attempts": 0}, {"timeout": 0}, {"ndots": -1}, {"max_concurrency": 0},
                                     {"nameservers": []}])
def test_bad_settings(options: dict[str, object]) -> None:
    nameservers = options.pop("nameservers", ["127.0.0.1"])
    with pytest.raises(ValueError):
        Resolver(nameservers, resolv_conf=None, hosts_file=None, **options)  # type: ignore[arg-type]


def test_public_names() -> None:
    assert sorted(tidal.dns.__all__) == sorted([
        "Resolver", "Nameserver", "parse_nameserver", "reverse_name", "Answer", "RecordData", "MXRecord",
        "TXTRecord", "SRVRecord", "SOARecord", "CAARecord", "SVCBRecord", "GenericRecord", "DNSError",
        "NXDomain", "NoAnswer", "ServFail", "Refused", "DNSTimeout", "BadResponse", "GetaddrinfoHook",
        "install_getaddrinfo", "uninstall_getaddrinfo", "system_resolver", "system_getaddrinfo",
    ])
    for name in tidal.dns.__all__:
        assert getattr(tidal.dns, name) is not None
    assert issubclass(tidal.dns.DNSTimeout, TimeoutError) and issubclass(tidal.dns.DNSError, OSError)
    assert isinstance(parse_nameserver("::1", 53), Nameserver)


def test_reverse_names() -> None:
    assert tidal.dns.reverse_name("192.0.2.1") == "1.2.0.192.in-addr.arpa."
    assert tidal.dns.reverse_name("2001:db8::1").endswith(".8.b.d.0.1.0.0.2.ip6.arpa.")
    with pytest.raises(ValueError):
        tidal.dns.reverse_name("not-an-address")
