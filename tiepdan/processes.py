"""Running several long-lived child processes as one: `tiepdan run` and `tiepdan bot serve`."""

from __future__ import annotations

import signal
import subprocess
import time


def supervise(children: list[subprocess.Popen[bytes]]) -> bool:
    """Wait until Ctrl+C or until one child exits, then stop them all.

    Returns whether every child ended cleanly (by itself, or by our SIGTERM).
    """
    try:
        while all(child.poll() is None for child in children):
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
