"""UDP and Unix-datagram transports and ``loop.create_datagram_endpoint``.

The transport shares the socket, registration and close logic of
:class:`~tidal.loop._transports.SocketTransportBase`.  Datagram specifics:

* ``sendto`` tries the syscall first; only when the kernel's send buffer is
  full are datagrams queued whole (a datagram is never split) and a writer
  registered.  The queue's byte count drives pause_writing/resume_writing.
* An ``OSError`` from ``recvfrom``/``sendto`` is not fatal: it is handed to
  ``protocol.error_received``.  That is how ICMP "port unreachable" surfaces
  on a connected UDP socket (as ``ConnectionRefusedError`` on the next call).
"""

from __future__ import annotations

import asyncio
import collections
import socket
from collections.abc import Callable
from typing import Any

from tidal.loop._connect import ensure_resolved, remove_stale_unix_socket, set_reuse_port
from tidal.loop._transports import SocketTransportBase, set_result_unless_cancelled

_UDP_MAX = 65536  # more than any UDP payload (65,507 bytes over IPv4, 65,527 over IPv6)

__all__ = ["DatagramTransport", "create_datagram_endpoint"]


class DatagramTransport(SocketTransportBase, asyncio.DatagramTransport):
    """A datagram-socket transport; ``address`` is the fixed peer, if any."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        address: Any = None,
        waiter: asyncio.Future[None] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(loop, sock, protocol, extra)
        self._address = address
        self._buffer: collections.deque[tuple[bytes, Any]] = collections.deque()
        self._buffer_size = 0
        # "Connected" means getpeername() worked: an unnamed Unix peer (a
        # socketpair) reports "", which asyncio mistakes for unconnected.
        self._connected = self.get_extra_info("peername") is not None
        self._read_step = self._read_datagram
        # A UDP payload never exceeds 65,535 bytes; a 256 KiB recvfrom() per
        # datagram would cost an mmap/munmap pair (see SMALL_READ_SIZE in
        # _transports).  Unix datagrams can be larger: they keep max_size.
        self._datagram_size = _UDP_MAX if sock.family in (socket.AF_INET, socket.AF_INET6) else self.max_size
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._register_reader)
        if waiter is not None:
            loop.call_soon(set_result_unless_cancelled, waiter)

    def get_write_buffer_size(self) -> int:
        """Bytes of queued datagrams the kernel has not taken yet."""
        return self._buffer_size

    def _clear_write_buffer(self) -> None:
        self._buffer.clear()
        self._buffer_size = 0

    def _read_datagram(self) -> None:
        if self._conn_lost or self._sock is None:
            return
        protocol: Any = self._protocol
        try:
            data, addr = self._sock.recvfrom(self._datagram_size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            protocol.error_received(exc)
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on datagram transport")
            return
        protocol.datagram_received(data, addr)

    def sendto(self, data: bytes | bytearray | memoryview, addr: Any = None) -> None:
        """Send one datagram to ``addr`` (or to the fixed peer address)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")
        if not data:
            return  # Python 3.11 drops empty datagrams
        if self._address:
            if addr not in (None, self._address):
                raise ValueError(f"Invalid address: must be None or {self._address}")
            addr = self._address
        if self._conn_lost and self._address:
            self._count_write_after_loss()
            return
        if not self._buffer:
            try:
                self._send_one(data, addr)
                return
            except (BlockingIOError, InterruptedError):
                self._register_writer()
            except OSError as exc:
                self._error_received(exc)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on datagram socket.")
                return
        # Copy: the caller may reuse a mutable buffer after sendto returns.
        self._buffer.append((bytes(data), addr))
        self._buffer_size += len(data)
        self._maybe_pause_protocol()

    def _send_one(self, data: bytes | bytearray | memoryview, addr: Any) -> None:
        assert self._sock is not None
        if self._connected:  # the kernel knows the peer; sendto() would be refused
            self._sock.send(data)
        else:
            self._sock.sendto(data, addr)

    def _error_received(self, exc: OSError) -> None:
        self._protocol.error_received(exc)  # type: ignore[attr-defined]

    def _on_writable(self) -> None:
        while self._buffer:
            data, addr = self._buffer.popleft()
            self._buffer_size -= len(data)
            try:
                self._send_one(data, addr)
            except (BlockingIOError, InterruptedError):
                self._buffer.appendleft((data, addr))  # the kernel is full again
                self._buffer_size += len(data)
                break
            except OSError as exc:
                self._error_received(exc)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on datagram socket.")
                return
        self._maybe_resume_protocol()  # the protocol may queue more here
        if not self._buffer:
            self._unregister_writer()
            if self._closing:
                self._schedule_connection_lost(None)


