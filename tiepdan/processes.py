"""Running several long-lived child processes as one: `tiepdan run` and `tiepdan bot serve`."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def supervise(
    children: list[subprocess.Popen[bytes]], *, on_poll: Callable[[], None] | None = None
) -> bool:
    """Wait until Ctrl+C, SIGTERM or until one child exits, then stop them all. `on_poll` runs
    at every check (twice a second): `tiepdan run` says there when Rasa has become ready.

    Returns whether every child ended cleanly (by itself, or by our SIGTERM).
    """
    try:
        with interrupt_on_sigterm():
            while all(child.poll() is None for child in children):
                if on_poll is not None:
                    on_poll()
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
    return all(c.returncode in (0, -signal.SIGTERM, None) for c in children)


@contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """SIGTERM, SIGINT and SIGHUP raise KeyboardInterrupt inside the block, so that children
    are stopped.

    Python's default SIGTERM ends this process at once, leaving the children running (Rasa
    would keep its port, and the next `make run` would fail). SIGHUP, when the terminal is
    closed, would do the same, and Celery takes its own SIGHUP as "restart": the worker would
    live on with no terminal. SIGINT gets the handler explicitly: a process started from a
    background shell inherits SIGINT ignored, and Python then installs no KeyboardInterrupt.
    """
    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {sig: signal.signal(sig, _interrupt) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


class NotServing(RuntimeError):
    """A URL did not answer 200: its process exited, or the time ran out."""


def wait_for_url(
    url: str, processes: list[subprocess.Popen[bytes]], *, timeout: float, probe_timeout: float = 2
) -> None:
    """Wait until `url` answers 200; NotServing when one of `processes` exits or time runs out."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exited = next((p for p in processes if p.poll() is not None), None)
        if exited is not None:
            raise NotServing(f"{exited.args!r} exited with code {exited.returncode}")
        try:
            if httpx.get(url, timeout=probe_timeout).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise NotServing(f"{url} did not answer within {timeout:.0f} s")
