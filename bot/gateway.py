"""The gateway between the channels and Rasa.

Every inbound message is stored and committed first; only then is anything else tried. A
channel message id seen before is a no-op, since a webhook retry is the same message. Then the
text goes to Rasa's REST channel (sender `<channel>:<user>`), and its replies are stored for
delivery.

Two ways in, one way through:
- the web chat asks and waits: `handle_inbound` stores, answers and returns the replies;
- a webhook (Telegram, Zalo) must answer its channel at once: `receive` stores and queues
  `bot.answer_messages`, whose worker answers the person's messages in order (`answer_waiting`)
  and queues the replies for delivery (bot/delivery.py).

When Rasa is down or slow, the citizen still gets a polite answer. If the message reads like a
report (the NLU finds a category with some confidence), a ticket is opened from the raw text,
so nothing is lost. The next message goes to Rasa again, so the conversation resumes when it
is back. The gateway knows no channel: what differs is in the adapter (integrations/).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from bot import conversations, delivery, delivery_queue, rasa_rest
from bot.message_store import Stored, store_inbound, store_outcome
from bot.models import MessageState
from core import ratelimit, timing
from core.celery_app import publish
from core.database import session_scope, utcnow
from core.errors import AppError, TooMany
from core.settings import get_settings
from core.text import clean_text
from feedback import attachments, citizen, service
from feedback.auth import SERVICE
from feedback.schemas import ContactIn, TicketCreate
from integrations import registry
from integrations.channel import ChannelAdapter, Inbound, Reply, RetryLater, Undeliverable

__all__ = ["Inbound", "Outcome", "Reply", "answer_waiting", "handle_inbound", "receive"]

logger = logging.getLogger(__name__)

MAX_TEXT = 5000  # characters; a longer message is refused politely, and stored
# A message that reads like a report, when Rasa is down, becomes a ticket above this confidence.
FALLBACK_TICKET_CONFIDENCE = 0.45
FALLBACK_MIN_LENGTH = 20
# While Rasa is down, what a person writes this soon after their last message that went to a
# ticket is added to that ticket.
FALLBACK_BURST = timedelta(minutes=30)

ACK_RASA_DOWN = (
    "Cảm ơn bạn đã liên hệ. Hệ thống trả lời tự động đang tạm gián đoạn; tin nhắn của bạn đã "
    "được lưu lại và cán bộ sẽ phản hồi sớm."
)
ACK_TICKET_OPENED = (
    "Cảm ơn bạn. Hệ thống trả lời tự động đang tạm gián đoạn, nhưng phản ánh của bạn đã được "
    "ghi nhận với mã {code}. Bạn có thể dùng mã này để tra cứu tình trạng xử lý."
)
ACK_DETAILS_ADDED = (
    "Cảm ơn bạn. Nội dung này đã được bổ sung vào phản ánh {code}; cán bộ sẽ xem xét cùng "
    "phản ánh đó."
)
TOO_LONG = (
    "Tin nhắn dài quá {limit} ký tự nên hệ thống chưa đọc được. Bạn vui lòng tóm tắt sự việc "
    "(chuyện gì, ở đâu) trong một tin ngắn hơn."
)
EMPTY = "Bạn vui lòng nhập nội dung tin nhắn."
BAD_PAYLOAD = "Lựa chọn này không còn hiệu lực. Bạn vui lòng chọn lại hoặc nhập nội dung."
UNSUPPORTED = (
    "Xin lỗi, tôi chưa đọc được loại tin nhắn này. Bạn vui lòng nhắn bằng chữ, gửi ảnh "
    "hoặc chia sẻ vị trí."
)
PHOTO_UNAVAILABLE = "Xin lỗi, tôi chưa tải được ảnh bạn gửi. Bạn vui lòng gửi lại ảnh."
# Over a limit (TIEPDAN_LIMIT_*): {seconds} and {minutes} say when to come back.
SLOW_DOWN = (
    "Bạn gửi tin nhắn hơi nhanh nên hệ thống chưa xử lý tin vừa rồi. Bạn vui lòng chờ khoảng "
    "{seconds} giây rồi gửi lại."
)
PHOTO_QUOTA = (
    "Hôm nay cuộc trò chuyện này đã gửi nhiều ảnh nên hệ thống tạm ngừng nhận thêm ảnh. Bạn vui "
    "lòng mô tả bằng chữ, hoặc gửi ảnh sau khoảng {minutes} phút."
)
# The same in English, for a conversation in English (Conversation.language).
ENGLISH_TEXTS = {
    ACK_RASA_DOWN: (
        "Thank you for contacting us. The automatic assistant is briefly unavailable; your "
        "message is saved and an official will answer soon."
    ),
    ACK_TICKET_OPENED: (
        "Thank you. The automatic assistant is briefly unavailable, but your report has been "
        "received with the code {code}. You can use this code to check its progress."
    ),
    ACK_DETAILS_ADDED: (
        "Thank you. This has been added to your report {code}; the official will read it "
        "with that report."
    ),
    TOO_LONG: (
        "Your message is longer than {limit} characters, so the system could not read it. "
        "Please sum up what happened and where in a shorter message."
    ),
    EMPTY: "Please type your message.",
    BAD_PAYLOAD: "This choice is no longer valid. Please choose again or type your message.",
    UNSUPPORTED: (
        "Sorry, I cannot read this kind of message. Please write text, send a photo or share "
        "your location."
    ),
    PHOTO_UNAVAILABLE: "Sorry, I could not load your photo. Please send it again.",
    SLOW_DOWN: (
        "You are sending messages quickly, so the last one was not handled. Please wait about "
        "{seconds} seconds and send it again."
    ),
    PHOTO_QUOTA: (
        "This conversation has sent many photos today, so no more photos are taken for now. "
        "Please describe it in words, or send the photo in about {minutes} minutes."
    ),
}


def in_language(text: str, language: str) -> str:
    """One of the gateway's own texts in the conversation's language (Vietnamese by default)."""
    return ENGLISH_TEXTS.get(text, text) if language == "en" else text


@dataclass
class Outcome:
    replies: list[Reply]
    duplicate: bool = False
    ticket_code: str | None = None


# --- Two ways in ----------------------------------------------------------------------------


def handle_inbound(inbound: Inbound, *, rasa_url: str | None = None) -> Outcome:
    """Store, then answer at once: Rasa's replies, or a fallback when Rasa cannot answer."""
    stored = _store(inbound)
    if stored is None:
        return Outcome(replies=[], duplicate=True)
    return answer(stored, inbound, rasa_url=rasa_url)