ProtocolFactory = Callable[[], asyncio.BaseProtocol]


async def create_datagram_endpoint(
    loop: asyncio.AbstractEventLoop,
    protocol_factory: ProtocolFactory,
    local_addr: Any = None,
    remote_addr: Any = None,
    *,
    family: int = 0,
    proto: int = 0,
    flags: int = 0,
    reuse_port: bool | None = None,
    allow_broadcast: bool | None = None,
    sock: socket.socket | None = None,
) -> tuple[asyncio.DatagramTransport, asyncio.BaseProtocol]:
    """Create a datagram endpoint; ``loop.create_datagram_endpoint``'s contract (3.11)."""
    remote: Any = None
    if sock is not None:
        _check_adopted_socket(sock, local_addr, remote_addr, family, proto, flags, reuse_port, allow_broadcast)
        sock.setblocking(False)
    else:
        pairs = await _address_pairs(loop, local_addr, remote_addr, family, proto, flags)
        sock, remote = await _open_first(loop, pairs, local_addr, remote_addr, reuse_port, allow_broadcast)
    protocol = protocol_factory()
    waiter: asyncio.Future[None] = loop.create_future()
    transport = DatagramTransport(loop, sock, protocol, remote, waiter)
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
    return transport, protocol


def _check_adopted_socket(sock: socket.socket, *modifiers: Any) -> None:
    if sock.type != socket.SOCK_DGRAM:
        raise ValueError(f"A UDP Socket was expected, got {sock!r}")
    names = ("local_addr", "remote_addr", "family", "proto", "flags", "reuse_port", "allow_broadcast")
    problems = ", ".join(f"{name}={value}" for name, value in zip(names, modifiers) if value)
    if problems:
        raise ValueError(f"socket modifier keyword arguments can not be used when sock is specified. ({problems})")


AddressPair = tuple[tuple[int, int], tuple[Any, Any]]


async def _address_pairs(
    loop: asyncio.AbstractEventLoop, local_addr: Any, remote_addr: Any, family: int, proto: int, flags: int
) -> list[AddressPair]:
    """(family, proto) -> (local, remote) address candidates, in resolver order."""
    if not (local_addr or remote_addr):
        if family == 0:
            raise ValueError("unexpected address family")
        return [((family, proto), (None, None))]
    if hasattr(socket, "AF_UNIX") and family == socket.AF_UNIX:
        for addr in (local_addr, remote_addr):
            if addr is not None and not isinstance(addr, str):
                raise TypeError("string is expected")
        if local_addr:
            remove_stale_unix_socket(local_addr)
        return [((family, proto), (local_addr, remote_addr))]
    by_key: dict[tuple[int, int], list[Any]] = {}
    for index, addr in ((0, local_addr), (1, remote_addr)):
        if addr is None:
            continue
        if not (isinstance(addr, tuple) and len(addr) == 2):
            raise TypeError("2-tuple is expected")
        infos = await ensure_resolved(loop, addr, family=family, type=socket.SOCK_DGRAM, proto=proto, flags=flags)
        if not infos:
            raise OSError("getaddrinfo() returned empty list")
        for info_family, _, info_proto, _, address in infos:
            by_key.setdefault((info_family, info_proto), [None, None])[index] = address
    # Only keys where every requested side resolved are usable.
    pairs = [
        (key, (pair[0], pair[1]))
        for key, pair in by_key.items()
        if not ((local_addr and pair[0] is None) or (remote_addr and pair[1] is None))
    ]
    if not pairs:
        raise ValueError("can not get address information")
    return pairs


async def _open_first(
    loop: asyncio.AbstractEventLoop,
    pairs: list[AddressPair],
    local_addr: Any,
    remote_addr: Any,
    reuse_port: bool | None,
    allow_broadcast: bool | None,
) -> tuple[socket.socket, Any]:
    """The first candidate that binds and connects; else the first error."""
    errors: list[OSError] = []
    for (family, proto), (local_address, remote_address) in pairs:
        try:
            sock = socket.socket(family=family, type=socket.SOCK_DGRAM, proto=proto)
        except OSError as exc:  # e.g. a family this host does not support
            errors.append(exc)
            continue
        try:
            if reuse_port:
                set_reuse_port(sock)
            if allow_broadcast:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.setblocking(False)
            if local_addr:
                sock.bind(local_address)
            if remote_addr and not allow_broadcast:
                # Connected: the kernel filters other senders and reports
                # ICMP errors for this peer (error_received).
                await loop.sock_connect(sock, remote_address)
        except OSError as exc:
            sock.close()
            errors.append(exc)
            continue
        except BaseException:
            sock.close()
            raise
        return sock, (remote_address if remote_addr else None)
    raise errors[0]
