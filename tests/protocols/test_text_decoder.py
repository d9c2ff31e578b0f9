"""TextDecoder: whole input, one byte at a time and random splits give the same text.

io.TextIOWrapper over a BytesIO is the oracle for decoded text and newline
translation (``read()`` and ``read(n)``).
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidal.protocols.text import TextDecoder, charset_from_content_type

SAMPLE = "plain ascii\r\ncafé naïve\rÜbermorgen\n東京 ✓ 😀\r\n\r\rend"
ENCODINGS = ["utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "latin-1", "cp1252", "shift_jis", "euc-jp", "gb18030"]
NEWLINES: list[str | None] = [None, "", "\n", "\r", "\r\n"]


def chunked(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """``data`` cut at the (sorted, deduplicated) offsets ``cuts``."""
    edges = [0, *sorted(set(c for c in cuts if 0 <= c <= len(data))), len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:])]


def decode_chunks(chunks: Sequence[bytes], *args: object, **kwargs: object) -> str:
    decoder = TextDecoder(*args, **kwargs)  # type: ignore[arg-type]
    return "".join(decoder.decode(chunk) for chunk in chunks) + decoder.decode(b"", final=True)


def oracle(data: bytes, encoding: str, errors: str = "strict", newline: str | None = None) -> str:
    return io.TextIOWrapper(io.BytesIO(data), encoding=encoding, errors=errors, newline=newline).read()


def encodable(text: str, encoding: str) -> str:
    return text.encode(encoding, "ignore").decode(encoding)


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("newline", NEWLINES)
def test_whole_and_byte_by_byte_match_textiowrapper(encoding: str, newline: str | None) -> None:
    data = encodable(SAMPLE, encoding).encode(encoding)
    expected = oracle(data, encoding, newline=newline)
    assert decode_chunks([data], encoding, newline=newline) == expected
    assert decode_chunks([data[i : i + 1] for i in range(len(data))], encoding, newline=newline) == expected


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("ab\r\n é東😀\x00\u2028")), max_size=60),
    encoding=st.sampled_from(["utf-8", "utf-16-le", "utf-32-be", "gb18030"]),
    newline=st.sampled_from(NEWLINES),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
)
def test_random_splits_match_textiowrapper(text: str, encoding: str, newline: str | None, cuts: list[int]) -> None:
    data = text.encode(encoding)
    assert decode_chunks(chunked(data, cuts), encoding, newline=newline) == oracle(data, encoding, newline=newline)


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=80),
    errors=st.sampled_from(["replace", "ignore", "surrogateescape", "backslashreplace"]),
    cuts=st.lists(st.integers(min_value=0, max_value=80), max_size=10),
)
def test_error_handlers_match_textiowrapper_on_arbitrary_bytes(data: bytes, errors: str, cuts: list[int]) -> None:
    expected = oracle(data, "utf-8", errors=errors, newline="")
    assert decode_chunks(chunked(data, cuts), "utf-8", errors, "") == expected


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_read_n_characters_matches_textiowrapper(size: int) -> None:
    data = SAMPLE.encode("utf-8") * 3
    wrapper = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    expected = []
    while piece := wrapper.read(size):
        expected.append(piece)
    decoder = TextDecoder("utf-8")
    text = "".join(decoder.decode(data[i : i + 5]) for i in range(0, len(data), 5)) + decoder.decode(b"", final=True)
    assert [text[i : i + size] for i in range(0, len(text), size)] == expected


# -- choosing the encoding ------------------------------------------------------------


@pytest.mark.parametrize(
    ("bom", "encoding"),
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
    ],
)
def test_bom_chooses_the_encoding_and_is_stripped(bom: bytes, encoding: str) -> None:
    data = bom + "hé 東\n".encode(encoding)
    for chunks in ([data], [data[i : i + 1] for i in range(len(data))]):
        decoder = TextDecoder()
        text = "".join(decoder.decode(chunk) for chunk in chunks) + decoder.decode(b"", final=True)
        assert text == "hé 東\n"
        assert decoder.encoding == codecs.lookup(encoding).name


def test_encoding_is_unknown_while_a_bom_may_still_be_forming() -> None:
    decoder = TextDecoder()
    assert decoder.decode(b"\xff\xfe") == ""
    assert decoder.encoding is None
    assert decoder.decode(b"a\x00") == "a"  # FF FE then not 00 00: UTF-16-LE, not UTF-32
    assert decoder.encoding == "utf-16-le"


def test_short_input_that_looks_like_a_bom_prefix_is_flushed_at_the_end() -> None:
    decoder = TextDecoder()
    assert decoder.decode(b"\xef\xbb") == ""
    with pytest.raises(Exception, match="byte offset 0"):
        decoder.decode(b"", final=True)  # EF BB alone is not UTF-8
    assert decode_chunks([b"\xff"], errors="replace") == "\ufffd"


def test_fallback_is_utf8_and_configurable() -> None:
    assert decode_chunks(["é".encode()]) == "é"
    decoder = TextDecoder(default_encoding="latin-1")
    assert decoder.decode(b"\xe9", final=True) == "é"
    assert decoder.encoding == "iso8859-1"


def test_declared_charset_wins_over_a_bom_of_another_encoding() -> None:
    # Declared Latin-1: the bytes EF BB BF are three characters, not a BOM.
    assert decode_chunks([codecs.BOM_UTF8 + b"x"], "latin-1") == "ï»¿x"


def test_bom_of_the_declared_encoding_is_stripped() -> None:
    assert decode_chunks([codecs.BOM_UTF8 + b"x"], "utf-8") == "x"
    assert decode_chunks([codecs.BOM_UTF16_LE + "x".encode("utf-16-le")], "utf-16-le") == "x"


def test_declared_utf16_lets_the_codec_read_its_bom() -> None:
    assert decode_chunks(["x\n".encode("utf-16")], "utf-16") == "x\n"


def test_declared_label_is_normalized() -> None:
    decoder = TextDecoder(" UTF8 ")
    decoder.decode(b"x")
    assert decoder.encoding == "utf-8"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("text/html; charset=ISO-8859-1", "iso8859-1"),
        ('text/plain; format=flowed; charset="utf-8"', "utf-8"),
        (b"text/plain;charset=shift_jis", "shift_jis"),
        ('text/plain; title="a;b"; charset=utf-16', "utf-16"),
        ('text/plain; charset="ut\\f-8"', "utf-8"),
        ("text/plain", None),
        ("text/plain; charset=", None),
        ("text/plain; charset=no-such-charset", None),
        ("text/plain; charset=base64", None),
        ("application/json; CHARSET=UTF-8", "utf-8"),
    ],
)
def test_charset_from_content_type(header: str | bytes, expected: str | None) -> None:
    assert charset_from_content_type(header) == expected


# -- newline translation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([b"a\r", b"\nb"], "a\nb"),
        ([b"a\r", b"b"], "a\nb"),
        ([b"a\r"], "a\n"),
        ([b"a\r", b"", b"\n"], "a\n"),
        ([b"\r", b"\r", b"\n", b"\r"], "\n\n\n"),
    ],
)
def test_cr_at_a_chunk_edge_is_held_until_the_next_chunk(chunks: list[bytes], expected: str) -> None:
    assert decode_chunks(chunks) == expected


def test_held_cr_is_not_returned_early() -> None:
    decoder = TextDecoder()
    assert decoder.decode(b"a\r") == "a"
    assert decoder.decode(b"\n") == "\n"


@pytest.mark.parametrize("newline", ["", "\n", "\r", "\r\n"])
def test_other_newline_modes_leave_text_untouched(newline: str) -> None:
    assert decode_chunks([b"a\r", b"\nb\rc\n"], newline=newline) == "a\r\nb\rc\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32-le", "shift_jis", "gb18030", None])
def test_a_reused_input_buffer_is_not_kept(encoding: str | None) -> None:
    """Streams decode straight from one receive buffer they overwrite each time."""
    text = "東京\r\n" if encoding == "shift_jis" else "é東京😀\r\n"
    data = text.encode(encoding or "utf-16")
    buffer = bytearray(8)
    view = memoryview(buffer)
    decoder = TextDecoder(encoding)
    out = []
    for byte in data:
        buffer[0] = byte
        out.append(decoder.decode(view[:1]))
        buffer[0] = 0
    out.append(decoder.decode(b"", final=True))
    assert "".join(out) == text.replace("\r\n", "\n")
