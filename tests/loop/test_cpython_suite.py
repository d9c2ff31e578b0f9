"""CPython 3.11's own ``test.test_asyncio`` run against tidal's loop.

Two kinds of suites are run:

* the loop-generic mixins (``EventLoopTestsMixin``, ``BaseSockTestsMixin``,
  ``SendfileTestsBase``, ``BaseStartServer``, ``BaseTestBufferedProtocol``,
  ``test_sslproto.BaseStartTLS``, ``test_events.SubprocessTestsMixin``,
  ``test_subprocess.SubprocessMixin``),
  subclassed here with tidal's loop as the loop under test;
* suites that obtain their loops from ``asyncio.new_event_loop()`` /
  ``asyncio.run()`` (tasks, streams, locks, ...), run with tidal's
  :class:`~tidal.loop.EventLoopPolicy` installed for the duration of each test.

Tests that inspect or patch private state of asyncio's own loop classes
(or of ``subprocess.Popen``, see ``POPEN_KILL``) are skipped with the
reason given in ``EXCLUDED``; docs/compatibility.md lists them with the
pass/skip counts.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import unittest
from collections.abc import Iterator
from typing import Any

import pytest

import tidal.loop

pytest.importorskip("test.test_asyncio.utils", reason="CPython's test package is not installed")

from test.test_asyncio import utils as test_utils  # noqa: E402

SSLPROTO_PRIVATE = "calls private methods of asyncio.sslproto's SSLProtocol and its transport"
POPEN_KILL = (
    "replaces Popen.kill to observe the kill; tidal signals the child through its pidfd (os.kill without one), "
    "because Popen.kill() calls poll() first, whose waitpid() would steal the exit status from the child watcher"
)
PRIVATE = "inspects or patches private internals of asyncio's own loop classes"

# "Class.test" (or "*.test" for every class) -> why it is not run on tidal's loop.
EXCLUDED: dict[str, str] = {
    # test_ssl drives asyncio's SSLProtocol through private hooks
    "Test_ssl__TestSSL.test_flush_before_shutdown": SSLPROTO_PRIVATE,  # transport._ssl_protocol
    "Test_ssl__TestSSL.test_remote_shutdown_receives_trailing_data": SSLPROTO_PRIVATE,  # _test__append_write_backlog
    # patches Popen.kill; tidal signals through the pidfd (see POPEN_KILL)
    "TestTidalSubprocess.test_close_kill_running": POPEN_KILL,
    # patches asyncio.base_events.socket and loop._start_serving/_stop_serving
    "TestTidalEvents.test_create_server_multiple_hosts_ipv4": PRIVATE,
    "TestTidalEvents.test_create_server_multiple_hosts_ipv6": PRIVATE,
    # calls loop._stop_serving()
    "TestTidalEvents.test_prompt_cancellation": PRIVATE,
    # wraps loop._run_once and reads loop._selector
    "TestTidalEvents.test_timeout_rounding": PRIVATE,
    # replaces loop._sendfile_native with BaseEventLoop's
    "TestTidalSendfile.test_sendfile_force_unsupported_native": PRIVATE,
}

# Suites whose loops come from asyncio.new_event_loop(): run under tidal's policy.
POLICY_SUITES = [
    "test_tasks",
    "test_streams",
    "test_taskgroups",
    "test_timeouts",
    "test_locks",
    "test_queues",
    "test_futures",
    "test_futures2",
    "test_runners",
    "test_waitfor",
    "test_pep492",
    "test_context",
    "test_threads",
    "test_ssl",
]


def _excluded_reason(class_name: str, test_name: str) -> str | None:
    return EXCLUDED.get(f"{class_name}.{test_name}") or EXCLUDED.get(f"*.{test_name}")


def _with_exclusions(name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> type:
    """A subclass of ``bases`` whose excluded tests are skipped with their reason."""
    cls = type(name, bases, dict(namespace, __module__=__name__, __qualname__=name))
    for attribute in dir(cls):
        if attribute.startswith("test"):
            reason = _excluded_reason(name, attribute) or _excluded_reason(bases[0].__name__, attribute)
            if reason is not None:
                setattr(cls, attribute, unittest.skip(reason)(getattr(cls, attribute)))
    return cls


def _new_tidal_loop(self: Any) -> asyncio.AbstractEventLoop:
    return tidal.loop.new_event_loop()


class _TidalLoopInSetUp(test_utils.TestCase):
    """For mixins that expect ``self.loop`` from setUp (the subprocess suites)."""

    def setUp(self) -> None:
        super().setUp()
        self.loop = tidal.loop.new_event_loop()
        self.set_event_loop(self.loop)


def _mixin_suites() -> dict[str, type]:
    events = importlib.import_module("test.test_asyncio.test_events")
    subprocess_suite = importlib.import_module("test.test_asyncio.test_subprocess")
    sock = importlib.import_module("test.test_asyncio.test_sock_lowlevel")
    sendfile = importlib.import_module("test.test_asyncio.test_sendfile")
    server = importlib.import_module("test.test_asyncio.test_server")
    buffered = importlib.import_module("test.test_asyncio.test_buffered_proto")
    sslproto = importlib.import_module("test.test_asyncio.test_sslproto")
    loop_factory = {"create_event_loop": _new_tidal_loop}
    new_loop = {"new_loop": _new_tidal_loop}
    return {
        "TestTidalEvents": _with_exclusions(
            "TestTidalEvents", (events.EventLoopTestsMixin, test_utils.TestCase), loop_factory
        ),
        "TestTidalSubprocessEvents": _with_exclusions(
            "TestTidalSubprocessEvents", (events.SubprocessTestsMixin, _TidalLoopInSetUp), {}
        ),
        "TestTidalSubprocess": _with_exclusions(
            "TestTidalSubprocess", (subprocess_suite.SubprocessMixin, _TidalLoopInSetUp), {}
        ),
        "TestTidalSockLowlevel": _with_exclusions(
            "TestTidalSockLowlevel", (sock.BaseSockTestsMixin, test_utils.TestCase), loop_factory
        ),
        "TestTidalSendfile": _with_exclusions(
            "TestTidalSendfile", (sendfile.SendfileTestsBase, test_utils.TestCase), loop_factory
        ),
        "TestTidalStartServer": _with_exclusions(
            "TestTidalStartServer", (server.BaseStartServer, unittest.TestCase), new_loop
        ),
        "TestTidalBufferedProtocol": _with_exclusions(
            "TestTidalBufferedProtocol", (buffered.BaseTestBufferedProtocol, unittest.TestCase), new_loop
        ),
        "TestTidalStartTLS": _with_exclusions(
            "TestTidalStartTLS", (sslproto.BaseStartTLS, unittest.TestCase), new_loop
        ),
    }


def _policy_suites() -> dict[str, type]:
    suites: dict[str, type] = {}
    for module_name in POLICY_SUITES:
        module = importlib.import_module(f"test.test_asyncio.{module_name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, unittest.TestCase)
                and value.__module__ == module.__name__
                and any(name.startswith("test") for name in dir(value))
                and not getattr(value, "__unittest_skip__", False)
            ):
                name = f"Test_{module_name[5:]}__{value.__name__}"
                suites[name] = _with_exclusions(name, (value,), {})
    return suites


globals().update(_mixin_suites())
globals().update(_policy_suites())


@pytest.fixture(autouse=True)
def tidal_policy() -> Iterator[None]:
    """Every test here gets tidal's loop from asyncio.new_event_loop(); the policy is restored after."""
    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(tidal.loop.EventLoopPolicy())
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(previous)


@pytest.fixture(autouse=True)
def small_heap_for_gc_heavy_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    """Let the ``*_del_collect`` tests collect only their own objects.

    They call ``gc.collect()`` a hundred times from finalizers; with the whole
    test session's objects in the heap each collection took ~0.14 s (14 s a
    test).  ``gc.freeze()`` sets the session's objects aside for the test (it
    changes nothing about what the test checks) and ``gc.unfreeze()`` puts
    them back.
    """
    if not request.node.name.endswith("_del_collect"):
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
