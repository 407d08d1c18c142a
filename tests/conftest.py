"""Test set-up: a fresh database per run (SQLite by default, PostgreSQL with KIPPU_TEST_POSTGRES).

KIPPU_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/postgres makes the run create its own
database `kippu_test_<pid>` there and drop it afterwards, so parallel runs (and `make test`'s
pytest-xdist workers, each a process of its own) never meet.

The tests' data is thrown away after the run, so it need not survive a power cut: the SQLite file
lives in memory-backed /dev/shm when the machine has it, and the PostgreSQL test database commits
without waiting for its WAL flush (`synchronous_commit = off`, that database only). Both halve the
time of the write-heavy tests and change nothing the tests check.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

_var = Path(tempfile.mkdtemp(prefix="kippu-test-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
_admin_url = os.environ.get("KIPPU_TEST_POSTGRES")
_test_db = f"kippu_test_{os.getpid()}"
os.environ["ENVIRONMENT"] = "test"
os.environ["VAR_DIR"] = str(_var)
os.environ["SMTP_HOST"] = ""
# The suite sends thousands of API calls a minute from one address (the contract test above all);
# tests/integration/test_api_rate_limit.py sets its own small limit.
os.environ["API_RATE_LIMIT_PER_MINUTE"] = "1000000"
if _admin_url:
    os.environ["DATABASE_URL"] = _admin_url.rsplit("/", 1)[0] + "/" + _test_db
else:
    os.environ["DATABASE_URL"] = f"sqlite:///{_var / 'test.sqlite3'}"

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import pytest  # noqa: E402

import app  # noqa: E402,F401
from app import db  # noqa: E402
from app.settings import get_settings  # noqa: E402


async def _create_postgres_database() -> None:
    connection = await asyncpg.connect(_admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{_test_db}"')
        await connection.execute(f'CREATE DATABASE "{_test_db}"')
        await connection.execute(f'ALTER DATABASE "{_test_db}" SET synchronous_commit = off')
    finally:
        await connection.close()


async def _drop_postgres_database() -> None:
    connection = await asyncpg.connect(_admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{_test_db}" WITH (FORCE)')
    finally:
        await connection.close()


def pytest_report_header(config):
    return f"kippu database: {'PostgreSQL ' + _test_db if _admin_url else 'SQLite'}"


@pytest.fixture(scope="session", autouse=True)
async def database():
    if _admin_url:
        await _create_postgres_database()
        await db.engine().start_connection_pool(min_size=1, max_size=10)
    await db.prepare_connection()
    await db.create_schema_from_tables()
    yield
    if _admin_url:
        await db.engine().close_connection_pool()
        await _drop_postgres_database()
    shutil.rmtree(_var, ignore_errors=True)


@pytest.fixture(autouse=True)
async def empty_database(database):
    await db.delete_all_rows()
    yield


@pytest.fixture(scope="session")
def settings():
    return get_settings()


@pytest.fixture
async def client():
    """An HTTP client on the real app (sessions, CSRF, templates, exception handlers)."""
    from app.server import create_app

    # Same event loop as the tests (the database pool lives there), so plain httpx on ASGI.
    transport = httpx.ASGITransport(app=create_app(), raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as test_client:
        yield test_client




@pytest.fixture
async def open_browser():
    """More browser-like clients on one app, each with its own cookies (several people, or one
    person on several machines)."""
    from app.server import create_app

    app = create_app()
    clients: list[httpx.AsyncClient] = []

    async def open_one() -> httpx.AsyncClient:
        test_client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=True), base_url="http://testserver.local"
        )
        clients.append(test_client)
        return test_client

    yield open_one
    for test_client in clients:
        await test_client.aclose()
