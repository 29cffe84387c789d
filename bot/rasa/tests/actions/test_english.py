"""English conversations: the language slot, and the actions' texts in English."""

from __future__ import annotations

import re
import string
import unittest

from actions import language, rating, report, tracking
from actions.copies import rating_buttons
from actions.language_slot import ActionDetectLanguage
from actions.rating import ActionRecordRating
from actions.report import (
    ActionAskConfirmed,
    ActionAskWhere,
    ActionSubmitReport,
    ValidateComplaintForm,
)
from actions.tracking import ActionAnswerFaq, ActionHandOff

from tests.actions.harness import ActionTestCase, tracker

ENGLISH = {"language": "en"}
CODE = "PA7K3M9QXT"
VIETNAMESE_LETTER = re.compile("[ăâđêôơưàáảãạèéẻẽẹìíỉĩịòóỏõọùúủũụỳýỷỹỵ]", re.IGNORECASE)


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


class LanguageSlotTests(ActionTestCase):
    async def detect(self, text: str, current: str = "vi") -> list[dict]:
        snapshot = tracker("report_opening", slots={"language": current}, text=text)
        return await ActionDetectLanguage().run(self.dispatcher, snapshot, {})

    async def test_an_english_message_turns_the_conversation_to_english(self):
        events = await self.detect("The street light near VSIP 1 gate is broken")

        self.assertEqual(
            events, [{"event": "slot", "timestamp": None, "name": "language", "value": "en"}]
        )

    async def test_a_vietnamese_message_turns_it_back(self):
        events = await self.detect("đèn đường hỏng rồi", current="en")

        self.assertEqual([e["value"] for e in events], ["vi"])

    async def test_a_message_that_shows_no_language_keeps_the_conversations(self):
        for text in ("0912 345 678", "skip", "ok", CODE, '/rate{"score": 5}', ""):
            with self.subTest(text=text):
                self.assertEqual(await self.detect(text, current="en"), [])

    async def test_the_same_language_again_sets_nothing(self):
        self.assertEqual(await self.detect("Thank you for your help", current="en"), [])


class EnglishTextTests(unittest.TestCase):
    def test_every_vietnamese_text_of_the_actions_has_an_english_one(self):
        for module in (report, rating, tracking):
            for name, value in vars(module).items():
                if not (name.isupper() and isinstance(value, str)):
                    continue
                if name.endswith("_EN") or not VIETNAMESE_LETTER.search(value):
                    continue
                if name == "SHARED_LOCATION":
                    continue
                with self.subTest(module=module.__name__, name=name):
                    english = getattr(module, f"{name}_EN")
                    self.assertIsNone(VIETNAMESE_LETTER.search(english), english)

    def test_the_english_texts_fill_the_same_fields(self):
        pairs = [
            (report.FILED, report.FILED_EN),
            (rating.NOT_YOURS, rating.NOT_YOURS_EN),
            (rating.THANKS, rating.THANKS_EN),
            (rating.REOPENED, rating.REOPENED_EN),
            (tracking.NOT_FOUND, tracking.NOT_FOUND_EN),
        ]
        for vietnamese, english in pairs:
            self.assertEqual(_fields(vietnamese), _fields(english))
        self.assertEqual(set(tracking.STATUS_TEXT), set(tracking.STATUS_TEXT_EN))
        self.assertEqual(set(report.KIND_NAMES), set(report.KIND_NAMES_EN))

    def test_the_rating_buttons_keep_their_payloads_in_english(self):
        english, vietnamese = rating_buttons(CODE, "en"), rating_buttons(CODE)
        self.assertEqual([b["payload"] for b in english], [b["payload"] for b in vietnamese])
        self.assertEqual(english[-1]["title"], "Not fixed yet")
        self.assertEqual(vietnamese[-1]["title"], "Chưa được xử lý")

    def test_the_copy_of_the_rule_reads_english_and_vietnamese(self):
        self.assertEqual(language.detect_language("Hello"), "en")
        self.assertEqual(language.detect_language("khong co anh"), "vi")
        self.assertIsNone(language.language_shown("0912345678"))


