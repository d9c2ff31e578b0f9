"""HTTP/1.1 server benchmark: tidal against uvicorn, aiohttp and a minimal h11 server.

Every case serves the same hello-world response (a 12-byte body, keep-alive)
and is loaded by ``wrk -t1 -c50`` for a fixed duration.  Each server runs in
its own process pinned to the first usable CPU, wrk to the second; cases are
interleaved run by run and the table shows medians.  Because the machine may
be shared, the table also shows requests per CPU-second of the server
process (its user+system time over the run), which moves much less with
background load than requests per wall-clock second.

Usage::

    python benchmarks/http_server.py --quick          # -d2s, 1 run per case
    python benchmarks/http_server.py                  # -d10s, 3 runs per case
    python benchmarks/http_server.py --cases tidal-native,uvicorn-h11-asyncio
    python benchmarks/http_server.py --profile         # cProfile of tidal-native
    python benchmarks/http_server.py --serve CASE      # one server (internal)

Cases: tidal's server with a native handler and with an ASGI app, both on
tidal's loop; uvicorn with h11 on asyncio's loop and on uvloop; uvicorn with
httptools on uvloop; aiohttp.web on uvloop; and a minimal asyncio Protocol +
h11 server on asyncio's loop (the floor any h11-based server should beat).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Run as a script, this directory comes first on sys.path, and its dns.py
# would shadow dnspython for tidal.dns: put the repository root there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from benchmarks._harness import (  # noqa: E402
    format_rate,
    format_table,
    hot_functions,
    machine_summary,
    median,
    read_line_with_timeout,
    stop_process,
    usable_cpus,
)

BODY = b"Hello, world"
CASES = [
    "tidal-native",
    "tidal-asgi",
    "uvicorn-h11-asyncio",
    "uvicorn-h11-uvloop",
    "uvicorn-httptools-uvloop",
    "aiohttp-uvloop",
    "h11-protocol-asyncio",
]
BASELINE = "uvicorn-h11-asyncio"


# ----------------------------------------------------------------- the apps


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Hello world in ASGI 3 (lifespan ignored)."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain"), (b"content-length", b"12")]})
    await send({"type": "http.response.body", "body": BODY})


def bound_socket() -> socket.socket:
    """A listening socket on a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock


def stop_when_stdin_closes(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """The benchmark driver closes our stdin to stop us."""

    def watch() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch, daemon=True).start()


def announce(port: int) -> None:
    print(f"PORT {port}", flush=True)


async def serve_tidal(kind: str) -> None:
    import tidal.http

    async def handler(request: tidal.http.Request) -> tidal.http.Response:
        return tidal.http.Response(BODY, headers={"content-type": "text/plain"})

    app: Any = handler if kind == "native" else asgi_app
    server = await tidal.http.serve(app, "127.0.0.1", 0, access_log=False)
    stop = asyncio.Event()
    stop_when_stdin_closes(asyncio.get_running_loop(), stop)
    announce(server.port)
    await stop.wait()
    await server.aclose()


async def serve_uvicorn(http: str) -> None:
    import uvicorn

    config = uvicorn.Config(asgi_app, http=http, lifespan="off", access_log=False, log_level="warning")
    server = uvicorn.Server(config)
    sock = bound_socket()
    stop = asyncio.Event()
    stop_when_stdin_closes(asyncio.get_running_loop(), stop)
    announce(sock.getsockname()[1])
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    await stop.wait()
    server.should_exit = True
    await serving


