"""TCP echo benchmark: asyncio, uvloop, rloop and tidal's loop side by side.

Theory of operation.  Every measurement starts a fresh server process
(``echo_server.py``: one loop, one server style) pinned to one CPU, and runs
the C load generator (``loadgen.c``, compiled here with gcc) pinned to another
CPU: 10 connections each sending a message and waiting for its echo, over and
over, for a fixed duration after a short warm-up.  The generator verifies every
echoed byte and reports messages completed per second.  Runs are interleaved
across cases and each case's median is reported with its ratio to asyncio's
loop in the same style and message size.  A C epoll echo server is measured the
same way as the ceiling, which shows the generator is not the bottleneck.

The ``tls-protocol`` style is the protocol style behind ``create_server(ssl=...)``
(TLS 1.3, an ECDSA P-256 certificate made with the openssl command for the
run).  Its load generator is ``loadgen_tls.c``: the same ping-pong in C over
OpenSSL (linked with -lssl -lcrypto, so libssl-dev is needed), handshakes done
before the clock starts.  A C client keeps the generator's cost per message
small and constant, as for plain TCP; a Python client would share the
interpreter's costs with the servers it measures.  There is no TLS ceiling
row: the generator's CPU share shows whether it is the limit.

    python benchmarks/echo.py                 # full table (~3-4 minutes)
    python benchmarks/echo.py --styles tls-protocol --loops asyncio,uvloop,tidal
    python benchmarks/echo.py --styles asyncio-streams,tidal-streams --loops asyncio,uvloop,tidal
    python benchmarks/echo.py --styles tls-asyncio-streams,tls-tidal-streams --loops asyncio,uvloop,tidal
    python benchmarks/echo.py --quick         # 1 KiB, 1 run of 1 s (< 1 minute)
    python benchmarks/echo.py --loops asyncio,tidal --styles coroutine --sizes 1024
    python benchmarks/echo.py --profile cprofile --loops tidal --styles coroutine --sizes 1024
    python benchmarks/echo.py --profile py-spy --loops tidal --styles protocol --sizes 1024
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _harness import (  # noqa: E402  (the path line above makes the sibling importable)
    BENCH_DIR,
    REPO_ROOT,
    BuildError,
    build_c_program,
    format_rate,
    format_table,
    hot_functions,
    machine_summary,
    median,
    pin_to_cpu,
    read_line_with_timeout,
    short_path,
    stop_process,
    usable_cpus,
)
from echo_server import LOOPS, STYLES, TLS_STYLES, UNAVAILABLE_EXIT  # noqa: E402

CEILING = "C epoll (ceiling)"
# cProfile entries that are the loop waiting for I/O, not working.
POLL_WAITS = ("<method 'poll' of 'select.epoll' objects>", "<method 'select' of 'select.epoll' objects>", "<built-in method select.select>")
SERVER_START_TIMEOUT = 20.0
PY_SPY_RATE = 250  # samples per second


@dataclass(frozen=True)
class Case:
    """One row of the table: a loop serving one style at one message size."""

    loop: str
    style: str
    size: int


@dataclass
class Outcome:
    """What the runs of one case produced."""

    rates: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)  # fraction of one CPU
    server_starved: list[float] = field(default_factory=list)  # fraction of time runnable but not running
    server_us_per_message: list[float] = field(default_factory=list)  # server CPU per echoed message
    client_cpu: list[float] = field(default_factory=list)
    problem: str | None = None  # "not available: ..." or "failed: ..."


@dataclass(frozen=True)
class Measurement:
    """One run: the rate and how busy each side was (fractions of one CPU, NaN if unknown)."""

    rate: float
    server_cpu: float
    server_starved: float
    server_us_per_message: float
    client_cpu: float


@dataclass(frozen=True)
class Settings:
    """The knobs every measurement shares."""

    connections: int
    warmup: float
    duration: float
    server_cpu: int | None
    client_cpu: int | None
    certfile: str | None = None  # certificate chain and key for the TLS styles


class CaseFailed(Exception):
    """A measurement went wrong; the message says what (shown in the table)."""


class LoopUnavailable(Exception):
    """The server process could not create its loop (not installed, not landed)."""


def start_server(case: Case, settings: Settings, extra_args: list[str] | None = None) -> tuple[subprocess.Popen[str], int]:
    """Start the server process for ``case`` pinned to the server CPU; returns it and its port."""
    if case.loop == CEILING:
        command = [str(build_c_program("c_echo_server.c"))]
    else:
        script = str(BENCH_DIR / "echo_server.py")
        command = [sys.executable, script, "--loop", case.loop, "--style", case.style, *(extra_args or [])]
        if case.style in TLS_STYLES:
            if settings.certfile is None:
                raise CaseFailed(f"no certificate for the TLS style {case.style!r}")
            command += ["--certfile", settings.certfile]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    pin_to_cpu(process.pid, settings.server_cpu)
    line = read_line_with_timeout(process, SERVER_START_TIMEOUT)
    if line.startswith("PORT "):
        return process, int(line.split()[1])
    status = stop_process(process)
    if status == UNAVAILABLE_EXIT or line.startswith("UNAVAILABLE"):
        raise LoopUnavailable(line.removeprefix("UNAVAILABLE").strip() or "cannot create the loop")
    raise CaseFailed(f"server did not start (exit status {status}, said {line.strip()!r})")


@dataclass(frozen=True)
class LoadResult:
    """What the load generator reports."""

    rate: float  # messages per second in the measured window
    cpu: float  # the generator's own share of one CPU in that window
    total_messages: int  # including the warm-up


def load_generator(style: str) -> Path:
    """The compiled load generator for ``style``: TCP, or TLS over OpenSSL."""
    if style not in TLS_STYLES:
        return build_c_program("loadgen.c")
    try:
        return build_c_program("loadgen_tls.c", ["-lssl", "-lcrypto"])
    except BuildError as exc:
        raise CaseFailed(f"cannot build the TLS load generator (needs libssl-dev): {exc}") from exc


def make_certificate(directory: str) -> str | None:
    """A self-signed ECDSA P-256 certificate and key in one PEM file; None without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    key, cert, both = (os.path.join(directory, name) for name in ("key.pem", "cert.pem", "server.pem"))
    command = [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
               "-subj", "/CN=localhost", "-days", "1", "-keyout", key, "-out", cert]  # fmt: skip
    if subprocess.run(command, capture_output=True, check=False).returncode != 0:
        return None
    Path(both).write_bytes(Path(cert).read_bytes() + Path(key).read_bytes())
    return both


