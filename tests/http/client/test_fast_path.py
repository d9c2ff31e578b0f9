"""The short paths of a small request: no cookie and challenge layers without auth and with an empty
jar, cached heads, and the read timer a connection reuses across its reads.

Every scenario runs twice against nginx: once on that short path and once
on the general one (a jar holding a cookie for another site, or credentials
nginx ignores), and both must give the same statuses, bodies, histories,
cookies and pool states.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from http.cookiejar import Cookie, CookieJar
from typing import Any

import pytest

import tidal.http as http
from tidal.http import Client

from .conftest import SMALL_BODY, Nginx
from .scripted import OK_HEAD, ScriptedServer, read_head

Run = Callable[..., Any]


def _foreign_cookie() -> Cookie:
    """A cookie for a domain the tests never visit: the jar is not empty, yet adds nothing."""
    return Cookie(
        0, "elsewhere", "1", None, False, "example.invalid", True, False, "/", True, False,
        int(time.time()) + 3600, False, None, None, {},
    )


def _client(mode: str, jar: CookieJar, **options: Any) -> Client:
    if mode == "cookie-jar":
        jar.set_cookie(_foreign_cookie())
    if mode == "auth":
        options["auth"] = ("nobody", "unused")
    return Client(cookies=jar, **options)


def _layers_used(client: Client) -> list[str]:
    """Records each call of the cookie/challenge layer on ``client``."""
    calls: list[str] = []
    general = client._send_authenticated

    async def recording(*args: Any) -> Any:
        calls.append("general")
        return await general(*args)

    client._send_authenticated = recording  # type: ignore[method-assign]
    return calls


async def _scenario(client: Client, nginx: Nginx) -> list[Any]:
    """What a user can observe of a few exchanges: statuses, bodies, histories, errors, the pool."""
    seen: list[Any] = []
    small = await client.get(nginx.url("/small.bin"))
    seen.append((small.status, small.content == SMALL_BODY, small.headers["content-length"], small.history))
    chain = await client.get(nginx.url("/chain"))
    seen.append((chain.status, chain.url, [(hop.status, hop.url) for hop in chain.history], chain.content))
    kept = await client.get(nginx.url("/r302"), follow_redirects=False)
    seen.append((kept.status, kept.headers["location"], kept.history))
    with pytest.raises(http.TooManyRedirects) as caught:
        await client.get(nginx.url("/loop"))
    seen.append(str(caught.value).split(" (")[0])
    set_cookie = await client.get(nginx.url("/setcookie"))
    seen.append((set_cookie.status, set_cookie.content))
    seen.append(sorted(cookie.name for cookie in client.cookies if cookie.name != "elsewhere"))
    seen.append(client.pool_state)
    return seen


@pytest.mark.parametrize("mode", ["cookie-jar", "auth"])
def test_short_path_behaves_like_the_general_one(run: Run, nginx: Nginx, mode: str) -> None:
    async def main() -> None:
        async with Client() as short:
            short_layers = _layers_used(short)
            short_seen = await _scenario(short, nginx)
        async with _client(mode, CookieJar()) as general:
            general_layers = _layers_used(general)
            general_seen = await _scenario(general, nginx)
        assert short_seen == general_seen
        assert short_seen[-2] == ["session"]
        # The short path leaves the general loop only to redirect hops (chain: 2, loop: 10);
        # the general path goes through it for every exchange.
        assert short_layers == ["general"] * 12
        assert general_layers == ["general"] * 17

    run(main())


def test_cookie_stored_on_the_short_path_is_sent_next(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        async with Client() as client:
            layers = _layers_used(client)
            first = await client.get(nginx.url("/setcookie"))
            assert layers == [] and first.content == b"set"
            echoed = await client.get(nginx.url("/headers"))
            assert await echoed.text() == "auth= cookie=session=abc123"
            assert layers == ["general"]

    run(main())


def test_redirect_limit_zero_and_hooks_on_the_short_path(run: Run, nginx: Nginx) -> None:
    events: list[str] = []

    async def main() -> None:
        hooks = {"request": [lambda request: events.append(f"request {request.url.path}")],
                 "response": [lambda response: events.append(f"response {response.status}")]}
        async with Client(max_redirects=0, hooks=hooks) as client:
            with pytest.raises(http.TooManyRedirects, match="more than 0 redirects"):
                await client.get(nginx.url("/r302"))
            assert client.pool_state == {"open": 0, "idle": 0, "waiting": 0}
            plain = await client.get(nginx.url("/small.bin"))
            assert plain.content == SMALL_BODY
        assert events == ["request /r302", "response 302", "request /small.bin", "response 200"]

    run(main())


def test_bodiless_heads_are_reused_only_for_identical_requests() -> None:
    from tidal.http._client._exchange import head_fields, request_head

    client = Client(headers={"X-Client": "1"})
    cases = [
        client.build_request("GET", "http://a.test:8080/x?q=1"),
        client.build_request("GET", "http://a.test:8080/x?q=1", headers={"X-Extra": "2"}),
        client.build_request("GET", "http://a.test:8080/x?q=1", headers={"x-extra": "2"}),
        client.build_request("GET", "http://a.test:8081/x?q=1"),
        client.build_request("GET", "http://a.test/x?q=2"),
        client.build_request("POST", "http://a.test:8080/x?q=1"),
        client.build_request("GET", "http://a.test:8080/x?q=1", headers={"Host": "b.test"}),
    ]
    heads = [client._head_for(request, None) for request in cases]
    for request, head in zip(cases, heads):
        assert head == request_head(request, None, head_fields(request, None))
        assert client._head_for(client.build_request(request.method, request.url, headers=request.headers), None) is head
    assert len({id(head) for head in heads}) == len(cases)
    assert (b"Content-Length", b"0") in [(name, value) for name, value in heads[5].headers.raw_items()]
    assert dict(heads[3].headers.raw_items())[b"Host"] == b"a.test:8081"


def _answers_then_stalls(first_delay: float, answered: int = 1) -> Any:
    """A server that answers ``answered`` requests (the first after ``first_delay`` s) and then never answers."""

    async def script(reader: Any, writer: Any) -> None:
        for index in range(answered):
            if not await read_head(reader):
                return
            if index == 0:
                await asyncio.sleep(first_delay)
            writer.write(OK_HEAD)
        await read_head(reader)
        await reader.read()  # silent until the client closes

    return script


def test_reused_read_timer_expires_at_the_later_reads_own_deadline(run: Run) -> None:
    """The connection's read timer, armed for the first read, must not cut the second one short."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with ScriptedServer(_answers_then_stalls(0.25)) as server:
            async with Client(timeout=http.Timeout(read=0.5)) as client:
                assert (await client.get(server.url())).content == b"ok"
                started = loop.time()
                with pytest.raises(http.ReadTimeout, match="read timeout of 0.5 s"):
                    await client.get(server.url())
                assert loop.time() - started >= 0.49  # not the first read's deadline (0.25 s sooner)
                assert client.pool_state["open"] == 0

    run(main())