def receive(inbound: Inbound) -> Stored | None:
    """Store a message from a webhook and queue its answer; None for one seen before."""
    stored = _store(inbound)
    if stored is not None:
        queue_answer(stored.conversation_id)
    return stored


def queue_answer(conversation_id: int) -> None:
    # The message is committed: if the broker cannot take the job for a minute, beat's sweep
    # (bot.answer_stale_messages) finds the message still `received` and queues it again.
    publish("bot.answer_messages", conversation_id=conversation_id)


def answer_waiting(conversation_id: int, *, rasa_url: str | None = None) -> int | None:
    """Answer this person's stored messages, oldest first, then deliver the replies from this
    worker (no second job to wait for); how many, or None when another worker holds the
    conversation (it answers them, in order)."""
    answered = 0
    taken: delivery_queue.Taken | None = None
    with conversations.answering(conversation_id) as (lease, waiting):
        if lease is None:
            return None
        while waiting is not None:
            stored, inbound = waiting
            lease.keep()
            if _within_message_limit(stored, inbound):
                answer(stored, inbound, rasa_url=rasa_url, queue_delivery=False)
            answered += 1
            # The answer lease back and the delivery lease taken, in one step: no job between.
            handover = delivery_queue.hand_over(lease, channel=inbound.channel)
            if handover.done:
                taken = handover.delivery
                break
            waiting = conversations.next_received(conversation_id)
    if answered:
        run = delivery.deliver_waiting(conversation_id, taken=taken)
        if run.busy or run.again_in is not None:
            delivery.queue_delivery(conversation_id, countdown=run.again_in)
    return answered


