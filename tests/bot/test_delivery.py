"""Pacing a channel's sends (bot/delivery.py): the chat's interval, then the channel's overall
rate shared by every worker, without a database or a channel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from bot import delivery
from core.database import utcnow
from integrations.channel import Pacing

TELEGRAM = Pacing(per_chat_interval=1.0, overall_limit=30, overall_window=1.0)


@dataclass
class Channel:
    name: str = "telegram"
    pacing: Pacing = TELEGRAM


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    naps: list[float] = []
    monkeypatch.setattr(delivery.time, "sleep", naps.append)
    return naps


def overall_answers(monkeypatch: pytest.MonkeyPatch, *waits: float) -> list[str]:
    """The overall rate answers these waits in turn; the keys it was asked for."""
    answers, asked = iter(waits), []

    def wait_time(key: str, **_: object) -> float:
        asked.append(key)
        return next(answers)

    monkeypatch.setattr(delivery.ratelimit, "wait_time", wait_time)
    return asked


def test_a_send_that_slept_for_the_overall_rate_asks_again_for_its_place(monkeypatch, slept):
    """A refused place is not taken: after sleeping into the next window the send takes its
    place there, or that window would let one more through than the rate allows."""
    asked = overall_answers(monkeypatch, 0.4, 0.0)
    assert delivery._wait_for_turn(Channel(), None) == 0.0
    assert slept == [0.4] and asked == ["send:telegram", "send:telegram"]


def test_the_chats_interval_comes_first_then_the_overall_rate(monkeypatch, slept):
    asked = overall_answers(monkeypatch, 0.0)
    just_now = utcnow() - timedelta(seconds=0.25)
    assert delivery._wait_for_turn(Channel(), just_now) == 0.0
    [nap] = slept
    assert 0.6 < nap <= 0.75 and len(asked) == 1


def test_a_wait_longer_than_a_worker_sleeps_is_left_to_a_later_job(monkeypatch, slept):
    asked = overall_answers(monkeypatch, 2.5, 2.5)
    assert delivery._wait_for_turn(Channel(), None) == 2.5  # 2.5 slept, 2.5 more is too long
    assert slept == [2.5] and len(asked) == 2
    asked = overall_answers(monkeypatch)
    slow_chat = Channel(pacing=Pacing(per_chat_interval=10.0, overall_limit=30))
    assert delivery._wait_for_turn(slow_chat, utcnow()) > delivery.LONGEST_SLEEP
    assert asked == []  # no place taken for a send that does not happen
