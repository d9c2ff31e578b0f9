"""Property: however the response bytes are split on the wire, the client reads the same body.

One :class:`Connection` over an in-memory lockstep stream pair (each send
arrives as its own receive), fed a generated response -- Content-Length or
chunked with trailers, identity, gzip or deflate -- cut at random points.
The decoded body, the lines and the trailers must equal the originals.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from tidal.http._client._connection import Connection, ConnectTiming
from tidal.http._client._decoding import BodyDecoder
from tidal.http._client._timeouts import Deadlines, Timeout
from tidal.protocols.http import HTTPLimits, Request
from tidal.protocols.text import LineDecoder
from tidal.testing import lockstep_stream_pair

HEAD = Request(method=b"GET", target=b"/", headers=[(b"Host", b"h")])


def encode(body: bytes, coding: str) -> bytes:
    if coding == "gzip":
        return gzip.compress(body)
    if coding == "deflate":
        return zlib.compress(body)
    return body


def frame(payload: bytes, coding: str, chunk_sizes: list[int] | None) -> bytes:
    fields = b"Content-Type: text/plain; charset=utf-8\r\n"
    if coding != "identity":
        fields += b"Content-Encoding: " + coding.encode() + b"\r\n"
    if chunk_sizes is None:
        return b"HTTP/1.1 200 OK\r\n" + fields + b"Content-Length: %d\r\n\r\n" % len(payload) + payload
    chunks, position, index = [], 0, 0
    while position < len(payload):
        size = chunk_sizes[index % len(chunk_sizes)]
        piece = payload[position:position + size]
        chunks.append(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
        position, index = position + size, index + 1
    return (b"HTTP/1.1 200 OK\r\n" + fields + b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(chunks)
            + b"0\r\nChecksum: abc\r\n\r\n")


async def exchange(raw: bytes, cuts: list[int]) -> tuple[bytes, list[str], list[tuple[bytes, bytes]], int]:
    client_stream, server_stream = lockstep_stream_pair()
    connection = Connection(client_stream, ("http", "h", 80), HTTPLimits(), ConnectTiming())
    deadlines = Deadlines(Timeout())

    async def serve() -> None:
        await server_stream.receive_some()
        edges = [0, *sorted(set(cuts)), len(raw)]
        for start, end in zip(edges, edges[1:]):
            if end > start:
                await server_stream.send_all(raw[start:end])

    server = asyncio.ensure_future(serve())
    try:
        await connection.send_request(HEAD, None, deadlines)
        head = await connection.receive_head(deadlines)
        decoder = BodyDecoder(connection.engine.content_codings, None)
        lines = LineDecoder("utf-8")
        body, decoded_lines = b"", []
        while (chunk := await connection.receive_body(deadlines)) is not None:
            for piece in decoder.feed(chunk):
                body += piece
                decoded_lines += lines.feed(piece)
        decoder.finish()
        decoded_lines += lines.finish()
        await server
        return body, decoded_lines, connection.trailers, head.status_code
    finally:
        server.cancel()
        await connection.aclose()
        await server_stream.aclose()


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
                           max_size=40), max_size=30),
    coding=st.sampled_from(["identity", "gzip", "deflate"]),
    chunk_sizes=st.none() | st.lists(st.integers(1, 300), min_size=1, max_size=5),
    data=st.data(),
)
def test_any_split_reads_the_same_body(
    lines: list[str], coding: str, chunk_sizes: list[int] | None, data: st.DataObject
) -> None:
    text = "".join(line + "\n" for line in lines)
    raw = frame(encode(text.encode("utf-8"), coding), coding, chunk_sizes)
    cuts = data.draw(st.lists(st.integers(1, max(1, len(raw) - 1)), max_size=12))
    body, decoded_lines, trailers, status = asyncio.run(exchange(raw, cuts))
    assert status == 200
    assert body == text.encode("utf-8")
    assert decoded_lines == [line + "\n" for line in lines]
    assert trailers == ([] if chunk_sizes is None else [(b"checksum", b"abc")])


def test_decoded_pieces_stay_within_the_piece_size() -> None:
    """A gzip body decodes in pieces of at most DECODED_PIECE_SIZE bytes, and none is lost."""
    import gzip as gzip_module

    from tidal.http._client._decoding import DECODED_PIECE_SIZE

    body = bytes(range(256)) * 4096  # 1 MiB
    decoder = BodyDecoder(["gzip"], None)
    pieces = decoder.feed(gzip_module.compress(body))
    decoder.finish()
    assert b"".join(pieces) == body
    assert max(map(len, pieces)) == DECODED_PIECE_SIZE
