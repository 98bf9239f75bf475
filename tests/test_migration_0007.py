"""Migration 0007: existing accounts keep working (generation 0) and it downgrades cleanly."""
from __future__ import annotations

from typing import Iterator

import pytest
from sqlalchemy import inspect, text

from app import migrate
from app.db import Database
from tests.conftest import create_postgres_database, drop_postgres_database, postgres_admin_url

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path) -> Iterator[Database]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
        yield database
        database.dispose()
        return
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip("MAMORI_TEST_DATABASE_URL is not set (CI sets it to a PostgreSQL server)")
    url = create_postgres_database(admin)
    database = Database(url)
    try:
        yield database
    finally:
        database.dispose()
        drop_postgres_database(admin, url)


def test_0007_gives_existing_users_generation_0_and_downgrades(empty_database: Database) -> None:
    migrate.upgrade(empty_database, "0006")
    with empty_database.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO users (login, display_name, password_hash, role, active, must_change_password, created_at) "
            "VALUES ('sato', '佐藤', 'x', 'trainee', true, false, CURRENT_TIMESTAMP)"))

    migrate.upgrade(empty_database, "0007")
    with empty_database.engine.connect() as connection:
        assert connection.execute(text("SELECT session_generation FROM users WHERE login = 'sato'")).scalar() == 0
    assert {"login_throttles", "revoked_sessions"} <= empty_database.table_names()

    migrate.downgrade(empty_database, "0006")
    assert not {"login_throttles", "revoked_sessions"} & empty_database.table_names()
    columns = {c["name"] for c in inspect(empty_database.engine).get_columns("users")}
    assert "session_generation" not in columns
    with empty_database.engine.connect() as connection:
        assert connection.execute(text("SELECT display_name FROM users")).scalar() == "佐藤"
