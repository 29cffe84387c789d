"""Writing a report: the complaint form, its questions, and filing the ticket.

The form asks only for what the first message did not say. A message that already names the
problem and the place needs three more answers at most (photo, phone, confirm), and each can
be "bỏ qua", "không", "đồng ý" or a button. A firm is also asked its name and tax code.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import platform, text
from actions.copies import PHOTO_URL_PREFIX, identity
from actions.message import entity, in_english, is_payload, latest, pick

REPORT_SLOTS = (
    "what",
    "where",
    "ward_code",
    "ward_candidates",
    "latitude",
    "longitude",
    "photo",
    "phone",
    "report_kind",
    "company_name",
    "tax_code",
    "confirmed",
)
# Slots an extract_ method sets beside the one asked ("where" brings its ward code).
COMPANION_SLOTS = ("report_kind", "ward_code", "ward_candidates", "latitude", "longitude")
NONE = "none"  # the person chose to skip this question
# A first message shorter than this names the wish ("tôi muốn phản ánh"), not the problem.
MIN_WORDS_OF_A_REPORT = 5
MIN_WORDS_OF_AN_ANSWER = 3
REPORT_INTENTS = ("file_complaint", "give_suggestion", "nlu_fallback")

# The web chat's location button is a map pin, as are Zalo's and Telegram's "share location".
ASK_WHERE = (
    "Sự việc xảy ra ở đâu? Bạn ghi rõ số nhà, tên đường và phường/xã, "
    "hoặc gửi vị trí của bạn (nút hình ghim bản đồ)."
)
ASK_WHICH_WARD = (
    "Địa danh bạn nêu nay thuộc nhiều phường/xã mới (sau sắp xếp năm 2025). "
    "Bạn chọn giúp nơi xảy ra sự việc:"
)
BAD_WARD_CHOICE = (
    "Lựa chọn này không còn hiệu lực. Bạn vui lòng chọn một trong các phường/xã dưới đây."
)
BAD_PHONE = (
    "Số điện thoại chưa đúng (10 chữ số, ví dụ 0912 345 678). "
    "Bạn nhập lại, hoặc chọn Không nếu không muốn để lại số."
)
ASK_PHONE_DIGITS = "Bạn nhập số điện thoại giúp tôi nhé."
BAD_TAX_CODE = (
    "Mã số thuế này chưa đúng: mã gồm 10 chữ số (chữ số cuối là số kiểm tra), hoặc 13 chữ số "
    "với chi nhánh, ví dụ 0314409058-001. Bạn kiểm tra và nhập lại giúp tôi."
)
ASK_AGAIN = "Mời bạn mô tả lại sự việc."
NEED_COMPANY = (
    "Kiến nghị của doanh nghiệp cần tên doanh nghiệp để cơ quan chức năng đối chiếu hồ sơ. "
    "Bạn vui lòng nhập tên doanh nghiệp."
)
FILED = (
    "Cảm ơn bạn. {kind} đã được ghi nhận với mã {code}. "
    "Bạn có thể nhắn mã này bất cứ lúc nào để tra cứu tình trạng xử lý."
)
FILE_FAILED = (
    "Xin lỗi, hệ thống đang bận nên chưa ghi nhận được {kind_lower}. "
    "Nội dung bạn gửi vẫn được lưu lại; bạn vui lòng thử gửi lại sau ít phút."
)
KIND_NAMES = {
    "complaint": "Phản ánh",
    "suggestion": "Góp ý",
    "business_request": "Kiến nghị của doanh nghiệp",
}

# The same in English, for a conversation in English (the `language` slot): plain and short.
ASK_WHERE_EN = (
    "Where did it happen? Please give the street number, the street and the ward, "
    "or send your location (the map pin button)."
)
ASK_WHICH_WARD_EN = (
    "The place you named now belongs to several new wards (after the 2025 reorganisation). "
    "Please choose where it happened:"
)
BAD_WARD_CHOICE_EN = "This choice is no longer valid. Please choose one of the wards below."
BAD_PHONE_EN = (
    "This phone number does not look right (10 digits, for example 0912 345 678). "
    "Please type it again, or choose No if you prefer not to leave one."
)
ASK_PHONE_DIGITS_EN = "Please type your phone number."
BAD_TAX_CODE_EN = (
    "This tax code is not valid: it has 10 digits (the last one is a check digit), or 13 "
    "for a branch, for example 0314409058-001. Please check it and type it again."
)
ASK_AGAIN_EN = "Please describe what happened again."
NEED_COMPANY_EN = (
    "A company's request needs the company's name so that the authorities can find its "
    "records. Please type the name of your company."
)
FILED_EN = (
    "Thank you. Your {kind} has been received with the code {code}. "
    "You can send this code at any time to check its progress."
)
FILE_FAILED_EN = (
    "Sorry, the system is busy and could not record your {kind}. "
    "What you wrote is kept; please try again in a few minutes."
)
# The platform's refusal (its ticket quota) is worded in Vietnamese.
QUOTA_EN = "You have sent many reports in a short time. Please try again later."
KIND_NAMES_EN = {
    "complaint": "report",
    "suggestion": "suggestion",
    "business_request": "company request",
}


async def _ward_reading(message_text: str) -> dict[str, Any]:
    """The platform NLU's reading of a place: one ward, several candidates, or nothing."""
    reading = await platform.fetch("POST", "/api/v1/bot/analyse", json={"text": message_text})
    if reading is None:
        return {}
    ward = reading.get("ward")
    if ward:
        return {"ward_code": ward["code"], "where_name": ward["name"]}
    candidates = reading.get("ward_candidates") or []
    return {"ward_candidates": candidates} if candidates else {}


