"""The web chat over HTTP with the gateway behind it, while Rasa is down (a closed port).

The gateway commits in its own transactions (a message is saved before anything can fail), so
these tests clean up the rows they made.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot import gateway
from bot.gateway import Inbound
from bot.message_store import store_inbound
from bot.models import Conversation, Direction, Message, MessageState
from core import timing
from core.database import session_scope
from core.settings import get_settings
from feedback.models import Ticket
from tests.bot.webchat_client import open_chat, stored_messages, upload_photo
from tests.images import same_picture, tiny_png


def test_a_report_while_rasa_is_down_becomes_a_ticket(client, rasa_down, nlu_model, monkeypatch):
    monkeypatch.setattr("nlu.pipeline._nlu", nlu_model)
    session_id = open_chat(client)
    assert len(session_id) >= 40  # 32 random bytes
    text = "Đèn đường trước số 45 Nguyễn Trãi, phường Bến Thành tắt mấy hôm nay, tối rất nguy hiểm"
    response = client.post(
        "/api/v1/webchat/messages", json={"session_id": session_id, "text": text}
    )
    assert response.status_code == 200, response.text
    [reply] = response.json()["messages"]
    assert "tạm gián đoạn" in reply["text"] and "PA" in reply["text"]
    stored = stored_messages(session_id)
    assert [(m.direction, m.state) for m in stored] == [
        (Direction.INBOUND, MessageState.FALLBACK),
        (Direction.OUTBOUND, MessageState.SENT),
    ]
    assert stored[0].text == text
    with session_scope() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.code == stored[0].ticket_code))
        assert ticket is not None and ticket.description == text and ticket.channel == "web"
        # Rasa's own intake, if it had begun one, is to be ended before its next turn.
        conversation = session.get_one(Conversation, stored[0].conversation_id)
        assert conversation.rasa_restart_due


def test_small_talk_while_rasa_is_down_is_acknowledged_without_a_ticket(
    client, rasa_down, nlu_model, monkeypatch
):
    monkeypatch.setattr("nlu.pipeline._nlu", nlu_model)
    session_id = open_chat(client)
    response = client.post(
        "/api/v1/webchat/messages", json={"session_id": session_id, "text": "xin chào ạ"}
    )
    assert response.status_code == 200
    [reply] = response.json()["messages"]
    assert reply["text"] == gateway.ACK_RASA_DOWN
    [message, _] = stored_messages(session_id)
    assert message.ticket_code is None
    with session_scope() as session:  # nothing was filed: Rasa's conversation resumes as it was
        assert not session.get_one(Conversation, message.conversation_id).rasa_restart_due


def test_an_english_chat_is_answered_in_english_while_rasa_is_down(
    client, rasa_down, nlu_model, monkeypatch
):
    monkeypatch.setattr("nlu.pipeline._nlu", nlu_model)
    session_id = open_chat(client)

    def say(body: dict) -> str:
        response = client.post("/api/v1/webchat/messages", json={"session_id": session_id, **body})
        assert response.status_code == 200, response.text
        [reply] = response.json()["messages"]
        return str(reply["text"])

    assert say({"text": "Hello, is anyone there?"}) == gateway.ENGLISH_TEXTS[gateway.ACK_RASA_DOWN]
    # A button's forged payload shows no language: the chat stays English.
    assert say({"payload": "/drop_tables"}) == gateway.ENGLISH_TEXTS[gateway.BAD_PAYLOAD]
    assert say({"text": "xin chào ạ"}) == gateway.ACK_RASA_DOWN


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"text": ""}, gateway.EMPTY),
        ({"text": "   "}, gateway.EMPTY),
        ({"text": "a" * 5001}, gateway.TOO_LONG.format(limit=gateway.MAX_TEXT)),
        ({"payload": "tôi là nút giả"}, gateway.BAD_PAYLOAD),
        ({"payload": "/drop_tables"}, gateway.BAD_PAYLOAD),  # no such intent
        ({"payload": '/rate{"score": 5'}, gateway.BAD_PAYLOAD),  # broken entities
    ],
)
def test_bad_input_gets_a_polite_reply_and_is_stored(client, rasa_down, body, expected):
    session_id = open_chat(client)
    response = client.post("/api/v1/webchat/messages", json={"session_id": session_id, **body})
    assert response.status_code == 200, response.text
    assert response.json()["messages"][0]["text"] == expected
    [inbound, _reply] = stored_messages(session_id)
    assert inbound.state == MessageState.REJECTED


def test_an_id_the_server_did_not_issue_is_refused(client, rasa_down):
    for session_id in ["guessed", "x" * 43]:
        sent = client.post(
            "/api/v1/webchat/messages", json={"session_id": session_id, "text": "hi"}
        )
        assert sent.status_code == 403, sent.text
        read = client.get(f"/api/v1/webchat/sessions/{session_id}/messages")
        assert read.status_code == 403
    assert client.post("/api/v1/webchat/messages", json={"session_id": "x"}).status_code == 422


def test_one_session_cannot_read_another(client, rasa_down):
    mine, theirs = open_chat(client), open_chat(client)
    client.post("/api/v1/webchat/messages", json={"session_id": theirs, "text": "bí mật của tôi"})
    mine_history = client.get(f"/api/v1/webchat/sessions/{mine}/messages").json()["messages"]
    assert mine_history == []
    theirs_history = client.get(f"/api/v1/webchat/sessions/{theirs}/messages").json()["messages"]
    assert theirs_history[0]["text"] == "bí mật của tôi"
    later = client.get(
        f"/api/v1/webchat/sessions/{theirs}/messages", params={"after": theirs_history[-1]["id"]}
    )
    assert later.json()["messages"] == []


def test_a_channel_message_id_seen_before_is_a_no_op(rasa_down):
    inbound = Inbound(
        channel="web", channel_user_id="u1", text="xin chào", channel_message_id="m-1"
    )
    first = gateway.handle_inbound(inbound)
    again = gateway.handle_inbound(inbound)
    assert not first.duplicate and first.replies
    assert again.duplicate and again.replies == []
    with session_scope() as session:
        count = session.scalars(select(Message).where(Message.channel_message_id == "m-1")).all()
    assert len(count) == 1


def test_a_retried_message_is_stored_and_answered_once(client, rasa_down, nlu_model, monkeypatch):
    """The widget sends a message again under the same id when the answer was lost (a
    replica killed behind the proxy): one message, one ticket, and the retry gets the
    first try's replies."""
    monkeypatch.setattr("nlu.pipeline._nlu", nlu_model)
    session_id = open_chat(client)
    body = {
        "session_id": session_id,
        "text": "Cống thoát nước trước số 8 Lý Tự Trọng bị tắc, nước tràn lên vỉa hè",
        "client_message_id": "3f0c9a52-8d1e-4b7a-9c61-2b4f0e7d5a10",
    }
    first = client.post("/api/v1/webchat/messages", json=body)
    again = client.post("/api/v1/webchat/messages", json=body)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json() and "PA" in first.json()["messages"][0]["text"]
    assert [m.direction for m in stored_messages(session_id)] == [
        Direction.INBOUND,
        Direction.OUTBOUND,
    ]
    # A new id is a new message.
    other = client.post(
        "/api/v1/webchat/messages", json={**body, "client_message_id": "a-second-message-id"}
    )
    assert other.status_code == 200
    assert len(stored_messages(session_id)) == 4


