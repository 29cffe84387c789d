"""Injected: the disk that holds the photos is full. A real filesystem fills up: a 1 MB tmpfs
mounted over the photo folder and filled to its last few kilobytes, so the write of a photo
starts and fails half-way with ENOSPC, as it does on a full volume.

Asserted: a photo uploaded in the web chat gets 507 with a reason in Vietnamese, and the
refused upload is kept in the conversation; a photo sent on Telegram is stored as a message
and answered with a polite sentence; the person's text, before and after, is stored and
answered; no half-written file is left; the staff's evidence upload is a 507 too; no 500.
"""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from bot import gateway
from bot.models import Direction, MessageState
from core.settings import get_settings
from integrations.telegram.adapter import SECRET_HEADER
from tests.bot.conftest import forget_chats
from tests.bot.webchat_client import open_chat, stored_messages, upload_photo
from tests.fakes.rasa import InstantRasa
from tests.fakes.telegram import FakeBotApi
from tests.faults.chats import forget, messages_of, telegram_conversation
from tests.integrations.telegram.conftest import SECRET, update

FREE_BYTES = 8 * 1024  # what the full disk still has: less than any photo below


def noisy_png(side: int = 120) -> bytes:
    """A real photo that does not compress: its stored copy is about side² × 3 bytes."""
    pixels = random.Random(side).randbytes(side * side * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def full_photo_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The photo folder on a filesystem of its own with FREE_BYTES left; unmounted after."""
    monkeypatch.setattr(get_settings(), "var_dir", tmp_path)
    photos = tmp_path / "uploads" / "photos"
    photos.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(photos)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {mounted.stderr}")
    try:
        filler = photos / "filler"
        with filler.open("wb") as out:
            left = os.statvfs(photos).f_bavail * os.statvfs(photos).f_frsize
            out.write(b"\0" * (left - FREE_BYTES))
        yield photos
    finally:
        subprocess.run(["umount", "-l", str(photos)], check=False)


def files_in(photos: Path) -> list[str]:
    return sorted(p.name for p in photos.iterdir() if p.name != "filler")


def test_a_web_chat_photo_on_a_full_disk_is_a_507_and_the_chat_goes_on(
    client, full_photo_disk: Path, rasa: InstantRasa
):
    try:
        session_id = open_chat(client)
        before = client.post(
            "/api/v1/webchat/messages",
            json={"session_id": session_id, "text": "Cột đèn trước số 12 Yersin bị nghiêng"},
        )
        assert before.status_code == 200, before.text

        refused = upload_photo(client, session_id, noisy_png())

        assert refused.status_code == 507, refused.text
        assert "đầy" in refused.json()["detail"]  # "... bộ nhớ lưu ảnh đã đầy ..."
        assert files_in(full_photo_disk) == []  # no half-written photo, named or not
        after = client.post(
            "/api/v1/webchat/messages",
            json={"session_id": session_id, "text": "Tôi sẽ gửi ảnh sau"},
        )
        assert after.status_code == 200, after.text
        assert after.json()["messages"][0]["text"] == "Đã nhận: Tôi sẽ gửi ảnh sau"

        inbound = [m for m in stored_messages(session_id) if m.direction == Direction.INBOUND]
        assert [(m.text, m.state) for m in inbound] == [
            ("Cột đèn trước số 12 Yersin bị nghiêng", MessageState.ANSWERED),
            (None, MessageState.REJECTED),  # the refused upload, kept with its reason
            ("Tôi sẽ gửi ảnh sau", MessageState.ANSWERED),
        ]
        assert inbound[1].content["upload"]["refused"] == refused.json()["detail"]
    finally:
        forget_chats()


def test_a_telegram_photo_on_a_full_disk_is_answered_politely(
    client, full_photo_disk: Path, telegram_on: FakeBotApi, rasa: InstantRasa
):
    chat_id = 7_300_000_000 + random.randrange(10**8)
    data = update("photo")
    data["message"]["chat"]["id"] = data["message"]["from"]["id"] = chat_id
    data["update_id"] = chat_id
    for size in data["message"]["photo"]:
        telegram_on.add_file(size["file_id"], noisy_png(), f"photos/{size['file_id']}.png")
    try:
        posted = client.post(
            "/webhooks/telegram", content=json.dumps(data), headers={SECRET_HEADER: SECRET}
        )
        assert posted.status_code == 200, posted.text
        conversation_id = telegram_conversation(str(chat_id))

        # The worker's job (bot.answer_messages), run here: answer, then deliver.
        assert gateway.answer_waiting(conversation_id) == 1

        [photo, reply] = messages_of(conversation_id)
        assert (photo.direction, photo.text, photo.state) == (
            Direction.INBOUND,
            "ảnh đèn hỏng",  # the caption is kept with the photo's reference
            MessageState.REJECTED,
        )
        assert photo.content["attachments"][0]["kind"] == "photo"
        assert (reply.direction, reply.state) == (Direction.OUTBOUND, MessageState.SENT)
        assert telegram_on.sent_texts(chat_id) == [reply.text]
        assert "đầy" in (reply.text or "")
        assert files_in(full_photo_disk) == []
        assert not rasa.turns  # nothing reached the assistant for a photo it cannot see
    finally:
        forget("telegram", [str(chat_id)])


def test_evidence_on_a_full_disk_is_a_507(client, full_photo_disk: Path, staff_token):
    headers = staff_token("dispatcher")
    created = client.post(
        "/api/v1/tickets",
        json={
            "description": "Nắp cống mất trước số 8 Yersin",
            "category": "giao_thong",
            "ward_code": "25747",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    code = created.json()["code"]

    refused = client.post(
        f"/api/v1/tickets/{code}/attachments",
        files={"file": ("sau-khi-xu-ly.png", noisy_png(), "image/png")},
        headers=headers,
    )

    assert refused.status_code == 507, refused.text
    assert "đầy" in refused.json()["detail"]
    assert files_in(full_photo_disk) == []
