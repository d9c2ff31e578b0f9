"""Run asyncio code inside a Tk window: Tk's mainloop drives tidal's event loop.

Theory of operation.  A GUI toolkit owns the main thread and its own event
loop, so an asyncio loop cannot call ``run_forever()`` there.  tidal's loop
offers an embedding API instead, and :class:`TkLoopDriver` wires it into Tk:

* ``loop.fileno()`` is a descriptor that polls readable whenever the loop has
  work (a socket became ready, or another thread called
  ``call_soon_threadsafe``).  Tk watches it with ``createfilehandler``, so I/O
  wakes the loop with no polling at all.
* ``loop.step(0)`` runs one bounded slice of ready callbacks and I/O without
  blocking, and returns how many seconds until the loop next needs to run
  (0 when more work is already ready, None when it only waits for I/O).  The
  driver turns that into one Tk ``after`` timer, so ``asyncio.sleep`` and
  ``call_later`` fire on time.

Where Tk has no ``createfilehandler`` (Windows), the driver falls back to
stepping on a short ``after`` interval.

    python examples/tk_embed.py               # a window: 25 s of ticks and an echo exchange
    python examples/tk_embed.py --self-test   # the same work, fast; exit 0 on success
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import threading
import tkinter
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import tidal.loop

__all__ = ["TkLoopDriver", "WindowClosed", "echo_round_trips", "main", "run_in_tk", "tick", "wake_from_thread"]

T = TypeVar("T")

# Without createfilehandler the loop cannot wake Tk, so Tk polls this often.
FALLBACK_POLL_SECONDS = 0.01


class TkLoopDriver:
    """Drives a tidal event loop from a Tk widget's mainloop.

    ``start()`` begins watching the loop; ``stop()`` removes every hook.  The
    loop must not be running elsewhere (no ``run_forever`` at the same time).
    """

    def __init__(self, widget: tkinter.Misc, loop: tidal.loop.EventLoop, *, use_file_handler: bool = True) -> None:
        self._widget = widget
        self._use_file_handler = use_file_handler
        self._loop = loop
        self._timer: str | None = None
        self._watching_fd: int | None = None
        self.steps = 0  # how many slices Tk has run (shown by the demo)

    def start(self) -> None:
        """Hook the loop into Tk and run its first slice of work."""
        createfilehandler = getattr(self._widget.tk, "createfilehandler", None)
        if createfilehandler is not None and self._use_file_handler:
            fd = self._loop.fileno()
            createfilehandler(fd, tkinter.READABLE, self._on_loop_readable)
            self._watching_fd = fd
        self._widget.after_idle(self._run_slice)

    def stop(self) -> None:
        """Remove the file handler and the pending timer; the loop stays open."""
        if self._watching_fd is not None:
            self._widget.tk.deletefilehandler(self._watching_fd)
            self._watching_fd = None
        self._cancel_timer()

    def _on_loop_readable(self, _fd: int, _mask: int) -> None:
        self._run_slice()

    def _run_slice(self) -> None:
        self._cancel_timer()
        delay = self._loop.step(0)
        self.steps += 1
        if delay is None and self._watching_fd is None:
            delay = FALLBACK_POLL_SECONDS
        if delay is not None:
            # Round up: a timer that fires early would only find nothing to do.
            self._timer = self._widget.after(max(0, math.ceil(delay * 1000)), self._run_slice)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._widget.after_cancel(self._timer)
            self._timer = None


class WindowClosed(Exception):
    """The user closed the window before the coroutine finished."""


def run_in_tk(
    root: tkinter.Tk,
    loop: tidal.loop.EventLoop,
    make_coroutine: Callable[[], Coroutine[Any, Any, T]],
    timeout: float,
    *,
    use_file_handler: bool = True,
) -> T:
    """Run a coroutine on ``loop`` to completion with Tk's mainloop as the only driver.

    Returns its result or raises its exception.  If it has not finished after
    ``timeout`` seconds it is cancelled and ``TimeoutError`` is raised; if the
    window is closed first it is cancelled and :class:`WindowClosed` is raised.
    """
    driver = TkLoopDriver(root, loop, use_file_handler=use_file_handler)
    task: asyncio.Task[T] = loop.create_task(make_coroutine())
    task.add_done_callback(lambda _task: root.quit())
    timed_out = False

    def give_up() -> None:
        nonlocal timed_out
        timed_out = True
        root.quit()

    watchdog = root.after(int(timeout * 1000), give_up)
    root.protocol("WM_DELETE_WINDOW", root.quit)
    driver.start()
    try:
        root.mainloop()
    finally:
        root.after_cancel(watchdog)
        driver.stop()
    if not task.done():
        _cancel_and_finish(loop, task)
        if timed_out:
            raise TimeoutError(f"the coroutine did not finish within {timeout} s")
        raise WindowClosed("the window was closed before the coroutine finished")
    return task.result()


def _cancel_and_finish(loop: tidal.loop.EventLoop, task: asyncio.Task[Any]) -> None:
    # The Tk mainloop has ended, so step the loop directly (waiting at most
    # 10 ms per slice) while the task's cleanups run; bounded at about two
    # seconds so a task that ignores cancellation cannot hang the process.
    task.cancel()
    for _ in range(200):
        if task.done():
            return
        loop.step(0.01)


async def _echo_client_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
    finally:
        writer.close()
        await writer.wait_closed()


async def echo_round_trips(messages: list[str], show: Callable[[str], None]) -> list[str]:
    """Start a TCP echo server on loopback, send ``messages`` through it, return the echoes."""
    server = await asyncio.start_server(_echo_client_handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    echoed: list[str] = []
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for message in messages:
                writer.write(message.encode() + b"\n")
                echoed.append((await reader.readline()).decode().rstrip("\n"))
                show(f"echo from port {port}: {echoed[-1]}")
        finally:
            writer.close()
            await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()
    return echoed


async def tick(count: int, interval: float, show: Callable[[str], None]) -> int:
    """Update a label ``count`` times, ``interval`` seconds apart; returns the ticks done."""
    for number in range(1, count + 1):
        await asyncio.sleep(interval)
        show(f"tick {number}")
    return count


async def wake_from_thread() -> str:
    """Resolve a future from another thread: proves ``fileno()`` wakes Tk."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()
    worker = threading.Thread(target=lambda: loop.call_soon_threadsafe(future.set_result, "woken"))
    worker.start()
    try:
        return await future
    finally:
        worker.join()


