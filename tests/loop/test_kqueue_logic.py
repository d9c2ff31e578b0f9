"""The kqueue backend's translation logic, checked against a recording fake.

kqueue does not exist on Linux, where CI runs most often; these tests pin how
masks become EV_ADD/EV_DELETE kevents and how kevents become masks, so the
backend stays correct between runs on macOS/BSD.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tidal.loop._poll_kqueue import KqueuePoller
from tidal.loop._poller import ERROR, READ, WRITE


class FakeKqueue:
    def __init__(self) -> None:
        self.changes: list[tuple[int, str, str]] = []
        self.pending: list[Any] = []
        self.closed = False

    def control(self, changes: Any, max_events: int, timeout: Any = None) -> list[Any]:
        if changes:
            self.changes.extend((kev.ident, kev.filter, kev.flags) for kev in changes)
            return []
        events, self.pending = self.pending[:max_events], self.pending[max_events:]
        return events

    def fileno(self) -> int:
        return 99

    def close(self) -> None:
        self.closed = True


def fake_select() -> Any:
    kqueue = FakeKqueue()
    module = SimpleNamespace(
        KQ_FILTER_READ="read",
        KQ_FILTER_WRITE="write",
        KQ_EV_ADD="add",
        KQ_EV_DELETE="delete",
        KQ_EV_ERROR=0x4000,
        KQ_EV_EOF=0x8000,
        kqueue=lambda: kqueue,
        kevent=lambda ident, filter, flags=0: SimpleNamespace(ident=ident, filter=filter, flags=flags),
    )
    return module


@pytest.fixture
def poller(monkeypatch: pytest.MonkeyPatch) -> KqueuePoller:
    import tidal.loop._poll_kqueue as module

    monkeypatch.setattr(module, "select", fake_select())
    return KqueuePoller()


def kqueue_of(poller: KqueuePoller) -> FakeKqueue:
    fake: FakeKqueue = poller._kqueue
    return fake


def test_register_modify_unregister_emit_filter_changes(poller: KqueuePoller) -> None:
    poller.register(5, READ)
    poller.modify(5, READ | WRITE)
    poller.modify(5, WRITE)
    poller.unregister(5)
    assert kqueue_of(poller).changes == [
        (5, "read", "add"),
        (5, "write", "add"),
        (5, "read", "delete"),
        (5, "write", "delete"),
    ]


def test_registration_errors_match_epoll(poller: KqueuePoller) -> None:
    poller.register(5, READ)
    with pytest.raises(FileExistsError):
        poller.register(5, READ)
    with pytest.raises(FileNotFoundError):
        poller.modify(6, READ)
    with pytest.raises(FileNotFoundError):
        poller.unregister(6)


def test_events_are_merged_per_fd(poller: KqueuePoller) -> None:
    poller.register(5, READ | WRITE)
    poller.register(6, READ)
    kqueue_of(poller).pending = [
        SimpleNamespace(ident=5, filter="read", flags=0),
        SimpleNamespace(ident=5, filter="write", flags=0),
        SimpleNamespace(ident=6, filter="read", flags=0x4000),
    ]
    assert sorted(poller.poll(0)) == [(5, READ | WRITE), (6, READ | ERROR)]


def test_fileno_and_close(poller: KqueuePoller) -> None:
    assert poller.fileno() == 99
    poller.close()
    assert kqueue_of(poller).closed
