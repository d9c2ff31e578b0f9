"""``TLSEngine.read_into``: plaintext straight into the caller's buffer.

The same session read with ``read_into`` (any buffer size, any split of the
ciphertext) must give the same bytes and events as with ``next_event``; an
error met after some records were decrypted comes after their data; and the
engine answers NEED_DATA without asking OpenSSL once the input is used up.
"""

from __future__ import annotations

import array
import ssl
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidal.protocols.tls import (
    NEED_DATA,
    CloseNotify,
    Data,
    HandshakeComplete,
    TLSEngine,
    TLSRemoteError,
    TLSState,
    TLSTruncationError,
    TLSUsageError,
)

from .test_tls_kit import (
    HOSTNAME,
    Peer,
    byte_by_byte,
    client_context,
    connected,
    converse,
    cycling,
    make_peers,
    server_context,
    whole,
)

RECORD = 2**14


class ReadIntoPeer(Peer):
    """A peer that takes plaintext with ``read_into`` into a fixed-size buffer."""

    buffer_size = RECORD

    def pump(self) -> None:
        if self.engine.state is TLSState.ERROR or self.ended:
            return
        buffer = bytearray(self.buffer_size)
        while True:
            count = self.engine.read_into(buffer)
            if count:
                assert 0 < count <= len(buffer)
                self.received += buffer[:count]
                continue
            event = self.engine.next_event()
            assert not isinstance(event, Data), "read_into() returned 0 while data was there"
            if event is NEED_DATA:
                return
            self.events.append(event)
            if self.ended:
                return


def read_into_session(splitter: Any, buffer_size: int) -> tuple[bytes, bytes, list[Any], list[Any]]:
    """Handshake, data both ways (several records), close both ways."""
    client, server = make_peers(splitter=splitter)
    client, server = ReadIntoPeer(client.engine, splitter), ReadIntoPeer(server.engine, splitter)
    client.buffer_size = server.buffer_size = buffer_size
    converse(client, server)
    client.engine.send(b"GET / HTTP/1.1\r\n\r\n")
    server.engine.send(bytes(range(256)) * 150)  # 38400 bytes: three records
    server.engine.send(b"end")
    converse(client, server)
    client.engine.start_close()
    converse(client, server)
    server.engine.start_close()
    converse(client, server)
    return bytes(client.received), bytes(server.received), client.events, server.events


EXPECTED = (
    bytes(range(256)) * 150 + b"end",
    b"GET / HTTP/1.1\r\n\r\n",
    [HandshakeComplete(None, "TLSv1.3"), CloseNotify()],
    [HandshakeComplete(None, "TLSv1.3"), CloseNotify()],
)


@pytest.mark.parametrize("buffer_size", [1, 1000, RECORD, 4 * RECORD + 7])
@pytest.mark.parametrize("splitter", [whole, cycling([1, 2, 3, 5, 8, 13]), cycling([1000, 7, 20_000])])
def test_read_into_gives_the_same_session_for_any_split_and_buffer(splitter: Any, buffer_size: int) -> None:
    assert read_into_session(splitter, buffer_size) == EXPECTED


def test_read_into_gives_the_same_session_one_byte_at_a_time() -> None:
    assert read_into_session(byte_by_byte, RECORD) == EXPECTED


@settings(max_examples=20, deadline=None)
@given(
    st.lists(st.integers(min_value=64, max_value=20_000), min_size=1, max_size=6),
    st.integers(min_value=1, max_value=3 * RECORD),
)
def test_read_into_survives_random_splits_and_buffer_sizes(sizes: list[int], buffer_size: int) -> None:
    assert read_into_session(cycling(sizes), buffer_size) == EXPECTED


def test_every_record_fed_is_decrypted_in_one_call() -> None:
    client, server = connected()
    message = bytes(range(256)) * 256  # 64 KiB: four full records
    server.engine.send(message)
    client.engine.receive_data(server.engine.data_to_send())
    buffer = bytearray(256 * 1024)
    assert client.engine.read_into(buffer) == len(message)
    assert buffer[: len(message)] == message
    assert client.engine.read_into(buffer) == 0
    assert client.engine.next_event() is NEED_DATA


def test_a_small_buffer_takes_part_of_a_record_and_the_rest_comes_next() -> None:
    client, server = connected()
    server.engine.send(b"abcdefghij")
    client.engine.receive_data(server.engine.data_to_send())
    small = bytearray(4)
    assert client.engine.read_into(small) == 4 and small == b"abcd"
    assert client.engine.next_event(max_bytes=3) == Data(b"efg")  # both ways share the rest
    assert client.engine.read_into(small) == 3 and small[:3] == b"hij"
    assert client.engine.read_into(small) == 0


