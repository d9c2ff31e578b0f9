"""The public surface of tidal.protocols.http, and its sans-IO promise."""

from __future__ import annotations

import ast
import pathlib

import h11
import pytest

import tidal.protocols.http as http_engine
from tidal.protocols import LocalProtocolError, ProtocolError, RemoteProtocolError

EXPECTED = {
    "HTTPConnection", "HTTPLimits", "HTTPLocalProtocolError", "HTTPRemoteProtocolError",
    "Event", "Request", "InformationalResponse", "Response", "Data", "EndOfMessage", "ConnectionClosed",
    "NEED_DATA", "PAUSED", "CLIENT", "SERVER", "IDLE", "SEND_RESPONSE", "SEND_BODY", "DONE", "MUST_CLOSE",
    "CLOSED", "ERROR", "MIGHT_SWITCH_PROTOCOL", "SWITCHED_PROTOCOL",
}
CONNECTION_API = {
    "receive_data", "next_event", "send", "send_failed", "send_passthrough", "start_next_cycle", "our_role", "their_role", "limits",
    "our_state", "their_state", "their_http_version", "keep_alive", "must_close", "expects_continue",
    "content_codings", "trailing_data",
}


def test_exported_names_are_pinned() -> None:
    assert set(http_engine.__all__) == EXPECTED
    assert len(http_engine.__all__) == len(EXPECTED)
    for name in EXPECTED:
        assert getattr(http_engine, name) is not None


def test_connection_api_is_pinned() -> None:
    public = {name for name in vars(http_engine.HTTPConnection) if not name.startswith("_")}
    assert public == CONNECTION_API


def test_events_and_states_are_h11s_own() -> None:
    for name in EXPECTED - {"HTTPConnection", "HTTPLimits", "HTTPLocalProtocolError", "HTTPRemoteProtocolError",
                            "MIGHT_SWITCH_PROTOCOL"}:
        assert getattr(http_engine, name) is getattr(h11, name), name


def test_error_hierarchy() -> None:
    assert issubclass(http_engine.HTTPLocalProtocolError, LocalProtocolError)
    assert issubclass(http_engine.HTTPRemoteProtocolError, RemoteProtocolError)
    assert issubclass(http_engine.HTTPRemoteProtocolError, ProtocolError)
    assert not issubclass(http_engine.HTTPRemoteProtocolError, h11.ProtocolError)
    error = http_engine.HTTPRemoteProtocolError("bad")
    assert error.status == 400 and str(error) == "bad"
    assert http_engine.HTTPRemoteProtocolError("big", status=413).status == 413


def test_public_names_have_docstrings() -> None:
    for name in ("HTTPConnection", "HTTPLimits", "HTTPLocalProtocolError", "HTTPRemoteProtocolError"):
        assert getattr(http_engine, name).__doc__, name
    for name in CONNECTION_API:
        assert getattr(http_engine.HTTPConnection, name).__doc__, name
    assert http_engine.__doc__


def test_roles() -> None:
    client = http_engine.HTTPConnection(http_engine.CLIENT)
    assert (client.our_role, client.their_role) == (http_engine.CLIENT, http_engine.SERVER)
    server = http_engine.HTTPConnection(http_engine.SERVER)
    assert (server.our_role, server.their_role) == (http_engine.SERVER, http_engine.CLIENT)
    assert server.limits == http_engine.HTTPLimits()
    limits = http_engine.HTTPLimits(max_body_bytes=5)
    assert http_engine.HTTPConnection(http_engine.SERVER, limits=limits).limits is limits
    with pytest.raises(ValueError, match="our_role must be CLIENT or SERVER, not IDLE"):
        http_engine.HTTPConnection(http_engine.IDLE)


def test_initial_state() -> None:
    connection = http_engine.HTTPConnection(http_engine.SERVER)
    assert connection.our_state is http_engine.IDLE and connection.their_state is http_engine.IDLE
    assert connection.their_http_version is None
    assert connection.keep_alive and not connection.must_close and not connection.expects_continue
    assert connection.content_codings == () and connection.trailing_data == (b"", False)
    assert connection.next_event() is http_engine.NEED_DATA


def test_no_io_or_clock_imports() -> None:
    package = pathlib.Path(http_engine.__file__).parent
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