async def serve_aiohttp() -> None:
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(body=BODY, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = bound_socket()
    await web.SockSite(runner, sock).start()
    stop = asyncio.Event()
    stop_when_stdin_closes(asyncio.get_running_loop(), stop)
    announce(sock.getsockname()[1])
    await stop.wait()
    await runner.cleanup()


class H11Protocol(asyncio.Protocol):
    """The smallest correct keep-alive server: an asyncio Protocol driving h11."""

    def __init__(self) -> None:
        import h11

        self.h11 = h11
        self.connection = h11.Connection(h11.SERVER)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        h11, connection = self.h11, self.connection
        connection.receive_data(data)
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                break
            if isinstance(event, h11.EndOfMessage):
                assert self.transport is not None
                self.transport.write(
                    connection.send(h11.Response(status_code=200, headers=[(b"content-type", b"text/plain"), (b"content-length", b"12")]))
                    + connection.send(h11.Data(data=BODY))
                    + connection.send(h11.EndOfMessage())
                )
                if connection.our_state is h11.MUST_CLOSE:
                    self.transport.close()
                    return
                connection.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                assert self.transport is not None
                self.transport.close()
                return


async def serve_h11_protocol() -> None:
    loop = asyncio.get_running_loop()
    sock = bound_socket()
    server = await loop.create_server(H11Protocol, sock=sock)
    stop = asyncio.Event()
    stop_when_stdin_closes(loop, stop)
    announce(sock.getsockname()[1])
    await stop.wait()
    server.close()
    await server.wait_closed()


def run_server(case: str) -> None:
    """Serve ``case`` until stdin closes (the child-process side)."""
    if case.startswith("tidal-"):
        import tidal

        tidal.run(serve_tidal(case.removeprefix("tidal-")))
        return
    if case.endswith("-uvloop"):
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    else:
        runner = asyncio.run
    if case.startswith("uvicorn-"):
        runner(serve_uvicorn(case.split("-")[1]))
    elif case.startswith("aiohttp-"):
        runner(serve_aiohttp())
    elif case == "h11-protocol-asyncio":
        runner(serve_h11_protocol())
    else:
        raise SystemExit(f"unknown case {case!r}")


# ------------------------------------------------------------------ driving


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pinned(cpu: int | None) -> Callable[[], None] | None:
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def measure(case: str, wrk: str, duration: float, server_cpu: int | None, load_cpu: int | None) -> dict[str, Any]:
    """One run of one case: start its server, load it with wrk, stop it."""
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", case],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=_pinned(server_cpu),
    )  # fmt: skip
    try:
        line = read_line_with_timeout(server, 20.0)
        if not line.startswith("PORT "):
            return {"error": f"server did not start ({line.strip() or 'no output'})"}
        url = f"http://127.0.0.1:{int(line.split()[1])}/"
        before = cpu_seconds(server.pid)
        load = subprocess.run(
            [wrk, "-t1", "-c50", f"-d{duration:g}s", "--latency", url],
            capture_output=True, text=True, timeout=duration + 30, preexec_fn=_pinned(load_cpu),
        )  # fmt: skip
        used = cpu_seconds(server.pid) - before
    finally:
        stop_process(server)
    return parse_wrk(load.stdout, used)


