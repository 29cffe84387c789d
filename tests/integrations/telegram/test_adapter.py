"""The Telegram adapter against a fake Bot API: reading updates, sending, errors, taps."""

from __future__ import annotations

import json
import secrets

import pytest
from click.testing import CliRunner

from bot.models import Conversation, Direction, Message, MessageState
from core.database import session_scope
from core.errors import AppError, Forbidden, Unauthorized
from feedback import attachments
from integrations.channel import STALE_BUTTON, Outgoing, Reply, RetryLater, Undeliverable
from integrations.telegram import adapter as telegram_adapter
from integrations.telegram.adapter import SECRET_HEADER, TelegramAdapter
from tests.images import tiny_png
from tests.integrations.telegram.conftest import SECRET, update

LAN = 5550001


def body(name: str, **changes) -> bytes:
    return json.dumps(update(name, **changes)).encode()


# --- Reading updates ---------------------------------------------------------------------------


def test_a_request_without_the_secret_or_with_a_wrong_one_is_refused(adapter):
    with pytest.raises(Unauthorized):
        adapter.verify({}, body("text"))
    with pytest.raises(Forbidden):
        adapter.verify({SECRET_HEADER: "not-the-secret"}, body("text"))
    adapter.verify({SECRET_HEADER: SECRET}, body("text"))


def test_a_text_is_a_message_of_the_chat(adapter):
    [inbound] = adapter.parse(body("text"))
    assert inbound.channel == "telegram" and inbound.channel_user_id == str(LAN)
    assert inbound.channel_message_id == "804113201"  # the update_id: a resend is one message
    assert inbound.text.startswith("Đèn đường trước số 12 Yersin")
    assert inbound.payload is None and inbound.attachments == []


def test_start_is_a_greeting(adapter):
    [inbound] = adapter.parse(body("start"))
    assert inbound.payload == "/greet" and inbound.text is None


def test_a_photo_is_its_largest_size_that_fits(adapter, monkeypatch):
    [inbound] = adapter.parse(body("photo"))
    assert [a.kind for a in inbound.attachments] == ["photo"]
    assert inbound.attachments[0].ref == "AgACAgUAAxkBAAIBsmlm-large"
    assert inbound.text == "ảnh đèn hỏng"  # the caption
    monkeypatch.setattr(adapter, "_max_photo_bytes", 20_000)
    [smaller] = adapter.parse(body("photo"))
    assert smaller.attachments[0].ref == "AgACAgUAAxkBAAIBsmlm-medium"


def test_an_image_sent_as_a_file_is_a_photo(adapter):
    [inbound] = adapter.parse(body("document_image"))
    assert inbound.attachments[0].kind == "photo"
    assert inbound.attachments[0].ref == "BQACAgUAAxkBAAIBtWlm"


def test_a_location_is_kept_as_coordinates(adapter):
    [inbound] = adapter.parse(body("location"))
    [place] = inbound.attachments
    assert (place.kind, place.latitude, place.longitude) == ("location", 10.772132, 106.698344)


def test_the_persons_own_shared_contact_is_their_phone_number(adapter):
    [inbound] = adapter.parse(body("contact"))
    assert inbound.text == "84912345678"


@pytest.mark.parametrize("name", ["sticker", "voice"])
def test_what_the_platform_cannot_read_is_kept_and_marked(adapter, name):
    [inbound] = adapter.parse(body(name))
    assert inbound.unsupported == name


@pytest.mark.parametrize("name", ["group_text", "channel_post", "edited_message"])
def test_groups_channels_and_edits_get_silence(adapter, name):
    assert adapter.parse(body(name)) == []


def test_a_tap_carries_its_key_for_the_worker(adapter):
    [inbound] = adapter.parse(body("callback_query"))
    assert inbound.payload is None
    assert inbound.metadata == {
        "callback_query_id": "4382bfdwdsb323b2d9",
        "button_key": "KEY-PLACEHOLDER",
        "keyboard_message_id": 101,
    }


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'{"message": {}}'])
def test_what_is_not_an_update_is_an_error(adapter, raw):
    with pytest.raises(ValueError):
        adapter.parse(raw)


# --- Sending -----------------------------------------------------------------------------------


