"""Lines per second through ``tidal.open(path, "rt", compression="gzip")`` against ``gzip.open``.

Theory of operation.  A deterministic log-like text file (about 200 MiB
decoded, 16 MiB with ``--quick``; the generator of ``benchmarks/protocols.py``)
is gzipped into a temporary directory, then every line of it is counted:

* ``gzip.open(path, "rt")`` iterated line by line: the baseline, synchronous
  and so blocking whatever loop would call it;
* ``tidal.open(path, "rt", compression="gzip", decompress_in="loop")`` with
  ``async for`` on tidal's loop (and, with ``--loops``, on asyncio's and
  uvloop): inflating, decoding and splitting all on the loop's thread;
* the same with ``await f.readlines(65536)`` batches, which skip the per-line
  cost of ``async for``;
* ``async for`` with ``decompress_in="process"`` (what ``"auto"`` picks for
  a file this size with an idle core when zlib-ng is not installed): a
  ``gzip -dc`` child inflates on another core and the
  loop reads its pipe, decodes and splits;
* ``async for`` over ``TextStream(FileStream(path, "rb", compression="gzip"))``:
  the same work with decompression in the file's worker thread instead of on
  the loop (inflating can then overlap the text work on an idle core), to
  measure that design choice;
* ``zcat | wc -l``, the one-shot C ceiling (when zcat exists).

Rates are lines per wall-clock second (the figure a user waits for) and
lines per CPU-second of the process (all of its threads, plus its reaped
children: the gzip child of the child-process row, zcat and wc for the
ceiling): tidal reads the file in a worker thread, and on a shared
machine wall time also counts time spent descheduled, so the CPU figure is the
steadier one.  Cases are interleaved run by run and medians are reported with
their ratio to ``gzip.open``.

Loop responsiveness: during each ``async for`` run, a task on the same loop
asks to wake every 10 ms; its lateness (actual wake-up minus the time asked
for) is collected over all runs, and the worst and 99th percentile are
reported.  A loop blocked by the read would show lateness as long as the read.

    python benchmarks/gzip_lines.py --quick    # 16 MiB, 3 runs
    python benchmarks/gzip_lines.py            # about 200 MiB, 5 runs (a few minutes)
    python benchmarks/gzip_lines.py --loops tidal,asyncio,uvloop --mib 64
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _harness import REPO_ROOT, format_rate, format_table, machine_summary, median  # noqa: E402

sys.path.insert(0, str(REPO_ROOT))  # tidal from this checkout, installed or not

import tidal  # noqa: E402  (imported before any timing)
import tidal.streams  # noqa: E402
from protocols import generate_log  # noqa: E402

TIMER_PERIOD = 0.010
BATCH_HINT = 65536


@dataclass(frozen=True)
class Sample:
    """One timed pass over the file."""

    lines: int
    wall: float
    cpu: float


@dataclass
class Case:
    """One row of the table."""

    name: str
    run: Callable[[], Sample] | None
    baseline: bool = False
    problem: str = ""
    samples: list[Sample] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)  # seconds, over all runs


def cpu_seconds() -> float:
    """CPU time of this process (every thread) and its reaped children (the gzip child, zcat, wc)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(count: Callable[[], int]) -> Sample:
    wall, cpu = time.perf_counter(), cpu_seconds()
    lines = count()
    return Sample(lines, time.perf_counter() - wall, cpu_seconds() - cpu)


def count_gzip_open(path: Path) -> int:
    lines = 0
    with gzip.open(path, "rt", encoding="utf-8") as text:
        for _line in text:
            lines += 1
    return lines


def count_zcat(path: Path) -> int:
    result = subprocess.run(f"zcat '{path}' | wc -l", shell=True, capture_output=True, text=True, check=True, timeout=600)
    return int(result.stdout.split()[0])


