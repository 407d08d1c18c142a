"""The tickets JSON API: filing, lists, reading, replies, status changes, idempotency, validation."""

from __future__ import annotations

import pytest

from app.idempotency import IdempotencyRecord
from app.notifications.tables import OutboxMessage
from app.tickets.tables import Ticket, TicketMessage
from tests.factories import bearer, make_support_world

NEW = {"subject": "プリンターに接続できません", "body": "昨日から印刷できません。", "request_type": "general",
       "priority": "normal"}


@pytest.fixture
async def world():
    return await make_support_world()


async def post(client, url, body, who, key=None):
    headers = await bearer(who)
    if key:
        headers["Idempotency-Key"] = key
    return await client.post(url, json=body, headers=headers)


async def test_a_customer_files_a_request_and_reads_it_back(client, world):
    response = await post(client, "/api/v1/tickets", NEW, world.customer_a)
    assert response.status_code == 201, response.text
    created = response.json()
    # The point table in force prices "general" at 1 point.
    assert created["number"].endswith("-000001") and created["status"] == "new" and created["quoted_points"] == 1
    detail = await client.get(f"/api/v1/tickets/{created['id']}", headers=await bearer(world.customer_a2))
    assert detail.status_code == 200
    body = detail.json()
    assert body["subject"] == NEW["subject"] and body["organization"]["name"] == "株式会社アルファ"
    assert body["allowed_statuses"] == ["cancelled"] and body["events"][0]["kind"] == "created"
    assert await OutboxMessage.count() > 0


