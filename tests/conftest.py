"""Suite-wide pytest configuration.

Real peers (nginx, dnsmasq, openssl, curl, Xvfb ...) are located through
:func:`tests.peers.require_binary`.  Locally a missing binary skips the test
with a clear reason; under CI (``CI`` set in the environment) the same call
fails the test, because CI installs every peer and must not pass by skipping.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from _pytest.reports import TestReport

_PLAIN = (str, int, float, bool, bytes, type(None))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: TestReport) -> None:
    """Under pytest-xdist, give subtest parameters as text so any value can reach the controller.

    A worker sends each report to the controller through execnet, which
    cannot carry a function or another arbitrary object; CPython's asyncio
    tests pass such values to ``subTest(obj=...)``.
    """
    context: Any = getattr(report, "context", None)
    if context is None or not dataclasses.is_dataclass(context) or not getattr(context, "kwargs", None):
        return
    if all(isinstance(value, _PLAIN) for value in context.kwargs.values()):
        return
    plain = {key: value if isinstance(value, _PLAIN) else repr(value) for key, value in context.kwargs.items()}
    report.context = dataclasses.replace(context, kwargs=plain)  # type: ignore[attr-defined]
