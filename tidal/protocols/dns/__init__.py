"""Sans-IO DNS: build queries, match and classify responses, frame TCP,
read resolv.conf and hosts files, cache answers.

Nothing here does I/O or reads a clock; the async resolver in
:mod:`tidal.dns` drives it.  See ``docs/protocols/dns.md``.
"""

from ._cache import CacheHit, DNSCache
from ._classify import Outcome, OutcomeKind, classify, negative_ttl
from ._errors import BadQuery, BadResponse, MismatchedResponse
from ._framing import TCPFrameDecoder, frame_message
from ._hosts import HostsFile, parse_hosts
from ._match import match_response, needs_tcp_retry, same_address
from ._message import MAX_MESSAGE_SIZE, Question, RecordValue, Response, RRset, parse_response
from ._query import EDNS_PAYLOAD, Query, build_query, rdclass_from, rdtype_from
from ._resolvconf import DEFAULT_NAMESERVER, ResolvConf, parse_resolv_conf
from ._search import search_candidates

__all__ = [
    # queries
    "EDNS_PAYLOAD",
    "Query",
    "build_query",
    "rdtype_from",
    "rdclass_from",
    # responses
    "MAX_MESSAGE_SIZE",
    "Question",
    "RecordValue",
    "RRset",
    "Response",
    "parse_response",
    "match_response",
    "needs_tcp_retry",
    "same_address",
    # meaning
    "Outcome",
    "OutcomeKind",
    "classify",
    "negative_ttl",
    # TCP
    "frame_message",
    "TCPFrameDecoder",
    # system configuration
    "DEFAULT_NAMESERVER",
    "ResolvConf",
    "parse_resolv_conf",
    "HostsFile",
    "parse_hosts",
    "search_candidates",
    # cache
    "CacheHit",
    "DNSCache",
    # errors
    "BadQuery",
    "BadResponse",
    "MismatchedResponse",
]