def parse_wrk(report: str, server_cpu: float) -> dict[str, Any]:
    """Requests/s, p99 latency (ms), errors and requests per server CPU-second from wrk's report."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", report)
    total = re.search(r"(\d+) requests in", report)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", report)
    if not rate or not total or not p99:
        return {"error": "wrk failed: " + report.strip()[-200:]}
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = []
    if "Non-2xx" in report:
        errors.append("non-2xx responses")
    if "Socket errors" in report:
        errors.append("socket errors")
    return {
        "rate": float(rate.group(1)),
        "p99_ms": float(p99.group(1)) * scale,
        "per_cpu_second": int(total.group(1)) / server_cpu if server_cpu > 0 else 0.0,
        "errors": errors,
    }


def available(case: str) -> str | None:
    """Why ``case`` cannot run here, or None."""
    needed = {"uvicorn": "uvicorn", "uvloop": "uvloop", "httptools": "httptools", "aiohttp": "aiohttp"}
    for part, module in needed.items():
        if part in case:
            try:
                __import__(module)
            except ImportError:
                return f"{module} not installed (pip install 'tidal[bench]')"
    return None


def run_benchmark(cases: list[str], duration: float, runs: int, pin: bool) -> None:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    cpus = usable_cpus()
    server_cpu, load_cpu = (cpus[0], cpus[1]) if pin and len(cpus) >= 2 else (None, None)
    print(machine_summary())
    print(f"wrk -t1 -c50 -d{duration:g}s, {runs} run(s) per case, server on CPU {server_cpu}, wrk on CPU {load_cpu}\n")
    results: dict[str, list[dict[str, Any]]] = {case: [] for case in cases}
    skipped = {case: reason for case in cases if (reason := available(case))}
    for run_index in range(runs):
        for case in cases:
            if case not in skipped:
                results[case].append(measure(case, wrk, duration, server_cpu, load_cpu))
    print(render(cases, results, skipped))


def render(cases: list[str], results: dict[str, list[dict[str, Any]]], skipped: dict[str, str]) -> str:
    summary: dict[str, tuple[float, float, float]] = {}
    notes: dict[str, str] = dict(skipped)
    for case in cases:
        good = [result for result in results[case] if "error" not in result]
        failures = [result["error"] for result in results[case] if "error" in result]
        failures += [", ".join(result["errors"]) for result in good if result["errors"]]
        if failures:
            notes[case] = failures[0]
        if good:
            summary[case] = (
                median(r["rate"] for r in good),
                median(r["p99_ms"] for r in good),
                median(r["per_cpu_second"] for r in good),
            )
    base = summary.get(BASELINE)
    rows = []
    for case in cases:
        if case not in summary:
            rows.append([case, "-", "-", "-", "-", notes.get(case, "no result")])
            continue
        rate, p99, per_cpu = summary[case]
        ratio = f"{per_cpu / base[2]:.2f}x" if base and base[2] else "-"
        rows.append([case, format_rate(rate), f"{p99:.1f}", format_rate(per_cpu), ratio, notes.get(case, "")])
    header = ["case", "req/s", "p99 ms", "req/CPU-s", f"vs {BASELINE}", "notes"]
    return format_table(header, rows)


def profile_tidal(duration: float) -> None:
    """cProfile the native tidal server in this process under a wrk run."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed")

    async def main() -> None:
        import tidal.http

        async def handler(request: tidal.http.Request) -> tidal.http.Response:
            return tidal.http.Response(BODY, headers={"content-type": "text/plain"})

        server = await tidal.http.serve(handler, "127.0.0.1", 0, access_log=False)
        load = await asyncio.create_subprocess_exec(
            wrk, "-t1", "-c50", f"-d{duration:g}s", server.url + "/", stdout=asyncio.subprocess.PIPE
        )
        print((await load.communicate())[0].decode())
        await server.aclose()

    import tidal

    profiler = cProfile.Profile()
    profiler.enable()
    tidal.run(main())
    profiler.disable()
    print(hot_functions(pstats.Stats(profiler), 25, waiting=("poll", "epoll")))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="HTTP/1.1 server benchmark (wrk -t1 -c50, hello world).")
    parser.add_argument("--quick", action="store_true", help="one 2-second run per case")
    parser.add_argument("--duration", type=float, default=None, help="seconds per wrk run (default 10, quick 2)")
    parser.add_argument("--runs", type=int, default=None, help="runs per case (default 3, quick 1)")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated cases: " + ", ".join(CASES))
    parser.add_argument("--no-pin", action="store_true", help="do not pin the server and wrk to CPUs")
    parser.add_argument("--profile", action="store_true", help="cProfile tidal-native instead of the table")
    parser.add_argument("--serve", metavar="CASE", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    arguments.duration = arguments.duration or (2.0 if arguments.quick else 10.0)
    arguments.runs = arguments.runs or (1 if arguments.quick else 3)
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_args(argv)
    if arguments.serve:
        run_server(arguments.serve)
        return 0
    if arguments.profile:
        profile_tidal(arguments.duration)
        return 0
    cases = [case.strip() for case in arguments.cases.split(",") if case.strip()]
    unknown = set(cases) - set(CASES)
    if unknown:
        raise SystemExit(f"unknown cases: {', '.join(sorted(unknown))}")
    started = time.monotonic()
    run_benchmark(cases, arguments.duration, arguments.runs, not arguments.no_pin)
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
