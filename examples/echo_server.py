"""A TCP echo server on tidal.streams: every byte a client sends comes back.

``serve_tcp`` owns one task per connection and closes each stream when its
handler returns; SIGINT or SIGTERM closes the server gracefully (no new
connections, running handlers get a second to finish).

    python examples/echo_server.py                 # 127.0.0.1, a free port (printed)
    python examples/echo_server.py --port 7007
    python examples/echo_client.py 127.0.0.1 7007 hello world
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tidal  # noqa: E402
from tidal.streams import ByteStream, StreamError, serve_tcp  # noqa: E402


async def echo(stream: ByteStream) -> None:
    """Send back everything received until the client half-closes, then half-close too."""
    peer = stream.get_extra_info("peername")
    total = 0
    try:
        async for chunk in stream:
            await stream.send_all(chunk)
            total += len(chunk)
        await stream.send_eof()
    except StreamError as error:  # a reset peer ends its own connection only
        print(f"{peer}: {error}", flush=True)
    print(f"{peer}: echoed {total} bytes", flush=True)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="TCP echo server on tidal.streams")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    args = parser.parse_args(argv)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    server = await serve_tcp(echo, args.host, args.port)
    print(f"listening on {args.host}:{server.port}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.aclose(grace_period=1.0)
    print("server closed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(tidal.run(main()))