async def count_tidal_lines(path: Path) -> int:
    lines = 0
    async for _line in tidal.open(path, "rt", compression="gzip", encoding="utf-8", decompress_in="loop"):
        lines += 1
    return lines


async def count_tidal_in_child(path: Path) -> int:
    """The same lines, inflated by a ``gzip -dc`` child process; it is reaped before this returns."""
    lines = 0
    async for _line in tidal.open(path, "rt", compression="gzip", encoding="utf-8", decompress_in="process"):
        lines += 1
    return lines


async def count_tidal_in_worker(path: Path) -> int:
    """The same lines with decompression in the file's worker thread, for comparison."""
    lines = 0
    async for _line in tidal.streams.TextStream(tidal.streams.FileStream(path, "rb", compression="gzip"), "utf-8"):
        lines += 1
    return lines


async def count_tidal_batches(path: Path) -> int:
    lines = 0
    async with tidal.open(path, "rt", compression="gzip", encoding="utf-8", decompress_in="loop") as text:
        while batch := await text.readlines(BATCH_HINT):
            lines += len(batch)
    return lines


async def with_timer(work: Coroutine[Any, Any, int], lateness: list[float]) -> int:
    """Run ``work`` while a 10 ms periodic task records how late each wake-up is."""

    async def tick() -> None:
        due = time.perf_counter() + TIMER_PERIOD
        while True:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            now = time.perf_counter()
            lateness.append(max(0.0, now - due))
            due = max(due + TIMER_PERIOD, now)  # a late tick does not make the next ones "late" too

    ticker = asyncio.ensure_future(tick())
    await asyncio.sleep(0)
    try:
        return await work
    finally:
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)


