"""Rasa's side of the bot: its Python 3.10 environment, training with a cache, its processes.

Rasa 3.6 does not run on Python 3.11, so it lives in a virtualenv of its own
(`scripts/rasa-venv.sh`, outside the clone) and is driven as subprocesses. A trained model is
kept in `<cache_dir>/rasa/` under the hash of everything that shapes it, so a second clone or a
CI run on the same machine reuses it instead of training again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from core.settings import Settings, get_settings

PROJECT_DIR = Path(__file__).resolve().parent / "rasa"
REPO_ROOT = PROJECT_DIR.parents[1]
VENV_SCRIPT = REPO_ROOT / "scripts" / "rasa-venv.sh"
# Everything a model depends on; a change to any of these trains a new one.
MODEL_INPUTS = ("config.yml", "domain.yml", "data", "components", "constraints.txt")


class RasaNotInstalled(RuntimeError):
    pass


def venv_dir(settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    assert settings.rasa_venv is not None  # filled by Settings
    return settings.rasa_venv


def rasa_executable(settings: Settings | None = None) -> Path:
    return venv_dir(settings) / "bin" / "rasa"


def ensure_venv(settings: Settings | None = None) -> Path:
    """Create Rasa's virtualenv when it is missing (about 3 minutes, once per machine)."""
    venv = venv_dir(settings)
    result = subprocess.run(["bash", str(VENV_SCRIPT), str(venv)], check=False)
    if result.returncode != 0:
        raise RasaNotInstalled(
            f"Could not create Rasa's environment in {venv}; see the message above."
        )
    return venv


