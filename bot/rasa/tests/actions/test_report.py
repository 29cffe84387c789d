"""The complaint form's actions (actions/report.py), from tracker snapshots."""

from __future__ import annotations

from actions import report
from actions.report import ActionSubmitReport, ValidateComplaintForm

from tests.actions.harness import ActionTestCase, tracker

ANALYSE = "/api/v1/bot/analyse"
BEN_THANH = {"code": "26740", "name": "Phường Bến Thành"}


def choosing(ward_code: str):
    """The person taps the button of one ward, asked which new ward they mean."""
    return tracker(
        "report_where_asked",
        text=f'/choose_ward{{"ward_code": "{ward_code}"}}',
        intent={"name": "choose_ward", "confidence": 1.0},
        entities=[{"entity": "ward_code", "value": ward_code}],
    )


class WhereTests(ActionTestCase):
    async def extract_where(self, snapshot):
        return await ValidateComplaintForm().extract_where(self.dispatcher, snapshot, {})

    async def test_the_place_in_the_first_message_fills_where(self):
        self.platform.answer("POST", ANALYSE, body={"ward": BEN_THANH, "ward_candidates": []})

        slots = await self.extract_where(tracker("report_opening"))

        self.assertEqual(slots, {"where": "Phường Bến Thành", "ward_code": "26740"})
        [(_, body)] = self.platform.calls("POST", ANALYSE)
        self.assertIn("Yersin", body["text"])

    async def test_an_old_ward_that_was_split_offers_its_new_wards(self):
        candidates = [BEN_THANH, {"code": "26734", "name": "Phường Sài Gòn"}]
        self.platform.answer("POST", ANALYSE, body={"ward": None, "ward_candidates": candidates})

        slots = await self.extract_where(tracker("report_opening"))

        self.assertEqual(slots, {"ward_candidates": candidates})

    async def test_a_first_message_without_a_place_leaves_where_to_ask(self):
        self.platform.answer("POST", ANALYSE, body={"ward": None, "ward_candidates": []})

        self.assertEqual(await self.extract_where(tracker("report_opening")), {})

    async def test_a_ward_button_that_was_offered_is_taken(self):
        slots = await self.extract_where(choosing("26740"))

        self.assertEqual(
            slots, {"where": "Phường Bến Thành", "ward_code": "26740", "ward_candidates": None}
        )

    async def test_a_forged_ward_button_is_refused_and_the_choice_offered_again(self):
        slots = await self.extract_where(choosing("99999"))

        self.assertEqual([c["code"] for c in slots["ward_candidates"]], ["26734", "26740"])
        self.assertEqual(self.said(), [report.BAD_WARD_CHOICE])

    async def test_a_shared_location_is_kept_as_coordinates(self):
        snapshot = tracker(
            "report_where_asked",
            text='/share_location{"latitude": 10.7721, "longitude": 106.6983}',
            intent={"name": "share_location", "confidence": 1.0},
            entities=[
                {"entity": "latitude", "value": 10.7721},
                {"entity": "longitude", "value": 106.6983},
            ],
        )

        slots = await self.extract_where(snapshot)

        self.assertEqual((slots["latitude"], slots["longitude"]), (10.7721, 106.6983))
        self.assertIn("10.77210, 106.69830", slots["where"])

    async def test_a_location_off_the_globe_is_no_place(self):
        snapshot = tracker(
            "report_where_asked",
            intent={"name": "share_location", "confidence": 1.0},
            entities=[{"entity": "latitude", "value": 123}, {"entity": "longitude", "value": 1}],
        )

        self.assertEqual(await self.extract_where(snapshot), {"where": None})

    async def test_a_typed_place_the_gazetteer_does_not_know_is_still_an_address(self):
        self.platform.answer("POST", ANALYSE, body={"ward": None, "ward_candidates": []})

        slots = await self.extract_where(tracker("report_where_asked"))

        self.assertEqual(slots, {"where": "hẻm 45 Lê Lợi", "ward_code": None})

    async def test_no_is_left_to_the_form_which_cancels(self):
        snapshot = tracker("report_where_asked", text="không", intent={"name": "deny"})

        self.assertEqual(await self.extract_where(snapshot), {})


