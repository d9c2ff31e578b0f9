"""DNS resolver benchmark: tidal.dns against aiodns (c-ares) and dnspython, on a real dnsmasq.

Theory of operation.  A dnsmasq on a free loopback port serves a generated
hosts file of N distinct names (``n00000.bench.test`` ...).  Each case
resolves every name once (type A) with ``--concurrency`` lookups in flight,
using a *fresh* resolver, so every lookup goes to the server (cold cache):

* tidal's resolver on tidal's loop and on asyncio's loop;
* aiodns (c-ares; pycares 5 watches its sockets from its own thread);
* dnspython's ``dns.asyncresolver`` (its cache off) on asyncio's loop;
* ``loop.getaddrinfo`` in the thread pool: listed, but glibc takes its
  servers from /etc/resolv.conf, which cannot name a port, so it cannot be
  pointed at the benchmark's server without editing a system file.

Then the warm rows: the same names again through the resolver that just
resolved them (tidal's TTL cache, dnspython's ``Cache``), one lookup at a
time, in lookups per second.

Every answer is checked against the address the hosts file gives; a case
with a wrong or missing answer is reported as failed.  Runs are interleaved
across cases and the table shows medians of wall-clock queries per second,
lookups per CPU-second of this process (steadier on a shared machine;
dnsmasq's CPU is not counted, c-ares' thread is) and the ratios to
dnspython of both.  dnsmasq answers from one
thread, so at high rates the server, not the client, may be the limit:
compare the CPU column too.

    python benchmarks/dns.py --quick      # 1,000 names, 3 runs (seconds)
    python benchmarks/dns.py              # 10,000 names, 5 runs (about a minute)
    python benchmarks/dns.py --cases tidal-tidal,aiodns --names 5000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

from _harness import REPO_ROOT, format_rate, format_table, machine_summary, median  # noqa: E402

# This script is called dns.py: its directory must leave the path again, or
# ``import dns`` would find this file instead of dnspython.
sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != _HERE]
sys.path.insert(0, str(REPO_ROOT))  # tidal from this checkout, installed or not

CASE_TIME_LIMIT = 120.0  # seconds; a case that takes longer is reported as failed
Lookup = Callable[[str], Awaitable[str]]  # name -> first address


def name_of(index: int) -> str:
    """The benchmark's index-th name."""
    return f"n{index:05d}.bench.test"


def address_of(index: int) -> str:
    """The address the hosts file gives the index-th name."""
    return f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"


# -- the server -------------------------------------------------------------


@dataclass
class Server:
    """A running dnsmasq serving the generated names."""

    process: subprocess.Popen[bytes]
    port: int
    directory: tempfile.TemporaryDirectory[str]

    def stop(self) -> None:
        """Stop dnsmasq (by its PID) and remove the hosts file."""
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.directory.cleanup()


