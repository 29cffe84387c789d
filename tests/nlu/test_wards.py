"""Ward extraction on the cases the issue names; nlu/data/wards/test.jsonl has 225 more."""

import pytest

from nlu.evaluate import evaluate_wards
from nlu.wards import extract_ward


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("P. Phú Cường, TP Thủ Dầu Một có ổ gà", "25747"),  # old ward → Phường Thủ Dầu Một
        ("p.di an ngap nuoc", "25942"),
        ("xa an dien ben cat rac thai", "25840"),
        ("Đèn đường hỏng ở phường Bến Thành", "26743"),
        ("F.Bến Thành kẹt xe", "26743"),
        ("phuong ben thanh", "26743"),
        ("phường 12 quận gò vấp ngập", "26882"),  # a numbered old ward with its district
        ("Xã Thạnh An, Cần Giờ", "27676"),
        ("nhà tôi ở Lái Thiêu", "25966"),
        ("Thị trấn Củ Chi có đường lún", "27496"),  # the abolished thị trấn, not Xã Củ Chi
        ("KP2 Thuận Giao ngập sau mưa", "25969"),  # a neighbourhood, then its ward
        ("đèn đường hỏng khu phố 3 Phú Lợi", "25750"),
        ("Thuận Giao, Thuận An cúp nước", "25969"),  # an old ward first, with its district
        ("ấp 3 Tân Thạnh Đông mất điện", "27541"),  # the old commune, not today's Tân Thành
        ("ở Tân Thạnh Đông có bãi rác", "27541"),
    ],
)
def test_finds_the_current_ward(text, code):
    match = extract_ward(text)
    assert match is not None and match.code == code
    assert match.province_code == "79" and match.name


def test_a_split_ward_gives_candidates_for_the_bot_to_ask():
    match = extract_ward("P. Hiệp Thành, TP Thủ Dầu Một")
    assert match is not None and match.code is None
    assert [c.code for c in match.candidates] == ["25747", "25750"]
    assert match.as_dict()["candidates"][0] == {"code": "25747", "name": "Phường Thủ Dầu Một"}


def test_without_diacritics_two_wards_can_fold_to_the_same_name():
    match = extract_ward("xa thanh an")  # Xã Thanh An (Dầu Tiếng) or Xã Thạnh An (Cần Giờ)
    assert match is not None and {c.code for c in match.candidates} == {"25807", "27676"}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "đường Lê Lợi có ổ gà",  # a street is not a ward
        "đường Bến Thành bị ngập",  # a street named like a ward
        "chợ Bến Thành chặt chém",
        "phường 5 ngập nước",  # a number without its district
        "kẹt xe ở quận 1",  # an old district alone
        "tại Sài Gòn kẹt xe",  # the city, not Phường Sài Gòn
        "phường Hoàn Kiếm, Hà Nội",
        "xả rác ra kênh",  # "xả" is not "xã"
        "kẹt xe ở Phú Mỹ Hưng",  # the urban area of the old Quận 7, not a ward of that name
        "Thuận An ngập nước",  # an old district alone
        "KCN VSIP",
        "😀😀😀",
    ],
)
def test_never_invents_a_ward(text):
    assert extract_ward(text) is None


def test_held_out_ward_set_meets_the_targets():
    report = evaluate_wards()
    assert report.messages >= 200
    assert report.precision >= 0.95, report.render()
    assert report.recall >= 0.85, report.render()


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("Street light broken near VSIP 1, Thuan An", {"25987"}),
        ("KCN Sóng Thần 2 mất điện cả buổi sáng", {"25942"}),
        ("Song Than 3 IP: water pipe burst on the main road", {"25760"}),
        ("our factory in VSIP II has no water since yesterday", {"25760"}),
        ("Hiep Phuoc industrial park road is broken", {"27658"}),
        ("nhà máy ở KCN Mỹ Phước 3 xả khói đen", {"25813", "25846"}),  # candidates
    ],
)
def test_an_industrial_park_places_a_firm(text, codes):
    match = extract_ward(text)
    assert match is not None
    found = {match.code} if match.code else {c.code for c in match.candidates}
    assert found == codes


@pytest.mark.parametrize(
    "text",
    ["đường Tân Tạo bị ngập", "cà phê Sóng Thần", "Cat Lai ferry is late", "VSIP, Thuan An"],
)
def test_a_park_name_without_a_park_word_is_not_a_park(text):
    match = extract_ward(text)
    assert match is None or match.code not in {"27457", "26704", "25942", "27112"}


def test_every_park_lies_in_a_ward_of_the_province():
    import csv

    from nlu.industrial_parks import PARKS_FILE
    from nlu.wards import load_gazetteer

    names = load_gazetteer("79").names
    with PARKS_FILE.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            assert set(row["new_codes"].split()) <= set(names), row["park"]
