"""Bad input to the text engine: each case names its exception type and message."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidal.protocols import LocalProtocolError, RemoteProtocolError
from tidal.protocols.text import (
    InvalidTextError,
    LineDecoder,
    LineSplitter,
    LineTooLongError,
    TextDecoder,
    TextUsageError,
    UnknownEncodingError,
)

from .test_text_decoder import chunked


def decode_all(chunks: list[bytes], encoding: str | None = "utf-8") -> str:
    decoder = TextDecoder(encoding)
    return "".join(decoder.decode(chunk) for chunk in chunks) + decoder.decode(b"", final=True)


@pytest.mark.parametrize(
    ("chunks", "encoding", "message"),
    [
        # An invalid continuation byte right after a chunk edge.
        ([b"ab\xe6", b"\x41"], "utf-8", r"invalid utf-8 data at byte offset 2: invalid continuation byte \(e6\)"),
        # A lead byte that can never start a character, at the start of a chunk.
        ([b"hello ", b"\xff world"], "utf-8", r"byte offset 6: invalid start byte \(ff\)"),
        # A character cut off by the end of the stream.
        ([b"ok \xe6\x9d"], "utf-8", r"byte offset 3: unexpected end of data \(e6 9d\)"),
        ([b"ok \xe6", b"\x9d"], "utf-8", r"byte offset 3: unexpected end of data \(e6 9d\)"),
        # The offset counts the BOM.
        ([b"\xef\xbb\xbf", b"a\xc0"], None, r"invalid utf-8 data at byte offset 4"),
        # UTF-16 with an odd byte count.
        ([b"a\x00b"], "utf-16-le", r"invalid utf-16-le data at byte offset 2: truncated data"),
        # A lone low surrogate in UTF-16.
        ([b"a\x00", b"\x00\xdc"], "utf-16-le", r"byte offset 2: illegal encoding"),
        ([b"abc\x80"], "ascii", r"invalid ascii data at byte offset 3: ordinal not in range\(128\)"),
    ],
)
def test_invalid_bytes_raise_with_their_absolute_offset(chunks: list[bytes], encoding: str | None, message: str) -> None:
    with pytest.raises(InvalidTextError, match=message):
        decode_all(chunks, encoding)


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.text(alphabet=st.sampled_from(list("a\né東😀")), max_size=20),
    bad=st.sampled_from([b"\xff", b"\xc0\xaf", b"\xe6\x41", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]),
    cuts=st.lists(st.integers(min_value=0, max_value=100), max_size=8),
)
def test_offset_is_the_same_whatever_the_split(prefix: str, bad: bytes, cuts: list[int]) -> None:
    data = prefix.encode() + bad + b"tail"
    with pytest.raises(InvalidTextError) as whole:
        decode_all([data])
    with pytest.raises(InvalidTextError) as split:
        decode_all(chunked(data, cuts))
    assert whole.value.offset == split.value.offset == len(prefix.encode())
    assert str(whole.value) == str(split.value)
    assert split.value.encoding == "utf-8"


def test_invalid_text_is_the_peers_fault_and_the_decoder_then_refuses_use() -> None:
    decoder = TextDecoder("utf-8")
    with pytest.raises(InvalidTextError) as caught:
        decoder.decode(b"\xff")
    assert isinstance(caught.value, RemoteProtocolError)
    assert caught.value.reason == "invalid start byte"
    with pytest.raises(TextUsageError, match=r"decode\(\) after the decoder failed: invalid utf-8"):
        decoder.decode(b"ok")


def test_decode_after_final_is_a_usage_error() -> None:
    decoder = TextDecoder()
    decoder.decode(b"x", final=True)
    with pytest.raises(TextUsageError, match=r"decode\(\) after decode\(\.\.\., final=True\)") as caught:
        decoder.decode(b"y")
    assert isinstance(caught.value, LocalProtocolError)


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("no-such-charset", "unknown encoding 'no-such-charset'"),
        ("base64", "'base64' is not a text encoding"),
        ("rot13", "'rot13' is not a text encoding"),
    ],
)
def test_unknown_or_non_text_encodings_are_refused_up_front(label: str, message: str) -> None:
    with pytest.raises(UnknownEncodingError, match=message) as caught:
        TextDecoder(label)
    assert isinstance(caught.value, LookupError) and isinstance(caught.value, LocalProtocolError)
    with pytest.raises(UnknownEncodingError, match=message):
        LineDecoder(label)
    with pytest.raises(UnknownEncodingError):
        TextDecoder(default_encoding=label)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: TextDecoder(newline="\t"), ValueError, "illegal newline value: '\\\\t'"),
        (lambda: LineSplitter("x"), ValueError, "illegal newline value: 'x'"),
        (lambda: LineSplitter(max_line_length=0), ValueError, "max_line_length must be positive or None, not 0"),
        (lambda: TextDecoder(errors="no-such-handler"), LookupError, "no-such-handler"),
    ],
)
def test_bad_arguments(make: object, error: type[Exception], message: str) -> None:
    assert callable(make)
    with pytest.raises(error, match=message):
        make()


# -- line too long ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chunks", "newline", "line_number", "measured"),
    [
        (["ok\n", "x" * 11 + "\n"], None, 2, "11 characters"),
        (["ok\nx" + "x" * 10 + "\nmore\n"], None, 2, "11 characters"),
        (["ok\r\n" + "x" * 11 + "\r\n"], "", 2, "11 characters"),
        (["ok\r" + "x" * 11 + "\r"], "\r", 2, "11 characters"),
        # No line end ever comes: the carried text is bounded too.
        (["x" * 6, "x" * 6], None, 1, "12 characters and no line end yet"),
        (["a\nb\n" + "x" * 20], "\n", 3, "20 characters and no line end yet"),
    ],
)
def test_line_too_long(chunks: list[str], newline: str | None, line_number: int, measured: str) -> None:
    splitter = LineSplitter(newline, max_line_length=10)
    with pytest.raises(LineTooLongError, match=f"line {line_number} exceeds max_line_length=10: {measured}$") as caught:
        for chunk in chunks:
            splitter.feed(chunk)
        splitter.finish()
    assert caught.value.line_number == line_number
    assert caught.value.limit == 10
    assert isinstance(caught.value, RemoteProtocolError)
    with pytest.raises(TextUsageError, match=r"feed\(\) after the line splitter failed: line"):
        splitter.feed("more")


def test_line_too_long_carries_the_lines_completed_before_it() -> None:
    splitter = LineSplitter(max_line_length=5)
    with pytest.raises(LineTooLongError) as caught:
        splitter.feed("one\ntwo\n" + "x" * 9 + "\nfour\n")
    assert caught.value.complete_lines == ["one\n", "two\n"]
    assert caught.value.line_number == 3


def test_line_too_long_through_the_byte_pipeline_byte_by_byte() -> None:
    data = ("é" * 4 + "\n" + "é" * 6 + "\n").encode()
    decoder = LineDecoder("utf-8", max_line_length=5)
    lines: list[str] = []
    with pytest.raises(LineTooLongError, match="line 2 exceeds max_line_length=5"):
        for index in range(len(data)):
            lines += decoder.feed(data[index : index + 1])
    assert lines == ["éééé\n"]


def test_feed_after_finish_is_a_usage_error() -> None:
    splitter = LineSplitter()
    splitter.finish("x")
    with pytest.raises(TextUsageError, match=r"feed\(\) after finish\(\)"):
        splitter.feed("y")


def test_exported_names_are_pinned() -> None:
    from tidal.protocols import text

    assert sorted(text.__all__) == sorted(
        [
            "TextDecoder",
            "LineSplitter",
            "LineDecoder",
            "charset_from_content_type",
            "DEFAULT_MAX_LINE_LENGTH",
            "TextError",
            "InvalidTextError",
            "LineTooLongError",
            "UnknownEncodingError",
            "TextUsageError",
        ]
    )
    for name in text.__all__:
        assert getattr(text, name) is not None
