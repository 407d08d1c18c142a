"""People and access through the services the pages, the API and the CLI share."""

from __future__ import annotations

import pytest

from app.accounts import services
from app.accounts.security_log import ClientInfo
from app.errors import Duplicate, InvalidInput, NotAllowed, NotFound
from tests.factories import caller, csrf, make_department, make_organization, make_user, sign_in


async def test_a_deactivated_user_is_signed_out_and_cannot_sign_in_again(client):
    admin = await make_user("admin")
    agent = await make_user("agent", email="leaving@vendor.example.jp")
    await sign_in(client, agent)
    assert (await client.get("/account")).status_code == 200
    await services.deactivate_user(caller(admin), agent.id)
    assert (await client.get("/account")).status_code in (302, 303)
    client.cookies.clear()
    await client.get("/login")
    response = await client.post("/login", data={"email": agent.email, "password": "correct horse battery", **csrf(client)})
    assert response.status_code == 401


async def test_a_customer_admin_cannot_touch_another_companys_users_or_staff():
    org_a, org_b = await make_organization(), await make_organization()
    admin_a = caller(await make_user("customer_admin", organization=org_a))
    user_b = await make_user("customer_member", organization=org_b)
    agent = await make_user("agent")
    for user in (user_b, agent):
        with pytest.raises(NotFound):
            await services.deactivate_user(admin_a, user.id)
        with pytest.raises(NotFound):
            await services.set_user_password(admin_a, user.id, "a new password", ClientInfo())
    with pytest.raises(NotFound):
        await services.list_organization_users(admin_a, org_b.id)
    with pytest.raises(NotFound):
        await services.create_customer_user(admin_a, org_b.id, email="x@example.jp", name="x", role="customer_member")


async def test_an_agent_may_look_but_not_manage_people():
    organization = await make_organization()
    agent = caller(await make_user("agent"))
    member = await make_user("customer_member", organization=organization)
    assert [u.id for u in await services.list_organization_users(agent, organization.id)] == [member.id]
    with pytest.raises(NotAllowed):
        await services.deactivate_user(agent, member.id)
    with pytest.raises(NotAllowed):
        await services.create_customer_user(agent, organization.id, email="x@example.jp", name="x", role="customer_member")
    with pytest.raises(NotAllowed):
        await services.create_staff_user(agent, email="y@vendor.example.jp", name="y", role="admin")
    with pytest.raises(NotAllowed):
        await services.create_department(agent, "勝手な部署")
    with pytest.raises(NotAllowed):
        await services.set_routing(agent, organization.id, department_id=None, assignee_id=None)


async def test_customers_cannot_list_staff_or_departments():
    customer = caller(await make_user("customer_admin", organization=await make_organization()))
    with pytest.raises(NotAllowed):
        await services.list_staff(customer)
    with pytest.raises(NotAllowed):
        await services.list_departments(customer)


async def test_departments_have_unique_names():
    admin = caller(await make_user("admin"))
    first = await services.create_department(admin, " サポート部 ")
    assert first.name == "サポート部"
    second = await services.create_department(admin, "開発部")
    with pytest.raises(Duplicate):
        await services.create_department(admin, "サポート部")
    with pytest.raises(Duplicate):
        await services.rename_department(admin, second.id, "サポート部")
    with pytest.raises(NotFound):
        await services.rename_department(admin, 999999, "x")
    assert [d.name for d in await services.list_departments(admin)] == ["サポート部", "開発部"]


async def test_a_new_organisation_starts_without_routing_and_takes_defaults():
    admin = caller(await make_user("admin"))
    organization = await services.create_organization(admin, code="SAKURA", name="株式会社さくら")
    assert organization.default_department_id is None and organization.default_assignee_id is None
    department = await make_department()
    agent = await make_user("agent", department=department)
    routed = await services.set_routing(admin, organization.id, department_id=department.id, assignee_id=agent.id)
    assert (routed.default_department_id, routed.default_assignee_id) == (department.id, agent.id)
    cleared = await services.set_routing(admin, organization.id, department_id=None, assignee_id=None)
    assert cleared.default_assignee_id is None
    with pytest.raises(InvalidInput):
        await services.set_routing(admin, organization.id, department_id=999999, assignee_id=None)
    with pytest.raises(NotFound):
        await services.set_routing(admin, 999999, department_id=None, assignee_id=None)


async def test_only_staff_have_departments():
    admin = caller(await make_user("admin"))
    member = await make_user("customer_member", organization=await make_organization())
    with pytest.raises(InvalidInput):
        await services.set_user_department(admin, member.id, (await make_department()).id)


async def test_a_user_sets_its_own_name_and_language():
    user = caller(await make_user("customer_member", organization=await make_organization()))
    updated = await services.update_profile(user, name=" Jane Doe ", locale="en")
    assert (updated.name, updated.locale) == ("Jane Doe", "en")
    assert (await services.set_own_locale(user, "ja")).locale == "ja"
    with pytest.raises(InvalidInput):
        await services.set_own_locale(user, "de")


async def test_the_same_address_cannot_be_registered_twice_in_any_case():
    admin = caller(await make_user("admin"))
    organization = await make_organization()
    await services.create_customer_user(admin, organization.id, email="Ichiro@Example.jp", name="一郎", role="customer_admin")
    with pytest.raises(Duplicate):
        await services.create_staff_user(admin, email="ichiro@example.JP", name="一郎", role="agent")