def run_load(port: int, size: int, settings: Settings, style: str = "protocol") -> LoadResult:
    """Run the load generator for ``style`` against ``port``."""
    command = [
        str(load_generator(style)),
        "127.0.0.1",
        str(port),
        str(settings.connections),
        str(size),
        str(settings.warmup),
        str(settings.duration),
    ]
    if settings.client_cpu is not None and shutil.which("taskset"):
        command = ["taskset", "-c", str(settings.client_cpu), *command]
    limit = settings.warmup + settings.duration + 30
    result = subprocess.run(command, capture_output=True, text=True, timeout=limit, check=False)
    if result.returncode != 0:
        raise CaseFailed(result.stderr.strip() or f"load generator exit status {result.returncode}")
    fields = dict(part.split("=") for part in result.stdout.split())
    rate = int(fields["messages"]) / float(fields["seconds"])
    return LoadResult(rate, float(fields["cpu"]), int(fields["total"]))


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux /proc; NaN elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # Fields after the ")" that ends the command name: utime and stime are 12th and 13th.
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_run_delay(pid: int) -> float:
    """Seconds the main thread of ``pid`` spent runnable but waiting for a CPU (Linux schedstat)."""
    try:
        with open(f"/proc/{pid}/schedstat") as schedstat:
            return int(schedstat.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return math.nan


def measure(case: Case, settings: Settings) -> Measurement:
    """One run of ``case``: a fresh server, one load-generator run."""
    process, port = start_server(case, settings)
    try:
        # The server's shares are taken over the whole generator run (warm-up
        # included).  CPU well below 1.0 means the server waited: for the
        # generator (idle) or, on a shared machine, for a CPU (starved).
        cpu_before, delay_before = process_cpu_seconds(process.pid), process_run_delay(process.pid)
        wall_before = time.monotonic()
        load = run_load(port, case.size, settings, case.style)
        wall = time.monotonic() - wall_before
        server_cpu_seconds = process_cpu_seconds(process.pid) - cpu_before
        starved = (process_run_delay(process.pid) - delay_before) / wall
    finally:
        status = stop_process(process)
    if status != 0:
        raise CaseFailed(f"server exited with status {status}")
    # CPU per message hardly depends on how often other work preempts the
    # server, so on a shared machine it compares loops more steadily than msg/s.
    us_per_message = server_cpu_seconds / max(load.total_messages, 1) * 1e6
    return Measurement(load.rate, server_cpu_seconds / wall, starved, us_per_message, load.cpu)


def run_all(cases: list[Case], runs: int, settings: Settings) -> dict[Case, Outcome]:
    """Measure every case ``runs`` times, interleaved; failures are recorded, not raised."""
    outcomes = {case: Outcome() for case in cases}
    unavailable: dict[str, str] = {}
    for run in range(runs):
        for case in cases:
            outcome = outcomes[case]
            if case.loop in unavailable:
                outcome.problem = f"not available: {unavailable[case.loop]}"
            if outcome.problem:
                continue
            try:
                result = measure(case, settings)
                outcome.rates.append(result.rate)
                outcome.server_cpu.append(result.server_cpu)
                outcome.server_starved.append(result.server_starved)
                outcome.server_us_per_message.append(result.server_us_per_message)
                outcome.client_cpu.append(result.client_cpu)
            except LoopUnavailable as exc:
                unavailable[case.loop] = str(exc)
                outcome.problem = f"not available: {exc}"
            except (CaseFailed, subprocess.TimeoutExpired) as exc:
                outcome.problem = f"failed: {exc}"
            _progress(f"run {run + 1}/{runs} {case.loop:>8} {case.style:>15} {case.size:>6} B: {_describe(outcome)}")
    return outcomes


def _describe(outcome: Outcome) -> str:
    if outcome.problem:
        return outcome.problem
    return f"{format_rate(outcome.rates[-1])} msg/s"


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _size_label(size: int) -> str:
    return f"{size // 1024} KiB" if size % 1024 == 0 else f"{size} B"


def render(outcomes: dict[Case, Outcome]) -> str:
    """The result table: median msg/s, MiB/s, spread and ratio to asyncio (same style, size)."""
    header = [
        "size / style / loop", "msg/s", "MiB/s", "min..max", "vs asyncio",
        "server us/msg", "vs asyncio", "server CPU", "starved", "loadgen CPU", "runs", "notes",
    ]  # fmt: skip
    rows = [_render_row(case, outcome, outcomes) for case, outcome in outcomes.items()]
    return format_table(header, rows)


def _render_row(case: Case, outcome: Outcome, outcomes: dict[Case, Outcome]) -> list[str]:
    label = f"{_size_label(case.size)} {CEILING if case.loop == CEILING else f'{case.style} {case.loop}'}"
    note = outcome.problem or ""
    if not outcome.rates:
        return [label, "-", "-", "-", "-", "-", "-", "-", "-", "-", "0", note]
    rate = median(outcome.rates)
    baseline = outcomes.get(Case("asyncio", case.style, case.size))
    ratio = cost_ratio = "-"
    cost = median(outcome.server_us_per_message)
    if baseline and baseline.rates and case.loop != CEILING:
        ratio = f"{rate / median(baseline.rates):.2f}x"
        # Expressed as a speed-up too: asyncio's CPU per message over ours.
        cost_ratio = f"{median(baseline.server_us_per_message) / cost:.2f}x"
    spread = f"{format_rate(min(outcome.rates))}..{format_rate(max(outcome.rates))}"
    mib = f"{rate * case.size / 2**20:,.1f}"
    cpus = [f"{median(shares):.0%}" for shares in (outcome.server_cpu, outcome.server_starved, outcome.client_cpu)]
    return [label, format_rate(rate), mib, spread, ratio, f"{cost:.1f}", cost_ratio, *cpus, str(len(outcome.rates)), note]


def to_json(outcomes: dict[Case, Outcome], settings: Settings, runs: int) -> str:
    """The outcomes as JSON, for docs or later comparison."""
    return json.dumps(
        {
            "machine": machine_summary(),
            "settings": {**settings.__dict__, "runs": runs},
            "cases": [
                {**case.__dict__, **outcome.__dict__, "median": median(outcome.rates) if outcome.rates else None}
                for case, outcome in outcomes.items()
            ],
        },
        indent=2,
    )


def build_cases(loops: list[str], styles: list[str], sizes: list[int], ceiling: bool) -> list[Case]:
    """Cases in table order: by size, then style, then loop; the ceiling first per size."""
    cases: list[Case] = []
    for size in sizes:
        if ceiling:
            cases.append(Case(CEILING, "c", size))
        cases.extend(Case(loop, style, size) for style in styles for loop in loops)
    return cases


def choose_cpus(pin: bool) -> tuple[int | None, int | None]:
    """The server's CPU and the load generator's CPU (None: not pinned)."""
    cpus = usable_cpus()
    if not pin or len(cpus) < 2:
        if pin:
            _progress("only one CPU usable: server and load generator are not pinned")
        return None, None
    return cpus[0], cpus[1]


def profile_cprofile(case: Case, settings: Settings, top: int) -> str:
    """Run ``case`` once under cProfile and return the hottest functions by own time."""
    import pstats

    with tempfile.TemporaryDirectory() as scratch:
        stats_path = os.path.join(scratch, "echo.prof")
        process, port = start_server(case, settings, ["--cprofile", stats_path])
        try:
            rate = run_load(port, case.size, settings, case.style).rate
        finally:
            stop_process(process, grace=30)
        stats = pstats.Stats(stats_path)
    title = f"cProfile of {case} at {format_rate(rate)} msg/s (profiled, so slower)"
    return title + "\n" + hot_functions(stats, top, waiting=POLL_WAITS)


def profile_py_spy(case: Case, settings: Settings, top: int) -> str:
    """Sample ``case``'s server with py-spy while under load; returns own and inclusive time."""
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        return "py-spy is not installed (pip install py-spy)"
    with tempfile.TemporaryDirectory() as scratch:
        raw_path = os.path.join(scratch, "stacks.txt")
        process, port = start_server(case, settings)
        sample_for = max(1, int(settings.duration))
        command = [py_spy, "record", "--pid", str(process.pid), "--duration", str(sample_for), "--rate", str(PY_SPY_RATE), "--format", "raw", "-o", raw_path]
        try:
            sampler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            rate = run_load(port, case.size, settings, case.style).rate
            _, errors = sampler.communicate(timeout=sample_for + 30)
        finally:
            stop_process(process)
        if sampler.returncode != 0:
            return f"py-spy failed: {errors.strip()}"
        stacks = Path(raw_path).read_text().splitlines()
    possible = PY_SPY_RATE * sample_for
    title = f"py-spy samples of {case} at {format_rate(rate)} msg/s; idle samples excluded"
    return f"{title}\n" + summarize_stacks(stacks, top, possible)


def summarize_stacks(lines: list[str], top: int, possible: int) -> str:
    """Own and inclusive sample shares per function from py-spy's raw (collapsed) output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or stack.startswith("Thread._bootstrap"):
            continue  # the stdin watcher thread, not the loop
        count = int(count_text)
        frames = [_strip_line_number(frame) for frame in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "no samples"
    rows = [[name, f"{count / total:.1%}", f"{inclusive[name] / total:.1%}"] for name, count in own.most_common(top)]
    busy = f"{total} samples of the loop thread busy out of {possible} ({total / possible:.0%} on CPU)"
    return busy + "\n" + format_table(["function (own time)", "own", "inclusive"], rows)


def _strip_line_number(frame: str) -> str:
    # "name (path/file.py:123)" -> "name (file.py)": lines of one function merge.
    name, _, location = frame.partition(" (")
    path = location.rstrip(")").rpartition(":")[0]
    return f"{name} ({short_path(path)})" if path else name


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; see the module docstring for examples."""
    parser = argparse.ArgumentParser(description="TCP echo benchmark across event loops.")
    parser.add_argument("--loops", default=",".join(LOOPS), help=f"comma-separated, from {', '.join(LOOPS)}")
    parser.add_argument("--styles", default="protocol,coroutine,tls-protocol", help=f"comma-separated, from {', '.join(STYLES)}")
    parser.add_argument("--sizes", help="message sizes in bytes, comma-separated (default 1024,65536)")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--duration", type=float, help="measured seconds per run (default 2)")
    parser.add_argument("--warmup", type=float, default=0.3, help="unmeasured seconds before each run")
    parser.add_argument("--runs", type=int, help="runs per case; the median is reported (default 3)")
    parser.add_argument("--quick", action="store_true", help="defaults become 1 KiB only, one run of 1 s per case")
    parser.add_argument("--no-ceiling", dest="ceiling", action="store_false", help="skip the C echo server row")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin server and client to CPUs")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--profile", choices=["cprofile", "py-spy"], help="profile each case once instead of benchmarking")
    parser.add_argument("--top", type=int, default=25, help="functions listed per profile")
    args = parser.parse_args(argv)
    # Explicit flags win over --quick's defaults.
    quick_defaults, full_defaults = ("1024", 1, 1.0), ("1024,65536", 3, 2.0)
    sizes, runs, duration = quick_defaults if args.quick else full_defaults
    args.sizes = args.sizes or sizes
    args.runs = max(1, args.runs or runs)
    args.duration = args.duration or duration
    return args


