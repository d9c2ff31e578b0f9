"""Fixtures for the HTTP client tests: both loops, nginx on loopback, certificates.

``run`` runs a coroutine on tidal's loop or asyncio's (``loop_kind``) and
fails the test on exception-handler calls and leaked descriptors.  ``nginx``
is one session-wide nginx (``daemon off; master_process off``) serving static
files, gzip text, redirects, cookies, Basic auth and TLS endpoints with
trustme certificates, terminated by PID at the end of the session.
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import os
import random
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.peers import free_port, require_binary
from tests.loop_harness import checked_loop, runner

SMALL_BODY = bytes(range(100))
LARGE_SIZE = 4 * 1024 * 1024
LOG_LINES = 20000


@pytest.fixture(params=["tidal", "asyncio"])
def loop_kind(request: pytest.FixtureRequest) -> str:
    """The loop under test: tidal's or asyncio's."""
    kind: str = request.param
    return kind


@pytest.fixture
def loop(loop_kind: str) -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh loop; fails the test on exception-handler calls or leaked fds."""
    with checked_loop(loop_kind) as event_loop:
        yield event_loop


@pytest.fixture
def run(loop: asyncio.AbstractEventLoop) -> Callable[..., Any]:
    """``run(coro, timeout=30)``: run a coroutine to completion on the loop under test."""
    return runner(loop, 30.0)


@dataclass
class Nginx:
    """Where the test nginx listens and what it serves."""

    port: int
    other_port: int
    tls_port: int
    untrusted_tls_port: int
    expired_tls_port: int
    wrong_host_tls_port: int
    client_cert_tls_port: int
    root: Path
    ca_path: str
    client_cert_path: str
    unix_path: str

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def tls_url(self, path: str, port: int | None = None) -> str:
        return f"https://localhost:{port or self.tls_port}{path}"


def _write_content(root: Path) -> None:
    root.mkdir()
    (root / "small.bin").write_bytes(SMALL_BODY)
    generator = random.Random(7)
    (root / "large.bin").write_bytes(generator.randbytes(LARGE_SIZE))
    lines = [f"{index:06d} GET /item/{generator.randrange(10**6)} 200 élan\n" for index in range(LOG_LINES)]
    (root / "access.log").write_text("".join(lines), encoding="utf-8")
    (root / "access.log.gz").write_bytes(gzip.compress("".join(lines).encode("utf-8")))
    (root / "latin1.txt").write_bytes("café crème\n".encode("latin-1"))
    (root / "data.json").write_text('{"name": "tidal", "values": [1, 2, 3]}', encoding="utf-8")
    (root / "htpasswd").write_text("alice:{PLAIN}wonderland\n")
    (root / "secret.txt").write_text("secret")


def _issue_certificates(directory: Path) -> dict[str, str]:
    import trustme

    ca = trustme.CA()
    other_ca = trustme.CA()
    paths: dict[str, str] = {}

    def save(name: str, leaf: Any) -> None:
        path = directory / f"{name}.pem"
        leaf.private_key_and_cert_chain_pem.write_to_path(str(path))
        paths[name] = str(path)

    save("good", ca.issue_cert("localhost", "127.0.0.1"))
    save("untrusted", other_ca.issue_cert("localhost", "127.0.0.1"))
    yesterday = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    save("expired", ca.issue_cert("localhost", not_before=yesterday - datetime.timedelta(days=30), not_after=yesterday))
    save("wrong_host", ca.issue_cert("example.org"))
    save("client", ca.issue_cert("client@example.test", common_name="tidal-test-client"))
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    paths["ca"] = str(directory / "ca.pem")
    return paths


