"""Sending on Zalo with the real client against the fake Zalo over loopback: what is sent, and
what each of Zalo's answers makes of the message (channels.md 1.6–1.8)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.database import session_scope, utcnow
from core.settings import get_settings
from feedback import attachments as photos
from feedback.models import Contact, ContactIdentity
from integrations.channel import Attachment, Outgoing, Reply, RetryLater, Undeliverable
from integrations.models import ChannelToken
from integrations.zalo import adapter as zalo_adapter
from integrations.zalo.adapter import ZaloAdapter, render, split_text
from tests.fakes.zalo import FakeZalo
from tests.images import tiny_png

USER = "2512523625412515"
INBOUND_ID = "a8d1c8e6bb13d74c8f04b6e7a1d2c3b4"


def _out(text: str | None = "Cảm ơn bạn đã phản ánh.", **reply: Any) -> Outgoing:
    return Outgoing(
        message_id=101,
        conversation_id=1,
        channel_user_id=USER,
        reply=Reply(text=text, **reply),
        in_reply_to=INBOUND_ID,
    )


def test_a_text_goes_as_a_reply_to_their_latest_message(
    adapter: ZaloAdapter, connected: FakeZalo
) -> None:
    sent = adapter.send(_out())
    [request] = connected.on("send")
    [token] = _tokens()
    assert request.headers["access_token"] == token.access_token  # Zalo's header, no Bearer
    assert request.json == {
        "recipient": {"message_id": INBOUND_ID},
        "message": {"text": "Cảm ơn bạn đã phản ánh."},
    }
    assert sent.external_id is not None and len(sent.external_id) == 32


def test_without_a_message_of_theirs_it_goes_to_the_person(
    adapter: ZaloAdapter, connected: FakeZalo
) -> None:
    for in_reply_to in (None, f"follow:{USER}:1764643560000"):  # a follow is no message
        adapter.send(
            Outgoing(
                message_id=102,
                conversation_id=1,
                channel_user_id=USER,
                reply=Reply(text="Chào bạn"),
                in_reply_to=in_reply_to,
            )
        )
    assert [r["recipient"] for r in connected.sent] == [{"user_id": USER}, {"user_id": USER}]


def test_a_long_text_is_split_at_2000_characters_on_a_boundary(
    adapter: ZaloAdapter, connected: FakeZalo
) -> None:
    paragraph = "Đoạn văn phản hồi của cán bộ về việc xử lý phản ánh. " * 30  # ~1,600 characters
    text = f"{paragraph}\n{paragraph}\n{paragraph}"
    sent = adapter.send(_out(text))
    texts = [m["message"]["text"] for m in connected.sent]
    assert len(texts) == 3 and all(len(t) <= 2000 for t in texts)
    assert [t.strip() for t in texts] == [paragraph.strip()] * 3  # cut at the line breaks
    assert sent.external_id == connected.on("send")[-1].answer["data"]["message_id"]
    assert split_text("a" * 4500) == ["a" * 2000, "a" * 2000, "a" * 500]  # no boundary: hard cut


def test_buttons_carry_rasa_payloads_hidden_five_at_most_per_message(
    adapter: ZaloAdapter, connected: FakeZalo
) -> None:
    code = "PA7K3M9QX2"
    buttons = [
        {"title": "⭐" * s, "payload": f'/rate{{"ticket_code": "{code}", "score": {s}}}'}
        for s in range(5, 0, -1)
    ] + [
        {"title": "Chưa được xử lý", "payload": f'/rate{{"ticket_code": "{code}", "fixed": false}}'}
    ]
    adapter.send(_out("Bạn đánh giá thế nào về việc xử lý phản ánh này?", buttons=buttons))
    first, second = (m["message"] for m in connected.sent)
    assert first["text"] == "Bạn đánh giá thế nào về việc xử lý phản ánh này?"
    assert first["attachment"]["type"] == "template"
    assert first["attachment"]["payload"]["buttons"] == [
        {"title": b["title"], "type": "oa.query.hide", "payload": b["payload"]} for b in buttons[:5]
    ]
    assert second["text"] == zalo_adapter.MORE_BUTTONS_TEXT
    assert second["attachment"]["payload"]["buttons"] == [
        {"title": "Chưa được xử lý", "type": "oa.query.hide", "payload": buttons[5]["payload"]}
    ]
    long_title = render(Reply(buttons=[{"title": "x" * 150, "payload": "/affirm"}]))
    assert long_title == [
        {
            "text": zalo_adapter.BUTTONS_TEXT,
            "attachment": {
                "type": "template",
                "payload": {
                    "buttons": [
                        {"title": "x" * 99 + "…", "type": "oa.query.hide", "payload": "/affirm"}
                    ]
                },
            },
        }
    ]


def test_a_stored_photo_is_uploaded_then_sent_before_the_text(
    adapter: ZaloAdapter, connected: FakeZalo
) -> None:
    url = photos.save(tiny_png(), "png")
    adapter.send(_out("Phản ánh PA7K3M9QX2 đã được xử lý xong.", image=url))
    [upload] = connected.on("upload")
    assert upload.files["file"] == (url.removeprefix(photos.URL_PREFIX), tiny_png())
    image, text = (m["message"] for m in connected.sent)
    [element] = image["attachment"]["payload"]["elements"]
    assert image["attachment"]["payload"]["template_type"] == "media"
    assert element["media_type"] == "image" and element["attachment_id"]
    assert text == {"text": "Phản ánh PA7K3M9QX2 đã được xử lý xong."}


def test_an_evidence_pdf_is_uploaded_and_sent_as_a_file_before_the_text(
    adapter: ZaloAdapter, connected: FakeZalo
) -> None:
    pdf = b"%PDF-1.4\n%%EOF\n"
    url = photos.save_document(pdf, "pdf")
    adapter.send(_out("Phản ánh PA7K3M9QX2 đã được xử lý xong.", documents=[url]))
    [upload] = connected.on("upload_file")
    assert upload.files["file"] == ("ket-qua-xu-ly.pdf", pdf)
    document, text = (m["message"] for m in connected.sent)
    assert document["attachment"]["type"] == "file" and document["attachment"]["payload"]["token"]
    assert text == {"text": "Phản ánh PA7K3M9QX2 đã được xử lý xong."}


def test_a_photo_zalo_refuses_is_left_out_and_the_text_still_goes(
    adapter: ZaloAdapter, connected: FakeZalo
) -> None:
    url = photos.save(tiny_png(), "png")
    connected.script("upload", error=-210, message="file size exceeds the limit")
    adapter.send(_out("Phản ánh PA7K3M9QX2 đã được xử lý xong.", image=url))
    assert [m["message"] for m in connected.sent] == [
        {"text": "Phản ánh PA7K3M9QX2 đã được xử lý xong."}
    ]


def test_a_refused_token_is_renewed_once_and_the_send_retried(
    adapter: ZaloAdapter, connected: FakeZalo
) -> None:
    [before] = _tokens()
    connected.expire_access_token()
    sent = adapter.send(_out())
    assert sent.external_id is not None
    assert len(connected.on("token")) == 1
    [after] = _tokens()
    assert after.access_token != before.access_token
    assert after.refresh_token != before.refresh_token  # the new pair was stored
    first, second = connected.on("send")
    assert first.headers["access_token"] == before.access_token
    assert second.headers["access_token"] == after.access_token


def test_the_token_is_read_once_and_kept_until_it_nears_its_end(
    adapter: ZaloAdapter, connected: FakeZalo, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = []
    read = zalo_adapter.tokens.access_token_until

    def counted(exchange: Any) -> Any:
        reads.append(1)
        return read(exchange)

    monkeypatch.setattr(zalo_adapter.tokens, "access_token_until", counted)
    adapter.send(_out())
    adapter.send(_out())
    assert len(reads) == 1
    # Kept as if it ended now: the row is read again (it holds a token good for longer).
    assert adapter._token is not None
    adapter._token = (adapter._token[0], utcnow())
    adapter.send(_out())
    assert len(reads) == 2 and len(connected.on("token")) == 0


def test_a_token_renewed_by_another_process_is_refused_once_then_the_new_one_goes(
    adapter: ZaloAdapter, connected: FakeZalo
) -> None:
    """Beat renewed the pair in another process: the token this one kept is dead. Zalo refuses
    it once, and the stored new one is used, with no refresh token spent here."""
    adapter.send(_out())
    [kept] = _tokens()
    beat = ZaloAdapter(get_settings(), timeout=2)
    try:
        assert zalo_adapter.tokens.renew_if_expiring(beat.exchange, within=timedelta(days=2))
    finally:
        beat.close()
    [renewed] = _tokens()
    adapter.send(_out())
    adapter.send(_out())
    tokens_sent = [r.headers["access_token"] for r in connected.on("send")]
    assert tokens_sent == [
        kept.access_token,
        kept.access_token,  # refused (-216)
        renewed.access_token,
        renewed.access_token,
    ]
    assert len(connected.on("token")) == 1  # beat's renewal only


def test_a_token_refused_again_after_renewal_is_final_not_a_loop(
    adapter: ZaloAdapter, connected: FakeZalo
) -> None:
    connected.script("send", error=-216, times=5)
    with pytest.raises(Undeliverable, match="-216"):
        adapter.send(_out())
    assert len(connected.on("send")) == 2
    assert len(connected.on("token")) == 1


def test_a_dead_refresh_token_asks_for_the_oa_to_be_reconnected(
    adapter: ZaloAdapter, connected: FakeZalo
) -> None:
    connected.expire_access_token()
    with session_scope() as session:
        session.get_one(ChannelToken, "zalo").refresh_token = "rt-spent-elsewhere"
    with pytest.raises(Undeliverable, match="tiepdan zalo connect"):
        adapter.send(_out())


def test_nothing_is_sent_before_the_oa_is_connected(
    adapter: ZaloAdapter, zalo_on: FakeZalo
) -> None:
    with pytest.raises(Undeliverable, match="chưa được kết nối"):
        adapter.send(_out())
    assert zalo_on.requests == []


def test_outside_the_7_day_window_without_a_zns_template_it_is_undeliverable(
    adapter: ZaloAdapter, connected: FakeZalo
) -> None:
    for code in (-230, -232):
        connected.script("send", error=code)
        with pytest.raises(Undeliverable, match=f"7 ngày.*{code}.*ZNS"):
            adapter.send(_out())
    assert connected.on("zns") == []


def test_outside_the_window_a_zns_template_goes_to_the_phone_they_gave(
    adapter: ZaloAdapter, connected: FakeZalo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "zalo_zns_template_id", "381735")
    text = "Phản ánh PA7K3M9QX2 đã được xử lý xong."
    connected.script("send", error=-230)
    with pytest.raises(Undeliverable, match="số điện thoại"):  # no phone given
        adapter.send(_out(text))
    _contact(phone="0912 345 678", consent=True)
    connected.script("send", error=-230)
    sent = adapter.send(_out(text))
    [zns] = connected.on("zns")
    assert zns.json == {
        "phone": "84912345678",
        "template_id": "381735",
        "template_data": {"ticket_code": "PA7K3M9QX2", "message": text},
        "tracking_id": "101",
    }
    assert zns.headers["access_token"]
    assert sent.external_id and len(sent.external_id) == 32


def test_the_rate_limit_means_later(adapter: ZaloAdapter, connected: FakeZalo) -> None:
    connected.script("send", error=-32)
    with pytest.raises(RetryLater) as caught:
        adapter.send(_out())
    assert caught.value.after == 60


@pytest.mark.parametrize("trouble", [{"status": 503}, {"status": 502}, {"hang": 2.0}])
def test_no_answer_from_zalo_means_later(
    adapter: ZaloAdapter, connected: FakeZalo, trouble: dict[str, Any]
) -> None:
    connected.script("send", **trouble)
    with pytest.raises(RetryLater):
        adapter.send(_out())
    assert adapter.send(_out()).external_id  # and then it goes


def test_zalo_down_altogether_means_later(
    monkeypatch: pytest.MonkeyPatch, connected: FakeZalo
) -> None:
    from tests.e2e.processes import free_port

    monkeypatch.setattr(get_settings(), "zalo_api_url", f"http://127.0.0.1:{free_port()}")
    down = ZaloAdapter(get_settings(), timeout=0.5)
    try:
        with pytest.raises(RetryLater):
            down.send(_out())
    finally:
        down.close()


def test_other_refusals_are_final_with_zalos_code(
    adapter: ZaloAdapter, connected: FakeZalo
) -> None:
    connected.script("send", error=-213, message="User has not followed the OA")
    with pytest.raises(Undeliverable, match=r"-213: User has not followed the OA"):
        adapter.send(_out())


def test_a_part_already_sent_is_not_sent_again_when_a_later_part_waits(
    adapter: ZaloAdapter, connected: FakeZalo
) -> None:
    text = ("Dòng phản hồi. " * 100 + "\n") * 2  # two parts
    adapter_out = _out(text)
    connected.script("send")  # the first part: the normal answer
    connected.script("send", status=503)
    with pytest.raises(RetryLater):
        adapter.send(adapter_out)
    adapter.send(adapter_out)
    assert len(connected.sent) == 2  # the first part once, the second once


# --- Fetching a photo from Zalo's CDN ----------------------------------------------------------


def test_a_photo_is_downloaded(adapter: ZaloAdapter, zalo_on: FakeZalo) -> None:
    url = zalo_on.serve_file("/2512523625412515/d2a3b4c5.jpg", tiny_png())
    assert adapter.fetch(Attachment(kind="photo", ref=url)) == tiny_png()


def test_a_photo_is_read_no_further_than_the_limit(
    adapter: ZaloAdapter, zalo_on: FakeZalo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "max_photo_bytes", 1000)
    url = zalo_on.serve_file("/big.jpg", b"\xff\xd8\xff" + b"x" * 200_000)
    assert len(adapter.fetch(Attachment(kind="photo", ref=url))) == 1001  # the gateway says no


def test_a_photo_that_is_gone_or_not_served_now(adapter: ZaloAdapter, zalo_on: FakeZalo) -> None:
    with pytest.raises(Undeliverable):
        adapter.fetch(Attachment(kind="photo", ref=zalo_on.url + "/expired.jpg"))
    url = zalo_on.serve_file("/later.jpg", tiny_png())
    zalo_on.script("file", status=503)
    with pytest.raises(RetryLater):
        adapter.fetch(Attachment(kind="photo", ref=url))
    zalo_on.script("file", hang=2.0)
    with pytest.raises(RetryLater):
        adapter.fetch(Attachment(kind="photo", ref=url))


# --- Helpers ------------------------------------------------------------------------------------


def _tokens() -> list[ChannelToken]:
    with session_scope() as session:
        return list(session.scalars(select(ChannelToken).where(ChannelToken.channel == "zalo")))


def _contact(*, phone: str, consent: bool) -> None:
    with session_scope() as session:
        contact = Contact(phone=phone, phone_consent=consent)
        session.add(contact)
        session.flush()
        session.add(ContactIdentity(contact_id=contact.id, channel="zalo", channel_user_id=USER))