def build_window(root: tkinter.Tk) -> tuple[Callable[[str], None], Callable[[str], None]]:
    """Two labels (ticks, echoes); returns a setter for each."""
    root.title("tidal inside Tk")
    tick_label = tkinter.Label(root, text="waiting for the first tick", width=40)
    echo_label = tkinter.Label(root, text="no echo yet", width=40)
    tick_label.pack(padx=12, pady=6)
    echo_label.pack(padx=12, pady=6)

    def show_tick(text: str) -> None:
        tick_label.configure(text=text)

    def show_echo(text: str) -> None:
        echo_label.configure(text=text)

    return show_tick, show_echo


async def demo(show_tick: Callable[[str], None], show_echo: Callable[[str], None], ticks: int, interval: float) -> bool:
    """Ticker, echo exchange and cross-thread wake-up, concurrently; True when all behaved."""
    messages = [f"message {number}" for number in range(5)]
    ticked, echoed, woken = await asyncio.gather(
        tick(ticks, interval, show_tick), echo_round_trips(messages, show_echo), wake_from_thread()
    )
    return ticked == ticks and echoed == messages and woken == "woken"


def main(argv: list[str] | None = None) -> int:
    """Open the window and run the demo; with ``--self-test`` exit 0 only if it succeeded."""
    parser = argparse.ArgumentParser(description="asyncio inside Tk via tidal's embedding API")
    parser.add_argument("--self-test", action="store_true", help="run the demo quickly, exit 0 on success")
    parser.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds")
    parser.add_argument(
        "--no-file-handler", dest="file_handler", action="store_false", help="poll with after() as on Windows"
    )
    args = parser.parse_args(argv)
    ticks, interval = (5, 0.02) if args.self_test else (100, 0.25)
    root = tkinter.Tk()
    loop = tidal.loop.new_event_loop()
    try:
        show_tick, show_echo = build_window(root)
        work = lambda: demo(show_tick, show_echo, ticks, interval)  # noqa: E731
        ok = run_in_tk(root, loop, work, args.timeout, use_file_handler=args.file_handler)
    except WindowClosed:
        return 0
    except Exception as exc:
        print(f"tk_embed: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        loop.close()
        root.destroy()
    print("tk_embed: ticker, echo and thread wake-up all completed through Tk" if ok else "tk_embed: wrong results")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
