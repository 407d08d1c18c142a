"""Billing keeps organisation and user ids as plain integers, and the database still holds them to
real rows (the foreign keys app/piccolo_app.py declares): the books never name an organisation that
does not exist, and an organisation or user the books name is never deleted."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest

from app.accounts.tables import Organization, User
from billing import ledger
from tests.factories import make_organization, make_user

REFUSED = (asyncpg.ForeignKeyViolationError, sqlite3.IntegrityError)


async def test_the_books_refuse_an_organisation_that_does_not_exist():
    with pytest.raises(REFUSED):
        await ledger.grant(999_999, 10, "存在しない得意先", None, key="grant-to-no-organization")


async def test_an_organisation_or_user_named_by_the_books_is_never_deleted():
    organization = await make_organization()
    finance = await make_user("finance")
    await ledger.grant(organization.id, 10, "テスト用ポイント", None, key="grant-by-finance", actor_id=finance.id)

    with pytest.raises(REFUSED):
        await Organization.delete().where(Organization.id == organization.id)
    with pytest.raises(REFUSED):
        await User.delete().where(User.id == finance.id)
    assert await Organization.exists().where(Organization.id == organization.id)
    assert await User.exists().where(User.id == finance.id)