async def test_the_api_needs_a_bearer_token(client, world):
    assert (await client.get("/api/v1/tickets")).status_code == 401
    response = await client.post("/api/v1/tickets", json=NEW, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(("change", "field"), [
    ({"subject": 12}, "subject"),
    ({"subject": "あ" * 201}, "subject"),
    ({"body": "あ" * 20001}, "body"),
    ({"priority": "asap"}, "priority"),
    ({"category": "rant"}, "category"),
    ({"subject": None}, "subject"),
    ({"custom_fields": "site"}, "custom_fields"),
    ({"surprise": 1}, "surprise"),
])
async def test_bad_bodies_get_400_naming_the_field(client, world, change, field):
    response = await post(client, "/api/v1/tickets", {**NEW, **change}, world.customer_a)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_input"
    assert field in [e["field"] for e in response.json()["errors"]]
    assert await Ticket.count() == 0


async def test_a_missing_field_is_named(client, world):
    response = await post(client, "/api/v1/tickets", {"body": "本文"}, world.customer_a)
    assert response.status_code == 400
    assert {"subject", "request_type"} <= {e["field"] for e in response.json()["errors"]}


async def test_an_unknown_request_type_is_named(client, world):
    response = await post(client, "/api/v1/tickets", {**NEW, "request_type": "teleport"}, world.customer_a)
    assert response.status_code == 422
    assert response.json() == {"code": "invalid_input", "field": "request_type", "message": response.json()["message"]}


async def test_bad_list_parameters_get_400_naming_them(client, world):
    headers = await bearer(world.agent)
    response = await client.get("/api/v1/tickets?organization=abc&limit=500", headers=headers)
    assert response.status_code == 400
    assert {"organization", "limit"} <= {e["field"] for e in response.json()["errors"]}
    # The document lists the statuses, and the app checks the parameter against it like the others.
    response = await client.get("/api/v1/tickets?status=sleeping", headers=headers)
    assert response.status_code == 400 and [e["field"] for e in response.json()["errors"]] == ["status"]
    response = await client.get("/api/v1/tickets?cursor=%%%", headers=headers)
    assert response.status_code == 422 and response.json()["field"] == "cursor"


async def test_lists_page_by_cursor_and_filter(client, world):
    ids = [(await post(client, "/api/v1/tickets", {**NEW, "subject": f"件名{i}", "priority": "urgent" if i % 2 else "low"},
                       world.customer_a)).json()["id"] for i in range(7)]
    await post(client, "/api/v1/tickets", NEW, world.customer_b)
    headers = await bearer(world.customer_a)
    seen, url = [], "/api/v1/tickets?limit=3"
    while True:
        page = (await client.get(url, headers=headers)).json()
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        url = f"/api/v1/tickets?limit=3&cursor={page['next_cursor']}"
    assert seen == sorted(ids, reverse=True)
    urgent = (await client.get("/api/v1/tickets?priority=urgent&q=件名", headers=headers)).json()["items"]
    assert [i["id"] for i in urgent] == [ids[5], ids[3], ids[1]]
    agent_headers = await bearer(world.agent)
    other = (await client.get(f"/api/v1/tickets?organization={world.org_b.id}", headers=agent_headers)).json()
    assert len(other["items"]) == 1 and other["items"][0]["organization"]["id"] == world.org_b.id


async def test_a_customer_of_another_company_gets_404_on_every_ticket_route(client, world):
    ticket = (await post(client, "/api/v1/tickets", NEW, world.customer_a)).json()
    outsider = await bearer(world.customer_b)
    base = f"/api/v1/tickets/{ticket['id']}"
    assert (await client.get(base, headers=outsider)).status_code == 404
    reply = await client.post(f"{base}/messages", json={"body": "こんにちは"}, headers=outsider)
    assert reply.status_code == 404 and reply.json()["code"] == "not_found"
    status = await client.post(f"{base}/status", json={"status": "cancelled"}, headers=outsider)
    assert status.status_code == 404
    assert (await client.get(f"/api/v1/tickets/{ticket['id'] + 999}", headers=outsider)).status_code == 404
    listed = (await client.get("/api/v1/tickets", headers=outsider)).json()["items"]
    assert listed == []
    assert (await Ticket.select(Ticket.status).first())["status"] == "new"
    assert await TicketMessage.count() == 0


async def test_replies_notes_and_status_changes(client, world):
    ticket = (await post(client, "/api/v1/tickets", NEW, world.customer_a)).json()
    base = f"/api/v1/tickets/{ticket['id']}"
    note = await post(client, f"{base}/messages", {"body": "社内メモ", "internal": True, "minutes_spent": 10}, world.agent)
    assert note.status_code == 201 and note.json()["status"] == "new"
    reply = await post(client, f"{base}/messages", {"body": "確認します。", "status": "waiting", "version": 2}, world.agent)
    assert reply.status_code == 201, reply.text
    assert reply.json()["status"] == "waiting" and reply.json()["version"] == 3
    refused = await post(client, f"{base}/messages", {"body": "メモ", "internal": True}, world.customer_a)
    assert refused.status_code == 403 and refused.json()["code"] == "not_allowed"
    customer_view = (await client.get(base, headers=await bearer(world.customer_a))).json()
    assert [m["body"] for m in customer_view["messages"]] == ["確認します。"]
    staff_view = (await client.get(base, headers=await bearer(world.agent))).json()
    assert [m["internal"] for m in staff_view["messages"]] == [True, False]
    assert staff_view["minutes_spent_total"] == 10

    resolved = await post(client, f"{base}/status", {"status": "resolved"}, world.customer_a)
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    illegal = await post(client, f"{base}/status", {"status": "cancelled"}, world.agent)
    assert illegal.status_code == 409 and illegal.json()["code"] == "illegal_transition"
    closed = await post(client, f"{base}/status", {"status": "closed"}, world.agent)
    assert closed.status_code == 200
    follow_up = await post(client, f"{base}/messages", {"body": "再発しました。"}, world.customer_a)
    assert follow_up.status_code == 201
    assert follow_up.json()["follow_up_of"] == ticket["id"] and follow_up.json()["ticket"]["id"] != ticket["id"]


async def test_a_reply_on_a_stale_view_gets_409(client, world):
    ticket = (await post(client, "/api/v1/tickets", NEW, world.customer_a)).json()
    base = f"/api/v1/tickets/{ticket['id']}"
    assert (await post(client, f"{base}/messages", {"body": "先に回答", "version": 1}, world.agent)).status_code == 201
    late = await post(client, f"{base}/messages", {"body": "後から回答", "version": 1}, world.agent2)
    assert late.status_code == 409 and late.json()["code"] == "stale_version"
    assert "変更されています" in late.json()["message"] and late.json()["current_version"] == 2


async def test_the_same_idempotency_key_replays_the_first_response(client, world):
    first = await post(client, "/api/v1/tickets", NEW, world.customer_a, key="file-1")
    again = await post(client, "/api/v1/tickets", NEW, world.customer_a, key="file-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert await Ticket.count() == 1
    # The key belongs to its caller: a colleague's identical call is a call of its own.
    assert (await post(client, "/api/v1/tickets", NEW, world.customer_a2, key="file-1")).json()["id"] != first.json()["id"]

    reused = await post(client, "/api/v1/tickets", {**NEW, "subject": "別の件"}, world.customer_a, key="file-1")
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"

    base = f"/api/v1/tickets/{first.json()['id']}"
    reply = await post(client, f"{base}/messages", {"body": "返信"}, world.agent, key="reply-1")
    replay = await post(client, f"{base}/messages", {"body": "返信"}, world.agent, key="reply-1")
    assert replay.json() == reply.json() and await TicketMessage.count() == 1
    status = await post(client, f"{base}/status", {"status": "resolved"}, world.agent, key="status-1")
    assert (await post(client, f"{base}/status", {"status": "resolved"}, world.agent, key="status-1")).json() == status.json()


async def test_a_refused_call_is_not_remembered_under_its_key(client, world):
    refused = await post(client, "/api/v1/tickets", {**NEW, "request_type": "teleport"}, world.customer_a, key="k")
    assert refused.status_code == 422 and await IdempotencyRecord.count() == 0
    assert (await post(client, "/api/v1/tickets", NEW, world.customer_a, key="k")).status_code == 201


async def test_an_overlong_idempotency_key_is_refused(client, world):
    response = await post(client, "/api/v1/tickets", NEW, world.customer_a, key="k" * 256)
    assert response.status_code == 422 and response.json()["field"] == "Idempotency-Key"
    assert await Ticket.count() == 0


async def test_likely_duplicates_before_sending(client, world):
    ticket = (await post(client, "/api/v1/tickets", NEW, world.customer_a)).json()
    response = await client.get("/api/v1/tickets/duplicates", params={"subject": "Re: プリンターに接続できません"},
                                headers=await bearer(world.customer_a2))
    assert [t["id"] for t in response.json()] == [ticket["id"]]
    other = await client.get("/api/v1/tickets/duplicates", params={"subject": NEW["subject"]},
                             headers=await bearer(world.customer_b))
    assert other.json() == []


async def test_the_openapi_document_names_the_operations(client):
    document = (await client.get("/schema/openapi.json")).json()
    operations = {op["operationId"] for path in document["paths"].values() for op in path.values()
                  if isinstance(op, dict) and "operationId" in op}
    assert {"CreateTicket", "ListTickets", "GetTicket", "CreateTicketMessage", "ChangeTicketStatus"} <= operations


async def test_two_simultaneous_calls_with_one_key_file_one_request(client, world):
    import asyncio

    headers = {**await bearer(world.customer_a), "Idempotency-Key": "together"}
    responses = await asyncio.gather(*(client.post("/api/v1/tickets", json=NEW, headers=headers) for _ in range(3)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await Ticket.count() == 1
