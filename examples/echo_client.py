"""Talk to a line echo server in text with tidal.streams.

``open_tcp_stream`` connects (Happy Eyeballs when a name has both IPv4 and
IPv6 addresses); a :class:`~tidal.streams.TextStream` over the connection
writes and reads lines of text, encoded as UTF-8.  After the last message the
client half-closes (``send_eof``) and reads until the server closes too.

    python examples/echo_server.py --port 7007 &
    python examples/echo_client.py 127.0.0.1 7007 hello "naïve café" 東京
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tidal  # noqa: E402
from tidal.streams import ConnectError, StreamError, TextStream, open_tcp_stream  # noqa: E402


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="send lines to an echo server and print what comes back")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("messages", nargs="*", default=["hello from tidal"])
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to connect")
    args = parser.parse_args(argv)
    try:
        connection = await open_tcp_stream(args.host, args.port, timeout=args.timeout)
    except (ConnectError, OSError) as error:
        print(f"echo_client: cannot connect to {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    try:
        async with TextStream(connection, "utf-8") as text:
            for message in args.messages:
                await text.write(message + "\n")
                await text.flush()
                print(f"echoed: {(await text.readline()).rstrip(chr(10))}", flush=True)
            await text.send_eof()
            leftover = await text.read()
    except StreamError as error:
        print(f"echo_client: {error}", file=sys.stderr)
        return 1
    print(f"server closed the connection ({len(leftover)} characters after the last echo)")
    return 0


if __name__ == "__main__":
    sys.exit(tidal.run(main()))
