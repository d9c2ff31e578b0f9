"""The public surface of tidal.loop is pinned: changing it is a deliberate act."""

from __future__ import annotations

import asyncio

import tidal
import tidal.loop


def test_loop_exports() -> None:
    assert sorted(tidal.loop.__all__) == sorted(
        ["EventLoop", "EventLoopPolicy", "Poller", "available_pollers", "install", "new_event_loop", "run"]
    )
    for name in tidal.loop.__all__:
        assert getattr(tidal.loop, name).__doc__, f"{name} lacks a docstring"


def test_top_level_reexports_are_the_same_objects() -> None:
    for name in ("EventLoop", "EventLoopPolicy"):
        assert getattr(tidal, name) is getattr(tidal.loop, name)


def test_top_level_loops_resolve_through_tidal_dns() -> None:
    # tidal.new_event_loop/run/install add the tidal.dns getaddrinfo hook
    # that the loop layer cannot import itself; tidal.loop's are the bare loop.
    bare, resolving = tidal.loop.new_event_loop(), tidal.new_event_loop()
    try:
        assert type(bare) is type(resolving) is tidal.loop.EventLoop
        assert bare._getaddrinfo_hook is None
        assert resolving._getaddrinfo_hook is not None
    finally:
        bare.close()
        resolving.close()


def test_run_uses_tidal_loop() -> None:
    async def main() -> type:
        return type(asyncio.get_running_loop())

    assert tidal.loop.run(main()) is tidal.loop.EventLoop


def test_run_debug_flag() -> None:
    async def main() -> bool:
        return asyncio.get_running_loop().get_debug()

    assert tidal.loop.run(main(), debug=True) is True


def test_install_makes_asyncio_use_tidal() -> None:
    previous = asyncio.get_event_loop_policy()
    tidal.loop.install()
    try:
        assert isinstance(asyncio.get_event_loop_policy(), tidal.loop.EventLoopPolicy)
        loop = asyncio.new_event_loop()
        try:
            assert isinstance(loop, tidal.loop.EventLoop)
        finally:
            loop.close()

        async def main() -> type:
            return type(asyncio.get_running_loop())

        assert asyncio.run(main()) is tidal.loop.EventLoop
    finally:
        asyncio.set_event_loop_policy(previous)


def test_event_loop_is_an_abstract_event_loop() -> None:
    loop = tidal.loop.new_event_loop()
    try:
        assert isinstance(loop, asyncio.AbstractEventLoop)
    finally:
        loop.close()
