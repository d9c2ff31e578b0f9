"""DNS resolver benchmark: tidal.dns against aiodns (c-ares) and dnspython, on a real dnsmasq.

Theory of operation.  A dnsmasq on a free loopback port serves a generated
hosts file of N distinct names (``n00000.bench.test`` ...).  Each case
resolves every name once (type A) with ``--concurrency`` lookups in flight,
using a *fresh* resolver, so every lookup goes to the server (cold cache):

* tidal's resolver on tidal's loop and on asyncio's loop;
* aiodns (c-ares; pycares 5 watches its sockets from its own thread);
* dnspython's ``dns.asyncresolver`` (its cache off) on asyncio's loop;
* ``loop.getaddrinfo`` in asyncio's thread pool.  glibc takes its servers
  from /etc/resolv.conf, which cannot name a port, so this case needs a
  second dnsmasq on port 53 of a spare loopback address and a child
  process in a private mount namespace (``unshare --mount``) where a
  resolv.conf naming that server is bind-mounted over /etc/resolv.conf;
  the system file is never touched.  Where that is impossible (not root,
  no ``unshare``, port 53 taken) the row says why.

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
import json
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
    address: str
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


def start_dnsmasq(count: int, address: str = "127.0.0.1", port: int = 0) -> Server:
    """dnsmasq on ``address`` with ``count`` names in its hosts file (``port`` 0: a free one)."""
    binary = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not os.access(binary, os.X_OK):
        raise SystemExit("dnsmasq is not installed (Debian: apt-get install dnsmasq)")
    directory = tempfile.TemporaryDirectory(prefix="tidal-dns-bench-")
    hosts = Path(directory.name) / "hosts"
    hosts.write_text("".join(f"{address_of(i)} {name_of(i)}\n" for i in range(count)))
    if not port:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((address, 0))
            port = probe.getsockname()[1]
    command = [binary, "--no-resolv", "--no-hosts", "--no-daemon", "--keep-in-foreground", f"--port={port}",
               f"--listen-address={address}", "--bind-interfaces", f"--addn-hosts={hosts}",
               "--local=/bench.test/", "--local-ttl=300"]
    if os.geteuid() == 0:
        command.append("--user=root")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Server(process, address, port, directory)
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
            dns.query.udp(query, server.address, port=server.port, timeout=0.2)
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


#: The spare loopback address whose port 53 answers the getaddrinfo case.
GETADDRINFO_SERVER = "127.53.0.1"


def _getaddrinfo_unavailable() -> str:
    """Why the getaddrinfo case cannot run here, or "" when it can."""
    if sys.platform != "linux":
        return "not available: needs Linux mount namespaces to point glibc at the server"
    if os.geteuid() != 0:
        return "not available: needs root (a private mount namespace and port 53)"
    if shutil.which("unshare") is None:
        return "not available: no unshare (util-linux)"
    try:
        subprocess.run(["unshare", "--mount", "true"], check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as error:
        return f"not available: unshare --mount failed ({error})"
    return ""


def _getaddrinfo_command(resolv_conf: Path, count: int, concurrency: int) -> list[str]:
    """This script as a child in a private mount namespace whose /etc/resolv.conf is ``resolv_conf``."""
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind "$0" /etc/resolv.conf && exec "$@"', str(resolv_conf),
            sys.executable, os.path.abspath(__file__), "--getaddrinfo-child",
            f"--names={count}", f"--concurrency={concurrency}"]


def _getaddrinfo_child(count: int, concurrency: int) -> int:
    """In the namespace: resolve every name with ``loop.getaddrinfo``; print one JSON sample."""
    loop = asyncio.new_event_loop()
    work = Workload.of(count)

    async def lookup(name: str) -> str:
        infos = await loop.getaddrinfo(name, None, family=socket.AF_INET, type=socket.SOCK_STREAM)
        return str(infos[0][4][0])

    async def timed() -> tuple[int, float, float]:
        started, cpu_started = time.perf_counter(), _cpu()
        async with asyncio.timeout(CASE_TIME_LIMIT):
            wrong = await resolve_all(lookup, work, concurrency)
        return wrong, time.perf_counter() - started, _cpu() - cpu_started

    try:
        wrong, elapsed, cpu = loop.run_until_complete(timed())
    finally:
        loop.close()
    print(json.dumps({"wrong": wrong, "rate": count / elapsed, "cpu_per_lookup": cpu / count}))
    return 0


def run_getaddrinfo_case(case: Case, resolv_conf: Path, work: Workload, concurrency: int) -> None:
    """One run of the getaddrinfo case in its child process; append its sample or record its failure."""
    command = _getaddrinfo_command(resolv_conf, len(work.names), concurrency)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=CASE_TIME_LIMIT + 30)
        if done.returncode != 0:
            raise RuntimeError(f"child exited {done.returncode}: {done.stderr.strip()[-300:]}")
        sample = json.loads(done.stdout.strip().splitlines()[-1])
    except Exception as error:  # a failing client is a result, not a crash
        case.failure = f"failed: {type(error).__name__}: {error}"
        return
    if sample["wrong"]:
        case.failure = f"failed: {sample['wrong']} wrong answers"
    else:
        case.samples.append((sample["rate"], sample["cpu_per_lookup"]))


def _start_getaddrinfo_server(case: Case, count: int) -> tuple[Server, Path] | None:
    """dnsmasq on port 53 of GETADDRINFO_SERVER and a resolv.conf naming it; None (reason in ``case``) if impossible."""
    try:
        server = start_dnsmasq(count, GETADDRINFO_SERVER, 53)
    except SystemExit as error:
        case.unavailable = f"not available: no dnsmasq on {GETADDRINFO_SERVER}:53 ({error})"
        return None
    resolv_conf = Path(server.directory.name) / "resolv.conf"
    resolv_conf.write_text(f"nameserver {GETADDRINFO_SERVER}\noptions timeout:2 attempts:2\n")
    return server, resolv_conf


def _available(module: str) -> str:
    try:
        __import__(module)
    except ImportError as error:
        return f"not available ({error})"
    return ""


def all_cases() -> list[Case]:
    """Every case, in table order."""
    return [
        Case("tidal-tidal", "tidal.dns on tidal's loop", "tidal", _tidal),
        Case("tidal-asyncio", "tidal.dns on asyncio's loop", "asyncio", _tidal),
        Case("aiodns", "aiodns (c-ares) on asyncio's loop", "asyncio", _aiodns, _available("aiodns")),
        Case("dnspython", "dnspython asyncresolver on asyncio's loop", "asyncio", _dnspython,
             _available("dns.asyncresolver")),
        Case("getaddrinfo", "loop.getaddrinfo (thread pool), asyncio's loop", "asyncio", None,
             _getaddrinfo_unavailable()),
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
             f"dnsmasq on 127.0.0.1 (getaddrinfo: on {GETADDRINFO_SERVER}:53); medians of {runs} runs")
    return "\n".join([title, machine_summary(), "", format_table(header, rows)])


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="tidal.dns against aiodns and dnspython on a real dnsmasq.")
    parser.add_argument("--quick", action="store_true", help="defaults become 1,000 names and 3 runs")
    parser.add_argument("--names", type=int, default=None, help="distinct names to resolve (default 10,000)")
    parser.add_argument("--runs", type=int, default=None, help="runs per case (default 5)")
    parser.add_argument("--concurrency", type=int, default=100, help="lookups in flight (default 100)")
    parser.add_argument("--cases", default="", help="comma-separated case keys (default: all)")
    parser.add_argument("--getaddrinfo-child", action="store_true", help=argparse.SUPPRESS)
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
    if arguments.getaddrinfo_child:
        return _getaddrinfo_child(arguments.names, arguments.concurrency)
    cases = all_cases()
    if arguments.cases:
        keys = set(arguments.cases.split(","))
        unknown = keys - {case.key for case in cases}
        if unknown:
            raise SystemExit(f"unknown cases: {', '.join(sorted(unknown))}")
        cases = [case for case in cases if case.key in keys]
    server = start_dnsmasq(arguments.names)
    work = Workload.of(arguments.names)
    getaddrinfo: tuple[Server, Path] | None = None
    try:
        for case in cases:
            if case.key == "getaddrinfo" and not case.unavailable:
                getaddrinfo = _start_getaddrinfo_server(case, arguments.names)
        for _ in range(arguments.runs):
            for case in cases:  # interleaved: background load spreads over every case
                if case.unavailable or case.failure:
                    continue
                if case.make is not None:
                    run_case(case, server.port, work, arguments.concurrency)
                elif getaddrinfo is not None:
                    run_getaddrinfo_case(case, getaddrinfo[1], work, arguments.concurrency)
    finally:
        server.stop()
        if getaddrinfo is not None:
            getaddrinfo[0].stop()
    print(report(cases, arguments.names, arguments.concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
