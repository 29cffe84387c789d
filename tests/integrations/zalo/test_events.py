"""A Zalo webhook read without the network: its signature (channels.md 1.4), then its events,
one captured-style payload per event type (fixtures/)."""

from __future__ import annotations

import hashlib
import json

import pytest

from core.errors import Unauthorized
from integrations.channel import Attachment, Inbound, Receipt
from integrations.zalo import events
from tests.fakes.zalo import FakeZalo
from tests.integrations.zalo.captured import NAMES, load

ZALO = FakeZalo()  # only its signing: the server is not started


def _verify(body: bytes, headers: dict[str, str], *, oa_secret: str = ZALO.oa_secret) -> None:
    events.verify(headers, body, app_id=ZALO.app_id, oa_secret=oa_secret)


def test_zalos_signature_is_accepted_with_or_without_its_prefix_in_any_case() -> None:
    body, headers = ZALO.signed(load("user_send_text"))
    _verify(body, headers)
    mac = headers["X-ZEvent-Signature"].removeprefix("mac=")
    _verify(body, {"X-ZEvent-Signature": mac.upper()})
    _verify(body, {"x-zevent-signature": f"mac={mac}"})


def test_the_formula_is_plain_sha256_of_app_id_body_timestamp_and_oa_secret() -> None:
    event = {**load("user_send_text"), "timestamp": "1764643200000"}
    body = json.dumps(event).encode()
    expected = hashlib.sha256(
        ZALO.app_id.encode() + body + b"1764643200000" + ZALO.oa_secret.encode()
    ).hexdigest()
    assert events.signature(ZALO.app_id, body, "1764643200000", ZALO.oa_secret) == expected


@pytest.mark.parametrize(
    "forge",
    [
        "missing",
        "empty",
        "other secret",
        "app secret instead of the OA secret",
        "tampered body",
        "re-serialized body",
        "no timestamp",
        "a day and more old",
    ],
)
def test_a_forged_or_unsigned_event_is_refused(forge: str) -> None:
    event = load("user_send_text")
    body, headers = ZALO.signed(event)
    if forge == "missing":
        headers.pop("X-ZEvent-Signature")
    elif forge == "empty":
        headers["X-ZEvent-Signature"] = "mac="
    elif forge == "other secret":
        headers["X-ZEvent-Signature"] = FakeZalo(oa_secret="guessed").sign(
            body, json.loads(body)["timestamp"]
        )
    elif forge == "app secret instead of the OA secret":
        headers["X-ZEvent-Signature"] = FakeZalo(oa_secret=ZALO.app_secret).sign(
            body, json.loads(body)["timestamp"]
        )
    elif forge == "tampered body":
        body = body.replace(b"Yersin", b"Yersln")
    elif forge == "re-serialized body":
        body = json.dumps(json.loads(body), indent=1).encode()
    elif forge == "no timestamp":
        unsigned = {k: v for k, v in event.items() if k != "timestamp"}
        body = json.dumps(unsigned).encode()
        headers["X-ZEvent-Signature"] = ZALO.sign(body, "")
    elif forge == "a day and more old":
        body, headers = ZALO.signed(event, now=False)  # the fixture's own timestamp, in 2025
    with pytest.raises(Unauthorized):
        _verify(body, headers)


def test_every_fixture_is_read() -> None:
    assert {
        "user_send_text",
        "user_send_text_button",
        "user_click_button",
        "user_send_image",
        "user_send_location",
        "user_send_sticker",
        "follow",
        "unfollow",
        "user_received_message",
        "user_seen_message",
        "oa_send_text",
        "anonymous_send_text",
        "user_call_oa",
    } == set(NAMES)
    for name in NAMES:
        events.parse(json.dumps(load(name)).encode())  # none raises


def _parse(name: str, **changes: object) -> list[Inbound | Receipt]:
    return events.parse(json.dumps({**load(name), **changes}).encode())


def test_a_text() -> None:
    [inbound] = _parse("user_send_text")
    assert inbound == Inbound(
        channel="zalo",
        channel_user_id="2512523625412515",
        text="Đèn đường trước số 12 Yersin, P. Phú Cường tắt cả tuần nay rồi ạ",
        channel_message_id="a8d1c8e6bb13d74c8f04b6e7a1d2c3b4",
    )
    assert inbound.sender_id == "zalo:2512523625412515"