def _within_message_limit(stored: Stored, inbound: Inbound) -> bool:
    """A person writing on a channel faster than TIEPDAN_LIMIT_MESSAGES_PER_SESSION: the
    message stays stored, is not given to the assistant, and is told once per window to slow
    down (more replies would only add to the flood)."""
    sender = f"{inbound.channel}:{inbound.channel_user_id}"
    try:
        ratelimit.enforce(
            f"messages:{sender}",
            get_settings().limit_messages_per_session,
            message=in_language(SLOW_DOWN, stored.language),
        )
        return True
    except TooMany as refusal:
        told = ratelimit.wait_time(f"slow-down-told:{sender}", limit=1, window=60)
        replies = [Reply(text=refusal.message)] if told == 0 else []
        adapter = registry.get_adapter(inbound.channel)
        _finish(stored, adapter, MessageState.REJECTED, replies, deliver=False)
        return False


def _store(inbound: Inbound) -> Stored | None:
    if inbound.text:
        inbound.text = clean_text(inbound.text)  # NUL, ANSI escapes, direction overrides out
    started = time.perf_counter()
    try:
        return store_inbound(inbound)
    finally:
        timing.record("store", time.perf_counter() - started)


# --- One way through ------------------------------------------------------------------------


def answer(
    stored: Stored,
    inbound: Inbound,
    *,
    rasa_url: str | None = None,
    queue_delivery: bool = True,
) -> Outcome:
    """Answer one stored message: Rasa's replies, a polite refusal, or the fallback. Replies a
    channel must deliver are queued for it, unless the caller delivers them itself."""
    adapter = registry.get_adapter(inbound.channel)
    deliver = queue_delivery and not adapter.delivered_by_storing
    inbound = _typed_payload(adapter.prepare(inbound, conversation_id=stored.conversation_id))
    refusal = _refusal(inbound, stored.language)
    if refusal is not None:
        return _finish(stored, adapter, MessageState.REJECTED, [Reply(text=refusal)], deliver)
    if stored.handed_off:
        return _finish(stored, adapter, MessageState.HANDED_OFF, [], deliver)
    try:
        rasa_message = _rasa_message(adapter, inbound, stored.language)
    except AppError as exc:  # a photo refused: too large, not an image
        return _finish(stored, adapter, MessageState.REJECTED, [Reply(text=exc.message)], deliver)
    except (RetryLater, Undeliverable) as exc:
        logger.warning("photo of message %s unavailable: %s", stored.message_id, exc)
        unavailable = [Reply(text=in_language(PHOTO_UNAVAILABLE, stored.language))]
        return _finish(stored, adapter, MessageState.REJECTED, unavailable, deliver)

    url = rasa_url or get_settings().rasa_url
    try:
        if stored.rasa_restart_due:
            _restart_rasa_conversation(url, stored, inbound)
        replies = rasa_rest.ask(url, rasa_message, inbound)
    except rasa_rest.RasaUnavailable as exc:
        logger.warning("Rasa unavailable for message %s: %s", stored.message_id, exc)
        return _fallback(stored, adapter, inbound, deliver)
    return _finish(stored, adapter, MessageState.ANSWERED, replies, deliver)


def _typed_payload(inbound: Inbound) -> Inbound:
    """A text that starts with "/" is read by Rasa as an intent with entities: it must pass the
    same check as a button's payload (and on Zalo a button's tap arrives as such a text)."""
    text = (inbound.text or "").strip()
    if inbound.payload is None and text.startswith("/"):
        inbound.payload, inbound.text = text, None
    return inbound


def _refusal(inbound: Inbound, language: str = "vi") -> str | None:
    """The polite word for a message the assistant must not be given, or None."""
    if inbound.unsupported:
        return in_language(UNSUPPORTED, language)
    if inbound.payload is not None and not rasa_rest.is_valid_payload(inbound.payload):
        return in_language(BAD_PAYLOAD, language)
    text = (inbound.text or "").strip()
    if inbound.payload is None and not text and not inbound.attachments:
        return in_language(EMPTY, language)
    if len(text) > MAX_TEXT:
        return in_language(TOO_LONG, language).format(limit=MAX_TEXT)
    return None


