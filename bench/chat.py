"""The web-chat benchmark: `python -m bench.chat [--quick] [--output FILE]`.

1. A fresh PostgreSQL database `tiepdan_bench_chat`, migrated and seeded.
2. The real processes: `tiepdan serve --workers 2`, the Rasa server and its action server (the
   model cached by `tiepdan bot train`).
3. One turn at a time, alternating in rounds: the same message sent straight to Rasa's REST
   channel, and through the gateway (`POST /api/v1/webchat/messages`, which stores the message,
   asks Rasa and stores the replies). The difference is the gateway's overhead. Turn by turn,
   the gateway's own share is also measured exactly: the client's latency minus the gateway's
   wait for Rasa, which the response's `Server-Timing` header reports.
4. 50 sessions talking at once, every turn a request in flight; then the database is asked
   whether every message sent was stored and answered.
5. A markdown report in bench/results/chat.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select

from bench import dataset
from bench.load import LoadResult, free_port, run_load, running_server, start, stop
from bot import assistant
from bot.models import Conversation, Direction, Message, MessageState
from core import timing
from core.settings import get_settings
from tiepdan.processes import wait_for_url

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "chat.md"
# Answered by Rasa alone, and by Rasa with an action that calls the platform ("my tickets").
TURNS = ["xin chào", "cảm ơn bạn", "phản ánh của tôi", "tạm biệt"]
# The gateway's own time, part by part, from the response's Server-Timing: storing the message,
# storing the replies, and the HTTP hop (the client's wait minus the app's time).
PARTS = {
    "store": "storing the message (before Rasa)",
    "finish": "storing the replies (after Rasa)",
    "http": "the HTTP hop to the platform and back",
}


@dataclass
class Plan:
    rounds: int = 5
    turns_per_round: int = 40
    sessions: int = 50
    turns_per_session: int = 20

    @classmethod
    def quick(cls) -> Plan:
        return cls(rounds=1, turns_per_round=5, sessions=5, turns_per_session=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chat", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (smoke test)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--database", default="tiepdan_bench_chat")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args(argv)
    plan = Plan.quick() if args.quick else Plan()

    print(f"Creating the database {args.database} ...", flush=True)
    url = dataset.recreate_database(args.admin_url, args.database)
    dataset.prepare_database(url)
    assistant.train(say=print)
    rasa_port, actions_port = free_port(), free_port()
    rasa_url = f"http://127.0.0.1:{rasa_port}"
    os.environ["TIEPDAN_RASA_URL"] = rasa_url  # the server reads it at start
    logs = Path(tempfile.gettempdir())
    with running_server(
        database_url=url,
        broker_url=args.broker_url,
        workers=2,
        log_path=logs / "bench-chat-server.log",
    ) as server:
        settings = get_settings().model_copy(
            update={
                "actions_url": f"http://127.0.0.1:{actions_port}/webhook",
                "platform_url": server.url,
            }
        )
        env, cwd = assistant.rasa_env(settings), assistant.PROJECT_DIR
        rasa_processes = [
            start(
                assistant.actions_command(settings, port=actions_port),
                logs / "bench-chat-actions.log",
                env=env,
                cwd=cwd,
            ),
            start(
                assistant.server_command(settings, port=rasa_port),
                logs / "bench-chat-rasa.log",
                env=env,
                cwd=cwd,
            ),
        ]
        try:
            actions, rasa = rasa_processes
            wait_for_url(f"http://127.0.0.1:{actions_port}/health", [actions], timeout=120)
            wait_for_url(f"{rasa_url}/status", [rasa], timeout=240)
            direct, gateway, own, parts = _one_turn_at_a_time(server.url, rasa_url, plan)
            loaded, sent, stored, answered = _many_sessions(server.url, url, plan)
        finally:
            for process in rasa_processes:
                stop(process)

    report = _render(direct, gateway, own, parts, loaded, sent, stored, answered, plan)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    print("\n" + report)
    print(f"Written to {args.output}")
    return 0 if stored == sent else 1


def _open_sessions(base_url: str, count: int) -> list[str]:
    return [
        httpx.post(f"{base_url}/api/v1/webchat/sessions", timeout=10).json()["session_id"]
        for _ in range(count)
    ]


def _one_turn_at_a_time(
    base_url: str, rasa_url: str, plan: Plan
) -> tuple[LoadResult, LoadResult, LoadResult, dict[str, LoadResult]]:
    """Pairs of turns, one in flight: the same message straight to Rasa, then through the
    gateway. Pairing them makes a busy moment of the machine hit both alike.

    The third result is the gateway's own time in each gateway turn: what the client waited
    minus what the gateway waited for Rasa (its `Server-Timing: rasa;dur=`). The fourth splits
    it into the parts of PARTS."""
    through_gateway = _gateway_turn(_open_sessions(base_url, 1))
    direct = LoadResult(name="Rasa REST channel, direct", concurrency=1, seconds=0.0)
    gateway = LoadResult(name="through the gateway", concurrency=1, seconds=0.0)
    own = LoadResult(name="the gateway's own time", concurrency=1, seconds=0.0)
    parts = {name: LoadResult(name=name, concurrency=1, seconds=0.0) for name in PARTS}
    total = plan.rounds * plan.turns_per_round
    with (
        httpx.Client(base_url=rasa_url, timeout=60) as rasa,
        httpx.Client(base_url=base_url, timeout=60) as platform_client,
    ):
        for number in range(total):
            for result, send in (
                (direct, lambda n: _direct_turn(rasa, n)),
                (gateway, lambda n: through_gateway(platform_client, n)),
            ):
                started = time.perf_counter()
                response = send(number)
                elapsed = time.perf_counter() - started
                result.seconds += elapsed
                if response.status_code == 200:
                    result.latencies.append(elapsed)
                else:
                    result.errors += 1
                    result.first_error = result.first_error or response.text[:200]
                if result is gateway and response.status_code == 200:
                    spent = timing.parse_header(response.headers.get("server-timing", ""))
                    own.latencies.append(elapsed - spent.get("rasa", float("nan")) / 1000)
                    spent["http"] = elapsed * 1000 - spent.get("app", float("nan"))
                    for name, part in parts.items():
                        part.latencies.append(spent.get(name, float("nan")) / 1000)
    return direct, gateway, own, parts


def _direct_turn(client: httpx.Client, number: int) -> httpx.Response:
    body = {"sender": "bench:direct", "message": TURNS[number % len(TURNS)]}
    return client.post("/webhooks/rest/webhook", json=body)


def _gateway_turn(sessions: list[str]) -> Callable[[httpx.Client, int], httpx.Response]:
    def send(client: httpx.Client, number: int) -> httpx.Response:
        body = {"session_id": sessions[number % len(sessions)], "text": TURNS[number % len(TURNS)]}
        return client.post("/api/v1/webchat/messages", json=body)

    return send


def _many_sessions(
    base_url: str, database_url: str, plan: Plan
) -> tuple[LoadResult, int, int, int]:
    """`plan.sessions` chats at once; then count what the database kept of them."""
    sessions = _open_sessions(base_url, plan.sessions)
    total = plan.sessions * plan.turns_per_session
    print(f"{plan.sessions} sessions, {total} turns ...", flush=True)
    result = run_load(
        base_url,
        _gateway_turn(sessions),
        name=f"{plan.sessions} sessions at once",
        total=total,
        concurrency=plan.sessions,
        max_seconds=600,
    )
    engine = create_engine(database_url)
    with engine.connect() as connection:
        inbound = (
            select(Message.state, func.count())
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(
                Conversation.channel_user_id.in_(sessions),
                Message.direction == Direction.INBOUND,
            )
            .group_by(Message.state)
        )
        counts = {state: n for state, n in connection.execute(inbound)}
    engine.dispose()
    stored = sum(counts.values())
    return result, total, stored, counts.get(MessageState.ANSWERED, 0)


def _render(
    direct: LoadResult,
    gateway: LoadResult,
    own: LoadResult,
    parts: dict[str, LoadResult],
    loaded: LoadResult,
    sent: int,
    stored: int,
    answered: int,
    plan: Plan,
) -> str:
    def row(result: LoadResult) -> str:
        return (
            f"| {result.name} | {result.count} | {result.percentile_ms(50):.1f} | "
            f"{result.percentile_ms(95):.1f} | {result.errors} |"
        )

    overhead_50 = gateway.percentile_ms(50) - direct.percentile_ms(50)
    overhead_95 = gateway.percentile_ms(95) - direct.percentile_ms(95)
    paired = LoadResult(
        name="gateway minus direct, pair by pair",
        concurrency=1,
        seconds=0.0,
        latencies=[g - d for g, d in zip(gateway.latencies, direct.latencies, strict=False)],
    )
    paired_50, paired_95 = paired.percentile_ms(50), paired.percentile_ms(95)
    lines = [
        "# Web-chat benchmark",
        "",
        f"Run on {time.strftime('%Y-%m-%d %H:%M')} with `python -m bench.chat"
        f"{' --quick' if plan.turns_per_round < 40 else ''}`: {os.cpu_count()} cores, "
        f"{platform.python_version()}, PostgreSQL, `tiepdan serve --workers 2`, one Rasa 3.6.21 "
        "server and its action server on the same machine. Messages rotate through "
        f"{', '.join(repr(t) for t in TURNS)}; the third runs an action that calls the platform.",
        "",
        "## One turn at a time",
        "",
        f"{plan.rounds * plan.turns_per_round} pairs: each message straight to Rasa, then the "
        "same message through the gateway.",
        "",
        "| path | turns | p50 ms | p95 ms | errors |",
        "|---|---|---|---|---|",
        row(direct),
        row(gateway),
        "",
        f"Gateway overhead, turn by turn: **{own.percentile_ms(50):.1f} ms at p50, "
        f"{own.percentile_ms(95):.1f} ms at p95** (target: under 10 ms at p95). It is what the "
        "client waited for a gateway turn minus what the gateway waited for Rasa in that turn "
        "(the response's `Server-Timing: rasa;dur=`): the HTTP hop to the platform, storing the "
        "message before Rasa is asked and the replies after (one statement each on PostgreSQL), "
        "and the JSON in and out.",
        "",
        "| part of the gateway's own time | p50 ms | p95 ms |",
        "|---|---|---|",
        *(
            f"| {PARTS[name]} | {part.percentile_ms(50):.1f} | {part.percentile_ms(95):.1f} |"
            for name, part in parts.items()
        ),
        f"| all of it | {own.percentile_ms(50):.1f} | {own.percentile_ms(95):.1f} |",
        "",
        "The same from the two columns above, which also carries Rasa's own variation between "
        f"two calls of the same message: {overhead_50:.1f} ms at p50, {overhead_95:.1f} ms at "
        f"p95; pair by pair, the gateway turn took {paired_50:.1f} ms longer than the direct "
        f"one at the median pair and {paired_95:.1f} ms at the 95th percentile pair.",
        "",
        f"## {plan.sessions} sessions at once",
        "",
        "| turns sent | HTTP 200 | turns/s | p50 ms | p95 ms | stored | answered by Rasa |",
        "|---|---|---|---|---|---|---|",
        f"| {sent} | {loaded.count} | {loaded.rate:.1f} | {loaded.percentile_ms(50):.0f} | "
        f"{loaded.percentile_ms(95):.0f} | {stored} | {answered} |",
        "",
        "Lost messages: **" + ("none" if stored == sent else f"{sent - stored}") + "** "
        "(every message sent is looked for in the database afterwards).",
    ]
    if loaded.first_error:
        lines += ["", f"First error: `{loaded.first_error}`"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
