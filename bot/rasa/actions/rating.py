"""Rating a resolved ticket: a score of 1 to 5, an optional comment, or "not fixed".

The notice that a ticket was resolved carries buttons with the code and the score
(`/rate{"ticket_code": "PA...", "score": 5}`); a typed rating ("5 sao", "chưa được xử lý")
applies to the person's latest resolved ticket. The platform checks the ticket is theirs.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import platform, text
from actions.copies import rating_buttons
from actions.message import entity, in_english, is_payload, latest, pick
from actions.platform import PlatformUnavailable

BUSY = "Xin lỗi, hệ thống đang bận nên chưa ghi nhận được đánh giá. Bạn vui lòng thử lại sau."
NOTHING_TO_RATE = "Hiện bạn chưa có phản ánh nào đã xử lý xong để đánh giá."
NOT_YOURS = "Không tìm thấy phản ánh {code} trong các phản ánh bạn đã gửi."
NOT_RESOLVED = "Phản ánh {code} chưa được xử lý xong nên chưa thể đánh giá."
ASK_SCORE = "Bạn hài lòng với việc xử lý phản ánh {code} ở mức nào?"
THANKS = "Cảm ơn bạn đã đánh giá {score}/5 cho việc xử lý phản ánh {code}."
REOPENED = (
    "Chúng tôi rất tiếc. Phản ánh {code} đã được mở lại và chuyển lại cho cơ quan "
    "phụ trách để xử lý tiếp. Bạn sẽ được thông báo khi có kết quả."
)
NOT_FIXED_CLOSED = (
    "Cảm ơn bạn đã cho biết. Phản ánh {code} đã đóng nên không mở lại được; "
    "bạn có thể gửi phản ánh mới để cơ quan chức năng xử lý."
)
SKIP = "-"

# The same in English, for a conversation in English (the `language` slot).
BUSY_EN = "Sorry, the system is busy and could not record your rating. Please try again later."
NOTHING_TO_RATE_EN = "You have no resolved report to rate yet."
NOT_YOURS_EN = "Report {code} is not among the reports you sent."
NOT_RESOLVED_EN = "Report {code} has not been resolved yet, so it cannot be rated."
ASK_SCORE_EN = "How satisfied are you with how report {code} was handled?"
THANKS_EN = "Thank you for rating the handling of report {code} {score}/5."
REOPENED_EN = (
    "We are sorry. Report {code} has been reopened and sent back to the agency in charge. "
    "We will tell you when there is news."
)
NOT_FIXED_CLOSED_EN = (
    "Thank you for telling us. Report {code} is closed and cannot be reopened; "
    "you can send a new report for the authorities to handle."
)


async def _resolved_codes(sender: str) -> list[str]:
    """The sender's resolved tickets, newest first: what they may rate."""
    answer = await platform.call(
        "GET", "/api/v1/bot/tickets", params={"sender": sender, "status": "resolved", "limit": 20}
    )
    return [item["code"] for item in answer.body.get("items", [])] if answer.ok else []


def _score_of(tracker: Tracker, message_text: str) -> int | None:
    """1 to 5 from the button's entity or the text; anything else (a forged 9) is no score."""
    value = entity(tracker, "score")
    if value is None and not is_payload(message_text):
        return text.score(message_text)
    try:
        score = int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return score if score is not None and 1 <= score <= 5 else None


def _not_recorded() -> list[EventType]:
    return [SlotSet("rating_recorded", False)]


def _says_not_fixed(tracker: Tracker, message_text: str) -> bool:
    """The "Chưa được xử lý" button, or words that say so ("vẫn chưa sửa")."""
    fixed = entity(tracker, "fixed")
    if fixed is False or str(fixed).lower() == "false":
        return True
    return fixed is None and not is_payload(message_text) and text.says_not_fixed(message_text)


