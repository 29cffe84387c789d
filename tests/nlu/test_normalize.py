from nlu.normalize import fold, has_diacritics, normalize, place_tone


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
    assert normalize("TP.HCM") == "thành phố hồ chí minh"
    assert normalize("sđt 0901") == "số điện thoại 0901"
    assert normalize("X. An Điền, TX Bến Cát") == "xã an điền , thị xã bến cát"


def test_diacritic_free_view():
    assert fold(normalize("Phường Thủ Dầu Một")) == "phuong thu dau mot"
    assert fold("ĐƯỜNG") == "duong"
    assert has_diacritics("đường") and not has_diacritics("duong")


def test_control_characters_are_dropped():
    assert normalize("a\x00b\x1fc\u200b") == "a b c"
