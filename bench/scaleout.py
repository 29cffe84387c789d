"""The production topology on this machine, under load and under kills:
`python -m bench.scaleout [--quick] [--rasa real|instant] [--output FILE]`.

The topology (docker-compose.yml's, as processes):
- nginx (Debian's) in front of the API replicas, WebSockets included;
- API replicas: `python -m tiepdan serve --workers 1` each, listening for pushes (LISTEN/NOTIFY);
- PostgreSQL: the local server, database `tiepdan_bench_scaleout`;
- Redis of the run's own (it is restarted): the broker and the shared limit counters;
- two workers (`python -m tiepdan worker`) and one beat;
- Rasa and its action server, conversations in PostgreSQL (`tiepdan_bench_scaleout_rasa`) and
  the lock in Redis (`--rasa real`, the default), or a Rasa that answers at once
  (`--rasa instant`, tests/fakes/rasa.py), to see the platform's own ceiling.

The limits and quotas are on, set far above the load: their counters go through Redis too.

1. Throughput: chats sending one message after another through nginx for a while, with one API
   replica behind it, then two.
2. The kills, with two replicas, under the same load, plus tickets filed through the API at a
   steady rate and staff replies pushed to chats that keep a WebSocket open:
   - one API replica killed (SIGKILL), started again 5 s later, as a supervisor would;
   - one worker killed (SIGKILL) and started again 5 s later;
   - Redis restarted (shut down, started again on its append-only file).
   Then the platform settles, and the database is read:
   - every message a chat had an answer for is stored exactly once (the web chat's
     client_message_id makes the chats' retries safe, as the widget's);
   - every ticket the API acknowledged exists, and none is left unrouted (a lost job);
   - every staff reply reached its WebSocket, whichever replica holds it, exactly once.
3. A markdown report in bench/results/scaleout.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from websockets.asyncio.client import connect

from bench import dataset
from bench.load import free_port, start, stop
from bench.report import _code_version
from bot import assistant
from bot.delivery import add_outbound
from bot.models import Conversation, Direction, Message, MessageState, WebchatSession
from core.settings import Settings, get_settings
from feedback.models import Ticket, TicketStatus
from integrations.channel import Reply
from tiepdan.processes import wait_for_url

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "scaleout.md"
# Far above the run's load (it comes from one address), so that the counters are exercised
# in Redis without refusing the benchmark.
HIGH_LIMITS = {
    f"TIEPDAN_{name.upper()}": "1000000/minute"
    for name in Settings.model_fields
    if name.startswith("limit_") and not name.startswith("limit_photo")
}
CHAT_TEXTS = ("xin chào", "giờ làm việc của UBND phường thế nào", "cảm ơn nhé")
RETRYABLE = {502, 503, 504}


@dataclass
class Plan:
    chats: int = 40
    seconds: float = 40.0  # each throughput window
    kill_seconds: float = 60.0  # the window with the kills
    tickets_per_second: float = 4.0
    sockets: int = 40
    replies_every: float = 0.5
    settle: float = 90.0

    @classmethod
    def quick(cls) -> Plan:
        return cls(chats=6, seconds=8, kill_seconds=24, tickets_per_second=2, sockets=6, settle=60)


@dataclass
class ChatLoad:
    """What the chats sent and were answered, counted by the chats themselves."""

    answered: list[tuple[str, str]] = field(default_factory=list)  # (session, client id)
    latencies: list[float] = field(default_factory=list)
    retries: int = 0
    given_up: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.answered) / self.seconds if self.seconds else 0.0


@dataclass
class KillRun:
    chats: ChatLoad
    tickets_acknowledged: list[str] = field(default_factory=list)
    tickets_unknown: int = 0  # no answer (a replica died mid-request): not retried
    replies_sent: dict[str, list[str]] = field(default_factory=dict)  # session -> texts
    replies_received: dict[str, list[str]] = field(default_factory=dict)
    socket_replicas: Counter[str] = field(default_factory=Counter)
    events: list[tuple[float, str]] = field(default_factory=list)
    checks: dict[str, int] = field(default_factory=dict)
    settled_in: float = 0.0  # seconds after the load until every ticket routed and reply pushed


class Topology:
    """The processes of the production topology, each started, killed and started again."""

    def __init__(self, database_url: str, logs: Path, *, rasa: str) -> None:
        self.database_url = database_url
        self.logs = logs
        self.rasa_mode = rasa
        self.redis_port = free_port()
        self.nginx_port = free_port()
        self.replica_ports = {"api-1": free_port(), "api-2": free_port()}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.queue = f"bench-scaleout-{os.getpid()}"
        self.rasa_port, self.actions_port = free_port(), free_port()
        self._instant: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "TIEPDAN_DATABASE_URL": self.database_url,
            "TIEPDAN_BROKER_URL": self.redis_url,
            "TIEPDAN_REDIS_URL": self.redis_url,
            "TIEPDAN_TASK_QUEUE": self.queue,
            "TIEPDAN_WEBCHAT_PUSH": "notify",
            "TIEPDAN_RASA_URL": self.rasa_url,
            "TIEPDAN_PLATFORM_URL": self.url,
            "TIEPDAN_VAR_DIR": str(self.logs / "var"),
            **HIGH_LIMITS,
        }

    @property
    def rasa_url(self) -> str:
        if self._instant is not None:
            return str(self._instant.url)
        return f"http://127.0.0.1:{self.rasa_port}"

    # --- Redis -----------------------------------------------------------------------------

    def start_redis(self) -> None:
        command = [
            "redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
            "--dir", str(self.logs),
        ]  # fmt: skip
        self.processes["redis"] = start(
            command, self.logs / "redis.log", env=dict(os.environ), append=True
        )
        _wait_for_redis(self.redis_port)

    def restart_redis(self) -> None:
        """A graceful restart: Redis writes its append-only file, and reads it back."""
        subprocess.run(
            ["redis-cli", "-p", str(self.redis_port), "shutdown"], capture_output=True, timeout=30
        )
        self.processes["redis"].wait(timeout=30)
        self.start_redis()

    # --- Rasa --------------------------------------------------------------------------------

    def start_rasa(self) -> None:
        if self.rasa_mode == "instant":
            from tests.fakes.rasa import InstantRasa

            self._instant = InstantRasa().__enter__()
            return
        settings = self.rasa_settings()
        print("Training Rasa's model (cached when trained before) ...", flush=True)
        assistant.train(settings)
        env = assistant.rasa_env(settings)
        cwd = assistant.PROJECT_DIR
        self.processes["actions"] = start(
            assistant.actions_command(settings, port=self.actions_port),
            self.logs / "actions.log", env=env, cwd=cwd,
        )  # fmt: skip
        self.processes["rasa"] = start(
            assistant.server_command(settings, port=self.rasa_port),
            self.logs / "rasa.log", env=env, cwd=cwd,
        )  # fmt: skip
        wait_for_url(f"{self.rasa_url}/status", [self.processes["rasa"]], timeout=300)

    def rasa_settings(self) -> Settings:
        host, database = self.database_url.split("@", 1)[1].split("/", 1)
        return get_settings().model_copy(
            update={
                "rasa_url": self.rasa_url,
                "actions_url": f"http://127.0.0.1:{self.actions_port}/webhook",
                "platform_url": self.url,
                "rasa_tracker_store_url": f"postgresql://postgres@{host}/{database}_rasa",
                "rasa_lock_store_url": f"redis://127.0.0.1:{self.redis_port}/1",
            }
        )

    # --- The platform ------------------------------------------------------------------------

    def start_replica(self, name: str) -> None:
        port = self.replica_ports[name]
        command = [sys.executable, "-m", "tiepdan", "serve", "--port", str(port)]
        command += ["--workers", "1", "--no-access-log"]
        self.processes[name] = start(
            command, self.logs / f"{name}.log", env=self.env(), cwd=ROOT, append=True
        )
        wait_for_url(f"http://127.0.0.1:{port}/healthz", [self.processes[name]], timeout=60)

    def start_worker(self, name: str) -> None:
        command = [sys.executable, "-m", "tiepdan", "worker"]
        self.processes[name] = start(
            command, self.logs / f"{name}.log", env=self.env(), cwd=ROOT, append=True
        )

    def start_beat(self) -> None:
        command = [sys.executable, "-m", "tiepdan", "beat"]
        self.processes["beat"] = start(command, self.logs / "beat.log", env=self.env(), cwd=ROOT)

    def kill(self, name: str) -> None:
        """SIGKILL to the process and its children: nothing of it gets to clean up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.processes[name].pid, signal.SIGKILL)
        self.processes[name].wait(timeout=30)

    # --- nginx ------------------------------------------------------------------------------

    def start_nginx(self, replicas: list[str]) -> None:
        conf = self.logs / "nginx.conf"
        conf.write_text(_nginx_conf(self.logs, self.nginx_port, self._ports(replicas)))
        self.processes["nginx"] = start(
            ["nginx", "-p", str(self.logs), "-c", str(conf), "-g", "daemon off;"],
            self.logs / "nginx.log",
            env=dict(os.environ),
        )
        wait_for_url(f"{self.url}/healthz", [self.processes["nginx"]], timeout=30)

    def route_to(self, replicas: list[str]) -> None:
        """nginx's upstreams changed in place (a reload: open connections finish)."""
        conf = self.logs / "nginx.conf"
        conf.write_text(_nginx_conf(self.logs, self.nginx_port, self._ports(replicas)))
        self.processes["nginx"].send_signal(signal.SIGHUP)
        time.sleep(1)

    def _ports(self, replicas: list[str]) -> list[int]:
        return [self.replica_ports[name] for name in replicas]

    def stop_all(self) -> None:
        for name in reversed(list(self.processes)):
            stop(self.processes[name])
        if self._instant is not None:
            self._instant.__exit__(None, None, None)


