"""`tiepdan run`: the whole platform on one machine, with a quiet first screen.

Set-up steps (migrate, seed, demo tickets on a fresh database, the NLU, Rasa's environment and
model) print one line each; their output goes to var/log/setup.log. Then the API, the worker
with beat, Rasa and its action server start with their output in var/log/<process>.log, a line
is printed as each one answers, and the banner comes once the API and Rasa both answer. Rasa
may take longer on a slow machine: then the banner says it is still starting, and a line
follows when it is ready. `--verbose` streams everything to the terminal instead.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from core.settings import Settings, get_settings
from tiepdan.console import Console, StepFailed, rotate, tail
from tiepdan.processes import interrupt_on_sigterm, supervise

LOGS = ("setup", "api", "worker", "rasa", "actions")
# How long the banner waits for Rasa before saying it is still starting (it loads its model in
# about 15 s on a laptop; the API and the worker are up in a few seconds).
RASA_PATIENCE = 60.0
START_TIMEOUT = 90.0


@dataclass
class Process:
    """A child process and what its status line says once it answers."""

    name: str
    what: str
    ready: Callable[[], bool]
    popen: subprocess.Popen[bytes]
    logs: tuple[str, ...]
    optional: bool = False  # the platform runs without it (Rasa)
    answered: bool = field(default=False)


def run_locally(*, host: str, port: int, verbose: bool, demo_tickets: int) -> int:
    """Set up and run everything until Ctrl+C or SIGTERM; the exit status."""
    settings = get_settings()
    # The probes below are this process's own business, not lines for the terminal.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    console = Console(log_dir=settings.var_dir / "log", verbose=verbose)
    # Every child derives the API's address from PORT (Rasa's action server calls it there).
    env = {**os.environ, "PORT": str(port)}
    if not verbose:
        for name in LOGS:
            rotate(console.log_dir / f"{name}.log")
    with interrupt_on_sigterm():
        try:
            rasa = _set_up(console, settings, env, demo_tickets=demo_tickets)
        except StepFailed:
            return 1
        except KeyboardInterrupt:
            return 130
        return _serve(console, settings, env, host=host, port=port, rasa=rasa)


def _set_up(
    console: Console, settings: Settings, env: dict[str, str], *, demo_tickets: int
) -> bool:
    """The steps before the processes start; whether Rasa can run."""
    tiepdan = [sys.executable, "-m", "tiepdan"]

    def step(label: str, *arguments: str) -> None:
        console.step(label, [*tiepdan, *arguments], env=env, log="setup.log")

    console.say(f"Setting up Tiếp Dân (the steps' output: {_log(console, 'setup')})")
    new = _database_is_new(settings)
    step("Migrating the database", "db", "upgrade")
    step("Loading the province and the demo logins", "seed", "--demo")
    if settings.classifier == "nlu":
        step("Preparing the Vietnamese NLU (trained once, about a minute)", "nlu", "train")
    # Only into a database this run created: demo tickets someone removed stay removed.
    if demo_tickets and new:
        step(f"Adding {demo_tickets} demo tickets over the 90 days before today", "seed",
             "--demo-tickets", str(demo_tickets))  # fmt: skip
    try:
        step("Preparing Rasa's Python 3.10 environment (once, about 3 minutes)", "bot", "venv")
        step("Preparing the Rasa model (trained once, about a minute)", "bot", "train")
    except StepFailed:
        console.say(
            "    The platform runs without Rasa: the chat stores every message, acknowledges "
            "it and files reports as tickets."
        )
        return False
    return True


def _database_is_new(settings: Settings) -> bool:
    """Whether the database has no tables yet (a SQLite file that does not exist, say)."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from core.database import dispose_engine, get_engine

    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return True
    try:
        return not inspect(get_engine()).has_table("tickets")
    finally:
        dispose_engine()  # this process keeps no connection: the children own the database