def test_read_into_accepts_a_memoryview_of_any_format() -> None:
    client, server = connected()
    server.engine.send(b"12345678")
    client.engine.receive_data(server.engine.data_to_send())
    words = array.array("H", [0] * 8)  # 16 bytes, 2-byte items
    assert client.engine.read_into(memoryview(words)) == 8
    assert words.tobytes()[:8] == b"12345678"


def test_nothing_is_read_before_the_handshake_is_reported() -> None:
    client, server = make_peers()
    buffer = bytearray(100)
    assert client.engine.read_into(buffer) == 0  # HANDSHAKING: next_event drives it
    converse(client, server)
    fresh = TLSEngine.client(client_context(), HOSTNAME)
    assert fresh.read_into(buffer) == 0 and fresh.state is TLSState.HANDSHAKING


def test_handshake_complete_is_reported_before_any_data() -> None:
    client = TLSEngine.client(client_context(), HOSTNAME)
    server = TLSEngine.server(server_context())
    client.do_handshake()
    server.receive_data(client.data_to_send())
    server.do_handshake()
    client.receive_data(server.data_to_send())
    assert client.do_handshake()
    server.receive_data(client.data_to_send())
    assert server.do_handshake()
    server.send(b"early")
    client.receive_data(server.data_to_send())
    buffer = bytearray(100)
    assert client.read_into(buffer) == 0  # the handshake event comes first
    assert isinstance(client.next_event(), HandshakeComplete)
    assert client.read_into(buffer) == 5 and buffer[:5] == b"early"


def test_data_then_close_notify_in_one_feed() -> None:
    client, server = connected()
    server.engine.send(b"bye")
    server.engine.start_close()
    client.engine.receive_data(server.engine.data_to_send())
    buffer = bytearray(RECORD)
    assert client.engine.read_into(buffer) == 3 and buffer[:3] == b"bye"
    assert client.engine.read_into(buffer) == 0
    assert client.engine.next_event() == CloseNotify()
    assert client.engine.read_into(buffer) == 0  # the end is reported again by next_event
    assert client.engine.next_event() == CloseNotify()


def test_a_corrupt_record_after_good_ones_is_raised_after_their_data() -> None:
    client, server = connected()
    server.engine.send(b"good")
    good = server.engine.data_to_send()
    server.engine.send(b"tampered")
    bad = bytearray(server.engine.data_to_send())
    bad[-1] ^= 0xFF  # the AEAD tag no longer matches
    client.engine.receive_data(good + bytes(bad))
    buffer = bytearray(RECORD * 2)
    assert client.engine.read_into(buffer) == 4 and buffer[:4] == b"good"
    with pytest.raises(TLSRemoteError, match="integrity check") as caught:
        client.engine.read_into(buffer)
    assert isinstance(caught.value.__cause__, ssl.SSLError)
    assert client.engine.state is TLSState.ERROR
    with pytest.raises(TLSUsageError, match=r"read_into\(\) is not allowed in state ERROR"):
        client.engine.read_into(buffer)


def test_a_deferred_error_is_also_raised_by_next_event() -> None:
    client, server = connected()
    server.engine.send(b"good")
    client.engine.receive_data(server.engine.data_to_send())
    client.engine.receive_data(b"")  # a ragged EOF under the strict policy
    buffer = bytearray(RECORD)
    assert client.engine.read_into(buffer) == 4
    with pytest.raises(TLSTruncationError):
        client.engine.next_event()


class CountingSSLObject(ssl.SSLObject):
    """Counts the reads the engine asks OpenSSL for."""

    reads = 0

    def read(self, len: int = 1024, buffer: Any = None) -> Any:  # noqa: A002 (ssl's own names)
        type(self).reads += 1
        return super().read(len, buffer)


def test_used_up_input_is_answered_without_asking_openssl() -> None:
    context = client_context()
    counter = type("Counter", (CountingSSLObject,), {"reads": 0})
    context.sslobject_class = counter
    client, server = connected(context)
    server.engine.send(b"x" * 1000)
    record = server.engine.data_to_send()
    counter.reads = 0
    client.engine.receive_data(record[:10])  # part of a record: one read learns that
    assert client.engine.next_event() is NEED_DATA and counter.reads == 1
    assert client.engine.next_event() is NEED_DATA and counter.reads == 1
    client.engine.receive_data(record[10:])
    assert client.engine.read_into(bytearray(RECORD)) == 1000 and counter.reads == 2
    assert client.engine.read_into(bytearray(RECORD)) == 0 and counter.reads == 2
    assert client.engine.next_event() is NEED_DATA and counter.reads == 2


def test_bytes_to_send_counts_what_data_to_send_returns() -> None:
    client, _ = connected()
    assert client.engine.bytes_to_send == 0
    client.engine.send(b"x" * 100)
    pending = client.engine.bytes_to_send
    assert pending > 100
    assert len(client.engine.data_to_send()) == pending and client.engine.bytes_to_send == 0
