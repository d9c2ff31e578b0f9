"""``python -m tidal serve``: serve a directory or an ASGI/native app over HTTP/1.1.

``TARGET`` is a directory (static files with listings, ETags, ranges and
gzip) or ``module:attribute`` naming an ASGI 3 application or a native
``async def handler(request) -> Response``.  ``--workers N`` forks N
processes sharing the port with ``SO_REUSEPORT``; a worker that dies is
restarted; SIGTERM or SIGINT shuts everything down gracefully.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import ssl
import sys
from typing import Any

__all__ = ["add_parser", "load_target"]


def add_parser(subparsers: Any) -> None:
    """Register the ``serve`` subcommand."""
    parser = subparsers.add_parser("serve", help="serve a directory or an ASGI app over HTTP/1.1")
    parser.add_argument("target", nargs="?", default=".", help="a directory, or module:app (default: .)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes sharing the port (default 1)")
    parser.add_argument("--tls-cert", help="PEM certificate chain: serve HTTPS")
    parser.add_argument("--tls-key", help="PEM private key for --tls-cert")
    parser.add_argument("--no-access-log", action="store_true", help="do not log each request")
    parser.add_argument("--no-listing", action="store_true", help="static files: refuse directory listings")
    parser.set_defaults(handler=_handle)


def load_target(target: str, *, listing: bool = True) -> tuple[Any, str]:
    """The app for ``target`` and a description: a directory or ``module:attribute``."""
    from tidal.http import StaticFiles

    if os.path.isdir(target):
        return StaticFiles(target, listing=listing), f"files in {os.path.abspath(target)}"
    module_name, colon, attribute = target.partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f"{target!r} is neither a directory nor module:app")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` users expect for their own modules
    app: Any = importlib.import_module(module_name)
    for name in attribute.split("."):
        app = getattr(app, name)
    return app, target


def _handle(arguments: argparse.Namespace) -> int:
    from tidal.http import Server, run

    try:
        app, description = load_target(arguments.target, listing=not arguments.no_listing)
        context = _tls_context(arguments.tls_cert, arguments.tls_key)
    except (ValueError, ImportError, AttributeError, OSError, ssl.SSLError) as exc:
        print(f"tidal serve: {exc}", file=sys.stderr)
        return 2
    if not arguments.no_access_log:
        logging.basicConfig(level=logging.INFO, format="%(message)s")

    def ready(server: Server) -> None:
        _say_line(f"worker {os.getpid()} serving {description} on {server.url}")

    return run(
        app,
        arguments.host,
        arguments.port,
        workers=arguments.workers,
        ssl=context,
        on_ready=ready,
        say=_say_line,
        access_log=not arguments.no_access_log,
    )


def _say_line(message: str) -> None:
    # One write per line: several worker processes share this stdout, and
    # print() writes the text and its newline separately when unbuffered.
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def _tls_context(certificate: str | None, key: str | None) -> ssl.SSLContext | None:
    if certificate is None and key is None:
        return None
    if certificate is None:
        raise ValueError("--tls-key needs --tls-cert")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, key)
    return context
