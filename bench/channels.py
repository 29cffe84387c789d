"""The channels benchmark: `python -m bench.channels [--quick] [--output FILE]`.

What a channel adds to a turn, and whether it loses or doubles anything under load.

1. A fresh PostgreSQL database `tiepdan_bench_channels`, migrated and seeded; Redis as the
   broker, on a queue of this run's own.
2. The real platform: `tiepdan serve --workers 2` and `tiepdan worker` (2 processes), with a
   fake Bot API (tests/fakes/telegram.py), a fake Zalo (tests/fakes/zalo.py) and a Rasa that
   answers at once (tests/fakes/rasa.py).
   Rasa is the instant fake on purpose: both channels wait for the same Rasa, so the difference
   is the platform's own path. On the web chat a turn is one request (store, Rasa, store); on
   Telegram the webhook stores and queues, the worker answers and queues the delivery, and the
   worker sends to the Bot API.
3. One turn at a time, in rounds taking the web chat, Telegram and Zalo in turn: from the
   person's send to the reply (the web chat's response; the fake receiving the message that
   answers it). Each Telegram turn is a new chat, so Telegram's one-message-a-second per chat
   never applies; that pacing is measured by the next step. Nor does its thirty messages a
   second in all: a round of three turns starts at least 1/25 s after the one before (faster,
   some turns would wait up to a second for the next second's sends, the platform keeping
   Telegram's rate, and their latency would measure that wait, not the path).
4. 50 chats per channel at once, each turn sent when the previous reply arrived: turns per
   second, and every reply counted (none lost, none twice).
5. A markdown report in bench/results/channels.md.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import dataset
from bench.load import LIMITS_OFF, running_server, start, stop
from tests.fakes.rasa import ECHO, InstantRasa
from tests.fakes.telegram import FakeBotApi
from tests.fakes.zalo import FakeZalo

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "channels.md"
SECRET = "bench-telegram-webhook-secret-0123456789"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
TARGET_ADDED_P95_MS = 10.0
# One-turn-at-a-time rounds start at most this often: under Telegram's 30 messages a second.
ROUNDS_PER_SECOND = 25


@dataclass
class Plan:
    rounds: int = 5
    turns_per_round: int = 40
    chats: int = 50
    turns_per_chat: int = 10

    @classmethod
    def quick(cls) -> Plan:
        return cls(rounds=1, turns_per_round=5, chats=4, turns_per_chat=2)


@dataclass
class Latencies:
    seconds: list[float] = field(default_factory=list)

    def p(self, q: int) -> float:
        if len(self.seconds) < 2:
            return self.seconds[0] * 1000 if self.seconds else float("nan")
        return statistics.quantiles(self.seconds, n=100, method="inclusive")[q - 1] * 1000


@dataclass
class Load:
    channel: str
    turns: int
    seconds: float
    replies: Counter[str]  # each turn's token -> replies received

    @property
    def rate(self) -> float:
        return self.turns / self.seconds if self.seconds else 0.0

    @property
    def lost(self) -> int:
        return sum(1 for count in self.replies.values() if count == 0)

    @property
    def twice(self) -> int:
        return sum(1 for count in self.replies.values() if count > 1)


_ids = itertools.count(int(time.time()) * 1000)


class Clients:
    """An HTTP client per thread, as each person has their own connection. One httpx.Client
    shared by the 50 chats' threads now and then failed a read with "Bad file descriptor"."""

    def __init__(self, **options: Any) -> None:
        self._options = {"timeout": 30, **options}
        self._local = threading.local()

    def get(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(**self._options)
        return client


class Telegram:
    """People writing to the platform's webhook, heard through the fake Bot API."""

    def __init__(self, base_url: str, fake: FakeBotApi) -> None:
        self._clients = Clients(base_url=base_url)
        self.fake = fake

    def turn(self, chat_id: int, text: str) -> float:
        update = {
            "update_id": next(_ids),
            "message": {
                "message_id": next(_ids) % 10**6,
                "from": {"id": chat_id, "is_bot": False, "first_name": "Bench"},
                "chat": {"id": chat_id, "type": "private", "first_name": "Bench"},
                "date": int(time.time()),
                "text": text,
            },
        }
        started = time.monotonic()
        response = self._clients.get().post(
            "/webhooks/telegram", content=json.dumps(update), headers={SECRET_HEADER: SECRET}
        )
        response.raise_for_status()
        call = self.fake.wait_for_text(chat_id, ECHO.format(message=text), timeout=60)
        return call.at - started


class Zalo:
    """People writing to the OA: signed events to the platform's webhook, heard through the fake
    Zalo (each reply answers the person's message, so it names that message's id)."""

    def __init__(self, base_url: str, fake: FakeZalo) -> None:
        self.url = f"{base_url}/webhooks/zalo"
        self.clients = Clients()
        self.fake = fake
        self._heard = threading.Condition()
        self._replies: dict[str, list[tuple[float, str]]] = {}
        fake.on_send = self._record

    def _record(self, body: dict) -> None:
        replying_to = body.get("recipient", {}).get("message_id") or ""
        with self._heard:
            self._replies.setdefault(replying_to, []).append(
                (time.monotonic(), body.get("message", {}).get("text") or "")
            )
            self._heard.notify_all()

    def turn(self, user_id: str, text: str) -> float:
        event = self.fake.text_event(user_id, text)
        body, headers = self.fake.signed(event)
        started = time.monotonic()
        self.clients.get().post(self.url, content=body, headers=headers).raise_for_status()
        msg_id = event["message"]["msg_id"]
        deadline = started + 60
        with self._heard:
            while not self._replies.get(msg_id):
                if not self._heard.wait(deadline - time.monotonic()):
                    raise AssertionError(f"no reply to {text!r} in 60 s")
            return self._replies[msg_id][0][0] - started

    def replies_to(self, msg_ids: list[str]) -> list[int]:
        with self._heard:
            return [len(self._replies.get(m, [])) for m in msg_ids]


class Web:
    def __init__(self, base_url: str) -> None:
        self._clients = Clients(base_url=base_url)

    def session(self) -> str:
        response = self._clients.get().post("/api/v1/webchat/sessions")
        response.raise_for_status()
        return str(response.json()["session_id"])

    def turn(self, session_id: str, text: str) -> tuple[float, list[str]]:
        started = time.monotonic()
        response = self._clients.get().post(
            "/api/v1/webchat/messages", json={"session_id": session_id, "text": text}
        )
        response.raise_for_status()
        return time.monotonic() - started, [m["text"] for m in response.json()["messages"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.channels", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (smoke test)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--database", default="tiepdan_bench_channels")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args(argv)
    plan = Plan.quick() if args.quick else Plan()

    print(f"Creating the database {args.database} ...", flush=True)
    url = dataset.recreate_database(args.admin_url, args.database)
    dataset.prepare_database(url)
    logs = Path(tempfile.gettempdir())
    with InstantRasa() as rasa, FakeBotApi() as telegram_api, FakeZalo() as zalo_api:
        # The server and the worker read these at start (the settings come from the environment).
        os.environ.update(
            {
                "TIEPDAN_RASA_URL": rasa.url,
                "TIEPDAN_TELEGRAM_TOKEN": telegram_api.token,
                "TIEPDAN_TELEGRAM_WEBHOOK_SECRET": SECRET,
                "TIEPDAN_TELEGRAM_API_URL": telegram_api.url,
                "TIEPDAN_ZALO_APP_ID": zalo_api.app_id,
                "TIEPDAN_ZALO_APP_SECRET": zalo_api.app_secret,
                "TIEPDAN_ZALO_OA_SECRET": zalo_api.oa_secret,
                "TIEPDAN_ZALO_API_URL": zalo_api.url,
                "TIEPDAN_ZALO_OAUTH_URL": zalo_api.url,
                "TIEPDAN_ZALO_ZNS_URL": zalo_api.url,
                "TIEPDAN_TASK_QUEUE": f"bench-channels-{os.getpid()}",
                "TIEPDAN_DATABASE_URL": url,
            }
        )
        _connect_zalo(zalo_api)
        with running_server(
            database_url=url,
            broker_url=args.broker_url,
            workers=2,
            log_path=logs / "bench-channels-server.log",
        ) as server:
            env = {
                **os.environ,
                "TIEPDAN_DATABASE_URL": url,
                "TIEPDAN_BROKER_URL": args.broker_url,
                **LIMITS_OFF,
            }
            tiepdan = str(Path(sys.executable).with_name("tiepdan"))
            worker = start([tiepdan, "worker"], logs / "bench-channels-worker.log", env=env)
            try:
                web, telegram = Web(server.url), Telegram(server.url, telegram_api)
                zalo = Zalo(server.url, zalo_api)
                _warm_up(web, telegram, zalo)
                one = _one_turn_at_a_time(web, telegram, zalo, plan)
                loads = [
                    _many_chats_web(web, plan),
                    _many_chats_telegram(telegram, plan),
                    _many_chats_zalo(zalo, plan),
                ]
            finally:
                stop(worker)

    report = _render(one, loads, plan)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    print(report)
    print(f"Written to {args.output}")
    return 0


def _connect_zalo(fake: FakeZalo) -> None:
    """The OA's first token pair, stored as `tiepdan zalo connect` stores it, in the benchmark's
    database (the settings read again from the environment set above)."""
    from core.database import dispose_engine
    from core.settings import get_settings
    from integrations.zalo import tokens
    from integrations.zalo.client import TokenPair

    get_settings.cache_clear()
    dispose_engine()
    tokens.store(TokenPair(**{**fake.issue_pair(), "expires_in": 90000}))
    dispose_engine()


def _warm_up(web: Web, telegram: Telegram, zalo: Zalo) -> None:
    """First turns load the worker's and the server's code paths; not measured."""
    deadline = time.monotonic() + 60
    while True:
        try:
            web.turn(web.session(), "khởi động")
            telegram.turn(next(_ids) % 10**9, "khởi động")
            zalo.turn(str(next(_ids)), "khởi động")
            return
        except (httpx.HTTPError, AssertionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _one_turn_at_a_time(
    web: Web, telegram: Telegram, zalo: Zalo, plan: Plan
) -> dict[str, Latencies]:
    one = {"web chat": Latencies(), "Telegram": Latencies(), "Zalo": Latencies()}
    session = web.session()
    for round_ in range(plan.rounds):
        print(f"One turn at a time: round {round_ + 1} of {plan.rounds} ...", flush=True)
        for turn in range(plan.turns_per_round):
            started = time.monotonic()
            text = f"lượt {round_}-{turn} xin chào"
            one["web chat"].seconds.append(web.turn(session, text)[0])
            one["Telegram"].seconds.append(telegram.turn(next(_ids) % 10**9, text))
            one["Zalo"].seconds.append(zalo.turn(str(next(_ids)), text))
            time.sleep(max(0.0, started + 1 / ROUNDS_PER_SECOND - time.monotonic()))
    return one


def _many_chats_web(web: Web, plan: Plan) -> Load:
    print(f"{plan.chats} web chats at once ...", flush=True)
    replies: Counter[str] = Counter()

    def chat(number: int) -> None:
        session = web.session()
        for turn in range(plan.turns_per_chat):
            token = f"web-{number}-{turn}"
            replies[token] += 0
            _, texts = web.turn(session, token)
            replies[token] += texts.count(ECHO.format(message=token))

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=plan.chats) as pool:
        list(pool.map(chat, range(plan.chats)))
    return Load("web chat", plan.chats * plan.turns_per_chat, time.monotonic() - started, replies)


def _many_chats_telegram(telegram: Telegram, plan: Plan) -> Load:
    print(f"{plan.chats} Telegram chats at once ...", flush=True)
    replies: Counter[str] = Counter()
    chats = {number: next(_ids) % 10**9 for number in range(plan.chats)}

    def chat(number: int) -> None:
        for turn in range(plan.turns_per_chat):
            token = f"telegram-{number}-{turn}"
            with contextlib.suppress(AssertionError):  # no reply: counted as lost below
                telegram.turn(chats[number], token)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=plan.chats) as pool:
        list(pool.map(chat, range(plan.chats)))
    seconds = time.monotonic() - started
    time.sleep(2)  # a reply sent twice would arrive after the first one
    for number, chat_id in chats.items():
        texts = telegram.fake.sent_texts(chat_id)
        for turn in range(plan.turns_per_chat):
            token = f"telegram-{number}-{turn}"
            replies[token] = texts.count(ECHO.format(message=token))
    return Load("Telegram", plan.chats * plan.turns_per_chat, seconds, replies)


def _many_chats_zalo(zalo: Zalo, plan: Plan) -> Load:
    print(f"{plan.chats} Zalo chats at once ...", flush=True)
    sent: dict[str, str] = {}  # token -> the msg_id of the person's message

    def chat(number: int) -> None:
        user = str(next(_ids))
        for turn in range(plan.turns_per_chat):
            token = f"zalo-{number}-{turn}"
            event = zalo.fake.text_event(user, token)
            sent[token] = event["message"]["msg_id"]
            body, headers = zalo.fake.signed(event)
            zalo.clients.get().post(zalo.url, content=body, headers=headers).raise_for_status()
            deadline = time.monotonic() + 60
            while zalo.replies_to([sent[token]]) == [0] and time.monotonic() < deadline:
                time.sleep(0.01)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=plan.chats) as pool:
        list(pool.map(chat, range(plan.chats)))
    seconds = time.monotonic() - started
    time.sleep(2)  # a reply sent twice would arrive after the first one
    counts = zalo.replies_to(list(sent.values()))
    replies = Counter(dict(zip(sent, counts, strict=True)))
    return Load("Zalo", plan.chats * plan.turns_per_chat, seconds, replies)


