"""Matching responses to queries, and the bad-input corpus.

Each bad input names the exception type (exactly) and the message it must
carry; none may escape as a dnspython or other foreign exception.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from tidal.protocols.dns import (
    BadQuery,
    BadResponse,
    MismatchedResponse,
    Query,
    Response,
    build_query,
    match_response,
    needs_tcp_retry,
    same_address,
)

from .test_dns_helpers import LOOPBACK, a_query, make_response

QUERY = a_query("www.example.com", "A")
GOOD = make_response(QUERY, [("www.example.com.", 60, "IN", "A", ["192.0.2.1"])])
QNAME = b"\x03www\x07example\x03com\x00"
A_RECORD_START = 12 + len(QNAME) + 4


def header(qid: int = 0x4242, flags: int = 0x8180, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


QUESTION = QNAME + b"\x00\x01\x00\x01"


def record(owner: bytes, rdtype: int, rdata: bytes, *, rdlength: int | None = None, rdclass: int = 1) -> bytes:
    size = len(rdata) if rdlength is None else rdlength
    return owner + struct.pack("!HHIH", rdtype, rdclass, 60, size) + rdata


def pointer_chain() -> bytes:
    # A NULL record whose rdata is 17 pointers, each to the one before (the
    # first to the question name), then a record owned by the last: 18 hops.
    rdata_start = A_RECORD_START + 2 + 10
    chain = b"\xc0\x0c" + b"".join(struct.pack("!H", 0xC000 | (rdata_start + 2 * i)) for i in range(16))
    last = struct.pack("!H", 0xC000 | (rdata_start + 2 * 16))
    return header(an=2) + QUESTION + record(b"\xc0\x0c", 10, chain) + record(last, 1, b"\xc0\x00\x02\x01")


def two_opts() -> bytes:
    opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
    return header(ar=2) + QUESTION + opt + opt


CORRUPT = "malformed DNS message: "
OVERRUN = CORRUPT + "a section or record runs past the end of the message, or record data is malformed"
BAD_POINTER = CORRUPT + "a compression pointer does not point backwards (a pointer loop or a forward pointer)"

# (id, wire builder, exception type, message)
CORPUS: list[tuple[str, Callable[[], bytes], type[Exception], str]] = [
    ("empty", lambda: b"", BadResponse, "message of 0 bytes is shorter than the 12-byte header"),
    ("truncated header", lambda: GOOD[:7], BadResponse, "message of 7 bytes is shorter than the 12-byte header"),
    ("truncated question", lambda: GOOD[:20], BadResponse, OVERRUN),
    ("question without type", lambda: header() + QNAME + b"\x00", BadResponse, OVERRUN),
    ("truncated answer", lambda: GOOD[: A_RECORD_START + 6], BadResponse, OVERRUN),
    ("answer count too high", lambda: header(an=3) + QUESTION + record(b"\xc0\x0c", 1, b"\xc0\x00\x02\x01"), BadResponse, OVERRUN),
    ("rdata length overrun", lambda: header(an=1) + QUESTION + record(b"\xc0\x0c", 1, b"\xc0\x00\x02\x01", rdlength=200), BadResponse, OVERRUN),
    ("A rdata of 5 bytes", lambda: header(an=1) + QUESTION + record(b"\xc0\x0c", 1, b"\xc0\x00\x02\x01\x07"), BadResponse, OVERRUN),
    ("CNAME rdata overrun", lambda: header(an=1) + QUESTION + record(b"\xc0\x0c", 5, b"\x03abc\x00", rdlength=3), BadResponse, OVERRUN),
    ("trailing garbage", lambda: GOOD + b"\x00junk", BadResponse, CORRUPT + "trailing bytes after the last record"),
    ("question pointer to itself", lambda: header() + b"\xc0\x0c\x00\x01\x00\x01", BadResponse, BAD_POINTER),
    ("owner pointer to itself", lambda: header(an=1) + QUESTION + record(struct.pack("!H", 0xC000 | A_RECORD_START), 1, b"\x01\x02\x03\x04"), BadResponse, BAD_POINTER),
    ("forward pointer", lambda: header(an=1) + QUESTION + record(b"\xc0\x40", 1, b"\x01\x02\x03\x04") + b"\x00" * 40, BadResponse, BAD_POINTER),
    ("CNAME target pointing into itself", lambda: header(an=1) + QUESTION + record(b"\xc0\x0c", 5, b"\x01a" + struct.pack("!H", 0xC000 | (A_RECORD_START + 12))), BadResponse, BAD_POINTER),
    ("pointer chain of 18 hops", pointer_chain, BadResponse, CORRUPT + "a chain of compression pointers is too long"),
    ("label type 0x40", lambda: header() + b"\x40abc\x00\x00\x01\x00\x01", BadResponse, CORRUPT + "a name uses an unknown label type"),
    ("two OPT records", two_opts, BadResponse, CORRUPT + "an OPT record is misplaced or repeated"),
    ("OPT in the answer section", lambda: header(an=1) + QUESTION + b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0), BadResponse, CORRUPT + "an OPT record is misplaced or repeated"),
    ("a query, not a response", lambda: header(flags=0x0100) + QUESTION, BadResponse, "message is a query (QR bit clear), not a response"),
    ("NOTIFY opcode", lambda: header(flags=0x8000 | (4 << 11)) + QUESTION, BadResponse, "response has opcode 4; only QUERY (0) is accepted"),
    ("no question", lambda: header(qd=0, flags=0x8182), BadResponse, "response carries 0 questions; exactly 1 is required"),
    ("two questions", lambda: header(qd=2) + QUESTION + QUESTION, BadResponse, "response carries 2 questions; exactly 1 is required"),
    ("oversize message", lambda: GOOD + b"\x00" * (65536 - len(GOOD)), BadResponse, "message of 65536 bytes exceeds the 65535-byte limit"),
    ("wrong ID", lambda: b"\x42\x43" + GOOD[2:], MismatchedResponse, "response ID 0x4243 does not match query ID 0x4242"),
    ("wrong question name", lambda: make_response(QUERY, question_name="www.example.org."), MismatchedResponse, "response question name 'www.example.org.' does not match 'www.example.com.'"),
    ("wrong question type", lambda: GOOD.replace(QNAME + b"\x00\x01", QNAME + b"\x00\x1c", 1), MismatchedResponse, "response question type/class 28/1 does not match the query's 1/1"),
    ("wrong question class", lambda: GOOD.replace(QNAME + b"\x00\x01\x00\x01", QNAME + b"\x00\x01\x00\x03", 1), MismatchedResponse, "response question type/class 1/3 does not match the query's 1/1"),
]


@pytest.mark.parametrize(("build", "kind", "message"), [case[1:] for case in CORPUS], ids=[case[0] for case in CORPUS])
def test_bad_input(build: Callable[[], bytes], kind: type[Exception], message: str) -> None:
    with pytest.raises(BadResponse) as info:
        match_response(QUERY, build(), sent_to=LOOPBACK, received_from=LOOPBACK)
    assert type(info.value) is kind
    assert str(info.value) == message


def test_corpus_cases_are_well_formed_apart_from_their_flaw() -> None:
    response = match_response(QUERY, GOOD, sent_to=LOOPBACK, received_from=LOOPBACK)
    assert response.answer[0].values == ("192.0.2.1",)


@pytest.mark.parametrize(
    ("received_from", "message"),
    [
        (("127.0.0.2", 53), "response came from 127.0.0.2:53, but the query was sent to 127.0.0.1:53"),
        (("127.0.0.1", 5353), "response came from 127.0.0.1:5353, but the query was sent to 127.0.0.1:53"),
        (("::1", 53, 0, 0), r"response came from \[::1\]:53, but the query was sent to 127.0.0.1:53"),
        (("not-an-ip", 53), "response came from not-an-ip:53"),
    ],
)
def test_wrong_source(received_from: tuple[object, ...], message: str) -> None:
    with pytest.raises(MismatchedResponse, match=message):
        match_response(QUERY, GOOD, sent_to=LOOPBACK, received_from=received_from)


def test_0x20_case_must_be_echoed_exactly() -> None:
    query = build_query("abcdefghijklmnopqrstuvwxyz.example", use_0x20=True, query_id=0x4242)
    assert query.name != query.name.lower()
    echoed = make_response(query)
    assert match_response(query, echoed, sent_to=LOOPBACK, received_from=LOOPBACK).question.name == query.name
    lowered = make_response(query, question_name=query.name.lower())
    with pytest.raises(MismatchedResponse, match="does not repeat the 0x20 case of"):
        match_response(query, lowered, sent_to=LOOPBACK, received_from=LOOPBACK)


def test_case_insensitive_without_0x20() -> None:
    response = match_response(QUERY, make_response(QUERY, question_name="WWW.EXAMPLE.COM."), sent_to=LOOPBACK, received_from=LOOPBACK)
    assert response.question.name == "WWW.EXAMPLE.COM."


@pytest.mark.parametrize(
    ("sent_to", "received_from", "same"),
    [
        (("::1", 53), ("0:0::1", 53, 0, 0), True),
        (("127.0.0.1", 53), ("::ffff:127.0.0.1", 53, 0, 0), True),
        (("fe80::1%eth0", 53, 0, 2), ("fe80::1%eth0", 53, 0, 2), True),
        (("fe80::1", 53, 0, 2), ("fe80::1%2", 53, 0, 2), True),
        (("fe80::1", 53, 0, 2), ("fe80::1", 53, 0, 3), False),
        (("::1", 53), ("::2", 53), False),
    ],
)
def test_address_comparison(sent_to: tuple[object, ...], received_from: tuple[object, ...], same: bool) -> None:
    assert same_address(sent_to, received_from) is same


def test_sent_to_must_be_an_ip() -> None:
    with pytest.raises(BadQuery, match="the query was sent to 'dns.example', which is not an IP address"):
        match_response(QUERY, GOOD, sent_to=("dns.example", 53), received_from=LOOPBACK)


def test_message_size_limit_is_the_callers() -> None:
    with pytest.raises(BadResponse, match=f"message of {len(GOOD)} bytes exceeds the 40-byte limit"):
        match_response(QUERY, GOOD, sent_to=LOOPBACK, received_from=LOOPBACK, max_size=40)


def test_tcp_retry_decision() -> None:
    truncated = make_response(QUERY, flags=0x0200)
    response = match_response(QUERY, truncated, sent_to=LOOPBACK, received_from=LOOPBACK)
    assert response.truncated
    assert needs_tcp_retry(response, over_tcp=False) is True
    assert needs_tcp_retry(response, over_tcp=True) is False
    whole: Response = match_response(QUERY, GOOD, sent_to=LOOPBACK, received_from=LOOPBACK)
    assert needs_tcp_retry(whole, over_tcp=False) is False


def _unused(query: Query) -> None:  # keeps the Query import meaningful for type checkers
    del query
