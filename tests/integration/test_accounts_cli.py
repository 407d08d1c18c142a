"""`kippu createorg` and `kippu createuser`, run as the real console script on a fresh database.

Each test migrates its own SQLite file in a temporary directory (the committed migrations, as
`kippu migrate` applies them) and runs the commands in a subprocess, like an operator would.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.accounts.passwords import verify_password


@pytest.fixture
def kippu(tmp_path: Path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "VAR_DIR": str(tmp_path),
        "ENVIRONMENT": "test",
        "RUN_SCHEDULER": "false",
    }

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args], env=env, capture_output=True, text=True, timeout=120,
            cwd=Path(__file__).resolve().parents[2],
        )

    assert run("migrate").returncode == 0
    run.database = tmp_path / "cli.sqlite3"
    return run


def rows(database: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(database) as connection:
        return connection.execute(sql).fetchall()


def test_an_operator_creates_an_organisation_and_its_customer_admin(kippu):
    created = kippu("createorg", "--code", "MINATO", "--name", "株式会社みなと商事")
    assert created.returncode == 0, created.stderr
    assert "MINATO" in created.stdout

    user = kippu("createuser", "--email", "Keiri@Minato.example.jp", "--password", "minato-2026",
                 "--org", "MINATO", "--role", "customer_admin", "--name", "経理 花子")
    assert user.returncode == 0, user.stderr
    [(email, name, role, password_hash, code)] = rows(
        kippu.database,
        "SELECT u.email, u.name, u.role, u.password_hash, o.code FROM users u JOIN organizations o ON o.id = u.organization",
    )
    assert (email, name, role, code) == ("keiri@minato.example.jp", "経理 花子", "customer_admin", "MINATO")
    assert verify_password(password_hash, "minato-2026")


def test_an_operator_creates_staff_in_a_department(kippu):
    admin = kippu("createuser", "--email", "admin@vendor.example.jp", "--password", "first admin pw", "--role", "admin")
    assert admin.returncode == 0, admin.stderr
    agent = kippu("createuser", "--email", "agent@vendor.example.jp", "--password", "agent password",
                  "--role", "agent", "--department", "インフラ保守部")
    assert agent.returncode == 0, agent.stderr
    assert "インフラ保守部" in agent.stdout
    staff = rows(
        kippu.database,
        "SELECT u.email, u.role, d.name FROM users u LEFT JOIN departments d ON d.id = u.department ORDER BY u.id",
    )
    assert staff == [("admin@vendor.example.jp", "admin", None), ("agent@vendor.example.jp", "agent", "インフラ保守部")]


def test_the_commands_refuse_bad_input_with_a_clear_message(kippu):
    assert kippu("createorg", "--code", "MINATO", "--name", "株式会社みなと").returncode == 0
    cases = [
        (("createorg", "--code", "MINATO", "--name", "別会社"), "already in use"),
        (("createorg", "--code", "x", "--name", "短すぎ"), "2 to 32"),
        (("createuser", "--email", "a@vendor.example.jp", "--password", "short", "--role", "agent",
          "--department", "新しい部"), "at least 8"),
        (("createuser", "--email", "not-an-address", "--role", "agent"), "not a valid e-mail address"),
        (("createuser", "--email", "c@example.jp", "--role", "customer_member"), "--org ORGCODE is required"),
        (("createuser", "--email", "c@example.jp", "--role", "customer_member", "--org", "NOPE"), "NOPE"),
        (("createuser", "--email", "c@example.jp", "--role", "agent", "--org", "MINATO"), "--org is for customer users"),
        (("createuser", "--email", "c@example.jp", "--role", "superuser"), "Invalid value for '--role'"),
    ]
    for args, message in cases:
        result = kippu(*args)
        assert result.returncode != 0, args
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr, args
    # The refused agent left no department behind.
    assert rows(kippu.database, "SELECT COUNT(*) FROM departments") == [(0,)]

    assert kippu("createuser", "--email", "dup@example.jp", "--role", "finance").returncode == 0
    duplicate = kippu("createuser", "--email", "DUP@example.jp", "--role", "agent")
    assert duplicate.returncode != 0 and "already registered" in duplicate.stderr


def test_a_user_created_without_a_password_is_told_it_cannot_sign_in_yet(kippu):
    result = kippu("createuser", "--email", "later@vendor.example.jp", "--role", "agent")
    assert result.returncode == 0 and "cannot sign in" in result.stdout
    assert rows(kippu.database, "SELECT password_hash FROM users") == [("",)]