def _queued(text: str = "xin chào", *, buttons=None, image=None, documents=None) -> Outgoing:
    """A conversation with one queued outbound message, as delivery hands it over."""
    with session_scope() as session:
        chat = str(secrets.randbelow(10**12))  # a chat of its own: the test DB lives for the run
        conversation = Conversation(channel="telegram", channel_user_id=chat)
        session.add(conversation)
        session.flush()
        message = Message(
            conversation_id=conversation.id,
            direction=Direction.OUTBOUND,
            text=text,
            content={"buttons": buttons or [], "image": image, "documents": documents or []},
            state=MessageState.QUEUED,
        )
        session.add(message)
        session.flush()
        return Outgoing(
            message_id=message.id,
            conversation_id=conversation.id,
            channel_user_id=conversation.channel_user_id,
            reply=Reply(text=text, buttons=buttons or [], image=image, documents=documents or []),
        )


RATING = [
    {"title": "⭐⭐⭐⭐⭐", "payload": '/rate{"ticket_code": "PA7K3M9QXT", "score": 5}'},
    {"title": "Chưa được xử lý", "payload": '/rate{"ticket_code": "PA7K3M9QXT", "fixed": false}'},
]


def test_buttons_become_an_inline_keyboard_of_short_keys(adapter, telegram_on):
    outgoing = _queued("Bạn đánh giá thế nào?", buttons=RATING)

    sent = adapter.send(outgoing)

    [call] = telegram_on.calls_of("sendMessage")
    assert call.params["chat_id"] == int(outgoing.channel_user_id)
    assert call.params["text"] == "Bạn đánh giá thế nào?"
    rows = call.params["reply_markup"]["inline_keyboard"]
    assert [row[0]["text"] for row in rows] == ["⭐⭐⭐⭐⭐", "Chưa được xử lý"]
    keys = [row[0]["callback_data"] for row in rows]
    assert all(len(key.encode()) <= 64 for key in keys) and len(set(keys)) == 2
    assert sent.external_id is not None
    # A retry of the same message offers the same keys, not a second set.
    adapter.send(outgoing)
    again = telegram_on.calls_of("sendMessage")[1].params["reply_markup"]["inline_keyboard"]
    assert [row[0]["callback_data"] for row in again] == keys


def test_a_long_text_is_split_and_the_keyboard_goes_with_its_last_part(adapter, telegram_on):
    text = ("Phản ánh của bạn đã được chuyển đến Sở Xây dựng. " * 120).strip()
    adapter.send(_queued(text, buttons=RATING))

    calls = telegram_on.calls_of("sendMessage")
    assert len(calls) == 2 and all(len(c.params["text"]) <= 4096 for c in calls)
    assert " ".join(c.params["text"] for c in calls).split() == text.split()
    assert "reply_markup" not in calls[0].params and calls[1].params["reply_markup"]


def test_our_own_photo_goes_as_bytes(adapter, telegram_on, tmp_path, monkeypatch):
    from core.settings import get_settings

    monkeypatch.setattr(get_settings(), "var_dir", tmp_path)
    url = attachments.save(tiny_png(), "png")

    adapter.send(_queued("Ảnh sau khi xử lý", image=url))

    [photo] = telegram_on.calls_of("sendPhoto")
    assert photo.files["photo"] == tiny_png()
    assert telegram_on.calls_of("sendMessage")[0].params["text"] == "Ảnh sau khi xử lý"


def test_flood_control_is_a_retry_after_telegrams_delay(adapter, telegram_on):
    telegram_on.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    with pytest.raises(RetryLater) as raised:
        adapter.send(_queued("một"))
    assert raised.value.after == 3


@pytest.mark.parametrize(
    ("code", "description", "outcome"),
    [
        (403, "Forbidden: bot was blocked by the user", Undeliverable),
        (400, "Bad Request: chat not found", Undeliverable),
        (500, "Internal Server Error", RetryLater),
        (502, "Bad Gateway", RetryLater),
    ],
)
def test_other_errors_are_final_or_retried(adapter, telegram_on, code, description, outcome):
    telegram_on.fail_next("sendMessage", code, description)
    with pytest.raises(outcome) as raised:
        adapter.send(_queued(f"hai {code}"))
    if outcome is Undeliverable:
        assert description.split(": ")[1].lower() in raised.value.reason.lower()


