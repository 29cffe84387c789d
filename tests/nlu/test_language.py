"""Which language a message is in: the rule of nlu/language.py on messages as people write."""

from __future__ import annotations

import pytest

from nlu.language import detect_language


@pytest.mark.parametrize(
    "text",
    [
        "Đèn đường trước số 12 Yersin tắt cả tuần nay",
        "den duong truoc so 12 yersin tat ca tuan nay",
        "cong ty chung toi o KCN VSIP bi mat dien lien tuc",
        "rác ở hẻm 45 chưa ai thu gom",
        "PA7K3M9QXT",
        "0912345678",
        "ok",
        "",
        "xin chao, cho hoi thu tuc lam lai can cuoc",
        "cái street light bị broken mấy ngày rồi",  # English words in a Vietnamese sentence
        "truong thu tien may lanh lop 2 trieu moi hs vay dung ko",
        "tro caaps thaats nghieepj nopj ho so 2 thangs chua cos",  # telex leftovers
    ],
)
def test_vietnamese_with_or_without_diacritics(text):
    assert detect_language(text) == "vi"


@pytest.mark.parametrize(
    "text",
    [
        "Our factory in VSIP 1 has had no power since Monday",
        "The street light near gate 3 of Song Than industrial park is broken",
        "Hello, I would like to report a problem with the water supply",
        "please help, the road to our company is flooded",
        "Thanks for your help",
        # Vietnamese place names, with or without diacritics, in an English message.
        "The sidewalk on Nguyen Van Tiet street in Thuận An is broken",
        "manhole cover missing on Binh Duong Avenue near Thu Dau Mot market",
        "Our Vietnamese staff lost her citizen ID card (căn cước), where to reissue?",
    ],
)
def test_english_from_foreign_invested_firms(text):
    assert detect_language(text) == "en"
