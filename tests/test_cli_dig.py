"""``python -m tidal dig`` against a real dnsmasq."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest

from tidal._cli import main
from tidal._cli.dig import parse_request, presentation
from tidal.dns import CAARecord, MXRecord, SOARecord, SRVRecord, SVCBRecord, TXTRecord

from tests.dns.conftest import DnsmasqServer, dnsmasq  # noqa: F401  (the session fixture)


def dig(capsys: pytest.CaptureFixture[str], *words: str) -> tuple[int, str]:
    status = main(["dig", *words])
    return status, capsys.readouterr().out


def test_full_output_with_cname_chain_and_timing(dnsmasq: DnsmasqServer, capsys: Any) -> None:  # noqa: F811
    status, out = dig(capsys, "alias2.test", f"@{dnsmasq.address}")
    assert status == 0
    assert "status: NOERROR" in out
    assert ";alias2.test.\t\t\tIN\tA" in out
    assert re.search(r"^alias2\.test\.\t\t300\tIN\tCNAME\talias\.test\.$", out, re.M)
    assert re.search(r"^alias\.test\.\t\t300\tIN\tCNAME\tweb\.test\.$", out, re.M)
    assert re.search(r"^web\.test\.\t\t300\tIN\tA\t127\.0\.0\.5$", out, re.M)
    assert re.search(r";; Query time: \d+\.\d msec", out)
    assert f";; SERVER: {dnsmasq.address} (UDP)" in out


def test_short_output_and_types(dnsmasq: DnsmasqServer, capsys: Any) -> None:  # noqa: F811
    assert dig(capsys, "alias.test", "+short", f"@{dnsmasq.address}") == (0, "web.test.\n127.0.0.5\n")
    status, out = dig(capsys, "mail.test", "mx", "+short", f"@{dnsmasq.address}")
    assert sorted(out.splitlines()) == ["10 mx1.test.", "20 mx2.test."]
    assert dig(capsys, "txt.test", "TXT", "+short", f"@{dnsmasq.address}") == (0, '"hello world" "second"\n')
    assert dig(capsys, "-x", "127.0.0.6", "+short", f"@{dnsmasq.address}") == (0, "api.test.\n")


def test_tcp(dnsmasq: DnsmasqServer, capsys: Any) -> None:  # noqa: F811
    status, out = dig(capsys, "both.test", "AAAA", "+tcp", f"@{dnsmasq.address}")
    assert status == 0 and "\tAAAA\t::9" in out and "(TCP)" in out


def test_nxdomain_and_nodata(dnsmasq: DnsmasqServer, capsys: Any) -> None:  # noqa: F811
    status, out = dig(capsys, "missing.test", f"@{dnsmasq.address}")
    assert status == 0 and "status: NXDOMAIN" in out and "ANSWER SECTION" not in out
    status, out = dig(capsys, "web.test", "MX", f"@{dnsmasq.address}")
    assert status == 0 and "status: NOERROR" in out and "ANSWER SECTION" not in out
    assert dig(capsys, "missing.test", "+short", f"@{dnsmasq.address}") == (0, "")


def test_silent_server_times_out_with_status_9(capsys: Any) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        status, out = dig(capsys, "web.test", f"@127.0.0.1:{port}", "+timeout=0.2", "+tries=1")
    assert status == 9
    assert f"no answer for web.test. A before the deadline (tried 127.0.0.1:{port})" in out


def test_bad_arguments(capsys: Any) -> None:
    assert main(["dig", "+bogus", "web.test"]) == 2
    assert "unknown option +bogus" in capsys.readouterr().err
    with pytest.raises(ValueError, match="a NAME to look up is required"):
        parse_request([])
    with pytest.raises(ValueError, match="unexpected arguments: extra"):
        parse_request(["name", "A", "extra"])
    request = parse_request(["name", "aaaa", "@[::1]:5353", "+tcp", "+search", "+0x20"])
    assert (request.rdtype, request.server, request.tcp, request.search, request.use_0x20) == (
        "AAAA", "[::1]:5353", True, True, True)


def test_presentation_of_every_record_class() -> None:
    assert presentation(MXRecord(10, "mx.test.")) == "10 mx.test."
    assert presentation(TXTRecord((b'say "hi"', b"\x00"))) == '"say \\"hi\\"" "\\000"'
    assert presentation(SRVRecord(1, 5, 8080, "web.test.")) == "1 5 8080 web.test."
    assert presentation(SOARecord("ns.test.", "admin.test.", 1, 2, 3, 4, 5)) == "ns.test. admin.test. 1 2 3 4 5"
    assert presentation(CAARecord(0, "issue", b"ca.test")) == '0 issue "ca.test"'
    assert presentation(SVCBRecord(1, ".", (("alpn", "h2,h3"), ("port", "8443")))) == "1 . alpn=h2,h3 port=8443"


def test_the_command_runs_as_a_module(dnsmasq: DnsmasqServer) -> None:  # noqa: F811
    done = subprocess.run(
        [sys.executable, "-m", "tidal", "dig", "web.test", "+short", f"@{dnsmasq.address}"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "127.0.0.5\n", "")
