"""Resolver tests run on three loops (tidal's, asyncio's, uvloop) against real peers.

* ``loop`` / ``run``: a fresh loop of each kind; the test fails when the
  loop's exception handler is called or a file descriptor leaks.
* ``dnsmasq``: one real dnsmasq for the session on a free loopback port,
  serving a generated hosts file and a few record types (see ``ZONE``);
  ``*.test`` is local, so unknown names are NXDOMAIN and known names
  without the asked type are NODATA.  Stopped by PID.
* ``unbound``: one real unbound for the session serving ``zone.test`` as a
  static local zone (``UNBOUND_ZONE``): SOA, NS, MX, SRV, CAA, HTTPS, and
  an A rrset too large for a 1232-byte UDP answer.  Stopped by PID.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import pytest

from tests.loop_harness import checked_loop, make_loop, runner

from tests.peers import free_port, require_binary

LOOP_KINDS = ["tidal", "asyncio", "uvloop"]

HOSTS_FILE = """\
127.0.0.5   web.test web
::5         web.test
127.0.0.6   api.test
127.0.0.7   multi.test
127.0.0.8   multi.test
"""

ZONE_ARGUMENTS = [
    "--cname=alias.test,web.test",
    "--cname=alias2.test,alias.test",
    "--mx-host=mail.test,mx1.test,10",
    "--mx-host=mail.test,mx2.test,20",
    "--srv-host=_http._tcp.web.test,web.test,8080,1,5",
    "--txt-record=txt.test,hello world,second",
    "--host-record=both.test,127.0.0.9,::9",
    "--host-record=v6only.test,::10",
    "--local=/test/",
    "--local-ttl=300",
]


@pytest.fixture(scope="session", autouse=True)
def _warm_up_uvloop() -> None:
    # libuv opens process-wide descriptors with its first loop; open them
    # before any test counts its own descriptors.
    warm = make_loop("uvloop")
    warm.run_until_complete(asyncio.sleep(0))
    warm.close()


@pytest.fixture(params=LOOP_KINDS)
def loop_kind(request: pytest.FixtureRequest) -> str:
    """The loop under test: "tidal", "asyncio" or "uvloop"."""
    kind: str = request.param
    return kind


@pytest.fixture
def loop(loop_kind: str) -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh loop; fails the test on exception-handler calls or leaked fds."""
    with checked_loop(loop_kind) as event_loop:
        yield event_loop


@pytest.fixture
def run(loop: asyncio.AbstractEventLoop) -> Callable[..., Any]:
    """``run(coro, timeout=20)``: run a coroutine to completion on the loop under test."""
    return runner(loop, 20.0)


@dataclass(frozen=True)
class DnsmasqServer:
    """A running dnsmasq: where it listens and the hosts file it serves."""

    host: str
    port: int
    hosts_path: Path

    @property
    def address(self) -> str:
        """``ip:port`` as :class:`tidal.dns.Resolver` takes it."""
        return f"{self.host}:{self.port}"


def _wait_until_answering(
    port: int, process: subprocess.Popen[bytes], limit: float = 10.0, name: str = "web.test"
) -> None:
    started = time.monotonic()
    query = dns.message.make_query(name, "A")
    while time.monotonic() - started < limit:
        if process.poll() is not None:
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"{process.args[0]} exited with status {process.returncode}: {stderr}")
        try:
            dns.query.udp(query, "127.0.0.1", port=port, timeout=0.2)
            return
        except (dns.exception.Timeout, OSError):
            continue
    raise RuntimeError(f"{process.args[0]} did not answer on port {port} within {limit} s")


@pytest.fixture(scope="session")
def dnsmasq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsmasqServer]:
    """A dnsmasq serving the test zone on 127.0.0.1 (UDP and TCP)."""
    binary = require_binary("dnsmasq")
    directory = tmp_path_factory.mktemp("dnsmasq")
    hosts_path = directory / "hosts"
    hosts_path.write_text(HOSTS_FILE)
    port = free_port(socket.AF_INET, socket.SOCK_DGRAM)
    command = [
        binary, "--no-resolv", "--no-hosts", "--no-daemon", "--keep-in-foreground", f"--port={port}",
        "--listen-address=127.0.0.1", "--bind-interfaces", f"--addn-hosts={hosts_path}",
        *ZONE_ARGUMENTS,
    ]
    if os.geteuid() == 0:
        command.append("--user=root")  # as root dnsmasq would drop to "nobody", who cannot read tmp_path
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_until_answering(port, process)
        yield DnsmasqServer("127.0.0.1", port, hosts_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


UNBOUND_ZONE = [
    "zone.test. 3600 IN SOA ns.zone.test. admin.zone.test. 7 3600 600 86400 120",
    "zone.test. 3600 IN NS ns.zone.test.",
    "zone.test. 300 IN MX 5 mail.zone.test.",
    'zone.test. 300 IN CAA 0 issue "ca.zone.test"',
    "www.zone.test. 300 IN A 192.0.2.10",
    "www.zone.test. 300 IN AAAA 2001:db8::10",
    "alias.zone.test. 300 IN CNAME www.zone.test.",
    "svc.zone.test. 300 IN HTTPS 1 . alpn=h2,h3 port=8443",
    "_sip._udp.zone.test. 300 IN SRV 10 60 5060 sip.zone.test.",
    *(f"big.zone.test. 300 IN A 10.0.{index // 250}.{index % 250 + 1}" for index in range(120)),
]


def _unbound_config(directory: Path, port: int) -> str:
    lines = [
        "server:",
        "  interface: 127.0.0.1",
        f"  port: {port}",
        "  do-daemonize: no",
        "  use-syslog: no",
        '  logfile: ""',
        "  verbosity: 0",
        '  username: ""',
        '  chroot: ""',
        f'  directory: "{directory}"',
        '  pidfile: ""',
        "  do-ip6: no",
        "  access-control: 127.0.0.0/8 allow",
        '  module-config: "iterator"',
        '  local-zone: "zone.test." static',
        *(f"  local-data: '{record}'" for record in UNBOUND_ZONE),
        "remote-control:",
        "  control-enable: no",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class UnboundServer:
    """A running unbound: where it listens."""

    host: str
    port: int

    @property
    def address(self) -> str:
        """``ip:port`` as :class:`tidal.dns.Resolver` takes it."""
        return f"{self.host}:{self.port}"


@pytest.fixture(scope="session")
def unbound(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnboundServer]:
    """An unbound serving ``zone.test`` on 127.0.0.1 (UDP and TCP)."""
    binary = require_binary("unbound")
    directory = tmp_path_factory.mktemp("unbound")
    port = free_port(socket.AF_INET, socket.SOCK_DGRAM)
    config = directory / "unbound.conf"
    config.write_text(_unbound_config(directory, port))
    process = subprocess.Popen([binary, "-d", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_until_answering(port, process, name="www.zone.test")
        yield UnboundServer("127.0.0.1", port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