def test_reused_read_timer_is_rearmed_for_an_earlier_total_deadline(run: Run) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with ScriptedServer(_answers_then_stalls(0.0)) as server:
            async with Client(timeout=http.Timeout(read=30)) as client:
                await client.get(server.url())  # arms the connection's timer 30 s ahead
                started = loop.time()
                with pytest.raises(http.TotalTimeout, match="total timeout of 0.2 s"):
                    await client.get(server.url(), timeout=http.Timeout(read=30, total=0.2))
                assert 0.19 <= loop.time() - started < 10

    run(main())


def test_outer_cancellation_during_a_reused_read_is_not_a_timeout(run: Run) -> None:
    async def main() -> None:
        async with ScriptedServer(_answers_then_stalls(0.0)) as server:
            async with Client(timeout=http.Timeout(read=0.3)) as client:
                await client.get(server.url())
                with pytest.raises(TimeoutError) as caught:
                    async with asyncio.timeout(0.1):
                        await client.get(server.url())
                assert not isinstance(caught.value, http.HTTPTimeout)
                task = asyncio.current_task()
                assert task is not None and task.cancelling() == 0
                # The connection was closed with its timer; a new one serves the next request.
                async with ScriptedServer(_answers_then_stalls(0.0, answered=2)) as again:
                    assert (await client.get(again.url())).content == b"ok"
                    assert (await client.get(again.url())).content == b"ok"

    run(main())
