from core.timing import header_value, parse_header


def test_the_header_reads_back_in_milliseconds() -> None:
    value = header_value({"app": 0.0125, "rasa": 0.01})
    assert value == "app;dur=12.50, rasa;dur=10.00"
    assert parse_header(value) == {"app": 12.5, "rasa": 10.0}


def test_entries_without_a_duration_are_skipped() -> None:
    assert parse_header('cache;desc="hit", db;dur=3.2') == {"db": 3.2}
    assert parse_header("") == {}


def test_every_response_carries_the_app_time(client) -> None:
    response = client.get("/healthz")
    assert parse_header(response.headers["server-timing"])["app"] > 0
