"""The strict engine against real peers: nginx answers it, curl talks to it.

Strictness that refuses real traffic would be a bug, so the engine is driven
over plain blocking loopback sockets (it is sans-IO; no loop is needed) in
both roles: as a client of nginx (keep-alive, chunked gzip, HEAD, 204, 304,
404) and as a server for curl (keep-alive, uploads with Content-Length,
chunked and ``Expect: 100-continue``).  Every socket has a timeout and every
loop a bound.
"""

from __future__ import annotations

import gzip
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.peers import free_port, require_binary
from tidal.protocols import http

TIMEOUT = 10.0
TEXT = b"".join(b"line %05d of a text file that compresses well\n" % index for index in range(4000))


@pytest.fixture(scope="module")
def nginx_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A minimal nginx on loopback serving TEXT as /text.txt; its port."""
    binary = require_binary("nginx")
    prefix = tmp_path_factory.mktemp("nginx-engine")
    (prefix / "www").mkdir()
    (prefix / "www" / "text.txt").write_bytes(TEXT)
    port = free_port()
    (prefix / "nginx.conf").write_text(f"""
daemon off;
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    default_type text/plain;
    client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy; fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
    gzip on; gzip_min_length 1; gzip_types text/plain;
    server {{
        listen 127.0.0.1:{port};
        root {prefix}/www;
        location = /empty {{ return 204; }}
        location = /posted {{ return 200 "posted\\n"; }}
    }}
}}
""")
    process = subprocess.Popen([binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, process)
        yield port
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("nginx exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.02)  # polling an external program's start-up, bounded above
    raise RuntimeError(f"nginx did not listen within {TIMEOUT} s")


@dataclass
class Exchange:
    """One response as the client engine reported it."""

    response: http.Response
    body: bytes = b""
    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)
    content_codings: tuple[str, ...] = ()
    keep_alive: bool = True


def exchange(sock: socket.socket, connection: http.HTTPConnection, request: http.Request,
             body: bytes = b"") -> Exchange:
    """Send ``request`` (and ``body``) and read one final response with the engine."""
    if connection.our_state is http.DONE and connection.their_state is http.DONE:
        connection.start_next_cycle()
    wire = connection.send(request)
    if body:
        wire += connection.send(http.Data(data=body))
    sock.sendall(wire + connection.send(http.EndOfMessage()))
    result: Exchange | None = None
    for _ in range(10_000):
        event = connection.next_event()
        if event is http.NEED_DATA:
            connection.receive_data(sock.recv(65536))
        elif type(event) is http.Response:
            result = Exchange(event, content_codings=connection.content_codings)
        elif type(event) is http.Data and result is not None:
            result.body += bytes(event.data)
        elif type(event) is http.EndOfMessage and result is not None:
            result.trailers = list(event.headers)
            result.keep_alive = connection.keep_alive
            return result
    raise AssertionError("no complete response")


def get(target: str, *headers: tuple[str, str], method: str = "GET") -> http.Request:
    """A request for ``target`` on the test host."""
    return http.Request(method=method, target=target, headers=[("Host", "localhost"), *headers])


def test_client_role_against_nginx(nginx_port: int) -> None:
    connection = http.HTTPConnection(http.CLIENT)
    with socket.create_connection(("127.0.0.1", nginx_port), timeout=TIMEOUT) as sock:
        plain = exchange(sock, connection, get("/text.txt"))
        assert plain.response.status_code == 200 and plain.body == TEXT and plain.keep_alive
        etag = dict(plain.response.headers)[b"etag"]

        packed = exchange(sock, connection, get("/text.txt", ("Accept-Encoding", "gzip")))
        assert dict(packed.response.headers)[b"transfer-encoding"] == b"chunked"
        assert packed.content_codings == ("gzip",)
        assert gzip.decompress(packed.body) == TEXT

        head = exchange(sock, connection, get("/text.txt", method="HEAD"))
        assert head.response.status_code == 200 and head.body == b""
        assert dict(head.response.headers)[b"content-length"] == str(len(TEXT)).encode()

        assert exchange(sock, connection, get("/text.txt", ("If-None-Match", etag.decode()))).response.status_code == 304
        assert exchange(sock, connection, get("/empty")).response.status_code == 204
        missing = exchange(sock, connection, get("/missing"))
        assert missing.response.status_code == 404 and missing.keep_alive

        posted = exchange(sock, connection, get("/posted", ("Content-Length", "5"), method="POST"), body=b"hello")
        assert posted.body == b"posted\n" and posted.keep_alive

        last = exchange(sock, connection, get("/text.txt", ("Connection", "close")))
        assert last.body == TEXT and connection.must_close
        connection.receive_data(sock.recv(65536))  # nginx closes: b""
        assert connection.next_event() == http.ConnectionClosed()


def serve_connections(listener: socket.socket, count: int, seen: list[tuple[bytes, bytes, bytes]]) -> None:
    """Serve ``count`` connections with the server engine: each answer describes its request."""
    for _ in range(count):
        sock, _address = listener.accept()
        with sock:
            sock.settimeout(TIMEOUT)
            _serve_one(sock, http.HTTPConnection(http.SERVER), seen)


def _serve_one(sock: socket.socket, connection: http.HTTPConnection, seen: list[tuple[bytes, bytes, bytes]]) -> None:
    request: http.Request | None = None
    body = b""
    for _ in range(100_000):
        try:
            event = connection.next_event()
        except http.HTTPRemoteProtocolError as exc:
            seen.append((b"ERROR", str(exc).encode(), b""))
            return
        if event is http.NEED_DATA:
            if connection.expects_continue:
                sock.sendall(connection.send(http.InformationalResponse(status_code=100, headers=[])))
            connection.receive_data(sock.recv(65536))
        elif event is http.PAUSED:
            connection.start_next_cycle()
        elif type(event) is http.Request:
            request, body = event, b""
        elif type(event) is http.Data:
            body += bytes(event.data)
        elif type(event) is http.EndOfMessage and request is not None:
            seen.append((request.method, request.target, body))
            answer = b"%s %s %d bytes\n" % (request.method, request.target, len(body))
            sock.sendall(connection.send(http.Response(status_code=200, headers=[("Content-Length", str(len(answer)))]))
                         + connection.send(http.Data(data=answer)) + connection.send(http.EndOfMessage()))
            if connection.must_close:
                return
            connection.start_next_cycle()
        elif type(event) is http.ConnectionClosed:
            return


@pytest.mark.parametrize(
    ("curl_args", "expected"),
    [
        (["{url}/one", "{url}/two?x=1"], [(b"GET", b"/one", b""), (b"GET", b"/two?x=1", b"")]),
        (["--data-binary", "hello world", "{url}/form"], [(b"POST", b"/form", b"hello world")]),
        (["-H", "Transfer-Encoding: chunked", "--data-binary", "@{file}", "{url}/chunked"],
         [(b"POST", b"/chunked", TEXT)]),
        (["-H", "Expect: 100-continue", "--data-binary", "@{file}", "{url}/continue"],
         [(b"POST", b"/continue", TEXT)]),
    ],
    ids=["keep-alive", "post", "chunked-upload", "expect-100-continue"],
)
def test_server_role_for_curl(curl_args: list[str], expected: list[tuple[bytes, bytes, bytes]],
                              tmp_path: Path) -> None:
    curl = require_binary("curl")
    upload = tmp_path / "upload.txt"
    upload.write_bytes(TEXT)
    seen: list[tuple[bytes, bytes, bytes]] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(TIMEOUT)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        server = threading.Thread(target=serve_connections, args=(listener, 1, seen))
        server.start()
        try:
            args = [arg.format(url=url, file=upload) for arg in curl_args]
            result = subprocess.run([curl, "-sS", "--http1.1", "--max-time", str(TIMEOUT), *args],
                                    capture_output=True, timeout=TIMEOUT * 2)
        finally:
            server.join(TIMEOUT * 2)
        assert not server.is_alive()
    assert result.returncode == 0, result.stderr
    assert seen == expected
    assert result.stdout == b"".join(b"%s %s %d bytes\n" % (method, target, len(body)) for method, target, body in expected)