def test_a_bot_api_that_does_not_answer_is_retried(telegram_on, monkeypatch):
    monkeypatch.setattr(telegram_adapter, "READ_TIMEOUT", 0.3)
    from core.settings import get_settings

    slow = TelegramAdapter(get_settings())
    try:
        telegram_on.delay_next("sendMessage", 2)
        with pytest.raises(RetryLater):
            slow.send(_queued("ba"))
    finally:
        slow.close()


# --- Photos and taps, in the worker -------------------------------------------------------------


def test_a_photo_is_fetched_from_the_file_url(adapter, telegram_on):
    from integrations.channel import Attachment

    telegram_on.add_file("AgACAgUAAxkBAAIBsmlm-large", tiny_png(), "photos/file_7.png")
    data = adapter.fetch(Attachment(kind="photo", ref="AgACAgUAAxkBAAIBsmlm-large"))
    assert data == tiny_png()
    with pytest.raises(Undeliverable):
        adapter.fetch(Attachment(kind="photo", ref="no-such-file"))


def test_a_photo_over_the_limit_is_refused_before_downloading(adapter, telegram_on, monkeypatch):
    from integrations.channel import Attachment

    telegram_on.add_file("big", b"\xff\xd8\xff" + b"0" * 5000, "photos/big.jpg")
    monkeypatch.setattr(adapter, "_max_photo_bytes", 1000)
    with pytest.raises(AppError) as raised:
        adapter.fetch(Attachment(kind="photo", ref="big"))
    assert raised.value.status_code == 413


def test_a_tap_is_claimed_once_answered_and_its_keyboard_removed(adapter, telegram_on):
    outgoing = _queued("Bạn đánh giá thế nào?", buttons=RATING)
    adapter.send(outgoing)
    keys = [
        row[0]["callback_data"]
        for row in telegram_on.calls_of("sendMessage")[0].params["reply_markup"]["inline_keyboard"]
    ]
    [tap] = adapter.parse(body("callback_query"))
    tap.metadata["button_key"] = keys[1]

    first = adapter.prepare(tap, conversation_id=outgoing.conversation_id)

    assert first.payload == RATING[1]["payload"]
    [answered] = telegram_on.calls_of("answerCallbackQuery")
    assert answered.params["callback_query_id"] == "4382bfdwdsb323b2d9"
    [edited] = telegram_on.calls_of("editMessageReplyMarkup")
    assert edited.params["message_id"] == 101 and "reply_markup" not in edited.params
    # The other button of the same keyboard, or the same one again: stale now.
    [again] = adapter.parse(body("callback_query"))
    again.metadata["button_key"] = keys[0]
    assert adapter.prepare(again, conversation_id=outgoing.conversation_id).payload == STALE_BUTTON


def test_a_key_from_another_chat_is_worth_nothing(adapter, telegram_on):
    outgoing = _queued("Bạn đánh giá thế nào?", buttons=RATING)
    adapter.send(outgoing)
    key = telegram_on.calls_of("sendMessage")[0].params["reply_markup"]["inline_keyboard"][0][0][
        "callback_data"
    ]
    other = _queued("của người khác")
    [tap] = adapter.parse(body("callback_query"))
    tap.metadata["button_key"] = key
    assert adapter.prepare(tap, conversation_id=other.conversation_id).payload == STALE_BUTTON


# --- The command line ---------------------------------------------------------------------------


def test_set_webhook_sends_the_secret_and_the_update_types(telegram_on):
    from tiepdan.cli import main

    result = CliRunner().invoke(
        main, ["telegram", "set-webhook", "--url", "https://tiepdan.example.vn/webhooks/telegram"]
    )

    assert result.exit_code == 0, result.output
    [call] = telegram_on.calls_of("setWebhook")
    assert call.params["url"] == "https://tiepdan.example.vn/webhooks/telegram"
    assert call.params["secret_token"] == SECRET
    assert call.params["allowed_updates"] == ["message", "callback_query"]


def test_an_evidence_pdf_goes_as_a_file_before_the_text(adapter, telegram_on):
    pdf = b"%PDF-1.4\n%%EOF\n"
    url = attachments.save_document(pdf, "pdf")

    adapter.send(_queued("Đã xử lý xong.", buttons=RATING, documents=[url]))

    [document] = telegram_on.calls_of("sendDocument")
    assert document.files["document"] == pdf
    [text] = telegram_on.calls_of("sendMessage")
    assert text.at >= document.at and text.params["reply_markup"]  # the keyboard comes last
