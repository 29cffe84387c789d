import pytest

from core.text import clean_text, is_code


@pytest.mark.parametrize("value", ["gio_lam_viec", "da_tiep_nhan", "FAQ_2", "x" * 60])
def test_a_code_is_plain_letters_digits_and_underscores(value):
    assert is_code(value)


@pytest.mark.parametrize(
    "value",
    ["", "códấu", "có dấu", "gio-lam-viec", "a/b", "x" * 61, "đ", "gio_lam_viec\n"],
)
def test_anything_else_is_not_a_code(value):
    # "códấu" passes str.isalnum, which the panel's id checks used before.
    assert not is_code(value)


def test_clean_text_takes_out_what_cannot_be_seen():
    assert clean_text("a\x00b\u202ec\x1b[31md\r\ne") == "abcd\ne"
