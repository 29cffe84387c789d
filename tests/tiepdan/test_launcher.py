"""`tiepdan run` watching its processes: the banner once the API and Rasa answer, or, when Rasa
is slow, a plain "still starting" line before the banner and a second line once it is ready.
(tests/e2e/test_first_run.py runs the real thing from a fresh clone.)"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from core.settings import get_settings
from tiepdan import launcher
from tiepdan.console import Console


class Child:
    returncode = None

    def poll(self) -> None:
        return None


def _watch(tmp_path: Path, processes: list[launcher.Process]) -> tuple[int, str]:
    console = Console(log_dir=tmp_path, stream=io.StringIO())
    code = launcher._watch(
        console, get_settings(), "http://127.0.0.1:8000", processes, [p.popen for p in processes]
    )
    assert isinstance(console.stream, io.StringIO)
    return code, console.stream.getvalue()


def test_a_slow_rasa_is_said_to_be_starting_then_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rasa_ready = False

    def supervise(children: list[Child], on_poll) -> bool:
        nonlocal rasa_ready
        rasa_ready = True  # Rasa has loaded its model while the platform runs
        on_poll()
        return True

    monkeypatch.setattr(launcher, "RASA_PATIENCE", 0.3)
    monkeypatch.setattr(launcher, "supervise", supervise)
    api = launcher.Process("api", "http://127.0.0.1:8000", lambda: True, Child(), ("api",))
    rasa = launcher.Process(
        "rasa", "the Rasa assistant", lambda: rasa_ready, Child(), ("rasa",), optional=True
    )

    code, out = _watch(tmp_path, [api, rasa])

    assert code == 0
    starting = out.index("  … rasa     still starting (log: ")
    banner = out.index("Tiếp Dân is running on http://127.0.0.1:8000")
    ready = out.index("  ✓ rasa     is ready: the chat now answers with Rasa")
    assert starting < banner < ready
    assert "Rasa          still starting" in out[banner:ready]


def test_the_banner_waits_for_rasa_when_it_answers_in_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launcher, "supervise", lambda children, on_poll: True)
    answers = iter([False, False, True])
    api = launcher.Process("api", "http://127.0.0.1:8000", lambda: True, Child(), ("api",))
    rasa = launcher.Process(
        "rasa", "the Rasa assistant", lambda: next(answers, True), Child(), ("rasa",), True
    )

    code, out = _watch(tmp_path, [api, rasa])

    assert code == 0 and "still starting" not in out
    assert out.index("  ✓ rasa ") < out.index("Tiếp Dân is running")
    assert "Rasa          ready (" in out
