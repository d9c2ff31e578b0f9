"""Run Twisted's asyncio-reactor test groups with tidal's loop under the reactor.

Usage: ``python tests/ecosystem/run_twisted.py``.  Twisted's
``AsyncioSelectorReactor`` takes its loop from asyncio's policy, so
installing tidal's policy puts every reactor the tests build on tidal's loop;
each reactor is checked to really be on it.  Only the
``*_AsyncioSelectorReactorTests`` classes of the TCP, UDP, process and TLS
groups run, under Twisted's own runner (trial).  The exclusions below are
skipped with their reason and listed in docs/compatibility.md.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
from typing import Any

import tidal
import tidal.loop

GROUPS = [
    "twisted.internet.test.test_tcp",
    "twisted.internet.test.test_udp",
    "twisted.internet.test.test_process",
    "twisted.internet.test.test_tls",
]
SUFFIX = "_AsyncioSelectorReactorTests"

# test method name -> why it is not run.
EXCLUDED: dict[str, str] = {
    "test_changeUID": (
        "spawns a child under another uid and expects it to run as that uid; run as root "
        "(as CI does) it fails identically on asyncio's own loop"
    ),
}


def _check_loops_are_tidal() -> None:
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor

    original = AsyncioSelectorReactor.__init__

    def __init__(self: Any, eventloop: Any = None) -> None:
        original(self, eventloop)
        if not isinstance(self._asyncioEventloop, tidal.loop.EventLoop):
            raise AssertionError(f"the reactor got {type(self._asyncioEventloop).__name__}, not tidal's loop")

    AsyncioSelectorReactor.__init__ = __init__  # type: ignore[method-assign]


def _test_classes() -> list[str]:
    names = []
    for group in GROUPS:
        module = importlib.import_module(group)
        for name in dir(module):
            if not name.endswith(SUFFIX):
                continue
            names.append(f"{group}.{name}")
            test_class = getattr(module, name)
            for method, reason in EXCLUDED.items():
                if hasattr(test_class, method):
                    # trial skips a test whose function has a ``skip`` attribute.
                    getattr(test_class, method).skip = reason
    return names


def main() -> None:
    tidal.install()  # tidal.dns answers getaddrinfo: no thread pool for names
    _check_loops_are_tidal()
    from twisted.scripts.trial import run

    with tempfile.TemporaryDirectory() as temp:
        sys.argv = ["trial", f"--temp-directory={temp}/_trial_temp", *_test_classes()]
        run()


if __name__ == "__main__":
    main()
