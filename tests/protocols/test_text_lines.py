"""LineSplitter / LineDecoder: lines equal io.TextIOWrapper's whatever the chunking."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidal.protocols.text import DEFAULT_MAX_LINE_LENGTH, LineDecoder, LineSplitter

from .test_text_decoder import NEWLINES, chunked

LOG = "GET /a 200\r\nGET /b 404\nnaïve café\r\r\n東京 ✓\n\nlast line without end"


def oracle_lines(data: bytes, encoding: str = "utf-8", newline: str | None = None) -> list[str]:
    return list(io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline=newline))


def decode_lines(chunks: Sequence[bytes], *args: object, **kwargs: object) -> list[str]:
    decoder = LineDecoder(*args, **kwargs)  # type: ignore[arg-type]
    lines = []
    for chunk in chunks:
        lines += decoder.feed(chunk)
    return lines + decoder.finish()


def split_text(chunks: Sequence[str], newline: str | None = None, **kwargs: object) -> list[str]:
    splitter = LineSplitter(newline, **kwargs)  # type: ignore[arg-type]
    lines = []
    for chunk in chunks:
        lines += splitter.feed(chunk)
    return lines + splitter.finish()


def strip_end(line: str, newline: str | None) -> str:
    for end in ("\r\n", "\r", "\n") if newline == "" else (newline or "\n",):
        if line.endswith(end):
            return line[: -len(end)]
    return line


@pytest.mark.parametrize("newline", NEWLINES)
def test_whole_and_byte_by_byte_match_textiowrapper(newline: str | None) -> None:
    data = LOG.encode("utf-8")
    expected = oracle_lines(data, newline=newline)
    assert decode_lines([data], "utf-8", newline=newline) == expected
    assert decode_lines([data[i : i + 1] for i in range(len(data))], "utf-8", newline=newline) == expected


@pytest.mark.parametrize("newline", NEWLINES)
def test_keepends_false_strips_exactly_the_line_end(newline: str | None) -> None:
    data = LOG.encode("utf-8")
    expected = [strip_end(line, newline) for line in oracle_lines(data, newline=newline)]
    for size in (1, 2, 3, len(data)):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        assert decode_lines(chunks, "utf-8", newline=newline, keepends=False) == expected


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("ab\r\n é😀\x0b\x0c\x1c\x85\u2028")), max_size=60),
    encoding=st.sampled_from(["utf-8", "utf-16-be"]),
    newline=st.sampled_from(NEWLINES),
    keepends=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=250), max_size=12),
)
def test_random_splits_match_textiowrapper(
    text: str, encoding: str, newline: str | None, keepends: bool, cuts: list[int]
) -> None:
    data = text.encode(encoding)
    expected = oracle_lines(data, encoding, newline)
    if not keepends:
        expected = [strip_end(line, newline) for line in expected]
    got = decode_lines(chunked(data, cuts), encoding, newline=newline, keepends=keepends)
    assert got == expected


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("ab\r\n\x85")), max_size=50),
    newline=st.sampled_from(NEWLINES),
    cuts=st.lists(st.integers(min_value=0, max_value=50), max_size=8),
)
def test_splitter_on_text_chunks_matches_textiowrapper(text: str, newline: str | None, cuts: list[int]) -> None:
    edges = [0, *sorted(set(c for c in cuts if c <= len(text))), len(text)]
    chunks = [text[a:b] for a, b in zip(edges, edges[1:])]
    assert split_text(chunks, newline) == oracle_lines(text.encode(), newline=newline)


def test_crlf_cut_between_chunks_is_one_line_end() -> None:
    assert decode_lines([b"a\r", b"\nb"], "utf-8", newline="") == ["a\r\n", "b"]
    assert decode_lines([b"a\r", b"\nb"], "utf-8") == ["a\n", "b"]
    assert decode_lines([b"a\r", b"\nb"], "utf-8", newline="\r\n") == ["a\r\n", "b"]


def test_multibyte_character_cut_between_chunks() -> None:
    data = "東京\n".encode()
    assert decode_lines([data[:1], data[1:4], data[4:]], "utf-8") == ["東京\n"]


def test_feed_with_final_is_finish() -> None:
    decoder = LineDecoder("utf-8")
    assert decoder.feed(b"a\nb") == ["a\n"]
    assert decoder.feed(b"c", final=True) == ["bc"]


def test_empty_input_gives_no_lines() -> None:
    assert decode_lines([], "utf-8") == []
    assert decode_lines([b"", b""], "utf-8") == []


def test_lines_returned_counts_lines() -> None:
    splitter = LineSplitter()
    splitter.feed("a\nb\nc")
    assert splitter.lines_returned == 2
    splitter.finish()
    assert splitter.lines_returned == 3


def test_take_pending_hands_out_the_unterminated_text_in_order() -> None:
    splitter = LineSplitter("")
    assert splitter.feed("one\ntw") == ["one\n"]
    assert splitter.pending == "tw"
    assert splitter.take_pending() == "tw"
    assert splitter.feed("o\n") == ["o\n"]


def test_take_pending_keeps_a_held_cr_after_the_returned_text() -> None:
    splitter = LineSplitter(None)
    assert splitter.feed("ab\r") == []
    assert splitter.take_pending() == "ab"
    assert splitter.finish("\nc") == ["\n", "c"]


# -- the line-length limit -------------------------------------------------------------


@pytest.mark.parametrize("newline", NEWLINES)
def test_line_exactly_at_the_limit_passes_whatever_its_end(newline: str | None) -> None:
    end = {"": "\r\n", None: "\r\n"}.get(newline, newline or "\n")
    text = ("x" * 10 + end) * 3
    for size in (1, 4, len(text)):
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
        assert len(split_text(chunks, newline, max_line_length=10)) == 3


def test_unlimited_lines() -> None:
    assert split_text(["x" * (DEFAULT_MAX_LINE_LENGTH + 5) + "\n"], max_line_length=None) == [
        "x" * (DEFAULT_MAX_LINE_LENGTH + 5) + "\n"
    ]
