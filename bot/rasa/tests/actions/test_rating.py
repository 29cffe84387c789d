"""Rating a resolved ticket (actions/rating.py), from tracker snapshots."""

from __future__ import annotations

from actions import rating
from actions.copies import rating_buttons
from actions.rating import ActionRecordRating

from tests.actions.harness import ActionTestCase, tracker

CODE = "PA7K3M9QXT"
RATE = f"/api/v1/bot/tickets/{CODE}/rating"
OWN = "/api/v1/bot/tickets"


class RecordRatingTests(ActionTestCase):
    async def run_action(self, snapshot):
        return await ActionRecordRating().run(self.dispatcher, snapshot, {})

    def resolved(self, *codes: str) -> None:
        self.platform.answer("GET", OWN, body={"items": [{"code": c} for c in codes]})

    async def test_a_star_button_records_the_score_and_asks_for_a_comment(self):
        self.platform.answer("POST", RATE, body={"code": CODE, "score": 5, "reopened": False})

        events = await self.run_action(tracker("rating_button"))

        [(_, body)] = self.platform.calls("POST", RATE)
        self.assertEqual(body, {"sender": "web:fixture-session-2", "score": 5})
        self.assertEqual(self.said(), [rating.THANKS.format(score=5, code=CODE)])
        self.assertEqual(
            events,
            [
                {"event": "slot", "timestamp": None, "name": "rating_recorded", "value": True},
                {"event": "slot", "timestamp": None, "name": "rating_code", "value": CODE},
            ],
        )

    async def test_not_fixed_in_words_reopens_the_latest_resolved_ticket(self):
        self.resolved(CODE, "PA0000000001")
        self.platform.answer("POST", RATE, body={"code": CODE, "score": 1, "reopened": True})

        events = await self.run_action(tracker("rating_typed"))

        [(query, _)] = self.platform.calls("GET", OWN)
        self.assertEqual(query["sender"], "telegram:5550002")
        self.assertEqual(query["status"], "resolved")
        [(_, body)] = self.platform.calls("POST", RATE)
        self.assertEqual(body, {"sender": "telegram:5550002", "fixed": False})
        self.assertEqual(self.said(), [rating.REOPENED.format(code=CODE)])
        self.assertEqual(events[0]["value"], False)

    async def test_without_a_score_the_buttons_are_offered_for_the_latest_ticket(self):
        self.resolved(CODE)
        snapshot = tracker("rating_typed", text="tôi muốn đánh giá")

        await self.run_action(snapshot)

        self.assertEqual(self.said(), [rating.ASK_SCORE.format(code=CODE)])
        self.assertEqual(self.buttons(), rating_buttons(CODE))
        self.assertEqual(self.platform.calls("POST", RATE), [])

    async def test_a_forged_score_is_no_score(self):
        self.resolved(CODE)
        snapshot = tracker(
            "rating_button",
            entities=[{"entity": "ticket_code", "value": CODE}, {"entity": "score", "value": 9}],
        )

        await self.run_action(snapshot)

        self.assertEqual(self.said(), [rating.ASK_SCORE.format(code=CODE)])
        self.assertEqual(self.platform.calls("POST", RATE), [])

    async def test_another_persons_code_is_not_rated(self):
        self.resolved("PA0000000001")
        snapshot = tracker("rating_typed", text=f"đánh giá {CODE}")

        await self.run_action(snapshot)

        self.assertEqual(self.said(), [rating.NOT_YOURS.format(code=CODE)])

    async def test_nothing_to_rate(self):
        self.resolved()

        await self.run_action(tracker("rating_typed"))

        self.assertEqual(self.said(), [rating.NOTHING_TO_RATE])

    async def test_the_platform_refusals_are_told_politely(self):
        for status, expected in ((404, rating.NOT_YOURS), (409, rating.NOT_RESOLVED)):
            self.dispatcher.messages.clear()
            self.platform.answer("POST", RATE, status, {"detail": "no"})

            events = await self.run_action(tracker("rating_button"))

            self.assertEqual(self.said(), [expected.format(code=CODE)])
            self.assertEqual(events[0]["value"], False)

    async def test_a_platform_that_is_down_is_said_to_be_busy(self):
        await self.platform_down()

        await self.run_action(tracker("rating_button"))

        self.assertEqual(self.said(), [rating.BUSY])
