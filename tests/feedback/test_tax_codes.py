"""The MST check: real-shaped codes pass, mistyped ones do not, branches keep their suffix."""

from __future__ import annotations

import pytest

from feedback.schemas import ContactIn
from feedback.tax_codes import check_digit, normalize_tax_code


def test_a_published_example_passes():
    # 0314409058: the worked example of the format (province 03, number 1440905, check 8).
    assert check_digit("031440905") == 8
    assert normalize_tax_code("0314409058") == "0314409058"
    assert normalize_tax_code(" 0314 409 058 ") == "0314409058"


def test_a_branch_keeps_its_three_digits():
    assert normalize_tax_code("0314409058-001") == "0314409058001"
    assert normalize_tax_code("0314409058001") == "0314409058001"
    assert normalize_tax_code("0314409058-000") is None  # branches count from 001


@pytest.mark.parametrize(
    "typed",
    [
        "0314409059",  # last digit wrong
        "0314490058",  # two digits swapped
        "031440905",  # one digit short
        "03144090588",  # eleven digits
        "0314409058-01",  # a branch needs three
        "MST0314409058",
        "",
    ],
)
def test_mistyped_codes_are_refused(typed):
    assert normalize_tax_code(typed) is None


def test_a_code_whose_check_would_be_ten_does_not_exist():
    nine = next(f"{n:09d}" for n in range(10**8, 10**9) if check_digit(f"{n:09d}") is None)
    for last in "0123456789":
        assert normalize_tax_code(nine + last) is None


def test_a_contact_with_a_mistyped_code_gets_a_reason():
    with pytest.raises(ValueError, match="check digit"):
        ContactIn(kind="business", company_name="Công ty TNHH A", tax_code="0314409059")
    contact = ContactIn(kind="business", company_name="Công ty TNHH A", tax_code="0314409058-002")
    assert contact.tax_code == "0314409058002"
