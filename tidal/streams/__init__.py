"""Completion-style async byte and text streams (see ``docs/streams.md``).

Every stream implements one small contract (:class:`ByteStream`): hand over a
buffer, be resumed when it is filled.  Sockets, TLS, buffering, decompression
and text decoding each implement or wrap that contract, so they stack, and
they run on any asyncio loop -- fastest on tidal's.
"""

from ._abc import AsyncResource, ByteStream, Listener, ReceiveStream, SendStream
from ._buffered import DEFAULT_LINE_LIMIT, BufferedStream, PrematureEOF
from ._decompress import CompressStream, DecompressStream
from ._decompress_process import ProcessDecompressStream
from ._connect import Address, ConnectError, Resolver, open_tcp_stream, open_unix_stream
from ._errors import StreamBroken, StreamBusy, StreamClosed, StreamError, StreamLimitExceeded
from ._files import FileStream, open
from ._listeners import (
    Handler,
    SocketListener,
    StreamServer,
    open_tcp_listeners,
    open_unix_listener,
    serve_listeners,
    serve_tcp,
    serve_unix,
)
from ._socket import SocketStream, wrap_socket
from ._tls import TLSStream
from ._text import TextStream

__all__ = [
    "DEFAULT_LINE_LIMIT",
    "Address",
    "BufferedStream",
    "CompressStream",
    "DecompressStream",
    "FileStream",
    "PrematureEOF",
    "ProcessDecompressStream",
    "AsyncResource",
    "ByteStream",
    "ConnectError",
    "Handler",
    "Listener",
    "ReceiveStream",
    "Resolver",
    "SendStream",
    "SocketListener",
    "SocketStream",
    "StreamBroken",
    "StreamBusy",
    "StreamClosed",
    "StreamError",
    "StreamLimitExceeded",
    "StreamServer",
    "TLSStream",
    "TextStream",
    "open",
    "open_tcp_listeners",
    "open_tcp_stream",
    "open_unix_listener",
    "open_unix_stream",
    "serve_listeners",
    "serve_tcp",
    "serve_unix",
    "wrap_socket",
]