async def _ask_for_score(
    dispatcher: CollectingDispatcher, tracker: Tracker, code: str | None
) -> None:
    """No score yet: offer the buttons, for one of the sender's own resolved tickets only."""
    resolved = await _resolved_codes(tracker.sender_id)
    code = code or (resolved[0] if resolved else None)
    if code is None:
        dispatcher.utter_message(text=pick(tracker, NOTHING_TO_RATE, NOTHING_TO_RATE_EN))
    elif code not in resolved:
        dispatcher.utter_message(text=pick(tracker, NOT_YOURS, NOT_YOURS_EN).format(code=code))
    else:
        language = "en" if in_english(tracker) else "vi"
        dispatcher.utter_message(
            text=pick(tracker, ASK_SCORE, ASK_SCORE_EN).format(code=code),
            buttons=rating_buttons(code, language),
        )


def _tell_outcome(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    answer: platform.Answer,
    code: str,
    not_fixed: bool,
) -> list[EventType]:
    """Thank the person, or say why the rating was not recorded."""
    if not answer.ok:
        refusals = {
            404: pick(tracker, NOT_YOURS, NOT_YOURS_EN),
            409: pick(tracker, NOT_RESOLVED, NOT_RESOLVED_EN),
        }
        refusal = refusals.get(answer.status, pick(tracker, BUSY, BUSY_EN))
        dispatcher.utter_message(text=refusal.format(code=code))
        return _not_recorded()
    if not_fixed:
        if answer.body.get("reopened"):
            message = pick(tracker, REOPENED, REOPENED_EN)
        else:
            message = pick(tracker, NOT_FIXED_CLOSED, NOT_FIXED_CLOSED_EN)
        dispatcher.utter_message(text=message.format(code=code))
        return _not_recorded()
    thanks = pick(tracker, THANKS, THANKS_EN)
    dispatcher.utter_message(text=thanks.format(score=answer.body["score"], code=code))
    return [SlotSet("rating_recorded", True), SlotSet("rating_code", code)]


class ActionRecordRating(Action):
    def name(self) -> str:
        return "action_record_rating"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        _, message_text = latest(tracker)
        code = entity(tracker, "ticket_code") or text.ticket_code(message_text)
        code = str(code) if code else None
        not_fixed = _says_not_fixed(tracker, message_text)
        score = _score_of(tracker, message_text)
        try:
            if score is None and not not_fixed:
                await _ask_for_score(dispatcher, tracker, code)
                return _not_recorded()
            if code is None:
                resolved = await _resolved_codes(tracker.sender_id)
                if not resolved:
                    dispatcher.utter_message(
                        text=pick(tracker, NOTHING_TO_RATE, NOTHING_TO_RATE_EN)
                    )
                    return _not_recorded()
                code = resolved[0]
            body: dict[str, Any] = {"sender": tracker.sender_id}
            if score is not None:
                body["score"] = score
            if not_fixed:
                body["fixed"] = False
            answer = await platform.call("POST", f"/api/v1/bot/tickets/{code}/rating", json=body)
        except PlatformUnavailable:
            dispatcher.utter_message(text=pick(tracker, BUSY, BUSY_EN))
            return _not_recorded()
        return _tell_outcome(dispatcher, tracker, answer, code, not_fixed)


class ValidateCommentForm(FormValidationAction):
    def name(self) -> str:
        return "validate_comment_form"

    async def extract_rating_comment(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "rating_comment":
            return {}
        intent, message_text = latest(tracker)
        if intent in ("deny", "thank", "goodbye") or not message_text or is_payload(message_text):
            return {"rating_comment": SKIP}
        return {"rating_comment": message_text[:2000]}


class ActionSaveComment(Action):
    def name(self) -> str:
        return "action_save_comment"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reset = [
            SlotSet("rating_comment", None),
            SlotSet("rating_code", None),
            SlotSet("rating_recorded", None),
        ]
        comment, code = tracker.get_slot("rating_comment"), tracker.get_slot("rating_code")
        if not code or not comment or comment == SKIP:
            dispatcher.utter_message(response="utter_anything_else")
            return reset
        recorded = await platform.fetch(
            "POST",
            f"/api/v1/bot/tickets/{code}/rating",
            json={"sender": tracker.sender_id, "comment": comment},
        )
        if recorded is None:
            dispatcher.utter_message(text=pick(tracker, BUSY, BUSY_EN))
        else:
            dispatcher.utter_message(response="utter_comment_thanks")
        return reset
