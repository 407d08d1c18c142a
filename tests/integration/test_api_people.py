"""The people part of the JSON API: tokens, /me, organisations, their users, staff."""

from __future__ import annotations

from app.accounts.tokens import create_token
from tests.factories import PASSWORD, make_department, make_organization, make_user


async def bearer(user) -> dict[str, str]:
    token, _id = await create_token(user.id, "test")
    return {"Authorization": f"Bearer {token}"}


async def test_a_token_for_good_credentials_opens_the_api(client):
    user = await make_user("agent", email="api.client@example.jp")
    response = await client.post("/api/v1/auth/token", json={"email": "API.Client@Example.jp", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["access_token"].startswith("kp_")
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["id"] == user.id


async def test_wrong_credentials_get_401_and_repeated_failures_are_locked_out(client, settings):
    # The failure count lives in the login_failures store, per address: an address of its own.
    await make_user("agent", email="api.lockout@example.jp")
    response = await client.post("/api/v1/auth/token", json={"email": "api.lockout@example.jp", "password": "wrong-password"})
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
    unknown = await client.post("/api/v1/auth/token", json={"email": "nobody@example.jp", "password": PASSWORD})
    assert unknown.status_code == 401
    for _ in range(settings.login_max_failures - 1):
        await client.post("/api/v1/auth/token", json={"email": "api.lockout@example.jp", "password": "wrong-password"})
    locked = await client.post("/api/v1/auth/token", json={"email": "api.lockout@example.jp", "password": PASSWORD})
    assert locked.status_code == 429 and locked.json()["code"] == "too_many_attempts"


async def test_a_deactivated_user_gets_no_token(client):
    await make_user("agent", email="gone@example.jp")
    admin = await make_user("admin")
    headers = await bearer(admin)
    listed = await client.get("/api/v1/staff", headers=headers)
    gone = next(u for u in listed.json()["items"] if u["email"] == "gone@example.jp")
    from app.accounts import services
    from tests.factories import caller

    await services.deactivate_user(caller(admin), gone["id"])
    response = await client.post("/api/v1/auth/token", json={"email": "gone@example.jp", "password": PASSWORD})
    assert response.status_code == 401


async def test_a_malformed_token_request_names_the_field(client):
    response = await client.post("/api/v1/auth/token", json={"email": "a@example.jp"})
    assert response.status_code == 400
    assert any(e["field"] == "password" for e in response.json()["errors"])
    response = await client.post("/api/v1/auth/token", json={"email": 5, "password": PASSWORD})
    assert response.status_code == 400 and any(e["field"] == "email" for e in response.json()["errors"])


async def test_me_describes_a_customer_with_its_organisation(client):
    organization = await make_organization(name="株式会社みなと商事", code="MINATO")
    user = await make_user("customer_member", organization=organization, name="鈴木 一郎")
    response = await client.get("/api/v1/me", headers=await bearer(user))
    assert response.status_code == 200
    body = response.json()
    assert body["role"] == "customer_member" and body["name"] == "鈴木 一郎"
    assert body["organization"] == {"id": organization.id, "code": "MINATO", "name": "株式会社みなと商事"}
    assert body["department"] is None


async def test_me_shows_a_staff_members_department(client):
    department = await make_department("インフラ保守部")
    user = await make_user("agent", department=department)
    body = (await client.get("/api/v1/me", headers=await bearer(user))).json()
    assert body["organization"] is None and body["department"]["name"] == "インフラ保守部"


async def test_the_api_without_a_token_answers_401(client):
    assert (await client.get("/api/v1/me")).status_code == 401
    assert (await client.get("/api/v1/me", headers={"Authorization": "Bearer kp_not-a-token"})).status_code == 401


async def test_admin_creates_an_organisation_and_a_duplicate_code_is_409(client):
    admin = await make_user("admin")
    headers = await bearer(admin)
    response = await client.post("/api/v1/organizations", json={"name": "株式会社さくら物流", "code": "SAKURA"}, headers=headers)
    assert response.status_code == 201
    body = response.json()
    assert body["id"] > 0 and body["code"] == "SAKURA" and body["name"] == "株式会社さくら物流"
    again = await client.post("/api/v1/organizations", json={"name": "別の会社", "code": "SAKURA"}, headers=headers)
    assert again.status_code == 409 and again.json()["code"] == "duplicate"


async def test_a_replayed_idempotency_key_creates_one_organisation(client):
    admin = await make_user("admin")
    headers = {**await bearer(admin), "Idempotency-Key": "org-create-1"}
    first = await client.post("/api/v1/organizations", json={"name": "株式会社あおば", "code": "AOBA"}, headers=headers)
    second = await client.post("/api/v1/organizations", json={"name": "株式会社あおば", "code": "AOBA"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("Idempotent-Replayed") == "true"


async def test_organisation_bodies_are_validated_field_by_field(client):
    headers = await bearer(await make_user("admin"))
    cases = [
        ({"name": "x"}, "code"),
        ({"name": "x", "code": "a"}, "code"),
        ({"name": "x", "code": "has space"}, "code"),
        ({"name": "x" * 201, "code": "LONG"}, "name"),
        ({"name": 12, "code": "NUM"}, "name"),
        ({"name": "x", "code": "EM", "billing_email": "not-an-address"}, "billing_email"),
        ({"name": "x", "code": "EX", "surprise": 1}, "surprise"),
    ]
    for body, field in cases:
        response = await client.post("/api/v1/organizations", json=body, headers=headers)
        assert response.status_code == 400, (body, response.text)
        assert any(field in (e["field"] or "") for e in response.json()["errors"]), (body, response.json())
    not_json = await client.post("/api/v1/organizations", content=b"{", headers={**headers, "Content-Type": "application/json"})
    assert not_json.status_code == 400


async def test_only_an_admin_creates_organisations(client):
    agent = await make_user("agent")
    response = await client.post("/api/v1/organizations", json={"name": "x", "code": "XX"}, headers=await bearer(agent))
    assert response.status_code == 403
    organization = await make_organization()
    customer_admin = await make_user("customer_admin", organization=organization)
    response = await client.post("/api/v1/organizations", json={"name": "x", "code": "XY"}, headers=await bearer(customer_admin))
    assert response.status_code == 403


async def test_staff_list_every_organisation_a_page_at_a_time(client):
    for n in range(5):
        await make_organization(code=f"PAGE{n}")
    headers = await bearer(await make_user("agent"))
    first = (await client.get("/api/v1/organizations?limit=3", headers=headers)).json()
    assert [o["code"] for o in first["items"]] == ["PAGE4", "PAGE3", "PAGE2"]
    second = (await client.get(f"/api/v1/organizations?limit=3&cursor={first['next_cursor']}", headers=headers)).json()
    assert [o["code"] for o in second["items"]] == ["PAGE1", "PAGE0"] and second["next_cursor"] is None
    bad = await client.get("/api/v1/organizations?cursor=garbage", headers=headers)
    assert bad.status_code == 422 and bad.json()["field"] == "cursor"


async def test_a_customer_lists_only_its_own_organisation(client):
    mine = await make_organization(code="MINE")
    await make_organization(code="THEIRS")
    user = await make_user("customer_member", organization=mine)
    body = (await client.get("/api/v1/organizations", headers=await bearer(user))).json()
    assert [o["code"] for o in body["items"]] == ["MINE"] and body["next_cursor"] is None


async def test_a_customer_cannot_see_another_companys_organisation_or_users(client):
    org_a = await make_organization(code="ORGA")
    org_b = await make_organization(code="ORGB")
    admin_a = await make_user("customer_admin", organization=org_a)
    await make_user("customer_member", organization=org_b)
    headers = await bearer(admin_a)
    assert (await client.get(f"/api/v1/organizations/{org_a.id}", headers=headers)).status_code == 200
    assert (await client.get(f"/api/v1/organizations/{org_b.id}", headers=headers)).status_code == 404
    assert (await client.get(f"/api/v1/organizations/{org_b.id}/users", headers=headers)).status_code == 404
    response = await client.post(
        f"/api/v1/organizations/{org_b.id}/users",
        json={"email": "intruder@example.jp", "name": "侵入者", "role": "customer_admin"},
        headers=headers,
    )
    assert response.status_code == 404
    assert (await client.get("/api/v1/organizations/999999", headers=headers)).status_code == 404


async def test_a_customer_admin_adds_a_member_to_its_own_organisation(client):
    organization = await make_organization()
    customer_admin = await make_user("customer_admin", organization=organization)
    headers = await bearer(customer_admin)
    response = await client.post(
        f"/api/v1/organizations/{organization.id}/users",
        json={"email": "New.Member@Example.JP", "name": "新人 花子", "role": "customer_member", "password": "long enough pw"},
        headers=headers,
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "new.member@example.jp" and body["organization_id"] == organization.id
    assert body["can_sign_in"] is True
    token = await client.post("/api/v1/auth/token", json={"email": "new.member@example.jp", "password": "long enough pw"})
    assert token.status_code == 200
    users = (await client.get(f"/api/v1/organizations/{organization.id}/users", headers=headers)).json()["items"]
    assert {u["email"] for u in users} == {customer_admin.email, "new.member@example.jp"}


async def test_a_customer_member_cannot_add_users(client):
    organization = await make_organization()
    member = await make_user("customer_member", organization=organization)
    response = await client.post(
        f"/api/v1/organizations/{organization.id}/users",
        json={"email": "x@example.jp", "name": "x", "role": "customer_member"},
        headers=await bearer(member),
    )
    assert response.status_code == 403


async def test_a_duplicate_email_is_409_and_a_customer_cannot_be_made_staff(client):
    organization = await make_organization()
    await make_user("agent", email="taken@example.jp")
    headers = await bearer(await make_user("admin"))
    response = await client.post(
        f"/api/v1/organizations/{organization.id}/users",
        json={"email": "TAKEN@example.jp", "name": "x", "role": "customer_member"},
        headers=headers,
    )
    assert response.status_code == 409 and response.json()["code"] == "duplicate"
    wrong_role = await client.post(
        f"/api/v1/organizations/{organization.id}/users",
        json={"email": "y@example.jp", "name": "y", "role": "admin"},
        headers=headers,
    )
    assert wrong_role.status_code == 400 and wrong_role.json()["errors"][0]["field"] == "role"
    short_password = await client.post(
        f"/api/v1/organizations/{organization.id}/users",
        json={"email": "z@example.jp", "name": "z", "role": "customer_member", "password": "short"},
        headers=headers,
    )
    assert short_password.status_code == 400 and short_password.json()["errors"][0]["field"] == "password"


async def test_a_user_created_without_a_password_cannot_sign_in(client):
    organization = await make_organization()
    headers = await bearer(await make_user("admin"))
    response = await client.post(
        f"/api/v1/organizations/{organization.id}/users",
        json={"email": "later@example.jp", "name": "後で 設定", "role": "customer_admin"},
        headers=headers,
    )
    assert response.status_code == 201 and response.json()["can_sign_in"] is False
    token = await client.post("/api/v1/auth/token", json={"email": "later@example.jp", "password": ""})
    assert token.status_code == 400
    token = await client.post("/api/v1/auth/token", json={"email": "later@example.jp", "password": "anything-at-all"})
    assert token.status_code == 401


async def test_an_admin_creates_staff_in_a_department_given_by_name(client):
    department = await make_department("アプリ保守部")
    headers = await bearer(await make_user("admin"))
    response = await client.post(
        "/api/v1/staff",
        json={"email": "tanaka@vendor.example.jp", "name": "田中 健", "role": "agent", "department": "アプリ保守部",
              "password": "a good password"},
        headers=headers,
    )
    assert response.status_code == 201
    body = response.json()
    assert body["role"] == "agent" and body["department_id"] == department.id and body["organization_id"] is None
    unknown = await client.post(
        "/api/v1/staff",
        json={"email": "x@vendor.example.jp", "name": "x", "role": "agent", "department": "存在しない部"},
        headers=headers,
    )
    assert unknown.status_code == 422 and unknown.json()["field"] == "department"
    customer_role = await client.post(
        "/api/v1/staff", json={"email": "c@vendor.example.jp", "name": "c", "role": "customer_admin"}, headers=headers
    )
    assert customer_role.status_code == 400


async def test_an_agent_cannot_create_staff(client):
    agent = await make_user("agent")
    response = await client.post(
        "/api/v1/staff", json={"email": "boss@vendor.example.jp", "name": "x", "role": "admin"}, headers=await bearer(agent)
    )
    assert response.status_code == 403


async def test_a_customer_cannot_create_staff_or_list_them(client):
    organization = await make_organization()
    customer_admin = await make_user("customer_admin", organization=organization)
    headers = await bearer(customer_admin)
    response = await client.post(
        "/api/v1/staff", json={"email": "boss@vendor.example.jp", "name": "x", "role": "admin"}, headers=headers
    )
    assert response.status_code == 403
    assert (await client.get("/api/v1/staff", headers=headers)).status_code == 403


async def test_the_openapi_document_lists_the_people_endpoints(client):
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    for path in ("/api/v1/auth/token", "/api/v1/me", "/api/v1/organizations", "/api/v1/staff",
                 "/api/v1/organizations/{organization_id}/users"):
        assert path in paths


async def test_invisible_control_characters_are_refused_not_a_server_error(client):
    bad_login = await client.post("/api/v1/auth/token", json={"email": "a\u0000@example.jp", "password": PASSWORD})
    assert bad_login.status_code == 401
    headers = await bearer(await make_user("admin"))
    response = await client.post("/api/v1/organizations", json={"name": "株式会社\u0000ヌル", "code": "NUL"}, headers=headers)
    assert response.status_code == 422 and response.json()["field"] == "name"
    response = await client.post(
        "/api/v1/staff", json={"email": "ok@vendor.example.jp", "name": "x", "role": "agent", "department": "部\u0000"},
        headers=headers,
    )
    assert response.status_code == 422 and response.json()["field"] == "department"
