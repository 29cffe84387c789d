import unicodedata

import pytest

from nlu.normalize import fold, has_diacritics, normalize, place_tone, strip_diacritics


def test_one_tone_placement_for_both_conventions():
    assert normalize("Hòa Bình") == normalize("hoà bình") == "hoà bình"
    assert normalize("Thủy") == normalize("thuỷ")
    assert normalize("khỏe") == normalize("khoẻ")


def test_tone_stays_where_every_convention_puts_it():
    for word in ["quý", "già", "người", "mùa", "tài", "hoàng", "tuổi", "quyển", "nghĩa", "gì"]:
        assert place_tone(word) == word


def test_nfc_whatever_the_input_form():
    decomposed = "Ph\u01b0\u01a1\u0300ng"  # "Phường" typed with a combining grave
    assert normalize(decomposed) == "phường"


def test_abbreviations_and_teen_code_are_spelled_out():
    assert normalize("ko dc j") == "không được gì"
    assert normalize("P.7 Q.3") == "phường 7 quận 3"
    assert normalize("p7 q.go vap") == "phường 7 quận go vap"
    assert normalize("KP2 Thuận Giao, kp.3") == "khu phố 2 thuận giao , khu phố 3"
    assert normalize("TP.HCM") == "thành phố hồ chí minh"
    assert normalize("sđt 0901") == "số điện thoại 0901"
    assert normalize("X. An Điền, TX Bến Cát") == "xã an điền , thị xã bến cát"


def test_chat_teen_code_is_spelled_out():
    assert normalize("hk bít j hết") == "không biết gì hết"
    assert normalize("hnay cx mất nước nhìu wá") == "hôm nay cũng mất nước nhiều quá"
    assert normalize("mik mún hỏi đag làm j zậy") == "mình muốn hỏi đang làm gì vậy"
    assert normalize("khum ai dọn lun, báo trc rùi") == "không ai dọn luôn , báo trước rồi"


@pytest.mark.parametrize(
    "text",
    [
        "hem 45 bi bit",  # hẻm 45 bị bịt
        "den duong hong",  # đèn đường hỏng
        "quen mk tai khoan",  # mật khẩu
        "rac hoi thui",  # hôi thúi
    ],
)
def test_words_typed_without_diacritics_are_not_read_as_teen_code(text):
    assert normalize(text) == text


def test_diacritics_removed_keep_the_case():
    assert strip_diacritics("Đèn đường ở Phường Thủ Dầu Một hỏng") == (
        "Den duong o Phuong Thu Dau Mot hong"
    )
    assert strip_diacritics(unicodedata.normalize("NFD", "Đèn đường")) == "Den duong"


def test_diacritic_free_view():
    assert fold(normalize("Phường Thủ Dầu Một")) == "phuong thu dau mot"
    assert fold("ĐƯỜNG") == "duong"
    assert has_diacritics("đường") and not has_diacritics("duong")


def test_control_characters_are_dropped():
    assert normalize("a\x00b\x1fc\u200b") == "a b c"


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("dduwowngf bi ngaapj nuwowcs", "đường bi ngập nước"),  # Telex
        ("tro caaps thaats nghieepj 2 thangs chua cos", "tro cấp thất nghiệp 2 tháng chua có"),
        ("duo7ng2 bi ngap65", "dường bi ngập"),  # VNI (9 would make the đ)
        ("hoaf binh thuyr", "hoà binh thuỷ"),  # tone letters only, two of them
        ("quys khachs", "quý khách"),
    ],
)
def test_telex_and_vni_typed_without_the_input_method(typed, meant):
    assert normalize(typed) == meant


@pytest.mark.parametrize(
    "text",
    [
        "the bus is late again",  # English: "bus", "is" are not Telex
        "duong pho ngap nuoc",  # already syllables without marks
        "cái street light bị broken",
        "PA7K3M9QXT",
        "0912345678",
    ],
)
def test_ordinary_text_is_not_read_as_telex(text):
    assert normalize(text) == normalize(text.lower())
    assert fold(normalize(text)) == fold(text.lower())
