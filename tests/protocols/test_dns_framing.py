"""TCP length framing: whole, byte by byte and random splits agree."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidal.protocols.dns import BadQuery, BadResponse, TCPFrameDecoder, frame_message

MESSAGES = st.lists(st.binary(min_size=12, max_size=300), min_size=0, max_size=8)


def feed_in_chunks(stream: bytes, cuts: list[int]) -> list[bytes]:
    decoder = TCPFrameDecoder()
    out: list[bytes] = []
    previous = 0
    for cut in sorted(set(cuts)) + [len(stream)]:
        if cut > previous:
            out += decoder.feed(stream[previous:cut])
            previous = cut
    out += decoder.feed(b"")
    return out


@settings(deadline=None)
@given(MESSAGES, st.lists(st.integers(0, 3000), max_size=20))
def test_any_split_gives_the_same_messages(messages: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(frame_message(message) for message in messages)
    whole = feed_in_chunks(stream, [])
    byte_by_byte = feed_in_chunks(stream, list(range(len(stream))))
    random_split = feed_in_chunks(stream, [cut for cut in cuts if cut < len(stream)])
    assert whole == byte_by_byte == random_split == messages


def test_frame_bytes() -> None:
    assert frame_message(b"x" * 12) == b"\x00\x0c" + b"x" * 12
    with pytest.raises(BadQuery, match="message of 65536 bytes cannot be framed; the limit is 65535"):
        frame_message(b"\x00" * 65536)


def test_pending_counts_partial_message() -> None:
    decoder = TCPFrameDecoder()
    assert decoder.feed(b"\x00\x0c" + b"a" * 5) == []
    assert decoder.pending == 7
    assert decoder.feed(b"a" * 7 + b"\x00") == [b"a" * 12]
    assert decoder.pending == 1


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        ([b"\x01\x00"], "TCP message of 256 bytes exceeds the 100-byte limit"),
        ([b"\x00"], None),
        ([b"\x00\x05abcde"], "TCP message of 5 bytes is shorter than the 12-byte DNS header"),
        ([b"\x00\x0cabc", b""], "connection closed with 5 bytes of an incomplete message"),
        ([b"\x00", b""], "connection closed with 1 bytes of an incomplete message"),
    ],
)
def test_bad_streams(chunks: list[bytes], message: str | None) -> None:
    decoder = TCPFrameDecoder(max_message_size=100)
    if message is None:
        assert [decoder.feed(chunk) for chunk in chunks] == [[]]
        return
    with pytest.raises(BadResponse) as info:
        for chunk in chunks:
            decoder.feed(chunk)
    assert type(info.value) is BadResponse and str(info.value) == message
    with pytest.raises(BadResponse, match="^" + message + "$"):
        decoder.feed(b"more")  # the decoder stays failed


def test_oversize_refused_before_buffering() -> None:
    decoder = TCPFrameDecoder(max_message_size=512)
    with pytest.raises(BadResponse, match="TCP message of 65535 bytes exceeds the 512-byte limit"):
        decoder.feed(b"\xff\xff")
    assert decoder.pending == 2  # nothing beyond the length was ever read


def test_feed_after_eof_is_a_local_error() -> None:
    decoder = TCPFrameDecoder()
    assert decoder.feed(b"") == []
    with pytest.raises(BadQuery, match="data fed to a TCP frame decoder after EOF"):
        decoder.feed(b"\x00")


def test_bad_limit() -> None:
    with pytest.raises(BadQuery, match="max_message_size 70000 is outside 12..65535"):
        TCPFrameDecoder(max_message_size=70000)


def test_many_small_messages_in_one_feed() -> None:
    stream = frame_message(b"m" * 12) * 5000
    assert len(TCPFrameDecoder().feed(stream)) == 5000