def _serve(
    console: Console, settings: Settings, env: dict[str, str], *, host: str, port: int, rasa: bool
) -> int:
    """Start the processes and watch them; whatever happens here, none outlives this function."""
    tiepdan = [sys.executable, "-m", "tiepdan"]
    base = f"http://{host}:{port}"
    quiet = [] if console.verbose else ["--no-access-log"]
    serve = [*tiepdan, "serve", "--host", host, "--port", str(port), *quiet]
    children: list[subprocess.Popen[bytes]] = []

    def spawn(name: str, command: list[str]) -> subprocess.Popen[bytes]:
        children.append(_spawn(console, name, command, env))
        return children[-1]

    console.say(f"Starting the platform (logs: {_log(console)})")
    try:
        processes = [
            Process("api", base, _answers(f"{base}/readyz"), spawn("api", serve), ("api",)),
            Process("worker", "Celery worker and beat", _worker_ready(console),
                    spawn("worker", [*tiepdan, "worker", "--beat"]), ("worker",)),
        ]  # fmt: skip
        if rasa:
            # One child, `tiepdan bot serve`, runs both and writes each one's log.
            logs = [] if console.verbose else ["--log-dir", str(console.log_dir)]
            bot = spawn("rasa", [*tiepdan, "bot", "serve", *logs])
            processes += [
                Process("actions", "Rasa's action server", _answers(_actions_health(settings)),
                        bot, ("actions",), optional=True),
                Process("rasa", "the Rasa assistant", _answers(_rasa_status(settings)),
                        bot, ("rasa",), optional=True),
            ]  # fmt: skip
        return _watch(console, settings, base, processes, children)
    except KeyboardInterrupt:
        return 130
    finally:
        _stop(children)  # those still running: after a failure, Ctrl+C, or a broken terminal


def _watch(
    console: Console,
    settings: Settings,
    base: str,
    processes: list[Process],
    children: list[subprocess.Popen[bytes]],
) -> int:
    """Status lines, the banner, then supervision until Ctrl+C or a process stops."""
    if not _wait_until_answering(console, processes, children):
        return 1
    pending = [p for p in processes if not p.answered]
    for process in pending:
        console.say(
            f"  … {process.name:<8} still starting (log: {_log(console, *process.logs)}): until "
            "it is ready, the chat acknowledges messages and files reports as tickets"
        )
    running = any(p.name == "rasa" for p in processes)
    console.say(_banner(console, settings, base, rasa=running, pending=bool(pending)))

    def announce_late_ones() -> None:
        for process in pending:
            if not process.answered and process.ready():
                process.answered = True
                console.say(f"  ✓ {process.name:<8} is ready: the chat now answers with Rasa")

    clean = supervise(children, on_poll=_every(2.0, announce_late_ones))
    for child in children:
        if child.returncode not in (None, 0, -signal.SIGTERM):
            together = [p for p in processes if p.popen is child]
            _report_exit(console, together, child.returncode)
    if clean:
        console.say("Stopped: every process has ended.")
    return 0 if clean else 1


def _spawn(
    console: Console, name: str, command: list[str], env: dict[str, str]
) -> subprocess.Popen[bytes]:
    if console.verbose:
        return subprocess.Popen(command, env=env)
    with (console.log_dir / f"{name}.log").open("ab") as out:  # the child keeps its own copy
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_until_answering(
    console: Console, processes: list[Process], children: list[subprocess.Popen[bytes]]
) -> bool:
    """Print a line as each process answers; False (after saying why) when a required one stops
    or does not answer in time. Optional ones (Rasa) get RASA_PATIENCE seconds, and if they stop,
    the platform goes on without them."""
    started = time.monotonic()
    while True:
        waited = time.monotonic() - started
        for process in list(processes):
            code = process.popen.poll()
            if code is not None:
                _report_exit(console, _sharing(processes, process), code)
                if not process.optional:
                    return False
                console.say(f"    The platform goes on without {process.name}.")
                # Rasa and its action server are one child (`tiepdan bot serve`): both go.
                processes[:] = [p for p in processes if p.popen is not process.popen]
                children.remove(process.popen)
                break
            if not process.answered and process.ready():
                process.answered = True
                where = _log(console, *process.logs)
                console.say(f"  ✓ {process.name:<8} {process.what:<40} {where}")
        required = [p for p in processes if not p.optional]
        if all(p.answered for p in processes):
            return True
        if all(p.answered for p in required) and waited > RASA_PATIENCE:
            return True
        if waited > START_TIMEOUT:
            late = next(p for p in required if not p.answered)
            console.say(f"  ✗ {late.name} did not answer within {START_TIMEOUT:.0f} s.")
            _show_log(console, late)
            return False
        time.sleep(0.3)