def test_a_tapped_button_arrives_as_its_payload_by_text_or_by_click() -> None:
    [tapped] = _parse("user_send_text_button")
    assert isinstance(tapped, Inbound)
    assert tapped.payload == '/rate{"ticket_code": "PA7K3M9QX2", "score": 5}'
    assert tapped.text is None
    [clicked] = _parse("user_click_button")
    assert isinstance(clicked, Inbound)
    assert (clicked.payload, clicked.channel_message_id) == (
        "/affirm",
        "c17e2f3a4b5c6d7e8f9012a3b4c5d6e7",
    )
    # Typed words that merely start with a slash stay words.
    message = {**load("user_send_text")["message"], "text": "/ đường 3/2 ngập"}
    [typed] = _parse("user_send_text", message=message)
    assert isinstance(typed, Inbound)
    assert (typed.text, typed.payload) == ("/ đường 3/2 ngập", None)


def test_an_image_is_a_photo_to_fetch() -> None:
    [inbound] = _parse("user_send_image")
    assert isinstance(inbound, Inbound)
    assert inbound.attachments == [
        Attachment(kind="photo", ref="https://photo-stal-8.zadn.vn/2512523625412515/d2a3b4c5.jpg")
    ]
    assert inbound.text == "Ảnh cột đèn bị hỏng"


@pytest.mark.parametrize(
    "message",
    [
        None,  # the fixture: attachments[].payload.coordinates
        {"msg_id": "m-loc", "location": {"latitude": "10.980142", "longitude": "106.654373"}},
        {"msg_id": "m-loc", "coordinates": {"lat": "10.980142", "long": "106.654373"}},
    ],
)
def test_a_place_in_any_of_its_shapes(message: dict[str, object] | None) -> None:
    [inbound] = _parse("user_send_location", **({"message": message} if message else {}))
    assert isinstance(inbound, Inbound)
    assert inbound.attachments == [
        Attachment(kind="location", latitude=10.980142, longitude=106.654373)
    ]


def test_a_sticker_is_stored_and_answered_politely() -> None:
    [inbound] = _parse("user_send_sticker")
    assert isinstance(inbound, Inbound)
    assert inbound.unsupported == "sticker"
    assert inbound.channel_message_id == "f4c5d6e7f8091a2b3c4d5e6f708192a3"


def test_a_follower_is_greeted_once() -> None:
    [inbound] = _parse("follow")
    assert isinstance(inbound, Inbound)
    assert (inbound.channel_user_id, inbound.payload) == ("2512523625412515", "/greet")
    assert inbound.channel_message_id == "follow:2512523625412515:1764643560000"
    assert not events.is_zalo_message_id(inbound.channel_message_id)


def test_receipts_name_our_messages() -> None:
    assert _parse("user_received_message") == [
        Receipt("2512523625412515", ("0a1b2c3d4e5f60718293a4b5c6d7e8f9",), "delivered")
    ]
    assert _parse("user_seen_message") == [
        Receipt(
            "2512523625412515",
            ("0a1b2c3d4e5f60718293a4b5c6d7e8f9", "1b2c3d4e5f60718293a4b5c6d7e8f90a"),
            "seen",
        )
    ]


@pytest.mark.parametrize(
    "name", ["unfollow", "oa_send_text", "anonymous_send_text", "user_call_oa"]
)
def test_events_the_platform_does_not_act_on_give_nothing(name: str) -> None:
    assert _parse(name) == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"timestamp": "1"}',
        json.dumps({**load("user_send_text"), "sender": {}}).encode(),
        json.dumps({**load("user_send_image"), "message": {"msg_id": "x"}}).encode(),
        json.dumps({**load("user_send_location"), "message": {"msg_id": "x"}}).encode(),
        json.dumps({**load("follow"), "follower": None}).encode(),
        json.dumps({**load("user_seen_message"), "recipient": None}).encode(),
    ],
)
def test_a_malformed_event_is_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        events.parse(body)
