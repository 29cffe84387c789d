"""Rules the platform holds, copied here because the action server cannot import it.

The action server runs in Rasa's Python and its own container. Each rule below has its original
in the platform, named beside it; tests/bot/test_rasa_copies.py fails the moment a copy drifts.
Plain Python only, so that the platform's tests can read this file.
"""

from __future__ import annotations

# feedback/attachments.py URL_PREFIX: where the platform serves the photos people attach.
PHOTO_URL_PREFIX = "/api/v1/webchat/photos/"


def identity(sender_id: str) -> tuple[str, str]:
    """feedback.citizen.Identity.from_sender: Rasa's sender is `<channel>:<user>`."""
    channel, _, user = sender_id.partition(":")
    return channel, user


def rating_buttons(code: str, language: str = "vi") -> list[dict[str, str]]:
    """bot/notify.py rating_buttons: scores 5 to 1, then "not fixed", each with the code; the
    last title in the conversation's language."""
    buttons = [
        {"title": "⭐" * score, "payload": f'/rate{{"ticket_code": "{code}", "score": {score}}}'}
        for score in range(5, 0, -1)
    ]
    not_fixed = "Not fixed yet" if language == "en" else "Chưa được xử lý"
    buttons.append(
        {"title": not_fixed, "payload": f'/rate{{"ticket_code": "{code}", "fixed": false}}'}
    )
    return buttons
