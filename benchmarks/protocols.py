"""Sans-IO engine benchmark: tidal's HTTP, gzip→text and DNS engines against their baselines.

Theory of operation.  Each group compares one job done by tidal's engine
with the same job done by the library it builds on (or the stdlib / C
ceiling), in one process:

* HTTP, server role: a keep-alive request cycle (receive a ~300-byte GET,
  read its events, send a minimal response, start the next cycle) one request
  per read, and with batches of 10 pipelined requests per read; tidal's
  ``protocols.http`` engine against bare h11.  The ratio is the cost of the
  engine's extra strictness (target: under 10%).
* gzip → text lines: a deterministic log-like text file (~64 MiB, gzipped
  into a temporary directory) read in 64 KiB chunks through
  ``protocols.compression`` and ``protocols.text``; against
  ``gzip.open(path, "rt")`` iteration (the baseline, target >= 1.1x), a plain
  stdlib decompressobj → incremental decoder → splitlines pipeline, and
  ``zcat | wc -l`` as the C ceiling.
* DNS: parsing a typical answer (CNAME + two A records + OPT) and an
  NXDOMAIN with SOA; tidal's ``protocols.dns`` parser against
  ``dns.message.from_wire``.

Every case is timed several times, interleaved with the other cases of its
group, and the median rate is reported with its ratio to the group baseline.
Rates are per CPU-second of the process (and its children, for ``zcat``), so
time the machine spends on other people's work is not charged to an engine.
A case whose engine cannot be imported prints "not available".

    python benchmarks/protocols.py              # everything (~1-2 minutes)
    python benchmarks/protocols.py --quick      # smaller file, fewer runs (< 30 s)
    python benchmarks/protocols.py --groups http,dns
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _harness import REPO_ROOT, format_rate, format_table, hot_functions, machine_summary, median  # noqa: E402

sys.path.insert(0, str(REPO_ROOT))  # tidal from this checkout, installed or not

CHUNK_SIZE = 64 * 1024


@dataclass(frozen=True)
class Sample:
    """One timed run: how many units (requests, lines, messages) in how many CPU seconds."""

    units: int
    seconds: float
    text_bytes: int = 0  # decoded bytes handled, for MB/s (0: not meaningful)


@dataclass
class Case:
    """One row: a named way of doing a group's job."""

    group: str
    name: str
    run: Callable[[], Sample] | None  # None: not available (see ``problem``)
    baseline: bool = False
    problem: str = ""
    samples: list[Sample] = field(default_factory=list)


def cpu_seconds() -> float:
    """CPU time of this process and its finished children.

    Every rate here is per CPU-second, not per wall-clock second: on a shared
    machine, time spent descheduled is not the engine's cost.  Children
    count so that ``zcat | wc -l`` is charged for both of its processes.
    """
    own = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own + children.ru_utime + children.ru_stime


def timed_batches(batch: Callable[[], int], min_seconds: float) -> Sample:
    """Call ``batch`` (which returns units done) until ``min_seconds`` of CPU time have passed."""
    units = 0
    start = cpu_seconds()
    while True:
        units += batch()
        elapsed = cpu_seconds() - start
        if elapsed >= min_seconds:
            return Sample(units, elapsed)


def available(group: str, name: str, make: Callable[[], Callable[[], Sample]], baseline: bool = False) -> Case:
    """A case whose runner is built by ``make``; an import or API failure marks it unavailable."""
    try:
        return Case(group, name, make(), baseline)
    except (ImportError, AttributeError, TypeError) as exc:
        return Case(group, name, None, baseline, problem=f"not available: {type(exc).__name__}: {exc}")


# --- HTTP -----------------------------------------------------------------

