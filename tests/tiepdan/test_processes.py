"""`tiepdan run` and `tiepdan bot serve` stop their children however they are stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

SUPERVISOR = textwrap.dedent(
    """
    import subprocess, sys
    from tiepdan.processes import supervise

    sleep = [sys.executable, "-c", "import time; time.sleep(120)"]
    children = [subprocess.Popen(sleep), subprocess.Popen(sleep)]
    print(" ".join(str(child.pid) for child in children), flush=True)
    sys.exit(0 if supervise(children) else 1)
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child that ended but was not yet reaped is a zombie: gone for our purpose.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("sent", "started_ignoring_sigint"),
    [
        (signal.SIGTERM, False),
        (signal.SIGINT, False),
        (signal.SIGINT, True),
        (signal.SIGHUP, False),
    ],
    ids=["sigterm", "sigint", "sigint-from-a-background-shell", "sighup-the-terminal-closed"],
)
def test_the_children_stop_with_the_supervisor(
    sent: signal.Signals, started_ignoring_sigint: bool
) -> None:
    """Only the supervisor gets the signal (as from a process manager), not its group.

    A shell running in the background starts its children with SIGINT ignored; Ctrl+C must
    still stop the supervisor then.
    """
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_ignore_sigint if started_ignoring_sigint else None,
    )
    assert supervisor.stdout is not None
    children = [int(pid) for pid in supervisor.stdout.readline().split()]
    assert len(children) == 2 and all(_alive(pid) for pid in children)
    time.sleep(0.5)  # the pids are printed just before supervise() takes the signals

    supervisor.send_signal(sent)

    assert supervisor.wait(timeout=20) == 0  # the children ended by its SIGTERM: a clean stop
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in children)


def test_the_supervisor_polls_while_its_children_run() -> None:
    """`tiepdan run` says from there when Rasa has become ready."""
    from tiepdan.processes import supervise

    polls: list[float] = []
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])

    assert supervise([child], on_poll=lambda: polls.append(time.monotonic()))
    assert len(polls) >= 2 and child.returncode == 0
