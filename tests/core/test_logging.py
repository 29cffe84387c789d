from __future__ import annotations

import logging

from core.logging import PersonalDataFilter, mask_personal_data


def test_phone_and_id_numbers_are_masked() -> None:
    assert mask_personal_data("gọi 0912 345 678 nhé") == "gọi *******678 nhé"
    assert mask_personal_data("sđt +84912345678") == "sđt ********678"
    assert mask_personal_data("CCCD 079123456789") == "CCCD *********789"
    assert mask_personal_data("mã PA7K3MQ9XD, phường 25747") == "mã PA7K3MQ9XD, phường 25747"


def test_the_filter_masks_formatted_records(caplog) -> None:
    logger = logging.getLogger("tests.pii")
    logger.addFilter(PersonalDataFilter())
    with caplog.at_level(logging.INFO, logger="tests.pii"):
        logger.info("contact phone %s", "0912345678")
    assert caplog.records[0].getMessage() == "contact phone *******678"
    assert "0912345678" not in caplog.text


def test_a_telegram_bot_token_in_a_logged_url_is_hidden():
    url = (
        "POST https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage"
    )
    masked = mask_personal_data(f'HTTP Request: {url} "HTTP/1.1 200 OK"')
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in masked and "123456789" not in masked
    assert "/bot<token>/sendMessage" in masked