TYPICAL_GET = (
    b"GET /api/v1/orders?customer=18342&status=open&page=2 HTTP/1.1\r\n"
    b"Host: shop.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    b"Accept: application/json, text/plain;q=0.9, */*;q=0.8\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Cookie: session=4f9a1c2e7b\r\n"
    b"Connection: keep-alive\r\n"
    b"\r\n"
)
RESPONSE_HEADERS = [(b"content-length", b"0")]


def h11_request_cycles(requests_per_read: int) -> Callable[[], int]:
    """A batch of bare-h11 server request cycles, ``requests_per_read`` per receive_data."""
    import h11

    connection = h11.Connection(h11.SERVER)
    data = TYPICAL_GET * requests_per_read
    response = h11.Response(status_code=200, headers=RESPONSE_HEADERS)

    def batch() -> int:
        for _ in range(100):
            connection.receive_data(data)
            for _ in range(requests_per_read):
                event = connection.next_event()
                assert type(event) is h11.Request, event
                while type(connection.next_event()) is not h11.EndOfMessage:
                    pass
                connection.send(response)
                connection.send(h11.EndOfMessage())
                connection.start_next_cycle()
        return 100 * requests_per_read

    return batch


def tidal_request_cycles(requests_per_read: int) -> Callable[[], int]:
    """The same request cycles through ``tidal.protocols.http``'s server engine."""
    from tidal.protocols import http

    connection = http.HTTPConnection(http.SERVER)
    data = TYPICAL_GET * requests_per_read
    response = http.Response(status_code=200, headers=RESPONSE_HEADERS)

    def batch() -> int:
        for _ in range(100):
            connection.receive_data(data)
            for _ in range(requests_per_read):
                event = connection.next_event()
                assert type(event) is http.Request, event
                while type(connection.next_event()) is not http.EndOfMessage:
                    pass
                connection.send(response)
                connection.send(http.EndOfMessage())
                connection.start_next_cycle()
        return 100 * requests_per_read

    return batch


def http_cases(min_seconds: float) -> list[Case]:
    """Request cycles, one per read and ten pipelined per read, h11 vs tidal."""
    cases = []
    for per_read, group in ((1, "HTTP request cycle, 1 per read"), (10, "HTTP request cycle, 10 pipelined")):
        for name, maker, is_baseline in (("h11", h11_request_cycles, True), ("tidal", tidal_request_cycles, False)):
            cases.append(available(group, name, _timed(maker, per_read, min_seconds), is_baseline))
    return cases


def _timed(maker: Callable[[int], Callable[[], int]], argument: int, min_seconds: float) -> Callable[[], Callable[[], Sample]]:
    def prepare() -> Callable[[], Sample]:
        maker(argument)  # build one now, so a missing engine shows before any run
        return lambda: timed_batches(maker(argument), min_seconds)  # a fresh connection per run

    return prepare


# --- gzip → text lines ------------------------------------------------------

_WORDS = (
    "GET POST PUT DELETE /api/v1/orders /api/v1/users /static/app.js /health /login "
    "200 201 204 301 304 400 401 403 404 500 502 503 ok timeout retry cache-hit cache-miss "
    "upstream=10.0.3.7:8080 upstream=10.0.3.8:8080 user=alice user=bob user=carol "
    "region=eu-west-1 region=us-east-2 Übermorgen café naïve 東京 ✓"
).split()


def generate_log(path: Path, target_bytes: int, seed: int = 20240501) -> int:
    """Write a deterministic gzip log file of about ``target_bytes`` decoded bytes; returns lines."""
    rng = random.Random(seed)
    lines = 0
    written = 0
    level_names = ["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"]
    # compresslevel 6: what servers and logrotate typically produce.
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=6, newline="") as out:
        while written < target_bytes:
            block = []
            for _ in range(1000):
                seconds = lines // 50
                words = " ".join(rng.choices(_WORDS, k=rng.randint(4, 12)))
                level = level_names[lines % len(level_names)]
                stamp = f"2024-05-01T{seconds // 3600 % 24:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{lines % 1000:03d}Z"
                client = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                figures = f"ms={rng.expovariate(0.05):.1f} bytes={rng.randrange(100, 90000)}"
                block.append(f"{stamp} {level} req={lines:08x} client={client} {figures} {words}\n")
                lines += 1
            text = "".join(block)
            out.write(text)
            written += len(text.encode("utf-8"))
    return lines


def count_lines_gzip_open(path: Path) -> Sample:
    """The baseline: iterate ``gzip.open(path, "rt")`` line by line."""
    start = cpu_seconds()
    lines = 0
    with gzip.open(path, "rt", encoding="utf-8") as text:
        for _line in text:
            lines += 1
    return Sample(lines, cpu_seconds() - start, _decoded_size(path))


def count_lines_stdlib_pipeline(path: Path) -> Sample:
    """A plain stdlib pipeline: zlib decompressobj → incremental UTF-8 decoder → splitlines."""
    import codecs
    import zlib

    start = cpu_seconds()
    inflate = zlib.decompressobj(wbits=31)
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    tail = ""
    with open(path, "rb") as raw:
        while chunk := raw.read(CHUNK_SIZE):
            text = tail + decoder.decode(inflate.decompress(chunk))
            parts = text.split("\n")
            tail = parts.pop()
            lines += len(parts)
    lines += 1 if tail else 0
    return Sample(lines, cpu_seconds() - start, _decoded_size(path))


def count_lines_tidal(path: Path) -> Sample:
    """tidal: ``protocols.compression.Decompressor`` → ``protocols.text`` line splitter."""
    from tidal.protocols import compression, text

    start = cpu_seconds()
    decompressor = compression.Decompressor("gzip", max_ratio=None)
    splitter = text.LineDecoder(encoding="utf-8")
    lines = 0
    with open(path, "rb") as raw:
        while chunk := raw.read(CHUNK_SIZE):
            decoded = decompressor.feed(chunk)
            while True:
                lines += len(splitter.feed(decoded))
                if decompressor.needs_input:
                    break
                decoded = decompressor.feed(b"")
    decompressor.finish()
    lines += len(splitter.feed(b"", final=True))
    return Sample(lines, cpu_seconds() - start, _decoded_size(path))


def count_lines_zcat(path: Path) -> Sample:
    """The C ceiling: ``zcat path | wc -l``."""
    start = cpu_seconds()
    result = subprocess.run(f"zcat '{path}' | wc -l", shell=True, capture_output=True, text=True, check=True, timeout=120)
    return Sample(int(result.stdout.split()[0]), cpu_seconds() - start, _decoded_size(path))


_SIZES: dict[Path, int] = {}


def _decoded_size(path: Path) -> int:
    if path not in _SIZES:
        with gzip.open(path, "rb") as raw:
            _SIZES[path] = sum(len(chunk) for chunk in iter(lambda: raw.read(1 << 20), b""))
    return _SIZES[path]


def gzip_cases(path: Path) -> list[Case]:
    """Line counting over the generated file, four ways."""
    group = "gzip -> text lines"

    def prepare_tidal() -> Callable[[], Sample]:
        from tidal.protocols import compression, text

        compression.Decompressor, text.LineDecoder  # noqa: B018  (fail now if not landed)
        return lambda: count_lines_tidal(path)

    def prepare_zcat() -> Callable[[], Sample]:
        if not (shutil.which("zcat") and shutil.which("wc")):
            raise ImportError("zcat or wc is not installed")
        return lambda: count_lines_zcat(path)

    return [
        Case(group, 'gzip.open(path, "rt")', lambda: count_lines_gzip_open(path), baseline=True),
        Case(group, "stdlib decompressobj+decoder+split", lambda: count_lines_stdlib_pipeline(path)),
        available(group, "tidal compression+text", prepare_tidal),
        available(group, "zcat | wc -l (C tools)", prepare_zcat),
    ]


# --- DNS ------------------------------------------------------------------


def dns_wires() -> dict[str, bytes]:
    """Two typical responses a stub resolver parses, built with dnspython."""
    import dns.flags
    import dns.message
    import dns.rcode
    import dns.rrset

    query = dns.message.make_query("www.example.com.", "A", use_edns=0, payload=1232)
    answer = dns.message.make_response(query)
    answer.flags |= dns.flags.RA
    answer.answer.append(dns.rrset.from_text("www.example.com.", 300, "IN", "CNAME", "web.example.net."))
    answer.answer.append(dns.rrset.from_text("web.example.net.", 60, "IN", "A", "93.184.216.34", "93.184.216.35"))
    missing = dns.message.make_query("nothere.example.com.", "AAAA", use_edns=0, payload=1232)
    nxdomain = dns.message.make_response(missing)
    nxdomain.set_rcode(dns.rcode.NXDOMAIN)
    soa = "ns1.example.com. hostmaster.example.com. 2024050101 7200 3600 1209600 300"
    nxdomain.authority.append(dns.rrset.from_text("example.com.", 300, "IN", "SOA", soa))
    return {"CNAME + 2 A": answer.to_wire(), "NXDOMAIN + SOA": nxdomain.to_wire()}


def dns_cases(min_seconds: float) -> list[Case]:
    """Response parsing per message kind: dnspython's from_wire vs tidal's parser."""
    cases = []
    for label, wire in dns_wires().items():
        group = f"DNS parse, {label} ({len(wire)} B)"

        def prepare_dnspython(wire: bytes = wire) -> Callable[[], Sample]:
            import dns.message

            def batch() -> int:
                for _ in range(200):
                    dns.message.from_wire(wire)
                return 200

            return lambda: timed_batches(batch, min_seconds)

        def prepare_tidal(wire: bytes = wire) -> Callable[[], Sample]:
            from tidal.protocols import dns as tidal_dns

            parse = tidal_dns.parse_response

            def batch() -> int:
                for _ in range(200):
                    parse(wire)
                return 200

            return lambda: timed_batches(batch, min_seconds)

        cases.append(available(group, "dns.message.from_wire", prepare_dnspython, baseline=True))
        cases.append(available(group, "tidal protocols.dns", prepare_tidal))
    return cases


# --- running and reporting ---------------------------------------------------


def run_cases(cases: list[Case], runs: int) -> None:
    """Run every available case ``runs`` times, interleaved; a failing case records why."""
    for run in range(runs):
        for case in cases:
            if case.run is None or case.problem:
                continue
            try:
                case.samples.append(case.run())
            except Exception as exc:  # a broken engine is reported, the others still run
                case.problem = f"failed: {type(exc).__name__}: {exc}"
            last = f"{format_rate(case.samples[-1].units / case.samples[-1].seconds)}/s" if case.samples and not case.problem else case.problem
            print(f"run {run + 1}/{runs} {case.group} / {case.name}: {last}", file=sys.stderr, flush=True)


def profile_cases(cases: list[Case], top: int) -> int:
    """Run each case once under cProfile and print its hottest functions."""
    import cProfile
    import pstats

    for case in cases:
        if case.run is None:
            print(f"{case.group} / {case.name}: {case.problem}\n")
            continue
        profiler = cProfile.Profile()
        sample = profiler.runcall(case.run)
        rate = format_rate(sample.units / sample.seconds)
        print(f"cProfile of {case.group} / {case.name} at {rate}/s (profiled, so slower)")
        print(hot_functions(pstats.Stats(profiler), top), end="\n\n")
    return 0


def render(cases: list[Case], unit_of: Callable[[str], str]) -> str:
    """One table: median rate, MB/s of decoded text, spread, ratio to the group's baseline."""
    header = ["group / case", "rate", "unit", "MB/CPU-s", "min..max", "vs baseline", "notes"]
    rows = []
    for case in cases:
        baseline = next((c for c in cases if c.group == case.group and c.baseline), None)
        rows.append(_row(case, baseline, unit_of(case.group)))
    return format_table(header, rows)


def _row(case: Case, baseline: Case | None, unit: str) -> list[str]:
    label = f"{case.group} / {case.name}"
    if not case.samples:
        return [label, "-", unit, "-", "-", "-", case.problem]
    rates = [sample.units / sample.seconds for sample in case.samples]
    rate = median(rates)
    text_rates = [sample.text_bytes / sample.seconds / 1e6 for sample in case.samples if sample.text_bytes]
    mbps = f"{median(text_rates):,.1f}" if text_rates else "-"
    ratio = "-"
    if baseline is not None and baseline.samples:
        ratio = f"{rate / median(s.units / s.seconds for s in baseline.samples):.2f}x"
    spread = f"{format_rate(min(rates))}..{format_rate(max(rates))}"
    note = case.problem
    if case.group.startswith("gzip") and baseline is not None and baseline.samples:
        # Whole-file passes must agree on the line count, or the rate means nothing.
        if case.samples[0].units != baseline.samples[0].units:
            note = f"counted {case.samples[0].units:,} lines, baseline {baseline.samples[0].units:,}"
    return [label, format_rate(rate), unit, mbps, spread, ratio, note]


def _unit(group: str) -> str:
    if group.startswith("HTTP"):
        return "requests/CPU-s"
    if group.startswith("gzip"):
        return "lines/CPU-s"
    return "messages/CPU-s"


@dataclass(frozen=True)
class Options:
    """Parsed command line."""

    groups: list[str]
    runs: int
    min_seconds: float
    text_mib: int
    profile: bool
    top: int


def parse_args(argv: list[str] | None) -> Options:
    """The command line; see the module docstring."""
    parser = argparse.ArgumentParser(description="tidal's sans-IO engines against their baselines.")
    parser.add_argument("--groups", default="http,gzip,dns", help="comma-separated, from http, gzip, dns")
    parser.add_argument("--runs", type=int, help="runs per case; the median is reported (default 5)")
    parser.add_argument("--seconds", type=float, help="minimum seconds per HTTP/DNS run (default 0.5)")
    parser.add_argument("--text-mib", type=int, help="decoded size of the generated log (MiB, max 128; default 64)")
    parser.add_argument("--quick", action="store_true", help="defaults become 3 runs, 0.2 s each, a 16 MiB log")
    parser.add_argument("--profile", action="store_true", help="run each tidal case once under cProfile instead")
    parser.add_argument("--top", type=int, default=20, help="functions listed per profile")
    args = parser.parse_args(argv)
    # Explicit flags win over --quick's defaults.
    runs, seconds, text_mib = (3, 0.2, 16) if args.quick else (5, 0.5, 64)
    args.runs, args.seconds, args.text_mib = args.runs or runs, args.seconds or seconds, args.text_mib or text_mib
    groups = [name.strip() for name in args.groups.split(",") if name.strip()]
    unknown = set(groups) - {"http", "gzip", "dns"}
    if unknown:
        parser.error(f"unknown group(s): {', '.join(sorted(unknown))}")
    return Options(groups, max(1, args.runs), args.seconds, max(1, min(args.text_mib, 128)), args.profile, args.top)


def main(argv: list[str] | None = None) -> int:
    """Build the selected groups' cases, run them and print the table."""
    options = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tidal-bench-") as scratch:
        cases: list[Case] = []
        if "http" in options.groups:
            cases += http_cases(options.min_seconds)
        if "gzip" in options.groups:
            log = Path(scratch) / "app.log.gz"
            started = time.perf_counter()
            lines = generate_log(log, options.text_mib * 2**20)
            print(
                f"generated {log.name}: {lines:,} lines, {_decoded_size(log) / 2**20:.1f} MiB decoded, "
                f"{log.stat().st_size / 2**20:.1f} MiB gzipped in {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
            cases += gzip_cases(log)
        if "dns" in options.groups:
            cases += dns_cases(options.min_seconds)
        if options.profile:
            return profile_cases([case for case in cases if "tidal" in case.name], options.top)
        run_cases(cases, options.runs)
    print(f"\nsans-IO engines; rates per CPU-second, median of {options.runs} run(s); {machine_summary()}\n")
    print(render(cases, _unit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
