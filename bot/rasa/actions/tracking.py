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
from actions.message import is_payload, latest
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


def _date(value: str | None) -> str | None:
    if not value:
        return None
    # Python 3.10's fromisoformat does not read the "Z" the platform writes for UTC.
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.astimezone(VIETNAM).strftime("%d/%m/%Y")


def status_line(ticket: dict[str, Any]) -> str:
    agency = ticket.get("agency_name") or "cơ quan phụ trách"
    status = STATUS_TEXT.get(ticket["status"], ticket["status"]).format(agency=agency)
    line = f"Phản ánh {ticket['code']} {status}"
    due = _date(ticket.get("sla_due_at"))
    if due and ticket["status"] in ("assigned", "in_progress", "reopened"):
        line += f", hạn xử lý {due}"
    return line + "."


class ActionCheckStatus(Action):
    def name(self) -> str:
        return "action_check_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        _, message_text = latest(tracker)
        code = text.ticket_code(message_text)
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
            dispatcher.utter_message(text=BUSY)
            return []
        if code:
            if answer.status == 404:
                dispatcher.utter_message(text=NOT_FOUND.format(code=code))
            elif answer.ok:
                lines = [status_line(answer.body)]
                replies = answer.body.get("replies") or []
                if replies:
                    lines.append(f"Phản hồi mới nhất: {replies[-1]['message']}")
                dispatcher.utter_message(text="\n".join(lines))
            else:
                dispatcher.utter_message(text=BUSY)
            return []
        items = answer.body.get("items", []) if answer.ok else []
        if not items:
            dispatcher.utter_message(text=NO_OPEN_TICKETS)
            return []
        lines = ["Các phản ánh của bạn đang được xử lý:"]
        lines += [f"• {status_line(item)} (gửi ngày {_date(item['created_at'])})" for item in items]
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
            found = await platform.fetch("GET", "/api/v1/bot/faq", params={"q": question})
        if found is not None and found.get("answer"):
            dispatcher.utter_message(text=found["answer"])
            return []
        dispatcher.utter_message(
            text=NO_ANSWER,
            buttons=[
                {"title": "Gặp cán bộ", "payload": "/request_human"},
                {"title": "Không, cảm ơn", "payload": "/deny"},
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
        dispatcher.utter_message(text=HANDOFF_FAILED if handed is None else HANDED_OFF)
        return []
