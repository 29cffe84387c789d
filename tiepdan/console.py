"""What `tiepdan run` prints: one line per set-up step and per process, and nothing else.

A step's own output goes to a log file. On a terminal the step's line counts the seconds and
shows the command's last line as its progress ("2/4 sentence encoder"); in a pipe (CI, a test)
the line is written once, when the step ends. A failed step shows the end of its log.
scripts/step.sh does the same for the install step of the Makefile.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

TAIL_LINES = 25


class StepFailed(RuntimeError):
    """A set-up command failed; its log's end has been shown."""


@dataclass(frozen=True)
class Console:
    log_dir: Path
    verbose: bool = False
    stream: TextIO = field(default_factory=lambda: sys.stdout)

    @property
    def live(self) -> bool:
        return not self.verbose and self.stream.isatty()

    def say(self, line: str = "") -> None:
        print(line, file=self.stream, flush=True)

    def shown(self, path: Path) -> str:
        """A path as the person can type it: relative to where they are, when it is below."""
        try:
            return str(path.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(path)

    def step(self, label: str, command: list[str], *, env: dict[str, str], log: str) -> None:
        """Run a set-up command as one line, its output appended to `<log_dir>/<log>`;
        StepFailed (after showing the log's end) when it fails."""
        if self.verbose:
            self.say(f"{label} ...")
            if subprocess.run(command, env=env, check=False).returncode != 0:
                raise StepFailed(label)
            return
        path = self.log_dir / log
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with path.open("a", encoding="utf-8") as out:
            out.write(f"\n== {label}: {' '.join(command[1:])}\n")
            out.flush()
            offset = path.stat().st_size  # where this step's own output starts
            status = self._watch(label, command, env={**env, "PYTHONUNBUFFERED": "1"}, out=out)
        seconds = f"{time.monotonic() - started:.0f} s"
        if status != 0:
            self._end(f"  ✗ {label}: failed after {seconds}", f"failed after {seconds}")
            self.say(f"    What it said (all of it in {self.shown(path)}):")
            with path.open("rb") as written:
                written.seek(offset)
                said = written.read().decode("utf-8", errors="replace").splitlines()
            for line in said[-TAIL_LINES:]:
                self.say(f"    {line}")
            raise StepFailed(label)
        self._end(f"  ✓ {label} ({seconds})", f"done ({seconds})")

    def _watch(self, label: str, command: list[str], *, env: dict[str, str], out: TextIO) -> int:
        """Run `command` to the end, copying its output to `out`; on a terminal, keep the
        step's line up to date meanwhile."""
        if not self.live:
            print(f"  … {label}", end=" ", file=self.stream, flush=True)
        process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        last = [""]

        def copy() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                out.write(line)
                if line.strip():
                    last[0] = line.strip()
            out.flush()

        reader = threading.Thread(target=copy, daemon=True)
        reader.start()
        started = time.monotonic()
        try:
            while process.poll() is None:
                if self.live:
                    self._progress(label, time.monotonic() - started, last[0])
                time.sleep(0.25)
        except KeyboardInterrupt:
            process.terminate()
            process.wait()
            raise
        reader.join()
        return process.returncode

    def _progress(self, label: str, seconds: float, last: str) -> None:
        width = shutil.get_terminal_size().columns
        line = f"  … {label}  {seconds:.0f} s  {last}"
        self.stream.write("\r\033[K" + line[: width - 1])
        self.stream.flush()

    def _end(self, live: str, piped: str) -> None:
        if self.live:
            self.stream.write("\r\033[K")
            self.say(live)
        else:
            self.say(piped)


def rotate(path: Path) -> None:
    """Keep the previous run's log as `<name>.1`, so each run's log starts empty."""
    if path.exists():
        os.replace(path, path.with_name(path.name + ".1"))


def tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    """The last lines of a log, or nothing if it is missing."""
    if not path.exists():
        return []
    return path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