class PhoneTests(ActionTestCase):
    async def extract_phone(self, text, intent="inform"):
        snapshot = tracker(
            "report_where_asked",
            slots={"requested_slot": "phone"},
            text=text,
            intent={"name": intent},
        )
        return await ValidateComplaintForm().extract_phone(self.dispatcher, snapshot, {})

    async def test_a_number_as_people_type_it(self):
        self.assertEqual(
            await self.extract_phone("số em 0912 345 678 nha"), {"phone": "0912345678"}
        )

    async def test_no_means_no_number(self):
        self.assertEqual(await self.extract_phone("không", "deny"), {"phone": report.NONE})

    async def test_something_else_is_asked_again(self):
        self.assertEqual(await self.extract_phone("số nhà 12"), {"phone": None})
        self.assertEqual(self.said(), [report.BAD_PHONE])


class SubmitTests(ActionTestCase):
    async def test_a_confirmed_report_is_filed_with_its_contact_and_photo(self):
        self.platform.answer("POST", "/api/v1/tickets", 201, {"code": "PA7K3M9QXT"})

        events = await ActionSubmitReport().run(self.dispatcher, tracker("report_confirmed"), {})

        [(_, body)] = self.platform.calls("POST", "/api/v1/tickets")
        self.assertEqual(body["kind"], "business_request")
        self.assertEqual(body["ward_code"], "25966")
        self.assertEqual(body["photos"], [tracker("report_confirmed").get_slot("photo")])
        self.assertEqual(body["channel"], "zalo")
        self.assertEqual(
            body["contact"],
            {
                "kind": "business",
                "phone": "0912345678",
                "phone_consent": True,
                "company_name": "Công ty TNHH Ví Dụ",
                "tax_code": "0312345673",
                "channel": "zalo",
                "channel_user_id": "8470021555",
            },
        )
        self.assertIn("PA7K3M9QXT", self.said()[0])
        self.assertTrue(all(e["event"] == "slot" and e["value"] is None for e in events))

    async def test_a_busy_platform_is_said_and_the_form_reset(self):
        self.platform.answer("POST", "/api/v1/tickets", 503, {"detail": "busy"})

        events = await ActionSubmitReport().run(self.dispatcher, tracker("report_confirmed"), {})

        self.assertIn("hệ thống đang bận", self.said()[0])
        self.assertEqual({e["name"] for e in events}, set(report.REPORT_SLOTS))

    async def test_a_chat_over_its_ticket_quota_is_told_when_to_come_back(self):
        refusal = "Bạn đã gửi 5 phản ánh trong thời gian ngắn. … sau khoảng 40 phút."
        self.platform.answer("POST", "/api/v1/tickets", 429, {"detail": refusal})

        events = await ActionSubmitReport().run(self.dispatcher, tracker("report_confirmed"), {})

        self.assertEqual(self.said(), [refusal])
        self.assertEqual({e["name"] for e in events}, set(report.REPORT_SLOTS))

    async def test_an_unconfirmed_report_is_not_filed(self):
        snapshot = tracker("report_confirmed", slots={"confirmed": False})

        await ActionSubmitReport().run(self.dispatcher, snapshot, {})

        self.assertEqual(self.platform.requests, [])


class FormRunTests(ActionTestCase):
    """The whole validation action, as Rasa runs it each turn of the form."""

    async def run_form(self, snapshot):
        return await ValidateComplaintForm().run(self.dispatcher, snapshot, {"forms": FORMS})

    async def test_a_shared_location_keeps_its_coordinates_in_the_conversation(self):
        snapshot = tracker(
            "report_where_asked",
            text='/share_location{"latitude": 10.7805, "longitude": 106.704}',
            intent={"name": "share_location", "confidence": 1.0},
            entities=[
                {"entity": "latitude", "value": 10.7805},
                {"entity": "longitude", "value": 106.704},
            ],
        )

        events = {e["name"]: e["value"] for e in await self.run_form(snapshot)}

        self.assertEqual((events["latitude"], events["longitude"]), (10.7805, 106.704))
        self.assertIn("10.78050", events["where"])

    async def test_the_ward_code_and_the_kind_stay_with_the_report(self):
        self.platform.answer("POST", ANALYSE, body={"ward": BEN_THANH, "ward_candidates": []})
        snapshot = tracker(
            "report_opening",
            slots={"what": None, "report_kind": None},
            text="Công ty chúng tôi ở phường Bến Thành bị mất điện liên tục cả tuần nay",
        )

        events = {e["name"]: e["value"] for e in await self.run_form(snapshot)}

        self.assertEqual(events["ward_code"], "26740")
        self.assertEqual(events["report_kind"], "business_request")
        self.assertEqual(events["requested_slot"], "company_name")


FORMS = {"complaint_form": {"required_slots": ["what", "where", "photo", "phone", "confirmed"]}}
