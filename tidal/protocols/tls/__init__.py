"""A sans-IO TLS engine: ``ssl.SSLObject`` over two ``ssl.MemoryBIO``\\ s.

Feed it the peer's bytes, take the bytes to send, read events::

    engine = TLSEngine.client(ssl.create_default_context(), "example.com")
    engine.do_handshake()                   # False: needs the server's reply
    transport.send(engine.data_to_send())   # the ClientHello

See ``docs/protocols/tls.md`` for the events, the EOF policy and the errors.
"""

from ._engine import TLSEngine, clear_ignore_unexpected_eof
from ._errors import (
    TLSCertificateError,
    TLSError,
    TLSHandshakeError,
    TLSRemoteError,
    TLSTruncationError,
    TLSUsageError,
)
from ._events import (
    NEED_DATA,
    CloseNotify,
    Data,
    EndOfStream,
    Event,
    HandshakeComplete,
    NeedData,
    RaggedEOF,
)
from ._state import ALLOWED_OPERATIONS, TLSState

__all__ = [
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
]