class ValidateComplaintForm(FormValidationAction):
    def name(self) -> str:
        return "validate_complaint_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        kind = tracker.get_slot("report_kind")
        if kind == "suggestion":
            return ["what", "phone", "confirmed"]
        if kind == "business_request":
            return ["what", "where", "company_name", "tax_code", "photo", "phone", "confirmed"]
        return domain_slots

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """rasa-sdk keeps only the required slots of what the extract_ methods returned; the
        slots that go with them (the kind, the ward code, the coordinates) are kept too."""
        events = await super().get_validation_events(dispatcher, tracker, domain)
        kept = {event["name"] for event in events}
        extracted = tracker.slots_to_validate()
        return events + [
            SlotSet(name, value)
            for name, value in extracted.items()
            if name in COMPANION_SLOTS and name not in kept
        ]

    # Extraction: each method reads the latest message for its own slot. Returning nothing for
    # the slot being asked lets Rasa reject the form, so the rules can cancel or hand off.

    async def extract_what(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        intent, message_text = latest(tracker)
        requested = tracker.get_slot("requested_slot")
        slots: dict[str, Any] = {}
        if tracker.get_slot("report_kind") is None:
            slots["report_kind"] = "suggestion" if intent == "give_suggestion" else "complaint"
        if tracker.get_slot("what") is not None:
            return slots
        words = len(message_text.split())
        if is_payload(message_text):
            return slots
        opening = (
            requested is None
            and words >= MIN_WORDS_OF_A_REPORT
            and not text.says_only_the_wish(message_text)
        )
        # "xin chào" or "cảm ơn" is not the problem: the form steps aside for it.
        answer = requested == "what" and (
            intent in REPORT_INTENTS or words >= MIN_WORDS_OF_AN_ANSWER
        )
        if opening or answer:
            slots["what"] = message_text
        kind = slots.get("report_kind", tracker.get_slot("report_kind"))
        if slots.get("what") and kind == "complaint" and text.mentions_business(slots["what"]):
            slots["report_kind"] = "business_request"
        return slots

    async def extract_where(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.get_slot("where") is not None:
            return {}
        intent, message_text = latest(tracker)
        requested = tracker.get_slot("requested_slot")
        if requested is None:
            return await _where_from_opening(tracker)
        if requested != "where" or intent in ("deny", "request_human"):
            return {}
        if intent == "share_location":
            return _where_from_location(tracker)
        if intent == "choose_ward":
            return _where_from_choice(dispatcher, tracker)
        return await _where_from_text(message_text)

    async def extract_photo(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        intent, _ = latest(tracker)
        if tracker.get_slot("requested_slot") != "photo" or intent == "request_human":
            return {}
        url = entity(tracker, "photo_url") if intent == "share_photo" else None
        if isinstance(url, str) and url.startswith(PHOTO_URL_PREFIX):
            return {"photo": url}
        return {"photo": NONE}

    async def extract_phone(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        intent, message_text = latest(tracker)
        if tracker.get_slot("requested_slot") != "phone" or intent == "request_human":
            return {}
        number = text.phone_number(message_text)
        if number:
            return {"phone": number}
        if intent == "deny":
            return {"phone": NONE}
        asked = (
            pick(tracker, ASK_PHONE_DIGITS, ASK_PHONE_DIGITS_EN)
            if intent == "affirm"
            else pick(tracker, BAD_PHONE, BAD_PHONE_EN)
        )
        dispatcher.utter_message(text=asked)
        return {"phone": None}

    async def extract_company_name(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        intent, message_text = latest(tracker)
        if tracker.get_slot("requested_slot") != "company_name" or intent == "request_human":
            return {}
        if intent == "deny" or not message_text or is_payload(message_text):
            dispatcher.utter_message(text=pick(tracker, NEED_COMPANY, NEED_COMPANY_EN))
            return {"company_name": None}
        return {"company_name": message_text[:300]}

    async def extract_tax_code(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        intent, message_text = latest(tracker)
        if tracker.get_slot("requested_slot") != "tax_code" or intent == "request_human":
            return {}
        code = text.tax_code(message_text)
        if code is None:
            dispatcher.utter_message(text=pick(tracker, BAD_TAX_CODE, BAD_TAX_CODE_EN))
        return {"tax_code": code}

    async def extract_confirmed(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        intent, _ = latest(tracker)
        if tracker.get_slot("requested_slot") != "confirmed" or intent == "request_human":
            return {}
        if intent == "affirm":
            return {"confirmed": True}
        if intent == "deny":
            return {"confirmed": False}
        return {"confirmed": None}

    def validate_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is False:  # "Sửa lại": start the report again, keeping its kind
            dispatcher.utter_message(text=pick(tracker, ASK_AGAIN, ASK_AGAIN_EN))
            kept = ("report_kind", "company_name", "tax_code")
            return {slot: None for slot in REPORT_SLOTS if slot not in kept}
        return {"confirmed": value}


# --- Where it happened: read from the first message, a shared location, a button or a reply ---


async def _where_from_opening(tracker: Tracker) -> dict[str, Any]:
    """The place the first message names, if it names one."""
    what = tracker.get_slot("what")
    if not what:
        return {}
    reading = await _ward_reading(what)
    if "ward_code" in reading:
        return {"where": reading["where_name"], "ward_code": reading["ward_code"]}
    return {"ward_candidates": reading.get("ward_candidates")} if reading else {}


def _where_from_location(tracker: Tracker) -> dict[str, Any]:
    """The location button (a map pin): a latitude and longitude, or nothing usable."""
    latitude, longitude = entity(tracker, "latitude"), entity(tracker, "longitude")
    try:
        latitude, longitude = float(latitude), float(longitude)
    except (TypeError, ValueError):
        return {"where": None}
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return {"where": None}
    return {
        "where": f"Vị trí đã chia sẻ ({latitude:.5f}, {longitude:.5f})",
        "latitude": latitude,
        "longitude": longitude,
    }


def _where_from_choice(dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
    """One of the new wards offered for a split old one; any other button is refused."""
    candidates = tracker.get_slot("ward_candidates") or []
    chosen = str(entity(tracker, "ward_code") or "")
    match = next((c for c in candidates if c.get("code") == chosen), None)
    if match is None:  # a stale or forged button
        dispatcher.utter_message(text=pick(tracker, BAD_WARD_CHOICE, BAD_WARD_CHOICE_EN))
        return {"ward_candidates": candidates}
    return {"where": match["name"], "ward_code": match["code"], "ward_candidates": None}


async def _where_from_text(message_text: str) -> dict[str, Any]:
    """A typed answer: a ward the gazetteer knows, candidates to choose from, or an address."""
    if not message_text or is_payload(message_text):
        return {"where": None}
    reading = await _ward_reading(message_text)
    if "ward_candidates" in reading:
        return {"ward_candidates": reading["ward_candidates"]}
    # A place the gazetteer does not know ("gần chợ Bến Thành") is still an address.
    return {"where": message_text, "ward_code": reading.get("ward_code")}


class ActionAskWhere(Action):
    def name(self) -> str:
        return "action_ask_where"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        candidates = tracker.get_slot("ward_candidates") or []
        if candidates:
            buttons = [
                {"title": c["name"], "payload": f'/choose_ward{{"ward_code": "{c["code"]}"}}'}
                for c in candidates
            ]
            ask = pick(tracker, ASK_WHICH_WARD, ASK_WHICH_WARD_EN)
            dispatcher.utter_message(text=ask, buttons=buttons)
        else:
            dispatcher.utter_message(text=pick(tracker, ASK_WHERE, ASK_WHERE_EN))
        return []


SUMMARY_LABELS = {
    "check": "Bạn kiểm tra lại {kind}:",
    "what": "Nội dung",
    "where": "Địa điểm",
    "company_name": "Doanh nghiệp",
    "tax_code": "Mã số thuế",
    "photo": "Ảnh: đã đính kèm",
    "phone": "Số điện thoại",
    "no_phone": "không để lại",
}
SUMMARY_LABELS_EN = {
    "check": "Please check your {kind}:",
    "what": "What",
    "where": "Where",
    "company_name": "Company",
    "tax_code": "Tax code",
    "photo": "Photo: attached",
    "phone": "Phone",
    "no_phone": "not given",
}


def summary(tracker: Tracker) -> str:
    kind = tracker.get_slot("report_kind") or "complaint"
    english = in_english(tracker)
    label = SUMMARY_LABELS_EN if english else SUMMARY_LABELS
    kind_name = KIND_NAMES_EN[kind] if english else KIND_NAMES[kind].lower()
    lines = [
        label["check"].format(kind=kind_name),
        f"• {label['what']}: {tracker.get_slot('what')}",
    ]
    for slot in ("where", "company_name", "tax_code"):
        if tracker.get_slot(slot):
            lines.append(f"• {label[slot]}: {tracker.get_slot(slot)}")
    photo = tracker.get_slot("photo")
    if photo and photo != NONE:
        lines.append(f"• {label['photo']}")
    phone = tracker.get_slot("phone")
    lines.append(f"• {label['phone']}: {phone if phone and phone != NONE else label['no_phone']}")
    return "\n".join(lines)


class ActionAskConfirmed(Action):
    def name(self) -> str:
        return "action_ask_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(
            text=summary(tracker),
            buttons=[
                {"title": pick(tracker, "Đồng ý, gửi đi", "Yes, send it"), "payload": "/affirm"},
                {"title": pick(tracker, "Sửa lại", "Start again"), "payload": "/deny"},
            ],
        )
        return []


def ticket_body(tracker: Tracker) -> dict[str, Any]:
    """The POST /api/v1/tickets body for the report in the slots."""
    channel, user = identity(tracker.sender_id)
    kind = tracker.get_slot("report_kind") or "complaint"
    photo = tracker.get_slot("photo")
    phone = tracker.get_slot("phone")
    phone = phone if phone and phone != NONE else None
    latitude = tracker.get_slot("latitude")
    where = tracker.get_slot("where")
    return {
        "description": tracker.get_slot("what") or "",
        "photos": [photo] if photo and photo != NONE else [],
        "kind": kind,
        "ward_code": tracker.get_slot("ward_code"),
        "address": None if latitude is not None else where,
        "latitude": latitude,
        "longitude": tracker.get_slot("longitude"),
        "channel": channel,
        "contact": {
            "kind": "business" if kind == "business_request" else "citizen",
            "phone": phone,
            "phone_consent": phone is not None,
            "company_name": tracker.get_slot("company_name"),
            "tax_code": tracker.get_slot("tax_code"),
            "channel": channel,
            "channel_user_id": user,
        },
    }


class ActionSubmitReport(Action):
    def name(self) -> str:
        return "action_submit_report"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reset = [SlotSet(slot, None) for slot in REPORT_SLOTS]
        if tracker.get_slot("confirmed") is not True:
            return reset
        kind = tracker.get_slot("report_kind") or "complaint"
        try:
            answer = await platform.call("POST", "/api/v1/tickets", json=ticket_body(tracker))
        except platform.PlatformUnavailable:
            answer = None
        english = in_english(tracker)
        if answer is not None and answer.status == 429:  # this chat's ticket quota: say so
            dispatcher.utter_message(text=QUOTA_EN if english else answer.body["detail"])
            return reset
        if answer is None or not answer.ok:
            failed = (
                FILE_FAILED_EN.format(kind=KIND_NAMES_EN[kind])
                if english
                else FILE_FAILED.format(kind_lower=KIND_NAMES[kind].lower())
            )
            dispatcher.utter_message(text=failed)
            return reset
        code = answer.body["code"]
        filed = (
            FILED_EN.format(kind=KIND_NAMES_EN[kind], code=code)
            if english
            else FILED.format(kind=KIND_NAMES[kind], code=code)
        )
        dispatcher.utter_message(text=filed)
        return reset
