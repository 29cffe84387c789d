from feedback import service
from feedback.routing import NoClassifier


def test_create_route_and_resolve_over_http(client, db_session, sent_tasks, staff_token, service_headers):
    created = client.post(
        "/api/v1/tickets",
        json={"description": "Đèn đường tắt", "ward_code": "25747", "category": "ha_tang_do_thi"},
        headers=service_headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "new"
    assert sent_tasks == [("feedback.route_ticket", {"ticket_id": sent_tasks[0][1]["ticket_id"]})]
    service.route_ticket(db_session, ticket_id=sent_tasks[0][1]["ticket_id"], classifier=NoClassifier())
    headers = staff_token("agency_staff", "SXD")
    ticket = client.get(f"/api/v1/tickets/{body['code']}", headers=headers).json()
    assert ticket["status"] == "assigned" and ticket["agency"] == "SXD"
    assert client.post(f"/api/v1/tickets/{body['code']}/resolve", json={"message": "x"}, headers=headers).status_code == 409
