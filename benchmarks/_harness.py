"""Shared plumbing for tidal's benchmarks: C builds, CPU pinning, medians, tables.

Benchmarks are scripts, not tests (ARCHITECTURE.md): they print tables of
medians and ratios and never assert a speed.  This module holds what every
benchmark script needs so that each script only describes its cases.

The machine the project runs on is small and shared, so every figure is the
median of several runs, cases are interleaved run by run (so a burst of
background load hurts every case a little rather than one case a lot), and
each run is bounded in time.
"""

from __future__ import annotations

import os
import pstats
import select
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = [
    "BENCH_DIR",
    "BUILD_DIR",
    "REPO_ROOT",
    "BuildError",
    "build_c_program",
    "format_rate",
    "format_table",
    "git_commit",
    "hot_functions",
    "machine_summary",
    "median",
    "pin_to_cpu",
    "read_line_with_timeout",
    "short_path",
    "stop_process",
    "usable_cpus",
]

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
# Compiled helpers live here; the directory is git-ignored.
BUILD_DIR = BENCH_DIR / "_build"


class BuildError(RuntimeError):
    """A C helper could not be compiled (no gcc, or a compile error)."""


def build_c_program(source_name: str, extra_flags: Sequence[str] = ()) -> Path:
    """Compile ``benchmarks/<source_name>`` with gcc -O2 unless the binary is fresh.

    Returns the path of the executable in :data:`BUILD_DIR`.
    """
    source = BENCH_DIR / source_name
    binary = BUILD_DIR / source.stem
    if binary.exists() and binary.stat().st_mtime >= source.stat().st_mtime:
        return binary
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise BuildError("gcc is not installed (Debian: apt-get install gcc libc6-dev)")
    BUILD_DIR.mkdir(exist_ok=True)
    command = [compiler, "-O2", "-Wall", "-Wextra", "-o", str(binary), str(source), *extra_flags]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"{' '.join(command)} failed:\n{result.stderr}")
    return binary


def usable_cpus() -> list[int]:
    """The CPUs this process may run on, in order (Linux affinity mask)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def pin_to_cpu(pid: int, cpu: int | None) -> None:
    """Restrict process ``pid`` to one CPU; a no-op where affinity is unsupported."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(pid, {cpu})


def read_line_with_timeout(process: subprocess.Popen[str], timeout: float) -> str:
    """One line of ``process``'s stdout, or ``""`` if none arrives within ``timeout``.

    Used for the "PORT n" handshake with server subprocesses, so a server that
    hangs while importing can never hang the benchmark.
    """
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        return ""
    return process.stdout.readline()


def stop_process(process: subprocess.Popen[str], grace: float = 5.0) -> int:
    """Close ``process``'s stdin (its signal to stop), then wait; kill it if it lingers."""
    if process.stdin is not None and not process.stdin.closed:
        try:
            process.stdin.close()
        except BrokenPipeError:
            pass
    try:
        return process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
    finally:
        if process.stdout is not None:
            process.stdout.close()


def median(values: Iterable[float]) -> float:
    """The median of ``values`` (the figure every table reports)."""
    return statistics.median(list(values))


def format_rate(value: float) -> str:
    """A rate with thousands separators and no false precision."""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: first and last columns left-aligned, the others right-aligned."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def render(row: Sequence[str]) -> str:
        cells = [str(cell).ljust(w) if i in (0, len(header) - 1) else str(cell).rjust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([render(header), rule, *(render(row) for row in rows)])


def git_commit() -> str:
    """The short commit of the checkout being measured (``+dirty`` if modified)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "tidal"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def machine_summary() -> str:
    """One line naming the interpreter, CPU count, load and commit measured."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"load average {load:.2f}, tidal commit {git_commit()}, {time.strftime('%Y-%m-%d %H:%M')}"
    )


def hot_functions(stats: pstats.Stats, top: int, waiting: Sequence[str] = ()) -> str:
    """The ``top`` functions of a cProfile run by own time, as a table.

    Shares are of the total time; when ``waiting`` names the functions that
    only wait (``select.epoll.poll``), they are also given as shares of the
    busy time, which is what an optimization can win back.
    """
    entries: dict[tuple[str, int, str], tuple[int, int, float, float, object]] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in entries.values()) or 1.0
    waited = sum(entry[2] for key, entry in entries.items() if function_label(key) in waiting)
    busy = max(total - waited, 1e-9)
    ranked = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:top]
    rows = []
    for key, (_, calls, own, cumulative, _) in ranked:
        label = function_label(key)
        busy_share = ["-" if label in waiting else f"{own / busy:.1%}"] if waiting else []
        rows.append([label, f"{own / total:.1%}", *busy_share, f"{cumulative / total:.1%}", f"{calls:,}"])
    by_area = _own_time_by_area(entries, waiting, busy)
    if not waiting:
        return by_area + format_table(["function", "own", "cumulative", "calls"], rows)
    summary = f"{total:.2f} s profiled, {waited / total:.0%} of it waiting in the poller\n"
    return summary + by_area + format_table(["function", "own", "own of busy", "cumulative", "calls"], rows)


def _own_time_by_area(entries: dict[tuple[str, int, str], tuple[int, int, float, float, object]], waiting: Sequence[str], busy: float) -> str:
    # "Where does the busy time go": tidal's own modules vs h11/asyncio vs C calls.
    areas: dict[str, float] = {}
    for key, entry in entries.items():
        if function_label(key) in waiting:
            continue
        area = _area(key[0])
        areas[area] = areas.get(area, 0.0) + entry[2]
    ranked = sorted(areas.items(), key=lambda item: item[1], reverse=True)
    return "busy time by area: " + ", ".join(f"{area} {own / busy:.0%}" for area, own in ranked) + "\n"


def _area(filename: str) -> str:
    if filename == "~":
        return "C calls"
    parts = short_path(filename).split("/")
    if parts[0] == "tidal" and len(parts) > 2:
        return "/".join(parts[:-1])  # tidal/loop, tidal/protocols/http ...
    return parts[0] if len(parts) > 1 else "other Python"


def function_label(key: tuple[str, int, str]) -> str:
    """``name (path:line)`` for a pstats key; C functions keep their own label."""
    filename, line, name = key
    if filename == "~":
        return name
    return f"{name} ({short_path(filename)}:{line})"


def short_path(filename: str) -> str:
    """A path shortened to start at ``tidal/``, ``asyncio/``, ``h11/``, ``dns/`` (dnspython) or ``benchmarks/`` when it can."""
    parts = Path(filename).parts
    for anchor in ("tidal", "asyncio", "h11", "dns", "benchmarks"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor) :])
    return Path(filename).name