_COMMON_LOCATIONS = """
        root {root};
        gzip on; gzip_min_length 1; gzip_types text/plain application/json;
        location = /method {{ return 200 "$request_method $http_content_length $http_transfer_encoding\\n"; }}
        location = /headers {{ return 200 "auth=$http_authorization cookie=$http_cookie"; }}
        location = /r301 {{ return 301 /method; }}
        location = /r302 {{ return 302 /method; }}
        location = /r303 {{ return 303 /method; }}
        location = /r307 {{ return 307 /method; }}
        location = /r308 {{ return 308 /method; }}
        location = /loop {{ return 302 /loop; }}
        location = /chain {{ return 302 /r302; }}
        location = /cross {{ return 302 http://127.0.0.1:{other_port}/headers; }}
        location = /setcookie {{ add_header Set-Cookie "session=abc123; Path=/"; return 200 "set"; }}
        location = /status404 {{ return 404 "nope"; }}
        location = /small-uploads {{ client_max_body_size 1k; return 200 "accepted"; }}
        location = /private {{ auth_basic "tidal"; auth_basic_user_file {root}/htpasswd;
                              alias {root}/secret.txt; }}
        location = /raw.gz {{ gzip off; default_type application/octet-stream; alias {root}/access.log.gz; }}
        location = /log.gz {{ gzip off; types {{ }} default_type text/plain; add_header Content-Encoding gzip;
                              alias {root}/access.log.gz; }}
"""


def _config(nginx: Nginx, certs: dict[str, str], prefix: Path) -> str:
    common = _COMMON_LOCATIONS.format(root=nginx.root, other_port=nginx.other_port)
    tls_servers = []
    for port, name in (
        (nginx.tls_port, "good"),
        (nginx.untrusted_tls_port, "untrusted"),
        (nginx.expired_tls_port, "expired"),
        (nginx.wrong_host_tls_port, "wrong_host"),
    ):
        tls_servers.append(f"""
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {certs[name]}; ssl_certificate_key {certs[name]};
        {common}
    }}""")
    tls_servers.append(f"""
    server {{
        listen 127.0.0.1:{nginx.client_cert_tls_port} ssl;
        ssl_certificate {certs["good"]}; ssl_certificate_key {certs["good"]};
        ssl_client_certificate {certs["ca"]}; ssl_verify_client on;
        location / {{ return 200 "client=$ssl_client_s_dn"; }}
    }}""")
    return f"""
daemon off;
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
worker_rlimit_nofile 4096;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    default_type text/plain;
    types {{ text/plain txt log; application/json json; application/octet-stream bin; }}
    client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy; fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
    keepalive_timeout 60; keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{nginx.port};
        listen unix:{nginx.unix_path};
        {common}
    }}
    server {{
        listen 127.0.0.1:{nginx.other_port};
        {common}
    }}
    {"".join(tls_servers)}
}}
"""


def _wait_for_port(port: int, process: subprocess.Popen[bytes], error_log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited: {error_log.read_text() if error_log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.02)  # polling an external program's start-up, bounded above
    raise RuntimeError("nginx did not start listening within 10 s")


@pytest.fixture(scope="session")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    """One nginx for the whole session (see the module docstring)."""
    binary = require_binary("nginx")
    prefix = tmp_path_factory.mktemp("nginx")
    certs = _issue_certificates(prefix)
    server = Nginx(
        port=free_port(), other_port=free_port(), tls_port=free_port(), untrusted_tls_port=free_port(),
        expired_tls_port=free_port(), wrong_host_tls_port=free_port(), client_cert_tls_port=free_port(),
        root=prefix / "www", ca_path=certs["ca"], client_cert_path=certs["client"],
        unix_path=str(prefix / "nginx.sock"),
    )
    _write_content(server.root)
    config = prefix / "nginx.conf"
    config.write_text(_config(server, certs, prefix))
    process = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(config), "-e", str(prefix / "error.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        for port in (server.port, server.other_port, server.tls_port, server.client_cert_tls_port):
            _wait_for_port(port, process, prefix / "error.log")
        yield server
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture(scope="session")
def ca_context(nginx: Nginx) -> ssl.SSLContext:
    """A client context trusting the test CA."""
    return ssl.create_default_context(cafile=nginx.ca_path)
