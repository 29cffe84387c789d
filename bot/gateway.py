"""The gateway between the channels and Rasa.

Every inbound message is stored and committed first; only then is anything else tried. A
channel message id seen before is a no-op, since a webhook retry is the same message. Then
the text goes to Rasa's REST channel (sender `<channel>:<user>`), and its replies are stored
and returned for delivery.

When Rasa is down or slow, the citizen still gets a polite answer. If the message reads like a
report (the NLU finds a category with some confidence), a ticket is opened from the raw text,
so nothing is lost. The next message goes to Rasa again, so the conversation resumes when it
is back.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from bot import rasa_rest
from bot.conversations import set_rasa_restart_due
from bot.message_store import Stored, store_inbound, store_outcome
from bot.models import MessageState
from core import timing
from core.database import session_scope
from core.settings import get_settings
from feedback import service
from feedback.auth import SERVICE
from feedback.schemas import ContactIn, TicketCreate
from integrations.channel import Inbound, Reply

__all__ = ["Inbound", "Outcome", "Reply", "handle_inbound"]

logger = logging.getLogger(__name__)

MAX_TEXT = 5000  # characters; a longer message is refused politely, and stored
# A message that reads like a report, when Rasa is down, becomes a ticket above this confidence.
FALLBACK_TICKET_CONFIDENCE = 0.45
FALLBACK_MIN_LENGTH = 20

ACK_RASA_DOWN = (
    "Cảm ơn bạn đã liên hệ. Hệ thống trả lời tự động đang tạm gián đoạn; tin nhắn của bạn đã "
    "được lưu lại và cán bộ sẽ phản hồi sớm."
)
ACK_TICKET_OPENED = (
    "Cảm ơn bạn. Hệ thống trả lời tự động đang tạm gián đoạn, nhưng phản ánh của bạn đã được "
    "ghi nhận với mã {code}. Bạn có thể dùng mã này để tra cứu tình trạng xử lý."
)
TOO_LONG = (
    "Tin nhắn dài quá {limit} ký tự nên hệ thống chưa đọc được. Bạn vui lòng tóm tắt sự việc "
    "(chuyện gì, ở đâu) trong một tin ngắn hơn."
)
EMPTY = "Bạn vui lòng nhập nội dung tin nhắn."
BAD_PAYLOAD = "Lựa chọn này không còn hiệu lực. Bạn vui lòng chọn lại hoặc nhập nội dung."


@dataclass
class Outcome:
    replies: list[Reply]
    duplicate: bool = False
    ticket_code: str | None = None


# --- The inbound path ------------------------------------------------------------------------


def handle_inbound(inbound: Inbound, *, rasa_url: str | None = None) -> Outcome:
    """Store, then answer: Rasa's replies, or a fallback when Rasa cannot answer."""
    started = time.perf_counter()
    try:
        stored = store_inbound(inbound)
    finally:
        timing.record("store", time.perf_counter() - started)
    if stored is None:
        return Outcome(replies=[], duplicate=True)

    text = (inbound.text or "").strip()
    if inbound.payload is not None and not rasa_rest.is_valid_payload(inbound.payload):
        return _finish(stored, MessageState.REJECTED, [Reply(text=BAD_PAYLOAD)])
    if inbound.payload is None and not text:
        return _finish(stored, MessageState.REJECTED, [Reply(text=EMPTY)])
    if len(text) > MAX_TEXT:
        return _finish(stored, MessageState.REJECTED, [Reply(text=TOO_LONG.format(limit=MAX_TEXT))])

    if stored.handed_off:
        return _finish(stored, MessageState.HANDED_OFF, [])

    rasa_message = inbound.payload if inbound.payload is not None else text
    url = rasa_url or get_settings().rasa_url
    try:
        if stored.rasa_restart_due:
            _restart_rasa_conversation(url, stored, inbound)
        replies = rasa_rest.ask(url, rasa_message, inbound)
    except rasa_rest.RasaUnavailable as exc:
        logger.warning("Rasa unavailable for message %s: %s", stored.message_id, exc)
        return _fallback(stored, inbound, text)
    return _finish(stored, MessageState.ANSWERED, replies)


def _restart_rasa_conversation(url: str, stored: Stored, inbound: Inbound) -> None:
    """Rasa forgets what it had begun with this person, now that a ticket holds it.

    `/restart` is Rasa's own restart intent: it ends any form, clears the slots and starts a new
    session, through the same REST channel (no API token needed).
    """
    rasa_rest.ask(url, "/restart", inbound)
    with session_scope() as session:
        set_rasa_restart_due(session, stored.conversation_id, due=False)


def _fallback(stored: Stored, inbound: Inbound, text: str) -> Outcome:
    """Rasa cannot answer: open a ticket if this reads like a report, and say so politely."""
    code = None
    if text and len(text) >= FALLBACK_MIN_LENGTH and _reads_like_a_report(text):
        with session_scope() as session:
            ticket = service.create_ticket(
                session,
                data=TicketCreate(
                    description=text,
                    channel=inbound.channel,
                    contact=ContactIn(
                        channel=inbound.channel, channel_user_id=inbound.channel_user_id
                    ),
                ),
                actor=SERVICE,
            )
            code = ticket.code
            set_rasa_restart_due(session, stored.conversation_id, due=True)
    reply = Reply(text=ACK_TICKET_OPENED.format(code=code) if code else ACK_RASA_DOWN)
    return _finish(stored, MessageState.FALLBACK, [reply], ticket_code=code)


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
    stored: Stored, state: MessageState, replies: list[Reply], ticket_code: str | None = None
) -> Outcome:
    started = time.perf_counter()
    store_outcome(stored, state, replies, ticket_code)
    timing.record("finish", time.perf_counter() - started)
    return Outcome(replies=replies, ticket_code=ticket_code)
