"""Run Tornado's own test suite with tidal's loop as the asyncio loop.

Usage: ``python tests/ecosystem/run_tornado.py``.  Tornado's IOLoop sits on
whatever loop asyncio's policy makes, so installing tidal's policy first is
all it takes; every IOLoop the suite creates is checked to really be on
tidal's loop.  The exclusions below are skipped with their reason and listed
in docs/compatibility.md.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import unittest

import tidal
import tidal.loop

# "module.Class.test" (or "module.Class" for a whole class) -> why it is not run.
EXCLUDED: dict[str, str] = {
    "tornado.test.netutil_test.CaresResolverTest": (
        "pycares 5 removed Channel.gethostbyname, which Tornado's CaresResolver calls; "
        "fails identically on asyncio's own loop (only runs where pycares is installed)"
    ),
}


def _exclude() -> None:
    import importlib

    for name, reason in EXCLUDED.items():
        module_name, _, rest = name.partition(".test.")
        module = importlib.import_module(f"{module_name}.test.{rest.split('.')[0]}")
        parts = rest.split(".")[1:]
        target = getattr(module, parts[0])
        if len(parts) == 1:
            setattr(module, parts[0], unittest.skip(reason)(target))
        else:
            setattr(target, parts[1], unittest.skip(reason)(getattr(target, parts[1])))


def _check_loops_are_tidal() -> None:
    # A few tests install another policy on purpose (Tornado's
    # AnyThreadEventLoopPolicy tests); while tidal's policy is in force,
    # every IOLoop must sit on tidal's loop.
    from tornado.platform.asyncio import BaseAsyncIOLoop

    original = BaseAsyncIOLoop.initialize

    @functools.wraps(original)  # keeps the signature Tornado's API snapshot test checks
    def initialize(self: BaseAsyncIOLoop, asyncio_loop: object, **kwargs: object) -> None:
        tidal_policy = isinstance(asyncio.get_event_loop_policy(), tidal.loop.EventLoopPolicy)
        if tidal_policy and not isinstance(asyncio_loop, tidal.loop.EventLoop):
            raise AssertionError(f"Tornado got {type(asyncio_loop).__name__}, not tidal's loop")
        original(self, asyncio_loop, **kwargs)  # type: ignore[arg-type]

    BaseAsyncIOLoop.initialize = initialize  # type: ignore[method-assign]


def main() -> None:
    tidal.install()  # tidal.dns answers getaddrinfo: no thread pool for names
    _exclude()
    _check_loops_are_tidal()
    from tornado.test.runtests import main as tornado_main

    sys.argv = ["tornado.test.runtests", "tornado.test.runtests.all"]
    tornado_main()


if __name__ == "__main__":
    main()
