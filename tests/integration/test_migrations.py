"""The committed migrations build exactly the schema the table classes describe."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys

import asyncpg

from app import db
from app.settings import get_settings


def migrate(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def sqlite_schema(path: str) -> set[tuple[str, str, str]]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
    return {
        (kind, name, re.sub(r"\s+", " ", sql)) for kind, name, sql in rows if not name.startswith("migration")
    }


def postgres_schema(url: str) -> str:
    dump = subprocess.run(
        ["pg_dump", "--schema-only", "--no-owner", "--no-privileges", url],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    # Drop comments, pg_dump's per-run \restrict keys and Piccolo's own bookkeeping table.
    lines = [line for line in dump.splitlines() if not line.startswith(("--", "\\restrict", "\\unrestrict"))]
    blocks = [b.strip() for b in "\n".join(lines).split("\n\n") if "migration" not in b]
    return "\n\n".join(sorted(b for b in blocks if b))


async def test_migrations_build_the_schema_of_the_table_classes(tmp_path):
    url = get_settings().database_url
    if db.is_postgres():
        admin_url = os.environ["KIPPU_TEST_POSTGRES"]
        name = url.rsplit("/", 1)[1] + "_migrated"
        connection = await asyncpg.connect(admin_url)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await connection.execute(f'CREATE DATABASE "{name}"')
            migrated_url = url.rsplit("/", 1)[0] + "/" + name
            migrate(migrated_url)
            assert postgres_schema(migrated_url) == postgres_schema(url)
        finally:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await connection.close()
    else:
        migrated = tmp_path / "migrated.sqlite3"
        migrate(f"sqlite:///{migrated}")
        assert sqlite_schema(str(migrated)) == sqlite_schema(str(get_settings().sqlite_path))
