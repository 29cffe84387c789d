"""Status lookups, FAQ answers and handing the conversation to an official."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import platform, text
from actions.message import in_english, is_payload, latest, pick
from actions.platform import PlatformUnavailable

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
BUSY = "Xin lỗi, hệ thống tra cứu đang bận. Bạn vui lòng thử lại sau ít phút."
NOT_FOUND = (
    "Không tìm thấy phản ánh mã {code}. Bạn kiểm tra lại mã giúp tôi "
    "(mã gồm PA và 8 ký tự, ví dụ PA7K3M9QXT)."
)
NO_OPEN_TICKETS = (
    "Bạn chưa có phản ánh nào đang được xử lý. Nếu có mã phản ánh, "
    "bạn nhắn mã (ví dụ PA7K3M9QXT) để tra cứu."
)
NO_ANSWER = "Tôi chưa có câu trả lời cho câu hỏi này. Bạn có muốn trao đổi với cán bộ không?"
HANDED_OFF = (
    "Tôi đã chuyển cuộc trò chuyện đến cán bộ. Cán bộ sẽ trả lời bạn ngay tại đây "
    "trong giờ hành chính."
)
HANDOFF_FAILED = (
    "Xin lỗi, hiện chưa chuyển được đến cán bộ. Bạn có thể gọi tổng đài 1022 "
    "hoặc thử lại sau ít phút."
)
STATUS_TEXT = {
    "new": "vừa được tiếp nhận",
    "triage": "đang được phân loại để chuyển đến cơ quan phụ trách",
    "assigned": "đã được chuyển đến {agency}",
    "in_progress": "đang được {agency} xử lý",
    "resolved": "đã được xử lý xong",
    "rejected": "không được tiếp nhận xử lý",
    "reopened": "đã được mở lại để {agency} xử lý tiếp",
    "closed": "đã hoàn tất",
}


# The same in English, for a conversation in English (the `language` slot). Agencies keep their
# Vietnamese names: they are the names on the offices' doors.
BUSY_EN = "Sorry, the lookup is busy. Please try again in a few minutes."
NOT_FOUND_EN = (
    "No report has the code {code}. Please check the code "
    "(PA and 8 characters, for example PA7K3M9QXT)."
)
NO_OPEN_TICKETS_EN = (
    "You have no report being handled. If you have a report code, "
    "send it (for example PA7K3M9QXT) to check its progress."
)
NO_ANSWER_EN = (
    "I do not have an answer to this question yet. Would you like to talk to an official?"
)
HANDED_OFF_EN = (
    "I have passed the conversation to an official, who will answer you here during office hours."
)
HANDOFF_FAILED_EN = (
    "Sorry, I could not reach an official just now. You can call the 1022 hotline "
    "or try again in a few minutes."
)
STATUS_TEXT_EN = {
    "new": "has just been received",
    "triage": "is being sorted to find the agency in charge",
    "assigned": "has been sent to {agency}",
    "in_progress": "is being handled by {agency}",
    "resolved": "has been resolved",
    "rejected": "was not accepted for handling",
    "reopened": "has been reopened for {agency} to handle",
    "closed": "is closed",
}


def _date(value: str | None) -> str | None:
    if not value:
        return None
    # Python 3.10's fromisoformat does not read the "Z" the platform writes for UTC.
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.astimezone(VIETNAM).strftime("%d/%m/%Y")


def status_line(ticket: dict[str, Any], english: bool = False) -> str:
    if english:
        agency = ticket.get("agency_name") or "the agency in charge"
        texts, line, due_text = STATUS_TEXT_EN, "Report {code} {status}", ", due by {due}"
    else:
        agency = ticket.get("agency_name") or "cơ quan phụ trách"
        texts, line, due_text = STATUS_TEXT, "Phản ánh {code} {status}", ", hạn xử lý {due}"
    status = texts.get(ticket["status"], ticket["status"]).format(agency=agency)
    line = line.format(code=ticket["code"], status=status)
    due = _date(ticket.get("sla_due_at"))
    if due and ticket["status"] in ("assigned", "in_progress", "reopened"):
        line += due_text.format(due=due)
    return line + "."


class ActionCheckStatus(Action):
    def name(self) -> str:
        return "action_check_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        _, message_text = latest(tracker)
        code = text.ticket_code(message_text)
        english = in_english(tracker)
        try:
            if code:
                answer = await platform.call("GET", f"/api/v1/public/tickets/{code}")
            else:
                answer = await platform.call(
                    "GET",
                    "/api/v1/bot/tickets",
                    params={"sender": tracker.sender_id, "status": "open"},
                )
        except PlatformUnavailable:
            dispatcher.utter_message(text=pick(tracker, BUSY, BUSY_EN))
            return []
        if code:
            if answer.status == 404:
                dispatcher.utter_message(
                    text=pick(tracker, NOT_FOUND, NOT_FOUND_EN).format(code=code)
                )
            elif answer.ok:
                lines = [status_line(answer.body, english)]
                replies = answer.body.get("replies") or []
                if replies:
                    latest_reply = pick(tracker, "Phản hồi mới nhất", "Latest reply")
                    lines.append(f"{latest_reply}: {replies[-1]['message']}")
                dispatcher.utter_message(text="\n".join(lines))
            else:
                dispatcher.utter_message(text=pick(tracker, BUSY, BUSY_EN))
            return []
        items = answer.body.get("items", []) if answer.ok else []
        if not items:
            dispatcher.utter_message(text=pick(tracker, NO_OPEN_TICKETS, NO_OPEN_TICKETS_EN))
            return []
        lines = [
            pick(tracker, "Các phản ánh của bạn đang được xử lý:", "Your reports being handled:")
        ]
        sent = pick(tracker, "gửi ngày", "sent on")
        lines += [
            f"• {status_line(item, english)} ({sent} {_date(item['created_at'])})" for item in items
        ]
        dispatcher.utter_message(text="\n".join(lines))
        return []


class ActionAnswerFaq(Action):
    def name(self) -> str:
        return "action_answer_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        _, question = latest(tracker)
        found = None
        if question and not is_payload(question):
            # The answer in the conversation's language: an English question gets the entry's
            # English answer, or none (then the offer of an official, in English).
            language = "en" if in_english(tracker) else "vi"
            found = await platform.fetch(
                "GET", "/api/v1/bot/faq", params={"q": question, "language": language}
            )
        if found is not None and found.get("answer"):
            dispatcher.utter_message(text=found["answer"])
            return []
        dispatcher.utter_message(
            text=pick(tracker, NO_ANSWER, NO_ANSWER_EN),
            buttons=[
                {
                    "title": pick(tracker, "Gặp cán bộ", "Talk to an official"),
                    "payload": "/request_human",
                },
                {"title": pick(tracker, "Không, cảm ơn", "No, thank you"), "payload": "/deny"},
            ],
        )
        return []


class ActionHandOff(Action):
    def name(self) -> str:
        return "action_hand_off"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        handed = await platform.fetch(
            "POST", "/api/v1/bot/handoff", json={"sender": tracker.sender_id}
        )
        if handed is None:
            dispatcher.utter_message(text=pick(tracker, HANDOFF_FAILED, HANDOFF_FAILED_EN))
        else:
            dispatcher.utter_message(text=pick(tracker, HANDED_OFF, HANDED_OFF_EN))
        return []