def _split(text: str, allowed: dict[str, object] | None = None) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if allowed is not None and name not in allowed]
    if unknown:
        raise SystemExit(f"unknown name(s): {', '.join(unknown)}; choose from {', '.join(allowed or {})}")
    return names


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or the profiles) and print the table."""
    args = parse_args(argv)
    loops = _split(args.loops, dict(LOOPS))
    styles = _split(args.styles, dict(STYLES))
    sizes = [int(size) for size in _split(args.sizes)]
    server_cpu, client_cpu = choose_cpus(args.pin)
    with tempfile.TemporaryDirectory() as scratch:
        certfile = make_certificate(scratch) if TLS_STYLES.intersection(styles) else None
        settings = Settings(args.connections, args.warmup, args.duration, server_cpu, client_cpu, certfile)
        return _run(args, loops, styles, sizes, settings)


def _run(args: argparse.Namespace, loops: list[str], styles: list[str], sizes: list[int], settings: Settings) -> int:
    server_cpu, client_cpu = settings.server_cpu, settings.client_cpu
    try:
        build_c_program("loadgen.c")
        build_c_program("c_echo_server.c")
    except BuildError as exc:
        print(f"cannot build the load generator: {exc}", file=sys.stderr)
        return 1
    if args.profile:
        return run_profiles(build_cases(loops, styles, sizes, ceiling=False), settings, args.profile, args.top)
    cases = build_cases(loops, styles, sizes, args.ceiling)
    outcomes = run_all(cases, args.runs, settings)
    print(f"\nTCP echo, {args.connections} connections, ping-pong; median of {args.runs} run(s) x {args.duration:g} s")
    print(f"server on CPU {server_cpu}, load generator on CPU {client_cpu}; {machine_summary()}\n")
    print(render(outcomes))
    if args.json:
        Path(args.json).write_text(to_json(outcomes, settings, args.runs))
    return 0


def run_profiles(cases: list[Case], settings: Settings, profiler: str, top: int) -> int:
    """Profile each case once with the chosen profiler and print the hot functions."""
    for case in cases:
        try:
            if profiler == "cprofile":
                print(profile_cprofile(case, settings, top), end="\n\n")
            else:
                print(profile_py_spy(case, settings, top), end="\n\n")
        except (LoopUnavailable, CaseFailed) as exc:
            print(f"{case}: {exc}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