def start_dnsmasq(count: int) -> Server:
    """dnsmasq on 127.0.0.1 with ``count`` names in its hosts file."""
    binary = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not os.access(binary, os.X_OK):
        raise SystemExit("dnsmasq is not installed (Debian: apt-get install dnsmasq)")
    directory = tempfile.TemporaryDirectory(prefix="tidal-dns-bench-")
    hosts = Path(directory.name) / "hosts"
    hosts.write_text("".join(f"{address_of(i)} {name_of(i)}\n" for i in range(count)))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [binary, "--no-resolv", "--no-hosts", "--no-daemon", "--keep-in-foreground", f"--port={port}",
               "--listen-address=127.0.0.1", "--bind-interfaces", f"--addn-hosts={hosts}",
               "--local=/bench.test/", "--local-ttl=300"]
    if os.geteuid() == 0:
        command.append("--user=root")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Server(process, port, directory)
    try:
        _wait_until_answering(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_until_answering(server: Server, limit: float = 10.0) -> None:
    import dns.message
    import dns.query

    started = time.monotonic()
    query = dns.message.make_query(name_of(0), "A")
    while time.monotonic() - started < limit:
        if server.process.poll() is not None:
            raise SystemExit(f"dnsmasq exited with status {server.process.returncode}")
        try:
            dns.query.udp(query, "127.0.0.1", port=server.port, timeout=0.2)
            return
        except Exception:
            continue
    raise SystemExit(f"dnsmasq did not answer within {limit} s")


# -- the clients ------------------------------------------------------------


@dataclass
class Case:
    """One client: how to make its loop and, on that loop, its lookup function."""

    key: str
    label: str
    loop_kind: str
    make: Callable[[int], tuple[Lookup, Callable[[], Awaitable[None]]]] | None  # port -> (lookup, close)
    unavailable: str = ""
    warm: bool = False
    samples: list[tuple[float, float]] = field(default_factory=list)  # (queries/s, CPU s per query)
    failure: str = ""


def _tidal(port: int) -> tuple[Lookup, Callable[[], Awaitable[None]]]:
    from tidal.dns import Resolver

    resolver = Resolver([f"127.0.0.1:{port}"], hosts_file=None, resolv_conf=None, search=[], timeout=2, attempts=2)

    async def lookup(name: str) -> str:
        answer = await resolver.resolve(name + ".")
        return str(answer.records[0])

    async def close() -> None:
        return None

    return lookup, close


def _aiodns(port: int) -> tuple[Lookup, Callable[[], Awaitable[None]]]:
    import aiodns

    resolver = aiodns.DNSResolver(["127.0.0.1"], udp_port=port, tcp_port=port, timeout=2, tries=2)

    async def lookup(name: str) -> str:
        result = await resolver.query_dns(name, "A")
        return str(result.answer[0].data.addr)

    async def close() -> None:
        await resolver.close()

    return lookup, close


def _dnspython(port: int, cached: bool = False) -> tuple[Lookup, Callable[[], Awaitable[None]]]:
    import dns.asyncresolver
    import dns.resolver

    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    resolver.timeout = 2
    resolver.lifetime = 4
    resolver.cache = dns.resolver.Cache() if cached else None

    async def lookup(name: str) -> str:
        answer = await resolver.resolve(name + ".", "A")
        return str(answer[0].address)  # type: ignore[attr-defined]

    async def close() -> None:
        return None

    return lookup, close


def _dnspython_cached(port: int) -> tuple[Lookup, Callable[[], Awaitable[None]]]:
    return _dnspython(port, cached=True)


def _available(module: str) -> str:
    try:
        __import__(module)
    except ImportError as error:
        return f"not available ({error})"
    return ""


def all_cases() -> list[Case]:
    """Every case, in table order."""
    getaddrinfo_note = ("not available: glibc reads its servers from /etc/resolv.conf, which has no port "
                        "syntax; pointing it at this server would mean editing a system file")
    return [
        Case("tidal-tidal", "tidal.dns on tidal's loop", "tidal", _tidal),
        Case("tidal-asyncio", "tidal.dns on asyncio's loop", "asyncio", _tidal),
        Case("aiodns", "aiodns (c-ares) on asyncio's loop", "asyncio", _aiodns, _available("aiodns")),
        Case("dnspython", "dnspython asyncresolver on asyncio's loop", "asyncio", _dnspython,
             _available("dns.asyncresolver")),
        Case("getaddrinfo", "loop.getaddrinfo (thread pool)", "asyncio", None, getaddrinfo_note),
        Case("warm-tidal", "tidal.dns warm cache, tidal's loop", "tidal", _tidal, warm=True),
        Case("warm-dnspython", "dnspython warm Cache, asyncio's loop", "asyncio", _dnspython_cached,
             _available("dns.asyncresolver"), warm=True),
    ]


# -- running ----------------------------------------------------------------


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A fresh loop of ``kind``: tidal's (bare: the resolver is driven directly) or asyncio's."""
    if kind == "tidal":
        import tidal.loop

        return tidal.loop.new_event_loop()
    return asyncio.new_event_loop()


@dataclass(frozen=True)
class Workload:
    """The names to resolve and the address each must resolve to (built before timing)."""

    names: tuple[str, ...]
    addresses: tuple[str, ...]

    @classmethod
    def of(cls, count: int) -> Workload:
        """The first ``count`` names of the hosts file."""
        return cls(tuple(name_of(i) for i in range(count)), tuple(address_of(i) for i in range(count)))


async def resolve_all(lookup: Lookup, work: Workload, concurrency: int) -> int:
    """Resolve every name with ``concurrency`` workers; return how many answers were wrong."""
    pending: Iterator[tuple[str, str]] = zip(work.names, work.addresses)
    wrong = 0

    async def worker() -> None:
        nonlocal wrong
        for name, expected in pending:
            if await lookup(name) != expected:
                wrong += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return wrong


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process (c-ares' too)
    return usage.ru_utime + usage.ru_stime


def run_case(case: Case, port: int, work: Workload, concurrency: int) -> None:
    """Time one run of ``case`` and append its sample (or record its failure)."""
    assert case.make is not None
    loop = new_loop(case.loop_kind)
    count = len(work.names)
    try:
        async def timed() -> tuple[int, float, float]:
            lookup, close = case.make(port)  # type: ignore[misc]
            try:
                if case.warm:  # fill the cache first, untimed
                    await resolve_all(lookup, work, concurrency)
                started, cpu_started = time.perf_counter(), _cpu()
                async with asyncio.timeout(CASE_TIME_LIMIT):
                    wrong = await resolve_all(lookup, work, 1 if case.warm else concurrency)
                return wrong, time.perf_counter() - started, _cpu() - cpu_started
            finally:
                await close()

        wrong, elapsed, cpu = loop.run_until_complete(timed())
        if wrong:
            case.failure = f"failed: {wrong} wrong answers"
        else:
            case.samples.append((count / elapsed, cpu / count))
    except Exception as error:  # a failing client is a result, not a crash
        case.failure = f"failed: {type(error).__name__}: {error}"
    finally:
        loop.close()


def report(cases: Sequence[Case], count: int, concurrency: int) -> str:
    """The results table: wall-clock rates, rates per CPU-second, and ratios of both."""
    def rates(key: str) -> tuple[float, float] | None:
        case = next((c for c in cases if c.key == key), None)
        if case is None or not case.samples or case.failure:
            return None
        return median(s[0] for s in case.samples), 1 / median(s[1] for s in case.samples)

    baseline, warm_baseline, aiodns_rates = rates("dnspython"), rates("warm-dnspython"), rates("aiodns")
    rows = []
    for case in cases:
        measured = rates(case.key)
        if case.unavailable or measured is None:
            rows.append([case.label, "-", "-", "-", "-", "-", case.unavailable or case.failure or "not run"])
            continue
        wall, per_cpu = measured
        reference = warm_baseline if case.warm else baseline
        ratio = f"{wall / reference[0]:.2f}x" if reference else "-"
        cpu_ratio = f"{per_cpu / reference[1]:.2f}x" if reference else "-"
        versus_aiodns = f"{wall / aiodns_rates[0]:.2f}x" if aiodns_rates and not case.warm else "-"
        spread = [sample[0] for sample in case.samples]
        rows.append([case.label, format_rate(wall), format_rate(per_cpu), ratio, cpu_ratio, versus_aiodns,
                     f"{format_rate(min(spread))}..{format_rate(max(spread))}"])
    header = ["client", "lookups/s", "lookups/CPU-s", "vs dnspython", "(CPU)", "vs aiodns", "spread (lookups/s)"]
    runs = max((len(c.samples) for c in cases), default=0)
    title = (f"{count:,} distinct A lookups, concurrency {concurrency} (warm rows: one at a time), "
             f"dnsmasq on 127.0.0.1; medians of {runs} runs")
    return "\n".join([title, machine_summary(), "", format_table(header, rows)])


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="tidal.dns against aiodns and dnspython on a real dnsmasq.")
    parser.add_argument("--quick", action="store_true", help="defaults become 1,000 names and 3 runs")
    parser.add_argument("--names", type=int, default=None, help="distinct names to resolve (default 10,000)")
    parser.add_argument("--runs", type=int, default=None, help="runs per case (default 5)")
    parser.add_argument("--concurrency", type=int, default=100, help="lookups in flight (default 100)")
    parser.add_argument("--cases", default="", help="comma-separated case keys (default: all)")
    arguments = parser.parse_args(argv)
    # Explicit flags win over --quick's defaults.
    if arguments.names is None:
        arguments.names = 1000 if arguments.quick else 10_000
    if arguments.runs is None:
        arguments.runs = 3 if arguments.quick else 5
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    arguments = parse_arguments(argv)
    cases = all_cases()
    if arguments.cases:
        keys = set(arguments.cases.split(","))
        unknown = keys - {case.key for case in cases}
        if unknown:
            raise SystemExit(f"unknown cases: {', '.join(sorted(unknown))}")
        cases = [case for case in cases if case.key in keys]
    server = start_dnsmasq(arguments.names)
    work = Workload.of(arguments.names)
    try:
        for _ in range(arguments.runs):
            for case in cases:  # interleaved: background load spreads over every case
                if not case.unavailable and not case.failure and case.make is not None:
                    run_case(case, server.port, work, arguments.concurrency)
    finally:
        server.stop()
    print(report(cases, arguments.names, arguments.concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