def _sharing(processes: list[Process], process: Process) -> list[Process]:
    """`process` and those of the same child (Rasa and its action server)."""
    return [p for p in processes if p.popen is process.popen]


def _report_exit(console: Console, processes: list[Process], code: int) -> None:
    names = " and ".join(p.name for p in processes)
    console.say(f"  ✗ {names} stopped (exit status {code}).")
    for process in processes:
        _show_log(console, process)


def _show_log(console: Console, process: Process) -> None:
    if console.verbose:
        return
    for name in process.logs:
        path = console.log_dir / f"{name}.log"
        console.say(f"    The end of {console.shown(path)}:")
        for line in tail(path, 15):
            console.say(f"    {line}")


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()


# --- Probes ---------------------------------------------------------------------------------


def _answers(url: str) -> Callable[[], bool]:
    def probe() -> bool:
        import httpx

        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    return probe


def _rasa_status(settings: Settings) -> str:
    """Rasa's /status answers once its model is loaded."""
    token = f"?token={settings.rasa_token}" if settings.rasa_token else ""
    return f"{settings.rasa_url.rstrip('/')}/status{token}"


def _actions_health(settings: Settings) -> str:
    parts = urlsplit(settings.actions_url)
    return f"{parts.scheme}://{parts.netloc}/health"


def _worker_ready(console: Console) -> Callable[[], bool]:
    """Celery logs "celery@<host> ready." once it takes jobs. Streaming to the terminal there
    is no log to read: the worker counts as started."""
    log = console.log_dir / "worker.log"

    def probe() -> bool:
        if console.verbose:
            return True
        return log.exists() and " ready." in log.read_text(encoding="utf-8", errors="replace")

    return probe


def _every(seconds: float, action: Callable[[], None]) -> Callable[[], None]:
    last = [0.0]

    def maybe() -> None:
        if time.monotonic() - last[0] >= seconds:
            last[0] = time.monotonic()
            action()

    return maybe


# --- The banner -----------------------------------------------------------------------------


def _log(console: Console, *names: str) -> str:
    if console.verbose:
        return "this terminal"
    if not names:
        return console.shown(console.log_dir) + "/"
    return ", ".join(console.shown(console.log_dir / f"{name}.log") for name in names)


def _banner(console: Console, settings: Settings, base: str, *, rasa: bool, pending: bool) -> str:
    from sqlalchemy.engine import make_url

    from feedback.seed import DEMO_USERS

    database = make_url(settings.database_url)
    if database.drivername.startswith("sqlite") and database.database:
        where = console.shown(Path(database.database))
    else:
        where = database.render_as_string(hide_password=True)
    if not rasa:
        assistant = "not running: the chat files reports without it (see the steps above)"
    elif pending:
        assistant = f"still starting ({settings.rasa_url}); a line above will say when it is ready"
    else:
        assistant = f"ready ({settings.rasa_url})"
    roles = {
        "admin": "admin (sets up a TOTP code at the first sign-in)",
        "dispatcher": "dispatcher: triage and every agency's queue",
        "agency_staff": "officer of {agency}",
        "viewer": "IOC viewer: the dashboards",
    }
    logins = [
        f"{username} / {password}".ljust(34) + roles[role.value].format(agency=agency)
        for username, password, role, agency in DEMO_USERS
    ]
    lines = [
        "",
        f"Tiếp Dân is running on {base}",
        f"  web chat      {base}/            (a demo portal page with the chat)",
        f"  admin panel   {base}/admin       (sign in with a demo login below)",
        f"  API docs      {base}/docs",
        f"  readiness     {base}/readyz",
        f"  Rasa          {assistant}",
        f"  database      {where}",
        f"  logs          {_log(console)}"
        + ("" if console.verbose else "  (setup, api, worker, rasa, actions)"),
        "  demo logins   " + logins[0],
        *[" " * 16 + login for login in logins[1:]],
        "Stop with Ctrl+C.",
    ]
    return "\n".join(lines)
