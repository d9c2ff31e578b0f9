"""The three kinds of stream failure, under one base class.

STYLE.md #4: a stream fails in one of three ways, and the type says which:

* :class:`StreamClosed` -- *you* closed this stream (or this direction of it)
  and then used it again.  A bug in the caller, never the network's fault.
* :class:`StreamBroken` -- the stream can no longer be used because something
  underneath failed: the peer reset the connection, TLS data was corrupt, a
  decompressor hit a bomb limit, an earlier operation was cancelled half-way.
  It is always raised ``from`` the underlying error when there is one, so the
  traceback shows both the sentence for the user and the OS or engine detail.
* :class:`StreamBusy` -- two tasks tried to receive (or to send) on the same
  stream at once.  Interleaving their bytes would corrupt the data silently,
  so the second caller fails fast instead.

:class:`StreamLimitExceeded` is raised by the buffering and decoding
wrappers when a caller-chosen limit is hit; its message names the limit and
its value.  Whether the stream stays usable depends on the limit: a
``receive_until`` that found no delimiter within ``max_bytes`` keeps the data
buffered, while a decompressor that would exceed ``max_output`` marks itself
broken (later calls raise :class:`StreamBroken`).
"""

from __future__ import annotations

__all__ = ["StreamError", "StreamClosed", "StreamBroken", "StreamBusy", "StreamLimitExceeded"]


class StreamError(Exception):
    """Base class of every error a tidal stream raises."""


class StreamClosed(StreamError):
    """The stream (or this direction of it) was closed by its own user."""


class StreamBroken(StreamError):
    """The stream failed underneath and cannot be used any more.

    The original error (``OSError``, ``ssl.SSLError``, an engine's protocol
    error ...) is attached as ``__cause__``.
    """


class StreamBusy(StreamError):
    """Another task is already receiving, or already sending, on this stream."""


class StreamLimitExceeded(StreamError):
    """A configured size limit was exceeded; the message names the limit.

    ``limit_name`` is the parameter that set the limit (``"max_bytes"``,
    ``"max_output"`` ...) and ``limit`` its value.
    """

    def __init__(self, message: str, *, limit_name: str, limit: int) -> None:
        super().__init__(message)
        self.limit_name = limit_name
        self.limit = limit
