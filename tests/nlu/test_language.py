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
    ],
)
def test_english_from_foreign_invested_firms(text):
    assert detect_language(text) == "en"
