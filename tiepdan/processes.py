"""Running several long-lived child processes as one: `tiepdan run` and `tiepdan bot serve`."""

from __future__ import annotations

import signal
import subprocess
import time


def supervise(children: list[subprocess.Popen[bytes]]) -> bool:
    """Wait until Ctrl+C, SIGTERM or until one child exits, then stop them all.

    Returns whether every child ended cleanly (by itself, or by our SIGTERM).
    """
    # Python's default SIGTERM ends this process at once, leaving the children running (Rasa
    # would keep its port, and the next `make run` would fail): stop them as for Ctrl+C.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
    return all(c.returncode in (0, -signal.SIGTERM, None) for c in children)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