def fingerprint() -> str:
    """A hash of the files that shape the model, in a stable order."""
    digest = hashlib.sha256()
    for name in MODEL_INPUTS:
        root = PROJECT_DIR / name
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            if "__pycache__" in path.parts:
                continue
            digest.update(str(path.relative_to(PROJECT_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def model_path(settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    return settings.cache_dir / "rasa" / f"tiepdan-{fingerprint()}.tar.gz"


def rasa_env(settings: Settings | None = None) -> dict[str, str]:
    """The environment of Rasa and its action server: where each finds the other, and the
    variables endpoints.production.yml reads."""
    settings = settings or get_settings()
    return {
        **os.environ,
        "TIEPDAN_ACTIONS_URL": settings.actions_url,
        "TIEPDAN_PLATFORM_URL": settings.platform_url,
        "TIEPDAN_SERVICE_TOKEN": settings.service_token,
        # The action server (rasa-sdk 3.6 has no --host) listens where actions_url points, not
        # on every interface: in development that is loopback only. Rasa binds by --interface.
        "SANIC_HOST": urlsplit(settings.actions_url).hostname or "127.0.0.1",
        # Rasa's own training cache would go into the clone; keep it with the models.
        "RASA_CACHE_DIRECTORY": str(settings.cache_dir / "rasa" / "build-cache"),
        "PYTHONWARNINGS": "ignore",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **store_variables(settings),
    }


def endpoints_file(settings: Settings | None = None) -> str:
    """endpoints.production.yml when Rasa's conversations go to PostgreSQL, else endpoints.yml."""
    settings = settings or get_settings()
    return "endpoints.production.yml" if settings.rasa_tracker_store_url else "endpoints.yml"


def store_variables(settings: Settings) -> dict[str, str]:
    """TIEPDAN_RASA_TRACKER_STORE_URL and _LOCK_STORE_URL, split into the RASA_* variables of
    endpoints.production.yml (Rasa's configuration takes host, port and database apart)."""
    if not settings.rasa_tracker_store_url:
        return {}
    tracker = urlsplit(settings.rasa_tracker_store_url)
    lock = urlsplit(settings.rasa_lock_store_url)
    if not tracker.scheme.startswith("postgresql") or not tracker.path.strip("/"):
        raise ValueError(
            "TIEPDAN_RASA_TRACKER_STORE_URL must be postgresql://user:password@host:port/database"
        )
    if lock.scheme != "redis":
        raise ValueError("TIEPDAN_RASA_LOCK_STORE_URL must be redis://[:password@]host:port/db")
    return {
        "RASA_TRACKER_STORE_HOST": tracker.hostname or "localhost",
        "RASA_TRACKER_STORE_PORT": str(tracker.port or 5432),
        "RASA_TRACKER_STORE_DB": tracker.path.strip("/"),
        # PostgreSQL's maintenance database, which always exists.
        "RASA_TRACKER_STORE_LOGIN_DB": "postgres",
        "RASA_TRACKER_STORE_USER": unquote(tracker.username or "postgres"),
        "RASA_TRACKER_STORE_PASSWORD": unquote(tracker.password or ""),
        "RASA_LOCK_STORE_HOST": lock.hostname or "localhost",
        "RASA_LOCK_STORE_PORT": str(lock.port or 6379),
        "RASA_LOCK_STORE_DB": lock.path.strip("/") or "0",
        "RASA_LOCK_STORE_PASSWORD": unquote(lock.password or ""),
    }


def _run(args: list[str], settings: Settings, *, quiet: bool) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=PROJECT_DIR,
        env=rasa_env(settings),
        check=False,
        text=True,
        stdout=subprocess.PIPE if quiet else None,
        stderr=subprocess.STDOUT if quiet else None,
    )


def train(
    settings: Settings | None = None,
    *,
    force: bool = False,
    say: Callable[[str], None] = print,
) -> Path:
    """The model for the current data: the cached one, or a newly trained one (about 30 s)."""
    settings = settings or get_settings()
    target = model_path(settings)
    if target.exists() and not force:
        say(f"Rasa model is up to date: {target}")
        return target
    ensure_venv(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    say("Training the Rasa assistant (about 30 seconds) ...")
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        result = _run(
            [
                str(rasa_executable(settings)),
                "train",
                "--out",
                work,
                "--fixed-model-name",
                "model",
                "--quiet",
            ],
            settings,
            quiet=True,
        )
        built = Path(work) / "model.tar.gz"
        if result.returncode != 0 or not built.exists():
            raise RuntimeError(f"Rasa training failed:\n{result.stdout[-4000:]}")
        # Moved into place whole: a half-written model is never mistaken for a trained one.
        shutil.move(str(built), target)
    say(f"Rasa model trained: {target}")
    return target


def _launch(settings: Settings, module: str) -> list[str]:
    """A Rasa module started by launch.py, which keeps third-party deprecation warnings out of
    its log (the `rasa` script would print them)."""
    return [str(venv_dir(settings) / "bin" / "python"), str(PROJECT_DIR / "launch.py"), module]


def server_command(settings: Settings | None = None, *, port: int = 5005) -> list[str]:
    """`rasa run` with the REST channel and the HTTP API (token-guarded outside development)."""
    settings = settings or get_settings()
    command = [
        *_launch(settings, "rasa"),
        "run",
        "--model",
        str(model_path(settings)),
        "--interface",
        urlsplit(settings.rasa_url).hostname or "127.0.0.1",
        "--port",
        str(port),
        "--enable-api",
        "--credentials",
        "credentials.yml",
        "--endpoints",
        endpoints_file(settings),
    ]
    if settings.rasa_token:
        command += ["--auth-token", settings.rasa_token]
    return command


def actions_command(settings: Settings | None = None, *, port: int = 5055) -> list[str]:
    settings = settings or get_settings()
    return [*_launch(settings, "rasa_sdk"), "--actions", "actions", "--port", str(port)]


def start(
    command: list[str], settings: Settings | None = None, *, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a Rasa process in the project folder (custom components and actions load from it),
    its output appended to `log` when given."""
    if log is None:
        return subprocess.Popen(command, cwd=PROJECT_DIR, env=rasa_env(settings))
    with log.open("ab") as out:  # the child keeps its own copy of the file
        return subprocess.Popen(
            command, cwd=PROJECT_DIR, env=rasa_env(settings), stdout=out, stderr=subprocess.STDOUT
        )


# The intent sets `evaluate` reads, in bot/rasa/: the held-out set, written apart and never
# trained on; a second one, written later by a writer who saw only the taxonomy's intents; and
# two tuning sets, chat teen-code and later writers' (their figures flatter the model).
HELD_OUT = "tests/nlu"
SECOND_HELD_OUT = "tests/nlu_second"
TEEN_CODE = "tune/teencode.yml"
WRITERS_TUNE = "tune/writers.yml"


def evaluation_dir(settings: Settings, test_set: str = HELD_OUT) -> Path:
    """Where `evaluate` leaves Rasa's files for a set: intent_report.json, and
    intent_errors.json when a message was read wrong."""
    return settings.cache_dir / "rasa" / "nlu-results" / Path(test_set).stem


def evaluate(settings: Settings | None = None, test_set: str = HELD_OUT) -> dict[str, Any]:
    """`rasa test nlu` on an intent set, by default the held-out one, which training never sees.

    Returns Rasa's intent report: per intent precision, recall, f1-score and support, and the
    "macro avg" row.
    """
    settings = settings or get_settings()
    model = train(settings)
    out = evaluation_dir(settings, test_set)
    # Rasa writes its list of errors only when there are some: an earlier run's must not stay.
    (out / "intent_errors.json").unlink(missing_ok=True)
    result = _run(
        [
            str(rasa_executable(settings)),
            "test",
            "nlu",
            "--model",
            str(model),
            "--nlu",
            test_set,
            "--out",
            str(out),
        ],
        settings,
        quiet=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"rasa test nlu failed:\n{result.stdout[-4000:]}")
    report: dict[str, Any] = json.loads((out / "intent_report.json").read_text())
    return report


def run_checks(settings: Settings | None = None) -> int:
    """`rasa data validate`, the story tests and the actions' unit tests, as CI runs them; the
    exit status of the worst."""
    settings = settings or get_settings()
    model = train(settings)
    rasa = str(rasa_executable(settings))
    python = str(venv_dir(settings) / "bin" / "python")
    # Tracker snapshots and a fake platform on loopback (tests/actions/harness.py): the actions
    # without Rasa, in Rasa's Python.
    actions = _run(
        [python, "-m", "unittest", "discover", "-s", "tests/actions", "-t", "."],
        settings,
        quiet=False,
    )
    validate = _run([rasa, "data", "validate", "--quiet"], settings, quiet=False)
    stories = _run(
        [
            rasa,
            "test",
            "core",
            "--model",
            str(model),
            "--stories",
            "tests/stories",
            "--fail-on-prediction-errors",
            "--out",
            str(settings.cache_dir / "rasa" / "results"),
        ],
        settings,
        quiet=False,
    )
    return max(validate.returncode, stories.returncode, actions.returncode)
