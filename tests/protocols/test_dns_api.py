"""The public surface of tidal.protocols.dns, and its sans-IO promise."""

from __future__ import annotations

import ast
import pathlib

import tidal.protocols.dns as dns_engine

EXPECTED = {
    "EDNS_PAYLOAD", "Query", "build_query", "rdtype_from", "rdclass_from",
    "MAX_MESSAGE_SIZE", "Question", "RecordValue", "RRset", "Response", "parse_response",
    "match_response", "needs_tcp_retry", "same_address",
    "Outcome", "OutcomeKind", "classify", "negative_ttl",
    "frame_message", "TCPFrameDecoder",
    "DEFAULT_NAMESERVER", "ResolvConf", "parse_resolv_conf", "HostsFile", "parse_hosts", "search_candidates",
    "CacheHit", "DNSCache",
    "BadQuery", "BadResponse", "MismatchedResponse",
}


def test_exported_names_are_pinned() -> None:
    assert set(dns_engine.__all__) == EXPECTED
    assert len(dns_engine.__all__) == len(EXPECTED)
    for name in EXPECTED:
        assert getattr(dns_engine, name) is not None


def test_error_hierarchy() -> None:
    from tidal.protocols import LocalProtocolError, RemoteProtocolError

    assert issubclass(dns_engine.BadQuery, LocalProtocolError)
    assert issubclass(dns_engine.BadResponse, RemoteProtocolError)
    assert issubclass(dns_engine.MismatchedResponse, dns_engine.BadResponse)


def test_public_names_have_docstrings() -> None:
    for name in EXPECTED - {"RecordValue", "EDNS_PAYLOAD", "MAX_MESSAGE_SIZE", "DEFAULT_NAMESERVER"}:
        assert getattr(dns_engine, name).__doc__, name


def test_no_io_or_clock_imports() -> None:
    package = pathlib.Path(dns_engine.__file__).parent
    forbidden = {"asyncio", "socket", "selectors", "time", "ssl", "threading"}
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"
