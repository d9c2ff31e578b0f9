"""CPU instructions per HTTP request, counted with valgrind's callgrind.

Wall-clock rates on a shared machine move with everything else running on
it; instruction counts do not.  Each case runs twice under callgrind with
different request counts, and the difference divided by the difference in
requests is the cost of one request (interpreter start-up, imports and
set-up cancel out).  Instructions stand in for time; they are not time.

    python benchmarks/http_instructions.py engine
    python benchmarks/http_instructions.py server --cases tidal-native,h11-protocol-asyncio,uvicorn-h11-asyncio
    python benchmarks/http_instructions.py client --cases tidal:tidal,aiohttp:uvloop,httpx:asyncio

* ``engine``: the server-role request cycle of ``benchmarks/protocols.py``
  (a ~300-byte GET, a bodiless 200), bare h11 against ``tidal.protocols.http``,
  one request per read and ten pipelined.
* ``server``: a case of ``benchmarks/http_server.py`` (hello world) under
  callgrind, driven by 10 keep-alive connections from a plain socket client
  in another process, one request at a time per connection.
* ``client``: a client of ``benchmarks/http_client.py``'s ``small`` workload
  (100-byte GETs, concurrency 50, keep-alive) under callgrind, against nginx.

Needs valgrind (Debian: ``apt-get install valgrind``); nginx for ``client``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
CONNECTIONS = 10


def _callgrind(command: list[str], out: Path, **popen: object) -> subprocess.Popen[str]:
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command], env=environment, text=True, **popen
    )


def _total(out: Path) -> int:
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"no instruction total in {out}")


def _per_request(totals: list[int], counts: list[int]) -> int:
    return (totals[1] - totals[0]) // (counts[1] - counts[0])


def engine(tmp: Path) -> None:
    code = (
        "import sys; sys.path.insert(0, {here!r}); import protocols\n"
        "batch = getattr(protocols, sys.argv[1])(int(sys.argv[2])); batch()\n"
        "for _ in range(int(sys.argv[3])): batch()\n"
    ).format(here=str(HERE))
    for per_read in (1, 10):
        rates = {}
        for name, function in (("h11", "h11_request_cycles"), ("tidal", "tidal_request_cycles")):
            totals = []
            for batches in (2, 7):
                out = tmp / f"engine-{name}-{per_read}-{batches}.out"
                process = _callgrind([sys.executable, "-c", code, function, str(per_read), str(batches)], out,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                process.wait()
                totals.append(_total(out))
            rates[name] = _per_request(totals, [200 * per_read, 700 * per_read])
        print(f"{per_read:2d} per read: h11 {rates['h11']:,}  tidal {rates['tidal']:,}  "
              f"tidal/h11 {rates['tidal'] / rates['h11']:.2f}", flush=True)


def _drive(port: int, total: int) -> None:
    def worker(count: int) -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            for _ in range(count):
                sock.sendall(REQUEST)
                data = b""
                while True:
                    data += sock.recv(65536)
                    head, separator, rest = data.partition(b"\r\n\r\n")
                    if separator:
                        fields = [line.split(b":", 1) for line in head.split(b"\r\n")[1:]]
                        length = next(int(value) for name, value in fields if name.lower() == b"content-length")
                        if len(rest) >= length:
                            break

    threads = [threading.Thread(target=worker, args=(total // CONNECTIONS,)) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def server(tmp: Path, cases: list[str], counts: list[int]) -> None:
    for case in cases:
        totals = []
        for count in counts:
            out = tmp / f"server-{case}-{count}.out"
            code = f"import sys; sys.path.insert(0, {str(HERE)!r}); import http_server; http_server.run_server({case!r})"
            process = _callgrind([sys.executable, "-c", code], out, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL)
            assert process.stdout is not None and process.stdin is not None
            line = process.stdout.readline()
            if not line.startswith("PORT"):
                process.kill()
                raise SystemExit(f"{case}: the server did not start")
            port = int(line.split()[1])
            _drive(port, 200)  # warm-up, the same in every run
            _drive(port, count)
            process.stdin.close()
            process.wait(timeout=900)
            totals.append(_total(out))
        print(f"{case}: {_per_request(totals, counts):,} instructions/request", flush=True)


def client(tmp: Path, cases: list[str], counts: list[int]) -> None:
    sys.path.insert(0, str(HERE))
    import http_client

    settings = http_client.Settings(requests=100, large_bytes=1 << 20, text_bytes=1 << 16, runs=1)
    nginx, port, _ = http_client.start_nginx(tmp, settings, None)
    try:
        for case in cases:
            name, loop = case.split(":")
            totals = []
            for count in counts:
                out = tmp / f"client-{name}-{loop}-{count}.out"
                command = [sys.executable, str(HERE / "http_client.py"), "--child", "--client", name, "--loop", loop,
                           "--workload", "small", "--port", str(port), "--count", str(count)]
                process = _callgrind(command, out, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if process.wait() != 0:
                    raise SystemExit(f"{case}: the client failed")
                totals.append(_total(out))
            print(f"{name} on {loop}: {_per_request(totals, counts):,} instructions/request", flush=True)
    finally:
        http_client.stop_nginx(nginx)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["engine", "server", "client"])
    parser.add_argument("--cases", default="", help="server: http_server.py cases; client: CLIENT:LOOP pairs")
    parser.add_argument("--counts", default="1000,3000", help="the two request counts (default 1000,3000)")
    arguments = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    counts = [int(count) for count in arguments.counts.split(",")]
    cases = [case for case in arguments.cases.split(",") if case]
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        if arguments.what == "engine":
            engine(tmp)
        elif arguments.what == "server":
            server(tmp, cases or ["tidal-native", "h11-protocol-asyncio", "uvicorn-h11-asyncio"], counts)
        else:
            client(tmp, cases or ["tidal:tidal", "aiohttp:uvloop"], counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
