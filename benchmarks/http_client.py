"""HTTP client benchmark: tidal's client vs httpx and aiohttp against one nginx on loopback.

Three workloads, each client in its own child process (fresh imports, its own
CPU clock), runs interleaved across clients and reported as medians:

* ``small``: N GETs of a 100-byte file by 50 concurrent tasks over keep-alive
  connections -- requests per second and client CPU microseconds per request;
* ``large``: one download of a large file, streamed and discarded -- MB/s,
  with ``curl -o /dev/null`` as the ceiling row;
* ``lines``: a gzip-encoded text body iterated as decoded lines -- seconds
  for the whole body (and the line count, which must agree).

tidal's client runs on tidal's loop, asyncio's and uvloop; httpx on asyncio;
aiohttp on asyncio and uvloop.  A client or loop that is not installed is
reported as "not available".  nginx (``daemon off; master_process off``, one
worker) is started with a generated config in a temporary directory and
stopped by PID at the end.

    python benchmarks/http_client.py --quick        # 2,000 GETs, 16 MiB, 8 MiB of text: about a minute
    python benchmarks/http_client.py                # 20,000 GETs, 100 MiB, 50 MiB of text, 3 runs
    python benchmarks/http_client.py --workloads small --clients tidal,aiohttp --runs 5
    python benchmarks/http_client.py --profile small  # cProfile of tidal's client on tidal's loop
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gzip
import json
import os
import pstats
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Run as a script, this directory would shadow packages by the names of its
# sibling scripts (``dns.py`` hides dnspython); import from the repository root.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from benchmarks._harness import format_table, hot_functions, machine_summary, median, pin_to_cpu, usable_cpus  # noqa: E402

CONCURRENCY = 50
SMALL_BODY = bytes(range(100))
# (client, loop) pairs measured for every workload.
CASES = [
    ("tidal", "tidal"),
    ("tidal", "asyncio"),
    ("tidal", "uvloop"),
    ("httpx", "asyncio"),
    ("aiohttp", "asyncio"),
    ("aiohttp", "uvloop"),
    ("tornado", "asyncio"),
    ("tidal-batches", "tidal"),
]
WORKLOADS = ("small", "large", "lines")
# cProfile entries that are the loop waiting for I/O, not working.
POLL_WAITS = ("<method 'poll' of 'select.epoll' objects>", "<built-in method select.select>")


@dataclass
class Settings:
    requests: int
    large_bytes: int
    text_bytes: int
    runs: int


# -- nginx -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _write_files(root: Path, settings: Settings) -> int:
    """Create the served files; returns the number of lines in the text body."""
    root.mkdir()
    (root / "small.bin").write_bytes(SMALL_BODY)
    generator = random.Random(1)
    with open(root / "large.bin", "wb") as file:
        remaining = settings.large_bytes
        block = generator.randbytes(1 << 20)
        while remaining > 0:
            file.write(block[: min(remaining, len(block))])
            remaining -= len(block)
    lines = 0
    with gzip.open(root / "text.log.gz", "wb", compresslevel=6) as file:
        written = 0
        while written < settings.text_bytes:
            line = f"{lines:08d} 127.0.0.1 GET /api/items/{generator.randrange(10**6)} 200 {generator.randrange(10**5)} ms\n"
            file.write(line.encode())
            written += len(line)
            lines += 1
    return lines


def start_nginx(directory: Path, settings: Settings, cpu: int | None) -> tuple[subprocess.Popen[bytes], int, int]:
    """Start nginx serving the workload files; returns (process, port, text line count)."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(binary, os.X_OK):
        raise SystemExit("nginx is not installed (Debian: apt-get install nginx-light)")
    lines = _write_files(directory / "www", settings)
    port = _free_port()
    config = directory / "nginx.conf"
    config.write_text(f"""
daemon off; master_process off; pid {directory}/nginx.pid; error_log {directory}/error.log warn;
worker_rlimit_nofile 4096;
events {{ worker_connections 2048; }}
http {{
    access_log off; sendfile on; tcp_nopush on;
    keepalive_timeout 120; keepalive_requests 10000000;
    default_type application/octet-stream;
    client_body_temp_path {directory}/body; proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi; uwsgi_temp_path {directory}/uwsgi; scgi_temp_path {directory}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=1024;
        root {directory}/www;
        location = /text.log {{ types {{ }} default_type "text/plain; charset=utf-8";
                               add_header Content-Encoding gzip; alias {directory}/www/text.log.gz; }}
    }}
}}
""")
    process = subprocess.Popen([binary, "-p", str(directory), "-c", str(config), "-e", str(directory / "error.log")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pin_to_cpu(process.pid, cpu)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process, port, lines
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"nginx exited: {(directory / 'error.log').read_text()}") from None
            time.sleep(0.02)
    process.kill()
    raise SystemExit("nginx did not start within 10 s")


def stop_nginx(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


# -- the clients (run in the child process) ------------------------------------------------------


async def _concurrently(count: int, one: Callable[[], Awaitable[None]]) -> None:
    per_task, extra = divmod(count, CONCURRENCY)

    async def worker(index: int) -> None:
        for _ in range(per_task + (index < extra)):
            await one()

    await asyncio.gather(*(worker(index) for index in range(CONCURRENCY)))


async def tidal_small(url: str, count: int) -> dict[str, Any]:
    import tidal.http

    limits = tidal.http.Limits(max_connections=CONCURRENCY, max_connections_per_host=CONCURRENCY,
                               max_idle_connections=CONCURRENCY, idle_expiry=60)
    async with tidal.http.Client(limits=limits) as client:
        async def one() -> None:
            response = await client.get(url)
            if len(response.content) != 100:
                raise RuntimeError("wrong body")

        await _concurrently(CONCURRENCY, one)  # warm-up: open the connections
        return await _timed(lambda: _concurrently(count, one))


async def httpx_small(url: str, count: int) -> dict[str, Any]:
    import httpx

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits) as client:
        async def one() -> None:
            response = await client.get(url)
            if len(response.content) != 100:
                raise RuntimeError("wrong body")

        await _concurrently(CONCURRENCY, one)
        return await _timed(lambda: _concurrently(count, one))


async def aiohttp_small(url: str, count: int) -> dict[str, Any]:
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:
        async def one() -> None:
            async with session.get(url) as response:
                if len(await response.read()) != 100:
                    raise RuntimeError("wrong body")

        await _concurrently(CONCURRENCY, one)
        return await _timed(lambda: _concurrently(count, one))


async def tidal_large(url: str, _count: int) -> dict[str, Any]:
    import tidal.http

    async with tidal.http.Client() as client:
        async def download() -> int:
            size = 0
            async with client.stream("GET", url) as response:
                async for chunk in response.iter_raw():
                    size += len(chunk)
            return size

        return await _timed(download)


async def httpx_large(url: str, _count: int) -> dict[str, Any]:
    import httpx

    async with httpx.AsyncClient() as client:
        async def download() -> int:
            size = 0
            async with client.stream("GET", url) as response:
                async for chunk in response.aiter_raw():
                    size += len(chunk)
            return size

        return await _timed(download)


async def aiohttp_large(url: str, _count: int) -> dict[str, Any]:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async def download() -> int:
            size = 0
            async with session.get(url) as response:
                async for chunk in response.content.iter_chunked(256 * 1024):
                    size += len(chunk)
            return size

        return await _timed(download)


async def tidal_lines(url: str, _count: int) -> dict[str, Any]:
    import tidal.http

    async with tidal.http.Client() as client:
        async def iterate() -> int:
            count = 0
            async with client.stream("GET", url) as response:
                async for _line in response.iter_lines():
                    count += 1
            return count

        return await _timed(iterate)


async def tidal_batches_lines(url: str, _count: int) -> dict[str, Any]:
    """The same lines through ``iter_line_batches()``: one await per decoded piece."""
    import tidal.http

    async with tidal.http.Client() as client:
        async def iterate() -> int:
            count = 0
            async with client.stream("GET", url) as response:
                async for batch in response.iter_line_batches():
                    for _line in batch:
                        count += 1
            return count

        return await _timed(iterate)


async def httpx_lines(url: str, _count: int) -> dict[str, Any]:
    import httpx

    async with httpx.AsyncClient() as client:
        async def iterate() -> int:
            count = 0
            async with client.stream("GET", url) as response:
                async for _line in response.aiter_lines():
                    count += 1
            return count

        return await _timed(iterate)


async def aiohttp_lines(url: str, _count: int) -> dict[str, Any]:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async def iterate() -> int:
            count = 0
            async with session.get(url) as response:
                charset = response.charset or "utf-8"
                async for line in response.content:
                    line.decode(charset)
                    count += 1
            return count

        return await _timed(iterate)


async def tornado_large(url: str, _count: int) -> dict[str, Any]:
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest

    client = AsyncHTTPClient(force_instance=True, max_body_size=1 << 40)
    size = 0

    def count(chunk: bytes) -> None:
        nonlocal size
        size += len(chunk)

    async def download() -> int:
        await client.fetch(HTTPRequest(url, streaming_callback=count, request_timeout=600))
        return size

    try:
        return await _timed(download)
    finally:
        client.close()


async def tornado_lines(url: str, _count: int) -> dict[str, Any]:
    """Tornado decompresses the stream; lines are cut from each decoded chunk as it arrives and iterated."""
    import codecs

    from tornado.httpclient import AsyncHTTPClient, HTTPRequest

    client = AsyncHTTPClient(force_instance=True, max_body_size=1 << 40)
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines, tail = 0, ""

    def on_chunk(chunk: bytes) -> None:
        nonlocal lines, tail
        parts = (tail + decoder.decode(chunk)).split("\n")
        tail = parts.pop()
        count = 0
        for _line in parts:  # like every other row, each line reaches Python code
            count += 1
        lines += count

    async def iterate() -> int:
        await client.fetch(HTTPRequest(url, streaming_callback=on_chunk, decompress_response=True, request_timeout=600))
        return lines + (1 if tail + decoder.decode(b"", final=True) else 0)

    try:
        return await _timed(iterate)
    finally:
        client.close()


async def _timed(work: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = await work()
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "result": result}


CLIENTS: dict[tuple[str, str], Callable[[str, int], Awaitable[dict[str, Any]]]] = {
    (client, workload): globals()[f"{client}_{workload}"]
    for client in ("tidal", "httpx", "aiohttp") for workload in WORKLOADS
}
# Tornado's client opens a connection per request, so only the two one-request workloads.
CLIENTS[("tornado", "large")] = tornado_large
CLIENTS[("tornado", "lines")] = tornado_lines
CLIENTS[("tidal-batches", "lines")] = tidal_batches_lines
PATHS = {"small": "/small.bin", "large": "/large.bin", "lines": "/text.log"}


def loop_factory(loop: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if loop == "tidal":
        import tidal.loop

        return tidal.loop.new_event_loop
    if loop == "uvloop":
        import uvloop

        return uvloop.new_event_loop  # type: ignore[no-any-return]
    return asyncio.new_event_loop


def child_main(arguments: argparse.Namespace) -> int:
    """Run one measurement and print it as JSON (the parent reads it)."""
    url = f"http://127.0.0.1:{arguments.port}{PATHS[arguments.workload]}"
    work = CLIENTS[(arguments.client, arguments.workload)]
    with asyncio.Runner(loop_factory=loop_factory(arguments.loop)) as runner:
        if arguments.profile_to:
            profiler = cProfile.Profile()
            profiler.enable()
            outcome = runner.run(work(url, arguments.count))
            profiler.disable()
            profiler.dump_stats(arguments.profile_to)
        else:
            outcome = runner.run(work(url, arguments.count))
    print(json.dumps(outcome))
    return 0


# -- the parent: run, collect, report -------------------------------------------------------------


def available(client: str, loop: str) -> str | None:
    """None when the case can run, else why not."""
    for module in {client.split("-")[0], loop} - {"tidal", "asyncio"}:
        try:
            __import__(module)
        except ImportError:
            return f"{module} not installed"
    return None


def measure(client: str, loop: str, workload: str, port: int, count: int, cpu: int | None,
            profile_to: str | None = None) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", "--client", client, "--loop", loop, "--workload", workload,
               "--port", str(port), "--count", str(count)]
    if profile_to:
        command += ["--profile-to", profile_to]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pin_to_cpu(process.pid, cpu)
    try:
        stdout, stderr = process.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return {"error": "timed out after 600 s"}
    if process.returncode != 0:
        return {"error": stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {process.returncode}"}
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return result


def measure_curl(port: int, cpu: int | None) -> dict[str, Any]:
    curl = shutil.which("curl")
    if curl is None:
        return {"error": "curl not installed"}
    started = time.perf_counter()
    process = subprocess.Popen([curl, "-s", "-o", "/dev/null", "-w", "%{size_download}",
                                f"http://127.0.0.1:{port}/large.bin"], stdout=subprocess.PIPE, text=True)
    pin_to_cpu(process.pid, cpu)
    stdout, _ = process.communicate(timeout=600)
    return {"wall": time.perf_counter() - started, "cpu": float("nan"), "result": int(stdout)}


def run_all(settings: Settings, workloads: list[str], cases: list[tuple[str, str]], port: int,
            cpu: int | None) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    results: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for run in range(settings.runs):
        for workload in workloads:
            rows = list(cases) + ([("curl", "-")] if workload == "large" else [])
            for client, loop in rows:
                key = (workload, client, loop)
                reason = available(client, loop) if client != "curl" else None
                if client != "curl" and (client, workload) not in CLIENTS:
                    reason = "not measured for this workload"
                if reason is not None:
                    results[key] = [{"error": reason}]
                    continue
                print(f"  run {run + 1}/{settings.runs}: {workload} {client} on {loop}", file=sys.stderr, flush=True)
                outcome = measure_curl(port, cpu) if client == "curl" else measure(
                    client, loop, workload, port, settings.requests, cpu)
                results.setdefault(key, []).append(outcome)
    return results


def report(results: dict[tuple[str, str, str], list[dict[str, Any]]], settings: Settings, lines: int) -> str:
    sections = []
    for workload, title, header in (
        ("small", f"(a) {settings.requests:,} GETs of 100 bytes, concurrency {CONCURRENCY}, keep-alive",
         ["client", "loop", "req/s", "CPU us/req", "vs httpx", "note"]),
        ("large", f"(b) one {settings.large_bytes / 2**20:.0f} MiB download", ["client", "loop", "MB/s", "CPU s", "note"]),
        ("lines", f"(c) gzip text, {settings.text_bytes / 2**20:.0f} MiB decoded, iterate lines",
         ["client", "loop", "seconds", "lines", "note"]),
    ):
        rows = []
        keyed = {key: runs for key, runs in results.items() if key[0] == workload}
        if not keyed:
            continue
        httpx_rate = _median_of(keyed.get((workload, "httpx", "asyncio"), []), lambda r: settings.requests / r["wall"])
        for (_, client, loop), runs in keyed.items():
            errors = [run["error"] for run in runs if "error" in run]
            good = [run for run in runs if "error" not in run]
            if not good:
                rows.append([client, loop] + ["-"] * (len(header) - 3) + [f"failed: {errors[0]}"])
                continue
            wall = median(run["wall"] for run in good)
            cpu = median(run["cpu"] for run in good)
            spread = f"{len(good)} runs, wall {min(r['wall'] for r in good):.3f}..{max(r['wall'] for r in good):.3f} s"
            if workload == "small":
                rate = settings.requests / wall
                ratio = f"{rate / httpx_rate:.1f}x" if httpx_rate else "-"
                rows.append([client, loop, f"{rate:,.0f}", f"{cpu / settings.requests * 1e6:.0f}", ratio, spread])
            elif workload == "large":
                size = good[0]["result"]
                cpu_text = "-" if cpu != cpu else f"{cpu:.2f}"
                rows.append([client, loop, f"{size / wall / 1e6:,.0f}", cpu_text, spread])
            else:
                counted = {run["result"] for run in good}
                note = spread if counted == {lines} else f"WRONG line count {sorted(counted)} (expected {lines})"
                rows.append([client, loop, f"{wall:.3f}", f"{good[0]['result']:,}", note])
        sections.append(title + "\n" + format_table(header, rows))
    return "\n\n".join(sections)


def _median_of(runs: list[dict[str, Any]], value: Callable[[dict[str, Any]], float]) -> float:
    good = [value(run) for run in runs if "error" not in run]
    return median(good) if good else 0.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and one run (checks that it works)")
    parser.add_argument("--requests", type=int, help="GETs in the small workload (default 20000; quick 2000)")
    parser.add_argument("--large-mib", type=int, help="size of the large file in MiB (default 100; quick 16)")
    parser.add_argument("--text-mib", type=int, help="decoded size of the gzip text in MiB (default 50; quick 8)")
    parser.add_argument("--runs", type=int, help="runs per case (default 3; quick 1)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated: small,large,lines")
    parser.add_argument("--clients", default="tidal,httpx,aiohttp,tornado,tidal-batches",
                        help="comma-separated clients to measure (tidal-batches: iter_line_batches, lines only)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin nginx and the client to separate CPUs")
    parser.add_argument("--profile", choices=WORKLOADS, help="cProfile tidal's client (tidal's loop) on a workload")
    parser.add_argument("--top", type=int, default=25, help="functions shown by --profile")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--loop", help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_args(argv)
    if arguments.child:
        return child_main(arguments)
    quick = arguments.quick
    settings = Settings(
        requests=arguments.requests or (2000 if quick else 20000),
        large_bytes=(arguments.large_mib or (16 if quick else 100)) * 2**20,
        text_bytes=(arguments.text_mib or (8 if quick else 50)) * 2**20,
        runs=arguments.runs or (1 if quick else 3),
    )
    cpus = usable_cpus()
    nginx_cpu, client_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 and not arguments.no_pin else (None, None)
    clients = set(arguments.clients.split(","))
    cases = [case for case in CASES if case[0] in clients]
    workloads = [workload for workload in arguments.workloads.split(",") if workload in WORKLOADS]
    with tempfile.TemporaryDirectory(prefix="tidal-http-bench-") as directory:
        print("writing files and starting nginx ...", file=sys.stderr, flush=True)
        nginx, port, lines = start_nginx(Path(directory), settings, nginx_cpu)
        try:
            if arguments.profile:
                profile_path = str(Path(directory) / "profile.out")
                outcome = measure("tidal", "tidal", arguments.profile, port, settings.requests, client_cpu, profile_path)
                if "error" in outcome:
                    print(f"failed: {outcome['error']}")
                    return 1
                print(hot_functions(pstats.Stats(profile_path), arguments.top, waiting=POLL_WAITS))
                return 0
            results = run_all(settings, workloads, cases, port, client_cpu)
        finally:
            stop_nginx(nginx)
    print(machine_summary())
    print(f"nginx: one worker process pinned to CPU {nginx_cpu}; clients pinned to CPU {client_cpu}\n")
    print(report(results, settings, lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
