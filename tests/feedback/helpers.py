"""Helpers the feedback tests share: file a ticket over HTTP and run its routing job."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedback import routing
from feedback.classifier import NoClassifier, TicketClassifier
from feedback.models import Ticket


def route(db_session: Session, code: str, classifier: TicketClassifier | None = None) -> Ticket:
    """Run the routing job in the test's transaction, as the worker would."""
    ticket_id = db_session.scalar(select(Ticket.id).where(Ticket.code == code))
    assert ticket_id is not None, code
    ticket = routing.route_ticket(
        db_session, ticket_id=ticket_id, classifier=classifier or NoClassifier()
    )
    assert ticket is not None
    # Release the savepoint: a later failing request rolls back only its own work.
    db_session.commit()
    return ticket


def file_and_route(client: Any, db_session: Session, headers: dict[str, str], report: dict) -> str:
    """File `report` over the API, route it, and return its code."""
    response = client.post("/api/v1/tickets", json=report, headers=headers)
    assert response.status_code == 201, response.text
    code: str = response.json()["code"]
    route(db_session, code)
    return code