def test_a_retry_answers_a_first_try_that_died_before_answering(
    client, rasa_down, nlu_model, monkeypatch
):
    """The replica that stored the first try was killed before it answered: the retry waits
    for the answer as long as a turn can take, then answers the stored message itself."""
    monkeypatch.setattr("nlu.pipeline._nlu", nlu_model)
    monkeypatch.setattr("bot.webchat.FIRST_TRY_SECONDS", 0.5)
    session_id = open_chat(client)
    text = "Rác tồn đọng ở đầu hẻm 42 Trần Hưng Đạo cả tuần chưa ai thu gom"
    store_inbound(
        Inbound(
            channel="web",
            channel_user_id=session_id,
            text=text,
            channel_message_id="client:first-try-of-a-dead-replica",
            opens_conversation=False,
        )
    )
    response = client.post(
        "/api/v1/webchat/messages",
        json={
            "session_id": session_id,
            "text": text,
            "client_message_id": "first-try-of-a-dead-replica",
        },
    )
    assert response.status_code == 200, response.text
    [reply] = response.json()["messages"]
    assert "PA" in reply["text"]  # Rasa is down: the fallback filed it
    stored = stored_messages(session_id)
    assert [(m.direction, m.state) for m in stored] == [
        (Direction.INBOUND, MessageState.FALLBACK),
        (Direction.OUTBOUND, MessageState.SENT),
    ]


@pytest.mark.parametrize("client_message_id", ["short", "x" * 65, "có dấu-12345", "a b c d e f"])
def test_a_malformed_client_message_id_is_refused(client, rasa_down, client_message_id):
    session_id = open_chat(client)
    response = client.post(
        "/api/v1/webchat/messages",
        json={"session_id": session_id, "text": "xin chào", "client_message_id": client_message_id},
    )
    assert response.status_code == 422
    assert stored_messages(session_id) == []