class EnglishReportTests(ActionTestCase):
    async def test_where_is_asked_in_english(self):
        await ActionAskWhere().run(self.dispatcher, tracker("report_opening", slots=ENGLISH), {})

        self.assertEqual(self.said(), [report.ASK_WHERE_EN])

    async def test_the_summary_and_its_buttons_are_in_english(self):
        snapshot = tracker("report_confirmed", slots=ENGLISH)

        await ActionAskConfirmed().run(self.dispatcher, snapshot, {})

        [summary] = self.said()
        self.assertTrue(summary.startswith("Please check your company request:"), summary)
        self.assertIn("• Tax code: 0312345673", summary)
        self.assertIn("• Photo: attached", summary)
        self.assertEqual(
            self.buttons(),
            [
                {"title": "Yes, send it", "payload": "/affirm"},
                {"title": "Start again", "payload": "/deny"},
            ],
        )

    async def test_the_filed_report_is_told_in_english(self):
        self.platform.answer("POST", "/api/v1/tickets", 201, {"code": CODE})

        await ActionSubmitReport().run(
            self.dispatcher, tracker("report_confirmed", slots=ENGLISH), {}
        )

        self.assertEqual(self.said(), [report.FILED_EN.format(kind="company request", code=CODE)])

    async def test_an_english_wish_is_not_taken_for_the_problem(self):
        form = ValidateComplaintForm()
        wish = tracker(
            "report_opening",
            slots={**ENGLISH, "what": None, "report_kind": None},
            text="I would like to make a complaint",
        )
        problem = tracker(
            "report_opening",
            slots={**ENGLISH, "what": None, "report_kind": None},
            text="The street light near VSIP 1 gate is broken",
        )

        self.assertNotIn("what", await form.extract_what(self.dispatcher, wish, {}))
        slots = await form.extract_what(self.dispatcher, problem, {})
        self.assertEqual(slots["what"], "The street light near VSIP 1 gate is broken")
        self.assertEqual(slots["report_kind"], "complaint")


class EnglishRatingAndTrackingTests(ActionTestCase):
    async def test_the_score_is_asked_with_english_buttons(self):
        self.platform.answer("GET", "/api/v1/bot/tickets", body={"items": [{"code": CODE}]})
        snapshot = tracker("rating_typed", slots=ENGLISH, text="I want to rate")

        await ActionRecordRating().run(self.dispatcher, snapshot, {})

        self.assertEqual(self.said(), [rating.ASK_SCORE_EN.format(code=CODE)])
        self.assertEqual(self.buttons(), rating_buttons(CODE, "en"))

    async def test_a_rating_is_thanked_in_english(self):
        self.platform.answer(
            "POST", f"/api/v1/bot/tickets/{CODE}/rating", body={"score": 4, "reopened": False}
        )

        await ActionRecordRating().run(self.dispatcher, tracker("rating_button", slots=ENGLISH), {})

        self.assertEqual(self.said(), [rating.THANKS_EN.format(score=4, code=CODE)])

    def test_a_status_in_english_keeps_the_agencys_name(self):
        ticket = {
            "code": CODE,
            "status": "in_progress",
            "agency_name": "Sở Xây dựng",
            "sla_due_at": "2026-12-04T03:00:00Z",
        }

        self.assertEqual(
            tracking.status_line(ticket, english=True),
            f"Report {CODE} is being handled by Sở Xây dựng, due by 04/12/2026.",
        )

    async def test_no_faq_answer_offers_an_official_in_english(self):
        self.platform.answer("GET", "/api/v1/bot/faq", body={"answer": None})
        snapshot = tracker("report_opening", slots=ENGLISH, text="How to extend visa?")

        await ActionAnswerFaq().run(self.dispatcher, snapshot, {})

        self.assertEqual(self.said(), [tracking.NO_ANSWER_EN])
        self.assertEqual(
            [b["title"] for b in self.buttons()], ["Talk to an official", "No, thank you"]
        )

    async def test_an_english_question_asks_for_the_english_answer_and_says_it(self):
        answer = "Register the birth at the ward People's Committee (UBND phường) ..."
        self.platform.answer("GET", "/api/v1/bot/faq", body={"answer": answer})
        snapshot = tracker("report_opening", slots=ENGLISH, text="how to register a birth?")

        await ActionAnswerFaq().run(self.dispatcher, snapshot, {})

        [(query, _)] = self.platform.calls("GET", "/api/v1/bot/faq")
        self.assertEqual(query, {"q": "how to register a birth?", "language": "en"})
        self.assertEqual(self.said(), [answer])

    async def test_the_hand_off_is_said_in_english(self):
        self.platform.answer("POST", "/api/v1/bot/handoff", body={"handed_off": True})

        await ActionHandOff().run(self.dispatcher, tracker("report_opening", slots=ENGLISH), {})

        self.assertEqual(self.said(), [tracking.HANDED_OFF_EN])