def loop_factory(kind: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if kind == "tidal":
        return tidal.new_event_loop
    if kind == "asyncio":
        return asyncio.new_event_loop
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop  # type: ignore[no-any-return]
    raise ValueError(f"unknown loop {kind!r}")


def on_loop(
    kind: str, counter: Callable[[Path], Coroutine[Any, Any, int]], path: Path, lateness: list[float] | None
) -> Callable[[], Sample]:
    """A runner counting ``path``'s lines with ``counter`` on a fresh ``kind`` loop, timer alongside if asked."""
    factory = loop_factory(kind)  # ImportError now, not in the middle of the runs

    def run() -> Sample:
        with asyncio.Runner(loop_factory=factory) as runner:
            work = counter(path) if lateness is None else with_timer(counter(path), lateness)
            return timed(lambda: runner.run(work))

    return run


TIDAL_STYLES = (
    ("async for", count_tidal_lines, True),
    (f"readlines({BATCH_HINT})", count_tidal_batches, False),
    ("async for, decompressing in the file's worker thread", count_tidal_in_worker, False),
    ("async for, inflated by a gzip -dc child process", count_tidal_in_child, True),
)


def build_cases(path: Path, loops: list[str]) -> list[Case]:
    cases = [Case('gzip.open(path, "rt")', lambda: timed(lambda: count_gzip_open(path)), baseline=True)]
    for kind in loops:
        for label, counter, with_ticks in TIDAL_STYLES:
            case = Case(f"tidal.open rt gzip, {label}, {kind} loop", None)
            try:
                case.run = on_loop(kind, counter, path, case.lateness if with_ticks else None)
            except ImportError as error:
                case.problem = f"not available: {error}"
            cases.append(case)
    ceiling = Case("zcat | wc -l (C ceiling)", None)
    if shutil.which("zcat") and shutil.which("wc"):
        ceiling.run = lambda: timed(lambda: count_zcat(path))
    else:
        ceiling.problem = "not available: zcat or wc is not installed"
    cases.append(ceiling)
    return cases


def run_cases(cases: list[Case], runs: int) -> None:
    for number in range(runs):
        for case in cases:
            if case.run is None or case.problem:
                continue
            try:
                sample = case.run()
            except Exception as error:  # a failing case is reported; the others still run
                case.problem = f"failed: {type(error).__name__}: {error}"
                continue
            case.samples.append(sample)
            print(f"run {number + 1}/{runs} {case.name}: {format_rate(sample.lines / sample.wall)} lines/s", file=sys.stderr, flush=True)


def render(cases: list[Case], decoded_bytes: int) -> str:
    baseline = next(case for case in cases if case.baseline)
    base_rate = median(s.lines / s.wall for s in baseline.samples) if baseline.samples else None
    base_cpu_rate = median(s.lines / s.cpu for s in baseline.samples) if baseline.samples else None
    header = ["case", "lines/s", "MB/s", "min..max lines/s", "vs gzip.open", "lines/CPU-s", "vs (CPU)", "timer late p99 / worst", "notes"]
    rows = []
    for case in cases:
        if not case.samples:
            rows.append([case.name, "-", "-", "-", "-", "-", "-", "-", case.problem])
            continue
        rates = [s.lines / s.wall for s in case.samples]
        rate = median(rates)
        mbps = median(decoded_bytes / s.wall / 1e6 for s in case.samples)
        ratio = f"{rate / base_rate:.2f}x" if base_rate else "-"
        cpu_rate = median(s.lines / max(s.cpu, 1e-9) for s in case.samples)
        cpu_ratio = f"{cpu_rate / base_cpu_rate:.2f}x" if base_cpu_rate else "-"
        note = case.problem
        if baseline.samples and case.samples[0].lines != baseline.samples[0].lines:
            note = f"counted {case.samples[0].lines:,} lines, gzip.open {baseline.samples[0].lines:,}"
        rows.append(
            [
                case.name,
                format_rate(rate),
                f"{mbps:,.1f}",
                f"{format_rate(min(rates))}..{format_rate(max(rates))}",
                ratio,
                format_rate(cpu_rate),
                cpu_ratio,
                _lateness(case.lateness),
                note,
            ]
        )
    return format_table(header, rows)


def _lateness(samples: list[float]) -> str:
    if not samples:
        return "-"
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{p99 * 1000:.1f} / {ordered[-1] * 1000:.1f} ms ({len(ordered)} ticks)"


def decoded_size(path: Path) -> int:
    with gzip.open(path, "rb") as raw:
        return sum(len(chunk) for chunk in iter(lambda: raw.read(1 << 20), b""))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="tidal.open gzip text lines vs gzip.open")
    parser.add_argument("--quick", action="store_true", help="16 MiB and 3 runs (unless --mib/--runs say otherwise)")
    parser.add_argument("--mib", type=int, help="decoded size of the generated log in MiB (default 200)")
    parser.add_argument("--runs", type=int, help="runs per case; the median is reported (default 5)")
    parser.add_argument("--loops", default="tidal", help="comma-separated loops for the tidal rows: tidal,asyncio,uvloop")
    args = parser.parse_args(argv)
    args.mib = args.mib or (16 if args.quick else 200)
    args.runs = max(1, args.runs or (3 if args.quick else 5))
    args.loops = [name.strip() for name in args.loops.split(",") if name.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tidal-gzip-lines-") as scratch:
        path = Path(scratch) / "app.log.gz"
        started = time.perf_counter()
        lines = generate_log(path, args.mib * 2**20)
        size = decoded_size(path)
        print(
            f"generated {path.name}: {lines:,} lines, {size / 2**20:.1f} MiB decoded, "
            f"{path.stat().st_size / 2**20:.1f} MiB gzipped in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        cases = build_cases(path, args.loops)
        run_cases(cases, args.runs)
    print(f"\ngzip -> text lines, median of {args.runs} run(s), wall clock; {machine_summary()}\n")
    print(render(cases, size))
    late = [case for case in cases if case.lateness]
    if late:
        print(f"\ntimer: a task asking to wake every {TIMER_PERIOD * 1000:.0f} ms on the same loop during the async-for runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