def _render(one: dict[str, Latencies], loads: list[Load], plan: Plan) -> str:
    web = one["web chat"]
    added = {
        name: (turns.p(50) - web.p(50), turns.p(95) - web.p(95))
        for name, turns in one.items()
        if name != "web chat"
    }
    met = "yes" if all(p95 < TARGET_ADDED_P95_MS for _, p95 in added.values()) else "no"
    lines = [
        "# Channels benchmark",
        "",
        f"Run on {time.strftime('%Y-%m-%d %H:%M')} with `python -m bench.channels"
        f"{' --quick' if plan.turns_per_round < 40 else ''}`: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, PostgreSQL, `tiepdan serve --workers 2`, "
        "`tiepdan worker` (2 processes) on Redis. Rasa is a fake that answers at once "
        "(tests/fakes/rasa.py), and the Bot API and Zalo are fakes on loopback "
        "(tests/fakes/telegram.py, tests/fakes/zalo.py), so what is measured is the "
        "platform's own path.",
        "",
        f"## One turn at a time ({len(web.seconds)} turns per channel, in turn)",
        "",
        "From the person's send to the reply: the web chat's answer; on Telegram and Zalo, the",
        "fake receiving the message that answers it (webhook, store, queue, worker, Rasa, store,",
        f"send). A round of the three starts at most {ROUNDS_PER_SECOND} times a second, under",
        "Telegram's 30 messages a second in all, which the platform keeps to.",
        "",
        "| channel | p50 ms | p95 ms |",
        "|---|---:|---:|",
        *(f"| {name} | {turns.p(50):.1f} | {turns.p(95):.1f} |" for name, turns in one.items()),
        *(f"| {name}'s added cost | {p50:.1f} | {p95:.1f} |" for name, (p50, p95) in added.items()),
        "",
        f"Target: a channel's added cost under {TARGET_ADDED_P95_MS:.0f} ms at p95. "
        f"Met: **{met}**.",
        "",
        f"## {plan.chats} chats per channel at once, {plan.turns_per_chat} turns each",
        "",
        "Each chat sends its next message when the reply to the last one arrived. Telegram paces",
        "a chat to one message a second (its flood limit), so a chat's turns are a second apart.",
        "",
        "| channel | turns | seconds | turns/s | lost | twice |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for load in loads:
        lines.append(
            f"| {load.channel} | {load.turns} | {load.seconds:.1f} | {load.rate:.1f} | "
            f"{load.lost} | {load.twice} |"
        )
    lost = sum(load.lost for load in loads) + sum(load.twice for load in loads)
    lines += ["", f"Lost or doubled replies: **{'none' if lost == 0 else lost}**.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
