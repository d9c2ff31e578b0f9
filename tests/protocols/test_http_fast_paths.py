"""The hot path's shortcuts agree with the full analysis they skip."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tidal.protocols.http._framing import NO_FACTS, analyse_head
from tidal.protocols.http._grammar import HOST_VALUE
from tidal.protocols.http._limits import DEFAULT_LIMITS
from tidal.protocols.http._sections import SectionScanner

NAMES = st.sampled_from([
    b"Host", b"Accept", b"Connection", b"CONNECTION", b"connection", b"Content-Length", b"content-LENGTH",
    b"Content-Encoding", b"Content-Type", b"Transfer-Encoding", b"TRANSFER-encoding", b"X-Connection",
    b"Connection-X", b"Keep-Alive", b"Cookie",
])
VALUES = st.sampled_from([b"", b"close", b"Close", b"keep-alive", b"keep-alive, close", b"closed", b"0", b"12",
                          b"gzip", b"chunked", b"text/plain", b" x-close ", b"upgrade,CLOSE", b"a b", b"[::1]:80",
                          b"h:1:2", b"u@h", b"caf%C3%A9.example:8080", b"%zz"])


@settings(deadline=None, max_examples=300)
@given(st.lists(st.tuples(NAMES, VALUES), max_size=8))
def test_plain_heads_have_no_framing_facts(fields: list[tuple[bytes, bytes]]) -> None:
    head = b"GET / HTTP/1.1\r\n" + b"".join(name + b": " + value + b"\r\n" for name, value in fields) + b"\r\n"
    buf = bytearray(head)
    scanner = SectionScanner("request", DEFAULT_LIMITS)
    assert scanner.scan(buf) == len(head)
    try:
        facts = analyse_head(buf, len(head), DEFAULT_LIMITS)
    except Exception:  # refused framing (CL+TE, bad Content-Length, ...)
        facts = None
    if scanner.plain:
        assert facts is NO_FACTS
    # And the reverse: a head the shortcut could have taken, it took.
    names = {name.lower() for name, _ in fields}
    framing = {b"content-length", b"content-encoding", b"transfer-encoding"}
    says_close = any(name.lower() == b"connection" and b"close" in value.lower() for name, value in fields)
    hosts_valid = all(HOST_VALUE.fullmatch(value.strip(b" \t")) for name, value in fields if name.lower() == b"host")
    assert scanner.plain is (not (names & framing) and not says_close and hosts_valid)


def test_plain_flag_resets_between_sections() -> None:
    scanner = SectionScanner("request", DEFAULT_LIMITS)
    assert scanner.scan(bytearray(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")) > 0 and scanner.plain
    scanner.reset()
    assert not scanner.plain
    assert scanner.scan(bytearray(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")) > 0
    assert not scanner.plain
