"""Tools for testing code built on tidal streams.

* :func:`memory_stream_pair` / :func:`lockstep_stream_pair`: connected
  in-memory :class:`~tidal.streams.ByteStream` pairs, no sockets needed.
* :func:`check_two_way_stream` / :func:`check_one_way_stream`: the
  conformance checker every stream implementation must pass.
* :class:`VirtualClock`: virtual time for tidal's or asyncio's loop, so
  timeout tests take milliseconds.
"""

from ._check import ConformanceError, check_one_way_stream, check_two_way_stream
from ._clock import VirtualClock
from ._memory import MemoryByteStream, lockstep_stream_pair, memory_stream_pair

__all__ = [
    "ConformanceError",
    "MemoryByteStream",
    "VirtualClock",
    "check_one_way_stream",
    "check_two_way_stream",
    "lockstep_stream_pair",
    "memory_stream_pair",
]
