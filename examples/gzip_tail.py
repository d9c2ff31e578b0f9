"""Search a gzip-compressed log without blocking the event loop, and print the last matches.

``tidal.open(path, "rt", compression="gzip")`` reads the file in a worker
thread, decompresses and decodes it a slice at a time, and hands out lines
with ``async for`` -- so the same loop could keep serving connections while
a multi-gigabyte log is searched.  A heartbeat task runs alongside to show
it: it keeps ticking during the search.

    python examples/gzip_tail.py                         # search a generated sample log for ERROR
    python examples/gzip_tail.py 'status=5\\d\\d' app.log.gz --last 20
    python examples/gzip_tail.py ERROR app.log.gz --encoding latin-1

Matching lines go to stdout (the last ``--last`` of them, 10 by default);
a summary goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tidal  # noqa: E402


async def write_sample_log(path: str, lines: int = 50_000) -> None:
    """A gzip log of ``lines`` lines; every 997th is an ERROR."""
    async with tidal.open(path, "wt", compression="gzip") as log:
        for number in range(lines):
            level = "ERROR" if number % 997 == 0 else "INFO"
            await log.write(f"2024-05-01T12:00:{number % 60:02d}Z {level} request={number} path=/api/orders café\n")


async def search(path: str, pattern: re.Pattern[str], last: int, encoding: str | None) -> tuple[int, int]:
    """Print the last ``last`` lines matching ``pattern``; return (lines read, lines matched)."""
    matches: collections.deque[str] = collections.deque(maxlen=last)
    seen = matched = 0
    async with tidal.open(path, "rt", compression="gzip", encoding=encoding, errors="replace") as log:
        async for line in log:
            seen += 1
            if pattern.search(line):
                matched += 1
                matches.append(line)
    sys.stdout.writelines(matches)
    return seen, matched


async def heartbeat(interval: float, beats: list[float]) -> None:
    """Record when each beat fires: proof that the loop stayed free during the search."""
    while True:
        await asyncio.sleep(interval)
        beats.append(time.perf_counter())


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("pattern", nargs="?", default="ERROR", help="regular expression (default: ERROR)")
    parser.add_argument("path", nargs="?", help="a .gz log (default: a generated sample)")
    parser.add_argument("--last", type=int, default=10, help="how many of the last matches to print")
    parser.add_argument("--encoding", help="the log's encoding (default: BOM, else UTF-8)")
    args = parser.parse_args(argv)
    pattern = re.compile(args.pattern)
    with tempfile.TemporaryDirectory(prefix="gzip-tail-") as scratch:
        path = args.path
        if path is None:
            path = os.path.join(scratch, "app.log.gz")
            await write_sample_log(path)
            print(f"no log given; searching a generated sample, {os.path.getsize(path)} bytes gzipped", file=sys.stderr)
        beats: list[float] = []
        ticking = asyncio.ensure_future(heartbeat(0.01, beats))
        started = time.perf_counter()
        try:
            seen, matched = await search(path, pattern, max(args.last, 0), args.encoding)
        except (OSError, tidal.streams.StreamError) as error:
            print(f"gzip_tail: {path}: {error}", file=sys.stderr)
            return 1
        finally:
            ticking.cancel()
        elapsed = time.perf_counter() - started
    print(f"{matched} of {seen} lines matched in {elapsed:.2f} s; the loop ticked {len(beats)} times meanwhile", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(tidal.run(main()))