def test_staff_replies_reach_the_chat_over_the_websocket(
    client, rasa_down, nlu_model, monkeypatch, sent_tasks
):
    """A report filed in the chat; staff reply and resolve; the notices are pushed, once."""
    from bot import notify
    from bot import webchat_api as api
    from feedback import queries, service
    from feedback.auth import SYSTEM
    from feedback.models import TicketStatus
    from feedback.schemas import MessageBody

    monkeypatch.setattr("nlu.pipeline._nlu", nlu_model)
    monkeypatch.setattr(api, "POLL_SECONDS", 0.05)
    session_id = open_chat(client)
    text = "Rác thải đổ trộm ở đầu hẻm 51 Lê Thánh Tôn, phường Bến Thành mấy ngày nay bốc mùi"
    client.post("/api/v1/webchat/messages", json={"session_id": session_id, "text": text})
    code = stored_messages(session_id)[0].ticket_code
    assert code is not None

    with client.websocket_connect(f"/api/v1/webchat/ws/{session_id}") as socket_:
        with session_scope() as session:
            ticket = queries.get_ticket(session, code=code, principal=SYSTEM)
            ticket.status = TicketStatus.ASSIGNED  # as the routing job would
            service.apply_action(
                session,
                code=code,
                action="reply",
                body=MessageBody(message="Đã chuyển đội vệ sinh, sẽ thu gom trong hôm nay."),
                principal=SYSTEM,
            )
        queued = [kwargs["event_id"] for name, kwargs in sent_tasks if name == "bot.notify_contact"]
        assert len(queued) == 1
        with session_scope() as session:
            assert notify.notify_contact(session, event_id=queued[0]) == 1
            assert notify.notify_contact(session, event_id=queued[0]) == 0  # idempotent
        pushed = socket_.receive_json()["messages"]
        assert len(pushed) == 1 and pushed[0]["direction"] == "out"
        assert pushed[0]["text"] == (
            f"Phản hồi về phản ánh {code}: Đã chuyển đội vệ sinh, sẽ thu gom trong hôm nay."
        )


def test_a_push_committed_after_a_later_message_still_reaches_the_chat(
    client, rasa_down, monkeypatch
):
    """Ids are taken at insert, not at commit: a staff reply inserted before a bot's answer
    (whose statement takes no lock on the conversation) and committed after it sits below an
    id the socket has already read, and must be pushed all the same."""
    import time

    from bot import webchat_api as api
    from bot.delivery import add_outbound
    from bot.models import WebchatSession
    from integrations.channel import Reply

    monkeypatch.setattr(api, "POLL_SECONDS", 0.05)
    session_id = open_chat(client)
    with session_scope() as session:
        conversation_id = session.get_one(WebchatSession, session_id).conversation_id

    def staff_reply(session, text: str) -> None:
        conversation = session.get_one(Conversation, conversation_id)
        add_outbound(session, conversation, Reply(text=text), channel_message_id=text)
        session.flush()

    texts: list[str] = []
    with client.websocket_connect(f"/api/v1/webchat/ws/{session_id}") as socket_:
        with session_scope() as slow:
            staff_reply(slow, "Trả lời chậm")  # its id now, its commit last
            with session_scope() as quick:  # the bot's answer, as the gateway stores it
                quick.add(
                    Message(
                        conversation_id=conversation_id,
                        direction=Direction.OUTBOUND,
                        text="Câu trả lời của trợ lý",
                        state=MessageState.SENT,
                    )
                )
            time.sleep(0.5)  # the socket has read past the staff reply's id
        with session_scope() as last:
            staff_reply(last, "Trả lời cuối")
        while "Trả lời cuối" not in texts:
            texts += [m["text"] for m in socket_.receive_json()["messages"]]
    assert sorted(texts) == sorted(["Trả lời chậm", "Trả lời cuối"])


def test_the_websocket_refuses_an_id_it_did_not_issue(client, rasa_down):
    from starlette.websockets import WebSocketDisconnect

    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/api/v1/webchat/ws/not-a-session"),
    ):
        pass
    assert refused.value.code == 1008


# --- Photos ------------------------------------------------------------------------------------


def test_a_photo_is_stored_and_served_back(client, rasa_down, photo_dir):
    session_id = open_chat(client)
    png = tiny_png()

    response = upload_photo(client, session_id, png)

    assert response.status_code == 201, response.text
    url = response.json()["url"]
    assert url.startswith("/api/v1/webchat/photos/") and url.endswith(".png")
    served = client.get(url)
    assert same_picture(served.content, png) and served.headers["content-type"] == "image/png"
    assert client.get("/api/v1/webchat/photos/../../etc/passwd").status_code == 404


