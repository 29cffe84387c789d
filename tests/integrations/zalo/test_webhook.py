"""POST /webhooks/zalo through the whole app, signed as Zalo signs; then the worker's path for a
stored message, without Rasa, out to the fake Zalo and back as receipts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot import delivery, gateway
from bot.models import Conversation, Direction, Message, MessageState
from core.database import session_scope
from integrations import registry
from tests.e2e.processes import free_port
from tests.fakes.zalo import FakeZalo
from tests.integrations.zalo.captured import load

USER = "2512523625412515"


def _post(client: TestClient, zalo: FakeZalo, event: dict[str, Any]) -> Any:
    body, headers = zalo.signed(event)
    return client.post("/webhooks/zalo", content=body, headers=headers)


def _messages(user: str = USER) -> list[Message]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(Message)
                .join(Conversation)
                .where(Conversation.channel == "zalo", Conversation.channel_user_id == user)
                .order_by(Message.id)
            )
        )


def _conversation_id(user: str = USER) -> int:
    with session_scope() as session:
        return session.scalars(
            select(Conversation.id).where(
                Conversation.channel == "zalo", Conversation.channel_user_id == user
            )
        ).one()


def test_a_message_delivered_twice_is_stored_and_answered_once(
    client: TestClient, zalo_on: FakeZalo, sent_tasks: list[tuple[str, dict[str, Any]]]
) -> None:
    event = load("user_send_text")
    for _ in range(2):
        response = _post(client, zalo_on, event)
        assert response.status_code == 200, response.text
        assert response.json() == {"ok": True}
    [message] = _messages()
    assert message.direction == Direction.INBOUND and message.state == MessageState.RECEIVED
    assert message.channel_message_id == "a8d1c8e6bb13d74c8f04b6e7a1d2c3b4"
    assert message.text == event["message"]["text"]
    assert sent_tasks == [("bot.answer_messages", {"conversation_id": message.conversation_id})]


def test_a_follow_is_stored_once_as_a_greeting(client: TestClient, zalo_on: FakeZalo) -> None:
    event = load("follow")  # Zalo's retry of an event keeps its timestamp
    body, headers = zalo_on.signed(event)
    for _ in range(2):
        assert client.post("/webhooks/zalo", content=body, headers=headers).status_code == 200
    [message] = _messages()
    assert message.payload == "/greet"


def test_a_photo_and_a_place_are_stored_with_what_they_carry(
    client: TestClient, zalo_on: FakeZalo
) -> None:
    assert _post(client, zalo_on, load("user_send_image")).status_code == 200
    assert _post(client, zalo_on, load("user_send_location")).status_code == 200
    photo, place = _messages()
    assert photo.content["attachments"] == [
        {"kind": "photo", "ref": "https://photo-stal-8.zadn.vn/2512523625412515/d2a3b4c5.jpg"}
    ]
    assert place.content["attachments"] == [
        {"kind": "location", "latitude": 10.980142, "longitude": 106.654373}
    ]


@pytest.mark.parametrize("forge", ["forged", "missing"])
def test_a_forged_or_unsigned_request_is_refused_and_nothing_is_stored(
    client: TestClient, zalo_on: FakeZalo, sent_tasks: list[Any], forge: str
) -> None:
    body, headers = zalo_on.signed(load("user_send_text"))
    if forge == "forged":
        headers["X-ZEvent-Signature"] = FakeZalo(oa_secret="guessed").sign(
            body, json.loads(body)["timestamp"]
        )
    else:
        del headers["X-ZEvent-Signature"]
    response = client.post("/webhooks/zalo", content=body, headers=headers)
    assert response.status_code == 401
    assert _messages() == [] and sent_tasks == []


@pytest.mark.parametrize(
    "name", ["user_call_oa", "oa_send_text", "unfollow", "anonymous_send_text"]
)
def test_events_not_acted_on_are_answered_200_and_not_stored(
    client: TestClient, zalo_on: FakeZalo, sent_tasks: list[Any], name: str
) -> None:
    response = _post(client, zalo_on, load(name))
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert _messages() == [] and sent_tasks == []


def test_a_signed_but_malformed_event_is_422(client: TestClient, zalo_on: FakeZalo) -> None:
    response = _post(client, zalo_on, {**load("user_send_text"), "sender": {}})
    assert response.status_code == 422
    assert "zalo" in response.json()["detail"]


def test_the_webhook_is_404_while_zalo_is_off(client: TestClient) -> None:
    registry.forget()
    body, headers = FakeZalo().signed(load("user_send_text"))
    assert client.post("/webhooks/zalo", content=body, headers=headers).status_code == 404


def test_the_worker_answers_on_zalo_and_receipts_move_the_reply_on(
    client: TestClient, connected: FakeZalo
) -> None:
    """Rasa down (a closed port): the acknowledgement goes out through the fake Zalo, as a
    reply to the person's message, and Zalo's receipts mark it delivered, then seen."""
    event = connected.text_event(USER, "xin chào", msg_id="5e6f708192a3b4c5d6e7f8091a2b3c4d")
    assert _post(client, connected, event).status_code == 200
    conversation_id = _conversation_id()

    # The worker answers, then delivers its reply itself; a second delivery run sends nothing.
    assert gateway.answer_waiting(conversation_id, rasa_url=f"http://127.0.0.1:{free_port()}") == 1
    assert delivery.deliver_waiting(conversation_id).sent == 0

    assert connected.sent == [
        {
            "recipient": {"message_id": "5e6f708192a3b4c5d6e7f8091a2b3c4d"},
            "message": {"text": gateway.ACK_RASA_DOWN},
        }
    ]
    zalo_id = connected.on("send")[0].answer["data"]["message_id"]
    inbound, reply = _messages()
    assert inbound.state == MessageState.FALLBACK
    assert (reply.direction, reply.state, reply.external_id) == (
        Direction.OUTBOUND,
        MessageState.SENT,
        zalo_id,
    )

    # A receipt naming another person moves nothing.
    other = connected.received_event("9999999999999999", zalo_id)
    assert _post(client, connected, other).status_code == 200
    assert _messages()[1].state == MessageState.SENT
    assert _post(client, connected, connected.received_event(USER, zalo_id)).status_code == 200
    assert _messages()[1].state == MessageState.DELIVERED
    assert _post(client, connected, connected.seen_event(USER, [zalo_id])).status_code == 200
    assert _messages()[1].state == MessageState.SEEN