def _nginx_conf(prefix: Path, port: int, upstreams: list[int]) -> str:
    servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=3s;" for p in upstreams)
    temp = "\n".join(
        f"  {kind}_temp_path {prefix}/nginx-{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # A request that could not be sent to a replica (connection refused: it is down) goes to
    # the other; one that was sent is not repeated by nginx (a POST is not idempotent): the
    # client retries it under its own message id.
    return f"""worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
{temp}
  map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
  upstream api {{
{servers}
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 20m;
    location / {{
      proxy_pass http://api;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_next_upstream error timeout;
      proxy_connect_timeout 2s;
      proxy_read_timeout 60s;
      add_header X-Upstream $upstream_addr always;
    }}
  }}
}}
"""


def _wait_for_redis(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True)
        if done.stdout.strip() == b"PONG":
            return
        time.sleep(0.2)
    raise RuntimeError(f"Redis on port {port} did not start")


# --- The load ----------------------------------------------------------------------------


class Chats:
    """Chats that each send their next message when the last one was answered, retrying a
    lost answer under the same client_message_id, as the widget does."""

    def __init__(self, base_url: str, count: int) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=30)
        self.sessions = [self._open() for _ in range(count)]
        # Over every run: the messages sent (tries included) and those answered.
        self.sent: set[str] = set()
        self.answered: set[str] = set()

    def _open(self) -> str:
        for _ in range(20):
            with contextlib.suppress(httpx.TransportError):
                response = self.client.post("/api/v1/webchat/sessions")
                if response.status_code == 201:
                    return str(response.json()["session_id"])
            time.sleep(0.5)
        raise RuntimeError("could not open a web-chat session")

    def run(self, seconds: float) -> ChatLoad:
        load = ChatLoad()
        lock = threading.Lock()
        deadline = time.monotonic() + seconds

        def chat(session_id: str, number: int) -> None:
            turn = number
            while time.monotonic() < deadline:
                client_id = uuid.uuid4().hex
                body = {
                    "session_id": session_id,
                    "text": CHAT_TEXTS[turn % len(CHAT_TEXTS)],
                    "client_message_id": client_id,
                }
                turn += 1
                with lock:
                    self.sent.add(client_id)
                started = time.monotonic()
                answered = False
                for attempt in range(30):
                    try:
                        response = self.client.post("/api/v1/webchat/messages", json=body)
                        if response.status_code == 200:
                            answered = True
                            break
                        if response.status_code not in RETRYABLE:
                            break
                    except httpx.TransportError:
                        pass
                    with lock:
                        load.retries += 1
                    time.sleep(min(0.25 * (attempt + 1), 2.0))
                with lock:
                    if answered:
                        self.answered.add(client_id)
                        load.answered.append((session_id, client_id))
                        load.latencies.append(time.monotonic() - started)
                    else:
                        load.given_up += 1

        started = time.monotonic()
        threads = [threading.Thread(target=chat, args=(s, n)) for n, s in enumerate(self.sessions)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        load.seconds = time.monotonic() - started
        return load


def _file_tickets(
    base_url: str, rate: float, stop_at: float, run: KillRun, lock: threading.Lock
) -> None:
    headers = {"Authorization": f"Bearer {get_settings().service_token}"}
    rng = random.Random(11)
    with httpx.Client(base_url=base_url, timeout=30, headers=headers) as client:
        number = 0
        while time.monotonic() < stop_at:
            number += 1
            body = {
                "description": f"Ổ gà lớn trước số {rng.randrange(1, 400)} đường Lê Lợi "
                f"(phiếu thử tải {uuid.uuid4().hex[:8]})",
                "channel": "web",
            }
            try:
                response = client.post("/api/v1/tickets", json=body)
            except httpx.TransportError:
                with lock:
                    run.tickets_unknown += 1
            else:
                with lock:
                    if response.status_code == 201:
                        run.tickets_acknowledged.append(str(response.json()["code"]))
                    else:
                        run.tickets_unknown += 1
            time.sleep(1 / rate)


async def _sockets(
    base_url: str,
    session_ids: list[str],
    run: KillRun,
    stop: threading.Event,
) -> None:
    """A WebSocket per chat, through nginx, reconnecting with the last id it has (as the
    widget does) when its replica goes away; every pushed text is recorded."""
    ws_base = base_url.replace("http://", "ws://") + "/api/v1/webchat/ws/"

    async def keep_open(session_id: str) -> None:
        last_id = 0
        received = run.replies_received.setdefault(session_id, [])
        while not stop.is_set():
            try:
                async with connect(
                    f"{ws_base}{session_id}?after={last_id}", proxy=None, ping_interval=None
                ) as socket:
                    response = socket.response
                    if response is not None:
                        run.socket_replicas[response.headers.get("X-Upstream", "?")] += 1
                    while not stop.is_set():
                        try:
                            data = json.loads(await asyncio.wait_for(socket.recv(), timeout=1))
                        except TimeoutError:
                            continue
                        for message in data.get("messages", []):
                            # Every push is kept, so that one sent twice shows; a push may
                            # come below the last id (ids are taken at insert, not commit).
                            last_id = max(last_id, message["id"])
                            received.append(message["text"])
            except Exception:  # the replica went away: reconnect, as the widget does
                await asyncio.sleep(0.5)

    await asyncio.gather(*(keep_open(s) for s in session_ids))


def _staff_replies(
    database_url: str, session_ids: list[str], every: float, stop_at: float, run: KillRun
) -> None:
    """Staff replies committed from a process of their own (as the worker does): each must be
    pushed by whichever replica holds the chat's WebSocket."""
    engine = create_engine(database_url)
    rng = random.Random(5)
    number = 0
    try:
        while time.monotonic() < stop_at:
            session_id = rng.choice(session_ids)
            number += 1
            words = f"Cán bộ phản hồi số {number}."
            try:
                with Session(engine) as session:
                    conversation_id = session.scalar(
                        select(WebchatSession.conversation_id).where(
                            WebchatSession.id == session_id
                        )
                    )
                    conversation = session.get_one(Conversation, conversation_id)
                    add_outbound(session, conversation, Reply(text=words), channel_message_id=words)
                    session.commit()
                run.replies_sent.setdefault(session_id, []).append(words)
            except Exception as exc:  # PostgreSQL is not the fault injected here
                print(f"  a staff reply failed: {exc}", flush=True)
            time.sleep(every)
    finally:
        engine.dispose()


def _kills(topology: Topology, seconds: float, run: KillRun) -> None:
    """At a sixth of the window: a replica killed; at a third: a worker; at a half: Redis."""
    started = time.monotonic()

    def at(fraction: float) -> None:
        time.sleep(max(0.0, started + seconds * fraction - time.monotonic()))

    def note(what: str) -> None:
        run.events.append((time.monotonic() - started, what))
        print(f"  {time.monotonic() - started:5.1f} s  {what}", flush=True)

    at(1 / 6)
    topology.kill("api-2")
    note("api-2 killed (SIGKILL)")
    time.sleep(5)
    topology.start_replica("api-2")
    note("api-2 started again")
    at(2 / 6)
    topology.kill("worker-1")
    note("worker-1 killed (SIGKILL)")
    time.sleep(5)
    topology.start_worker("worker-1")
    note("worker-1 started again")
    at(3 / 6)
    topology.restart_redis()
    note("Redis restarted")


def _kill_run(topology: Topology, chats: Chats, plan: Plan) -> KillRun:
    run = KillRun(chats=ChatLoad())
    lock = threading.Lock()
    stop_at = time.monotonic() + plan.kill_seconds
    socket_sessions = chats.sessions[: plan.sockets]
    stop_sockets = threading.Event()
    socket_thread = threading.Thread(
        target=asyncio.run,
        args=(_sockets(topology.url, socket_sessions, run, stop_sockets),),
    )
    socket_thread.start()
    time.sleep(2)  # the sockets open
    helpers = [
        threading.Thread(
            target=_file_tickets,
            args=(topology.url, plan.tickets_per_second, stop_at, run, lock),
        ),
        threading.Thread(
            target=_staff_replies,
            args=(topology.database_url, socket_sessions, plan.replies_every, stop_at, run),
        ),
        threading.Thread(target=_kills, args=(topology, plan.kill_seconds, run)),
    ]
    for helper in helpers:
        helper.start()
    run.chats = chats.run(plan.kill_seconds)
    for helper in helpers:
        helper.join()

    print("Settling: every ticket routed, every reply pushed ...", flush=True)
    settling = time.monotonic()
    deadline = settling + plan.settle
    while time.monotonic() < deadline:
        if _unrouted(topology.database_url, run.tickets_acknowledged) == 0 and all(
            sorted(run.replies_received.get(s, [])) == sorted(sent)
            for s, sent in run.replies_sent.items()
        ):
            break
        time.sleep(1)
    run.settled_in = time.monotonic() - settling
    stop_sockets.set()
    socket_thread.join()
    run.checks = _checks(topology.database_url, run, chats)
    return run


def _unrouted(database_url: str, codes: list[str]) -> int:
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            return int(
                session.scalar(
                    select(func.count()).where(
                        Ticket.code.in_(codes), Ticket.status == TicketStatus.NEW
                    )
                )
                or 0
            )
    finally:
        engine.dispose()


def _checks(database_url: str, run: KillRun, chats: Chats) -> dict[str, int]:
    """What the database holds against what the clients were told, over the whole run."""
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            stored = Counter(
                session.scalars(
                    select(Message.channel_message_id).where(
                        Message.direction == Direction.INBOUND,
                        Message.channel_message_id.like("client:%"),
                    )
                )
            )
            tickets = set(
                session.scalars(
                    select(Ticket.code).where(Ticket.code.in_(run.tickets_acknowledged))
                )
            )
            unanswered = session.scalar(
                select(func.count()).where(
                    Message.direction == Direction.INBOUND,
                    Message.channel_message_id.like("client:%"),
                    Message.state == MessageState.RECEIVED,
                )
            )
    finally:
        engine.dispose()
    answered = {f"client:{client_id}" for client_id in chats.answered}
    sent = {f"client:{client_id}" for client_id in chats.sent}
    never_pushed = [
        (s, t) for s, sent in run.replies_sent.items() for t in sent
        if t not in run.replies_received.get(s, [])
    ]  # fmt: skip
    for session_id, words in never_pushed[:5]:
        print(f"  never pushed: {words!r} to chat {session_id[:8]}…", flush=True)
    pushes_lost = len(never_pushed)
    pushes_twice = sum(
        sum(1 for n in Counter(received).values() if n > 1)
        for received in run.replies_received.values()
    )
    return {
        "messages sent (the whole run)": len(sent),
        "messages answered": len(answered),
        "messages answered but not stored": sum(1 for a in answered if stored[a] == 0),
        "messages stored twice": sum(1 for n in stored.values() if n > 1),
        "messages stored that no chat sent": len(set(stored) - sent),
        "messages stored whose answer was lost (the chat gave up)": len(set(stored) - answered),
        "messages left unanswered in the database": int(unanswered or 0),
        "tickets acknowledged": len(run.tickets_acknowledged),
        "tickets acknowledged but missing": len(set(run.tickets_acknowledged) - tickets),
        "tickets left unrouted": _unrouted(database_url, run.tickets_acknowledged),
        "staff replies committed": sum(len(s) for s in run.replies_sent.values()),
        "staff replies never pushed": pushes_lost,
        "staff replies pushed twice": pushes_twice,
    }


LOSSES = (
    "messages answered but not stored",
    "messages stored that no chat sent",
    "messages stored twice",
    "messages left unanswered in the database",
    "tickets acknowledged but missing",
    "tickets left unrouted",
    "staff replies never pushed",
    "staff replies pushed twice",
)


# --- Running it -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaleout", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (smoke test)")
    parser.add_argument("--rasa", choices=("real", "instant"), default="real")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--database", default="tiepdan_bench_scaleout")
    args = parser.parse_args(argv)
    plan = Plan.quick() if args.quick else Plan()
    for program in ("nginx", "redis-server", "redis-cli"):
        if shutil.which(program) is None:
            print(f"{program} is needed: apt-get install nginx redis-server", file=sys.stderr)
            return 2

    print(f"Creating the database {args.database} ...", flush=True)
    url = dataset.recreate_database(args.admin_url, args.database)
    if args.rasa == "real":  # Rasa's conversations
        dataset.recreate_database(args.admin_url, f"{args.database}_rasa")
    dataset.prepare_database(url)
    logs = Path(tempfile.mkdtemp(prefix="bench-scaleout-"))
    print(f"Logs in {logs}", flush=True)
    topology = Topology(url, logs, rasa=args.rasa)
    throughput: dict[int, ChatLoad] = {}
    try:
        topology.start_redis()
        topology.start_rasa()
        topology.start_replica("api-1")
        topology.start_nginx(["api-1"])
        topology.start_worker("worker-1")
        topology.start_worker("worker-2")
        topology.start_beat()
        chats = Chats(topology.url, plan.chats)
        chats.run(3)  # warm-up
        print(f"Throughput, 1 replica, {plan.chats} chats, {plan.seconds:.0f} s ...", flush=True)
        throughput[1] = chats.run(plan.seconds)
        topology.start_replica("api-2")
        topology.route_to(["api-1", "api-2"])
        print(f"Throughput, 2 replicas, {plan.chats} chats, {plan.seconds:.0f} s ...", flush=True)
        throughput[2] = chats.run(plan.seconds)
        print(f"The kills, {plan.kill_seconds:.0f} s ...", flush=True)
        run = _kill_run(topology, chats, plan)
    finally:
        topology.stop_all()

    report = _render(throughput, run, plan, rasa=args.rasa)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    print("\n" + report)
    print(f"Written to {args.output}")
    return 0 if all(run.checks[name] == 0 for name in LOSSES) else 1


def _render(throughput: dict[int, ChatLoad], run: KillRun, plan: Plan, *, rasa: str) -> str:
    when = time.strftime("%Y-%m-%d %H:%M")
    rasa_words = (
        "the real Rasa and action server (conversations in PostgreSQL, lock in Redis)"
        if rasa == "real"
        else "a Rasa that answers at once (tests/fakes/rasa.py): the platform's own ceiling"
    )
    flag = "" if rasa == "real" else " --rasa instant"
    lines = [
        "# Scale-out: the production topology under load and kills",
        "",
        f"Run on {when} with `python -m bench.scaleout{flag}`"
        f" at {_code_version()}: {os.cpu_count()} cores, Python {platform.python_version()},"
        " everything on this one machine: nginx, API replicas (`tiepdan serve --workers 1`"
        " each), PostgreSQL, a Redis of the run's own (broker and limit counters), two"
        f" workers, beat, and {rasa_words}.",
        "",
        "## Throughput",
        "",
        f"{plan.chats} chats through nginx, each sending its next message when the last was"
        f" answered, {plan.seconds:.0f} s each.",
        "",
        "| API replicas | turns | turns/s | p50 ms | p95 ms |",
        "|---:|---:|---:|---:|---:|",
    ]
    for replicas, load in throughput.items():
        lines.append(
            f"| {replicas} | {len(load.answered)} | {load.rate:.1f} |"
            f" {_percentile(load.latencies, 50):.0f} | {_percentile(load.latencies, 95):.0f} |"
        )
    lines += [
        "",
        "Both replicas share the machine's two cores with everything else, so a second replica"
        " adds processes, not CPU: the ratio says whether the replicas get in each other's way,"
        " not what a second machine would add.",
        "",
        "## The kills",
        "",
        f"Two replicas, {plan.kill_seconds:.0f} s of the same load, plus"
        f" {plan.tickets_per_second:g} tickets a second through `POST /api/v1/tickets` and a"
        f" staff reply every {plan.replies_every:g} s to one of {plan.sockets} chats that keep"
        " a WebSocket open (committed from another process, as the worker does).",
        "",
        "| s | what |",
        "|---:|---|",
        *[f"| {at:.1f} | {what} |" for at, what in run.events],
        "",
        f"Chats: {len(run.chats.answered)} turns answered ({run.chats.rate:.1f}/s), p95"
        f" {_percentile(run.chats.latencies, 95):.0f} ms, {run.chats.retries} retries of a lost"
        f" answer, {run.chats.given_up} given up. Tickets with no answer (not retried, as a"
        f" client cannot know): {run.tickets_unknown}. WebSocket connections by replica:"
        f" {', '.join(f'{k} {v}' for k, v in sorted(run.socket_replicas.items()))}."
        f" Settling after the load (until every ticket is routed and every reply pushed, or"
        f" {plan.settle:.0f} s): {run.settled_in:.0f} s.",
        "",
        "| check | count |",
        "|---|---:|",
        *[f"| {name} | {count} |" for name, count in run.checks.items()],
        "",
        f"Lost or doubled: **{'none' if all(run.checks[n] == 0 for n in LOSSES) else 'yes'}**"
        f" ({', '.join(LOSSES)}).",
        "",
    ]
    return "\n".join(lines)


def _percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] * 1000 if values else 0.0
    return statistics.quantiles(values, n=100)[q - 1] * 1000


if __name__ == "__main__":
    raise SystemExit(main())
