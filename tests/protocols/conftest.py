"""Fixtures for the sans-IO engine tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tidal.protocols.compression import INFLATE_BACKENDS, inflate_backend, set_inflate_backend


@pytest.fixture(params=INFLATE_BACKENDS)
def each_inflate_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once with zlib-ng and once with the standard zlib inflating, then restore the default."""
    before = inflate_backend()
    set_inflate_backend(request.param)
    try:
        yield request.param
    finally:
        set_inflate_backend(before)
