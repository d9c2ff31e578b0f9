"""CPU instructions per 1 KiB echo, counted with valgrind's callgrind.

Wall-clock rates on a shared machine move with everything else running on
it; instruction counts do not.  Each case runs an echo server of
``benchmarks/echo_server.py`` (one loop, one style) twice under callgrind,
driven by a plain blocking client in another process (not counted) that
sends one message on each of ``--connections`` connections, reads every
echo back, then sleeps a few milliseconds so that each receive really waits,
as it does under load.  The difference in instructions divided by the
difference in messages is the cost of one message: start-up, imports and
set-up cancel out.  Only user-space instructions are counted (the kernel's
share of a syscall is not), and instructions stand in for time; they are not
time.

    python benchmarks/echo_instructions.py
    python benchmarks/echo_instructions.py --loops asyncio,tidal --styles coroutine --connections 1

Needs valgrind (Debian: ``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAUSE = 0.003  # seconds the client waits after each round: the server's receives find nothing and wait

# The client: a round sends one message on every connection, then reads
# every echo back, then pauses.  Arguments: port connections rounds size pause.
CLIENT = r"""
import socket, sys, time
port, connections, rounds, size = map(int, sys.argv[1:5])
pause = float(sys.argv[5])
sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(connections)]
for sock in sockets:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
message = bytes(range(256)) * (size // 256)
for _ in range(rounds):
    for sock in sockets:
        sock.sendall(message)
    for sock in sockets:
        got = bytearray()
        while len(got) < size:
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit("the server closed a connection")
            got += chunk
        if got != message:
            raise SystemExit("the server echoed different bytes")
    time.sleep(pause)
for sock in sockets:
    sock.close()
"""


def serve(loop_name: str, style: str, connections: int, rounds: int, size: int) -> None:
    """Run one echo server until the client process (started here) is done."""
    sys.path.insert(0, str(HERE))
    from echo_server import LOOPS, STYLES

    loop = LOOPS[loop_name]()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    listener.setblocking(False)
    port = listener.getsockname()[1]

    async def main() -> None:
        server = asyncio.get_running_loop().create_task(STYLES[style](listener))
        arguments = [str(port), str(connections), str(rounds), str(size), str(PAUSE)]
        client = subprocess.Popen([sys.executable, "-c", CLIENT, *arguments])
        status = await asyncio.to_thread(client.wait)  # one thread wakeup, whatever the run's length
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        if status:
            raise SystemExit(f"the client failed with status {status}")

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
        listener.close()


def count(loop_name: str, style: str, connections: int, rounds: int, size: int, out: Path) -> int:
    """Total instructions of one server run under callgrind."""
    command = [
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
        sys.executable, __file__, "--serve", loop_name, style, str(connections), str(rounds), str(size),
    ]  # fmt: skip
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), environment.get("PYTHONPATH")]))
    subprocess.run(command, env=environment, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"no instruction total in {out}")


def main() -> None:
    """Print user-space instructions per message for each (loop, style)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--loops", default="asyncio,uvloop,tidal")
    parser.add_argument("--styles", default="protocol,coroutine,asyncio-streams,tidal-streams")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--rounds", default="40,240", help="the two round counts whose difference is measured")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--serve", nargs=5, metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        loop_name, style, connections, rounds, size = args.serve
        serve(loop_name, style, int(connections), int(rounds), int(size))
        return
    small, large = (int(value) for value in args.rounds.split(","))
    print(f"user instructions per {args.size}-byte echo, {args.connections} connection(s), rounds {small} and {large}")
    with tempfile.TemporaryDirectory() as directory:
        for style in args.styles.split(","):
            for loop_name in args.loops.split(","):
                totals = [
                    count(loop_name, style, args.connections, rounds, args.size, Path(directory) / f"{rounds}.out")
                    for rounds in (small, large)
                ]
                per_message = (totals[1] - totals[0]) // ((large - small) * args.connections)
                print(f"{style:16s} {loop_name:8s} {per_message:>9,}", flush=True)


if __name__ == "__main__":
    main()
