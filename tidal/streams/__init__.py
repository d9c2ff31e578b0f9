"""Completion-style async byte and text streams (see ``docs/streams.md``).

Every stream implements one small contract (:class:`ByteStream`): hand over a
buffer, be resumed when it is filled.  Sockets, TLS, buffering, decompression
and text decoding each implement or wrap that contract, so they stack, and
they run on any asyncio loop -- fastest on tidal's.
"""

from ._abc import AsyncResource, ByteStream, Listener, ReceiveStream, SendStream
from ._errors import StreamBroken, StreamBusy, StreamClosed, StreamError, StreamLimitExceeded

__all__ = [
    "AsyncResource",
    "ByteStream",
    "Listener",
    "ReceiveStream",
    "SendStream",
    "StreamBroken",
    "StreamBusy",
    "StreamClosed",
    "StreamError",
    "StreamLimitExceeded",
]
