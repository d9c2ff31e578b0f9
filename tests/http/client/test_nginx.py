"""The client against nginx on loopback: bodies, codings, keep-alive, redirects, cookies, auth."""

from __future__ import annotations

import gzip
import ssl
from collections.abc import Callable
from http.cookiejar import CookieJar
from typing import Any

import pytest

import tidal.http as http
from tidal.http import Client, DecodingError

from .conftest import LARGE_SIZE, LOG_LINES, SMALL_BODY, Nginx

Run = Callable[..., Any]


def test_get_small_file_and_reuse_the_connection(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        async with Client() as client:
            first = await client.get(nginx.url("/small.bin"))
            second = await client.get(nginx.url("/small.bin"))
            assert (first.status, first.reason, first.http_version) == (200, "OK", "HTTP/1.1")
            assert await first.read() == SMALL_BODY and second.content == SMALL_BODY
            assert first.headers["content-length"] == "100"
            assert first.timing.connect > 0 and second.timing.connect == 0
            assert second.elapsed >= 0 and first.timing.total is not None
            assert client.pool_state == {"open": 1, "idle": 1, "waiting": 0}

    run(main())


def test_large_download_streams_in_pieces(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        expected = (nginx.root / "large.bin").read_bytes()
        async with Client() as client:
            async with client.stream("GET", nginx.url("/large.bin")) as response:
                pieces = [piece async for piece in response.iter_bytes()]
            assert len(pieces) > 1
            assert b"".join(pieces) == expected and len(expected) == LARGE_SIZE
            assert client.pool_state["idle"] == 1

    run(main())


def test_gzip_text_streams_to_lines(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        expected = (nginx.root / "access.log").read_text("utf-8").splitlines()
        async with Client() as client:
            async with client.stream("GET", nginx.url("/access.log")) as response:
                assert response.headers["content-encoding"] == "gzip"
                assert response.headers["transfer-encoding"] == "chunked"
                lines = [line async for line in response.iter_lines()]
        assert lines == expected and len(lines) == LOG_LINES

    run(main())


def test_gzip_text_streams_to_line_batches(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        expected = (nginx.root / "access.log").read_text("utf-8").splitlines()
        async with Client() as client:
            async with client.stream("GET", nginx.url("/access.log")) as response:
                batches = [batch async for batch in response.iter_line_batches()]
            async with client.stream("GET", nginx.url("/access.log")) as response:
                with pytest.raises(DecodingError, match="cannot split"):
                    async for _ in response.iter_line_batches(max_line_length=5):
                        pass
        assert len(batches) > 1 and all(batches)
        assert [line for batch in batches for line in batch] == expected

    run(main())


def test_gzip_file_with_content_encoding_is_decoded(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        async with Client() as client:
            response = await client.get(nginx.url("/log.gz"))
            raw = await client.get(nginx.url("/raw.gz"))
        assert await response.text() == (nginx.root / "access.log").read_text("utf-8")
        assert gzip.decompress(raw.content) == response.content

    run(main())


def test_text_json_and_charset(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        async with Client() as client:
            data = await client.get(nginx.url("/data.json"))
            assert await data.json() == {"name": "tidal", "values": [1, 2, 3]}
            latin = await client.get(nginx.url("/latin1.txt"))
            assert await latin.text(encoding="latin-1") == "café crème\n"
            # No charset declared and not UTF-8: replaced, never an exception.
            assert "caf" in await latin.text()

    run(main())


def test_head_has_no_body_and_keeps_the_connection(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        async with Client() as client:
            response = await client.head(nginx.url("/large.bin"))
            assert response.content == b"" and response.headers["content-length"] == str(LARGE_SIZE)
            again = await client.get(nginx.url("/small.bin"))
            assert again.timing.connect == 0

    run(main())


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/r301", "GET"), ("/r302", "GET"), ("/r303", "GET"), ("/r307", "POST 3"), ("/r308", "POST 3")],
)
def test_redirect_method_and_body_rules(run: Run, nginx: Nginx, path: str, expected: str) -> None:
    async def main() -> None:
        async with Client() as client:
            response = await client.post(nginx.url(path), content=b"abc")
            assert (await response.text()).strip() == expected
            assert [hop.status for hop in response.history] == [int(path[2:])]
            assert str(response.url).endswith("/method")

    run(main())


def test_redirect_limits_and_opt_out(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        async with Client(max_redirects=3) as client:
            with pytest.raises(http.TooManyRedirects, match="more than 3 redirects"):
                await client.get(nginx.url("/loop"))
            chained = await client.get(nginx.url("/chain"))
            assert [hop.status for hop in chained.history] == [302, 302]
            unfollowed = await client.get(nginx.url("/r302"), follow_redirects=False)
            assert unfollowed.status == 302 and unfollowed.is_redirect
            assert client.pool_state["open"] == client.pool_state["idle"]

    run(main())


def test_cross_origin_redirect_drops_credentials(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        async with Client() as client:
            same = await client.get(nginx.url("/headers"), headers={"Authorization": "Bearer x", "Cookie": "a=1"})
            assert await same.text() == "auth=Bearer x cookie=a=1"
            crossed = await client.get(nginx.url("/cross"), headers={"Authorization": "Bearer x", "Cookie": "a=1"})
            assert await crossed.text() == "auth= cookie="

    run(main())


def test_cookies_are_stored_and_sent(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        jar = CookieJar()
        async with Client(cookies=jar) as client:
            await client.get(nginx.url("/setcookie"))
            assert [cookie.name for cookie in jar] == ["session"]
            echoed = await client.get(nginx.url("/headers"))
            assert await echoed.text() == "auth= cookie=session=abc123"

    run(main())


def test_basic_auth_and_status_errors(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        async with Client() as client:
            refused = await client.get(nginx.url("/private"))
            with pytest.raises(http.HTTPStatusError, match="401 Unauthorized .client error. for GET") as caught:
                refused.raise_for_status()
            assert caught.value.response is refused
            allowed = await client.get(nginx.url("/private"), auth=("alice", "wonderland"))
            assert allowed.raise_for_status() is allowed and await allowed.text() == "secret"
            in_url = await client.get(f"http://alice:wonderland@127.0.0.1:{nginx.port}/private")
            assert in_url.status == 200
            missing = await client.get(nginx.url("/status404"))
            with pytest.raises(http.HTTPStatusError, match="404"):
                missing.raise_for_status()

    run(main())


def test_one_call_helpers(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        response = await http.get(nginx.url("/small.bin"))
        assert response.content == SMALL_BODY
        posted = await http.post(nginx.url("/method"), json={"a": 1})
        assert posted.content == b"POST 7 \n"
        opened = await http.urlopen(nginx.url("/method"), data={"k": "v"})
        assert opened.content == b"POST 3 \n"

    run(main())


def test_request_bodies_framing(run: Run, nginx: Nginx, tmp_path: Any) -> None:
    async def chunks() -> Any:
        for piece in (b"ab", b"cd"):
            yield piece

    async def main() -> None:
        upload = tmp_path / "upload.bin"
        upload.write_bytes(b"x" * 70000)
        async with Client() as client:
            assert (await client.post(nginx.url("/method"), content=chunks())).content == b"POST  chunked\n"
            with upload.open("rb") as file:
                assert (await client.put(nginx.url("/method"), content=file)).content == b"PUT 70000 \n"
            assert (await client.post(nginx.url("/method"), content="é")).content == b"POST 2 \n"
            assert (await client.delete(nginx.url("/method"))).content == b"DELETE  \n"
            assert (await client.post(nginx.url("/method"))).content == b"POST 0 \n"

    run(main())


def test_tls_verified_against_the_test_ca(run: Run, nginx: Nginx, ca_context: ssl.SSLContext) -> None:
    async def main() -> None:
        async with Client(verify=nginx.ca_path) as client:
            response = await client.get(nginx.tls_url("/small.bin"))
            again = await client.get(nginx.tls_url("/small.bin"))
            assert response.content == SMALL_BODY and again.content == SMALL_BODY
            assert response.timing.tls > 0 and again.timing.tls == 0
        async with Client(verify=ca_context) as client:
            assert (await client.get(nginx.tls_url("/small.bin"))).status == 200

    run(main())


@pytest.mark.parametrize(
    ("port_name", "message"),
    [
        ("untrusted_tls_port", "unable to get local issuer certificate"),
        ("expired_tls_port", "certificate has expired"),
        ("wrong_host_tls_port", "Hostname mismatch"),
    ],
)
def test_tls_refusals_are_clear(run: Run, nginx: Nginx, port_name: str, message: str) -> None:
    async def main() -> None:
        async with Client(verify=nginx.ca_path) as client:
            with pytest.raises(http.TLSError, match=message):
                await client.get(nginx.tls_url("/small.bin", getattr(nginx, port_name)))
            assert client.pool_state["open"] == 0

    run(main())


def test_tls_client_certificate(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        url = nginx.tls_url("/", nginx.client_cert_tls_port)
        async with Client(verify=nginx.ca_path, cert=nginx.client_cert_path) as client:
            response = await client.get(url)
            assert response.status == 200 and "CN=tidal-test-client" in await response.text()
        async with Client(verify=nginx.ca_path) as client:
            assert (await client.get(url)).status == 400  # nginx: "No required SSL certificate was sent"

    run(main())


def test_verification_can_be_disabled(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        async with Client(verify=False) as client:
            response = await client.get(nginx.tls_url("/small.bin", nginx.untrusted_tls_port))
            assert response.content == SMALL_BODY

    run(main())


@pytest.mark.parametrize("path", ["/small.bin", "/access.log", "/data.json", "/r303", "/log.gz"])
def test_bodies_and_headers_match_curl(run: Run, nginx: Nginx, path: str) -> None:
    import subprocess

    from tests.peers import require_binary

    curl = require_binary("curl")
    completed = subprocess.run(
        [curl, "--silent", "--show-error", "--compressed", "--location", "--include", nginx.url(path)],
        capture_output=True, check=True, timeout=30,
    )
    # --include prints every head (redirects too), each ending in an empty line, then the body.
    heads_and_body = completed.stdout.split(b"\r\n\r\n")
    curl_body = heads_and_body[-1]
    curl_head = heads_and_body[-2].decode("latin-1").split("\r\n")
    curl_status = int(curl_head[0].split()[1])
    curl_fields = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in curl_head[1:]}

    async def main() -> None:
        async with Client() as client:
            response = await client.get(nginx.url(path))
        assert response.status == curl_status
        assert response.content == curl_body
        for name in ("content-type", "content-encoding", "content-length", "etag", "transfer-encoding"):
            assert response.headers.get(name) == curl_fields.get(name), name

    run(main())


def test_upload_refused_by_the_server_gives_its_response(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        async with Client() as client:
            refused = await client.post(nginx.url("/small-uploads"), content=b"u" * (1 << 20))
            assert refused.status == 413
            accepted = await client.post(nginx.url("/small-uploads"), content=b"u" * 100)
            assert accepted.status == 200 and accepted.content == b"accepted"
            assert client.pool_state["open"] == client.pool_state["idle"]

    run(main())
