"""The public surface of ``tidal.protocols.tls`` is exactly what is documented."""

from __future__ import annotations

import inspect

import tidal.protocols.tls as tls
from tidal.protocols.tls import ALLOWED_OPERATIONS, TLSEngine, TLSState

EXPORTED = {
    "TLSEngine",
    "TLSState",
    "ALLOWED_OPERATIONS",
    "clear_ignore_unexpected_eof",
    "Event",
    "HandshakeComplete",
    "Data",
    "EndOfStream",
    "CloseNotify",
    "RaggedEOF",
    "NeedData",
    "NEED_DATA",
    "TLSError",
    "TLSUsageError",
    "TLSRemoteError",
    "TLSHandshakeError",
    "TLSCertificateError",
    "TLSTruncationError",
}

ENGINE_API = {
    "client", "server", "receive_data", "data_to_send", "bytes_to_send", "do_handshake", "send",
    "send_blocked", "next_event", "read_into", "start_close", "unwrap", "state", "server_side",
    "server_hostname", "alpn_protocol", "tls_version", "cipher", "peer_certificate",
    "peer_certificate_der", "session", "session_reused", "get_channel_binding",
}  # fmt: skip


def test_exported_names_are_pinned() -> None:
    assert set(tls.__all__) == EXPORTED
    assert len(tls.__all__) == len(EXPORTED)
    for name in EXPORTED:
        assert getattr(tls, name) is not None


def test_engine_public_members_are_pinned() -> None:
    public = {name for name in vars(TLSEngine) if not name.startswith("_")}
    assert public == ENGINE_API


def test_every_public_name_is_documented() -> None:
    for name in EXPORTED - {"Event", "NEED_DATA", "ALLOWED_OPERATIONS"}:
        assert inspect.getdoc(getattr(tls, name)), name
    for name in ENGINE_API:
        assert inspect.getdoc(getattr(TLSEngine, name)), name


def test_the_state_table_covers_every_state_and_only_real_operations() -> None:
    assert set(ALLOWED_OPERATIONS) == set(TLSState)
    operations = set().union(*ALLOWED_OPERATIONS.values())
    assert operations <= ENGINE_API
    assert all("data_to_send" in allowed for allowed in ALLOWED_OPERATIONS.values())
    assert ALLOWED_OPERATIONS[TLSState.ERROR] == frozenset({"data_to_send"})


def test_the_engine_imports_no_io() -> None:
    import ast
    from pathlib import Path

    forbidden = {"socket", "asyncio", "selectors", "time", "threading", "tidal.loop", "tidal.streams"}
    for path in Path(tls.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            assert not forbidden.intersection(names), f"{path.name} imports {names}"


def test_the_documented_example_runs() -> None:
    import re
    from pathlib import Path

    page = Path(__file__).parents[2] / "docs" / "protocols" / "tls.md"
    example = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)[-1]
    exec(compile(example, str(page), "exec"), {})