def _rasa_message(adapter: ChannelAdapter, inbound: Inbound, language: str = "vi") -> str:
    """What Rasa is told: a button's payload, a photo or a place as the payload the widget's
    buttons send, or the text."""
    if inbound.payload is not None:
        return inbound.payload
    for attachment in inbound.attachments:
        if attachment.kind == "location" and attachment.latitude is not None:
            place = {"latitude": attachment.latitude, "longitude": attachment.longitude}
            return "/share_location" + json.dumps(place)
        if attachment.kind == "photo":
            settings = get_settings()
            data = adapter.fetch(attachment)
            cleaned, kind = attachments.clean_photo(data, limit=settings.max_photo_bytes)
            ratelimit.enforce(
                f"photo-bytes:{inbound.channel}:{inbound.channel_user_id}",
                settings.limit_photo_bytes_per_session,
                message=in_language(PHOTO_QUOTA, language),
                amount=len(cleaned),
            )
            return "/share_photo" + json.dumps({"photo_url": attachments.save(cleaned, kind)})
    return (inbound.text or "").strip()


def _restart_rasa_conversation(url: str, stored: Stored, inbound: Inbound) -> None:
    """Rasa forgets what it had begun with this person, now that a ticket holds it.

    `/restart` is Rasa's own restart intent: it ends any form, clears the slots and starts a new
    session, through the same REST channel (no API token needed).
    """
    rasa_rest.ask(url, "/restart", inbound)
    with session_scope() as session:
        conversations.set_rasa_restart_due(session, stored.conversation_id, due=False)


def _fallback(stored: Stored, adapter: ChannelAdapter, inbound: Inbound, deliver: bool) -> Outcome:
    """Rasa cannot answer: open a ticket if this reads like a report, and say so politely.

    A burst from one person (a report in several messages, or the same one sent again and again)
    becomes one ticket: what they write within FALLBACK_BURST of the last message that went to a
    ticket is added to it."""
    text = (inbound.text or "").strip()
    code = None
    language = stored.language
    reply = in_language(ACK_RASA_DOWN, language)
    with session_scope() as session:
        earlier = conversations.recent_fallback_ticket(
            session, stored.conversation_id, since=utcnow() - FALLBACK_BURST
        )
        if earlier and text and citizen.add_details(session, code=earlier, text=text):
            code, reply = earlier, in_language(ACK_DETAILS_ADDED, language).format(code=earlier)
        elif text and len(text) >= FALLBACK_MIN_LENGTH and _reads_like_a_report(text):
            try:
                code = _open_ticket(session, stored, inbound, text)
                reply = in_language(ACK_TICKET_OPENED, language).format(code=code)
            except TooMany as refusal:  # the chat's ticket quota: the message stays stored
                reply = refusal.message
    return _finish(
        stored, adapter, MessageState.FALLBACK, [Reply(text=reply)], deliver, ticket_code=code
    )


def _open_ticket(session: Session, stored: Stored, inbound: Inbound, text: str) -> str:
    # The quota is checked before the ticket is added: a refusal leaves nothing half-written.
    ticket = service.create_ticket(
        session,
        data=TicketCreate(
            description=text,
            channel=inbound.channel,
            contact=ContactIn(channel=inbound.channel, channel_user_id=inbound.channel_user_id),
        ),
        actor=SERVICE,
    )
    conversations.set_rasa_restart_due(session, stored.conversation_id, due=True)
    return ticket.code


def _reads_like_a_report(text: str) -> bool:
    try:
        from nlu.pipeline import ModelNotTrained, get_nlu

        analysis = get_nlu().analyse(text)
    except ModelNotTrained:
        return True  # without the NLU, keep everything substantial: a person will sort it
    return (
        analysis.category != "khac" and analysis.category_confidence >= FALLBACK_TICKET_CONFIDENCE
    )


def _finish(
    stored: Stored,
    adapter: ChannelAdapter,
    state: MessageState,
    replies: list[Reply],
    deliver: bool,
    ticket_code: str | None = None,
) -> Outcome:
    started = time.perf_counter()
    reply_state = MessageState.SENT if adapter.delivered_by_storing else MessageState.QUEUED
    store_outcome(
        stored, state, replies, ticket_code, reply_state=reply_state, channel=adapter.name
    )
    if replies and deliver:
        delivery.queue_delivery(stored.conversation_id)
    timing.record("finish", time.perf_counter() - started)
    return Outcome(replies=replies, ticket_code=ticket_code)
