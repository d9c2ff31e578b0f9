"""tidal.run / tidal.new_event_loop: getaddrinfo answered by tidal.dns, never by a thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import tidal
import tidal.dns
import tidal.loop
from tidal.dns import _default
from tidal.streams import open_tcp_stream

from tests.loop_harness import open_fds

from .conftest import DnsmasqServer


def _no_threads(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the thread pool was used for name resolution")


@pytest.fixture
def no_thread_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any use of a ThreadPoolExecutor fails the test."""
    monkeypatch.setattr(concurrent.futures.ThreadPoolExecutor, "submit", _no_threads)


@pytest.fixture
def dnsmasq_as_system(dnsmasq: DnsmasqServer, monkeypatch: pytest.MonkeyPatch) -> tidal.dns.Resolver:
    """The process-wide resolver replaced by one that asks the test dnsmasq."""
    resolver = tidal.dns.Resolver([dnsmasq.address], hosts_file=None, resolv_conf=None, timeout=2)
    monkeypatch.setattr(_default._SYSTEM, "get", lambda: resolver)
    return resolver


@pytest.fixture
def resolving_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """``tidal.new_event_loop()``; fails on exception-handler calls or leaked fds."""
    gc.collect()
    before = open_fds()
    errors: list[dict[str, Any]] = []
    loop = tidal.new_event_loop()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        yield loop
    finally:
        loop.close()
        gc.collect()
    assert not errors
    assert not open_fds() - before


async def _greeting_server(host: str) -> asyncio.Server:
    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello")
        writer.close()  # not awaited: the handler ends here, before the loop closes

    return await asyncio.start_server(greet, host, 0)


async def _read_all(host: str, port: int) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    return data


def test_create_connection_by_name_without_the_thread_pool(
    resolving_loop: asyncio.AbstractEventLoop, dnsmasq_as_system: tidal.dns.Resolver, no_thread_pool: None
) -> None:
    async def scenario() -> bytes:
        server = await _greeting_server("127.0.0.6")  # api.test in dnsmasq
        async with server:
            return await _read_all("api.test", server.sockets[0].getsockname()[1])

    assert resolving_loop.run_until_complete(scenario()) == b"hello"
    assert dnsmasq_as_system.cache is not None and len(dnsmasq_as_system.cache) == 1


def test_open_tcp_stream_by_name_without_the_thread_pool(
    resolving_loop: asyncio.AbstractEventLoop, dnsmasq_as_system: tidal.dns.Resolver, no_thread_pool: None
) -> None:
    async def scenario() -> bytes:
        server = await _greeting_server("127.0.0.9")  # both.test: 127.0.0.9 and ::9
        async with server:
            port = server.sockets[0].getsockname()[1]
            async with await open_tcp_stream("both.test", port) as stream:
                return await stream.receive_some(100)

    assert resolving_loop.run_until_complete(scenario()) == b"hello"


def test_unknown_name_is_a_gaierror(
    resolving_loop: asyncio.AbstractEventLoop, dnsmasq_as_system: tidal.dns.Resolver, no_thread_pool: None
) -> None:
    async def scenario() -> None:
        await asyncio.open_connection("missing.test", 80)

    with pytest.raises(socket.gaierror) as caught:
        resolving_loop.run_until_complete(scenario())
    assert caught.value.errno == socket.EAI_NONAME


def test_tidal_run_and_install_give_resolving_loops(
    dnsmasq_as_system: tidal.dns.Resolver, no_thread_pool: None
) -> None:
    async def lookup() -> list[Any]:
        return await asyncio.get_running_loop().getaddrinfo("web.test", 80, type=socket.SOCK_STREAM)

    # RFC 6724: ::5 is IPv4-compatible (::/96, precedence 1), ranked below IPv4
    assert [info[4] for info in tidal.run(lookup())] == [("127.0.0.5", 80), ("::5", 80, 0, 0)]
    previous = asyncio.get_event_loop_policy()
    tidal.install()
    try:
        loop = asyncio.new_event_loop()
        try:
            assert isinstance(loop, tidal.EventLoop)
            assert [info[4] for info in loop.run_until_complete(lookup())][0] == ("127.0.0.5", 80)
        finally:
            loop.close()
    finally:
        asyncio.set_event_loop_policy(previous)


def test_opting_out_returns_to_libc() -> None:
    loop = tidal.new_event_loop()
    try:
        tidal.dns.uninstall_getaddrinfo(loop)
        used: list[Any] = []
        original = loop.run_in_executor

        def recording(executor: Any, func: Any, *args: Any) -> Any:
            used.append(func)
            return original(executor, func, *args)

        loop.run_in_executor = recording  # type: ignore[method-assign]
        infos = loop.run_until_complete(loop.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM))
        assert infos and used == [socket.getaddrinfo]
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()


def test_the_bare_loop_has_no_hook_and_creating_a_loop_does_not_load_the_resolver() -> None:
    code = (
        "import sys, tidal, tidal.loop\n"
        "loop = tidal.new_event_loop(); bare = tidal.loop.new_event_loop()\n"
        "assert bare._getaddrinfo_hook is None and loop._getaddrinfo_hook is not None\n"
        "assert 'tidal.dns' not in sys.modules, 'tidal.dns loaded before any lookup'\n"
        "loop.close(); bare.close()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_system_resolver_rereads_changed_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.1\n")
    monkeypatch.setattr(_default, "_RESOLV_CONF", str(conf))
    monkeypatch.setattr(_default, "_HOSTS", str(tmp_path / "hosts"))
    clock = [100.0]
    monkeypatch.setattr(_default.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(_default, "_SYSTEM", _default._SystemResolver())
    first = tidal.dns.system_resolver()
    assert [str(server) for server in first.nameservers] == ["127.0.0.1:53"]
    conf.write_text("nameserver 127.0.0.2\n")
    import os

    os.utime(conf, (1, 1))
    assert tidal.dns.system_resolver() is first and str(first.nameservers[0]) == "127.0.0.1:53"  # not yet rechecked
    clock[0] += _default.RECHECK_INTERVAL
    assert tidal.dns.system_resolver() is first and str(first.nameservers[0]) == "127.0.0.2:53"


def test_http_client_by_name_without_the_thread_pool(
    resolving_loop: asyncio.AbstractEventLoop, dnsmasq_as_system: tidal.dns.Resolver, no_thread_pool: None
) -> None:
    import tidal.http

    async def scenario() -> tuple[int, bytes]:
        async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
            writer.close()

        server = await asyncio.start_server(respond, "127.0.0.6", 0)  # api.test in dnsmasq
        async with server:
            port = server.sockets[0].getsockname()[1]
            response = await tidal.http.get(f"http://api.test:{port}/")
            return response.status, await response.read()

    assert resolving_loop.run_until_complete(scenario()) == (200, b"hello")