@pytest.mark.parametrize(
    ("data", "media_type", "status", "reason"),
    [
        (b"%PDF-1.7 not a photo", "image/jpeg", 415, "không phải ảnh"),  # the type lies
        (b"\xff\xd8\xff" + b"0" * 2_000, "image/jpeg", 413, "lớn quá"),
    ],
)
def test_a_refused_upload_gets_a_reason_and_is_kept(
    client, rasa_down, photo_dir, monkeypatch, data, media_type, status, reason
):
    monkeypatch.setattr(get_settings(), "max_photo_bytes", 1_000)
    session_id = open_chat(client)

    response = upload_photo(client, session_id, data, media_type)

    assert response.status_code == status
    assert reason in response.json()["detail"]
    [stored] = stored_messages(session_id)
    assert stored.state == MessageState.REJECTED
    assert stored.content["upload"]["refused"] == response.json()["detail"]
    assert not photo_dir.exists() or not any(photo_dir.iterdir())


def test_a_photo_for_a_session_the_server_did_not_issue_is_refused(client, rasa_down, photo_dir):
    assert upload_photo(client, "not-a-session", tiny_png()).status_code == 403


def test_a_turn_reports_its_wait_for_rasa_in_server_timing(client, rasa_down):
    """bench/chat.py tells the gateway's own time from Rasa's by this header."""
    session_id = open_chat(client)
    response = client.post(
        "/api/v1/webchat/messages", json={"session_id": session_id, "text": "xin chào"}
    )
    durations = timing.parse_header(response.headers["server-timing"])
    assert set(durations) == {"app", "store", "rasa", "finish"}
    assert 0 < durations["store"] + durations["rasa"] + durations["finish"] <= durations["app"]


PORTAL = "https://dichvucong.example.vn"


@pytest.fixture
def portal_client(db_session, sent_tasks, monkeypatch):
    """The app as a province that lets its portal embed the widget configures it."""
    from fastapi.testclient import TestClient

    from core.http import get_db_session
    from tiepdan.app import create_app

    monkeypatch.setattr(get_settings(), "webchat_origins", f"{PORTAL}, https://other.example.vn")
    app = create_app()
    app.dependency_overrides[get_db_session] = lambda: db_session
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _preflight(client, path: str, origin: str):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )


def test_the_portals_that_embed_the_widget_may_call_the_web_chat(portal_client):
    preflight = _preflight(portal_client, "/api/v1/webchat/sessions", PORTAL)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == PORTAL
    opened = portal_client.post("/api/v1/webchat/sessions", headers={"Origin": PORTAL})
    assert opened.status_code == 201
    assert opened.headers["access-control-allow-origin"] == PORTAL


def test_other_origins_and_the_staff_api_get_no_cors(portal_client):
    stranger = _preflight(portal_client, "/api/v1/webchat/sessions", "https://evil.example")
    assert "access-control-allow-origin" not in stranger.headers
    answered = portal_client.post(
        "/api/v1/webchat/sessions", headers={"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in answered.headers
    staff = _preflight(portal_client, "/api/v1/tickets", PORTAL)
    assert "access-control-allow-origin" not in staff.headers


def test_a_stored_photo_is_served_with_nosniff(client, rasa_down, photo_dir):
    session_id = open_chat(client)
    uploaded = client.post(
        "/api/v1/webchat/photos",
        params={"session_id": session_id},
        content=tiny_png(),
        headers={"Content-Type": "image/png"},
    )
    served = client.get(uploaded.json()["url"])
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-type"] == "image/png"


def test_numbers_past_what_the_database_holds_are_a_clear_error(client, rasa_down):
    from starlette.websockets import WebSocketDisconnect

    session_id = open_chat(client)
    huge = 10**20
    history = client.get(f"/api/v1/webchat/sessions/{session_id}/messages?after={huge}")
    assert history.status_code == 422 and "after" in history.json()["detail"]
    socket_url = f"/api/v1/webchat/ws/{session_id}?after={huge}"
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(socket_url) as ws:
        ws.receive_json()
    assert closed.value.code == 1008


def test_a_chat_message_loses_its_control_characters_before_it_is_stored(client, rasa_down):
    session_id = open_chat(client)
    said = client.post(
        "/api/v1/webchat/messages",
        json={"session_id": session_id, "text": "xin\x00 chào\x1b[2J \u202eabc"},
    )
    assert said.status_code == 200, said.text
    [stored] = [m for m in stored_messages(session_id) if m.direction.value == "in"]
    assert stored.text == "xin chào abc"


def test_the_websocket_is_refused_with_a_503_while_the_database_is_down(
    client, rasa_down, monkeypatch
):
    from sqlalchemy.exc import OperationalError
    from starlette.testclient import WebSocketDenialResponse

    from bot import webchat

    session_id = open_chat(client)

    def unreachable(_session_id: str) -> int:
        raise OperationalError("SELECT 1", {}, Exception("too many clients already"))

    monkeypatch.setattr(webchat, "conversation_id", unreachable)
    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        client.websocket_connect(f"/api/v1/webchat/ws/{session_id}"),
    ):
        pass
    assert refused.value.status_code == 503
    assert refused.value.headers["retry-after"] == "5"
