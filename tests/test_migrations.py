"""The schema is made only by migrations, and the migrations agree with the models."""
from __future__ import annotations

from typing import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select, text

from app import migrate
from app.db import Database
from app.models import Base, Prefecture
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


def test_upgrade_to_head_matches_the_models(empty_database: Database) -> None:
    assert empty_database.table_names() == set()
    migrate.upgrade(empty_database)
    assert migrate.current_revision(empty_database) == migrate.head_revision()
    with empty_database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], f"models and migrations disagree: {differences}"


def test_upgrade_loads_the_47_prefectures(empty_database: Database) -> None:
    migrate.upgrade(empty_database)
    with empty_database.session() as session:
        assert session.scalar(select(func.count()).select_from(Prefecture)) == 47
        assert session.get(Prefecture, 13).name_ja == "東京都"
        assert session.get(Prefecture, 47).name_en == "Okinawa"


def test_downgrade_to_base_removes_every_table(empty_database: Database) -> None:
    migrate.upgrade(empty_database)
    migrate.downgrade(empty_database, "base")
    assert empty_database.table_names() <= {"alembic_version"}
    assert migrate.current_revision(empty_database) is None
    migrate.upgrade(empty_database)
    assert set(Base.metadata.tables) <= empty_database.table_names()


def test_require_current_names_the_fix(empty_database: Database) -> None:
    with pytest.raises(migrate.SchemaOutOfDate, match="mamori db upgrade"):
        migrate.require_current(empty_database)
    migrate.upgrade(empty_database)
    migrate.require_current(empty_database)


def _scenario_and_exercise(connection, state: str) -> None:  # type: ignore[no-untyped-def]
    """One scenario and one exercise in *state*, written as the early schema has them (no models)."""
    connection.execute(text(
        "INSERT INTO scenarios (slug, version, content_hash, title_ja, title_en, level, days, "
        "source_path, source_text, document, registered_at) VALUES ('s', '1', 'h', 'タイトル', 't', "
        "'beginner', 1, 'p', 'x', '{}', CURRENT_TIMESTAMP)"))
    connection.execute(text(
        "INSERT INTO exercises (name, scenario_id, state, days, current_day, venue, created_at) "
        "VALUES ('演習', (SELECT id FROM scenarios), :state, 1, 1, '', CURRENT_TIMESTAMP)"), {"state": state})


def test_upgrading_keeps_existing_exercises(empty_database: Database) -> None:
    migrate.upgrade(empty_database, "0001")
    with empty_database.engine.begin() as connection:
        _scenario_and_exercise(connection, "draft")
    migrate.upgrade(empty_database)
    with empty_database.engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM exercises")).scalar() == "演習"
        assert connection.execute(text("SELECT title_ja FROM scenarios")).scalar() == "タイトル"


def test_an_unknown_revision_is_one_clear_error(empty_database: Database) -> None:
    from app.settings import ConfigurationError

    with pytest.raises(ConfigurationError, match="9999"):
        migrate.upgrade(empty_database, "9999")


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


def test_0011_gives_existing_report_versions_revision_1_and_downgrades(empty_database: Database) -> None:
    migrate.upgrade(empty_database, "0010")
    with empty_database.engine.begin() as connection:
        _scenario_and_exercise(connection, "running")
        connection.execute(text(
            "INSERT INTO teams (exercise_id, number, name) VALUES ((SELECT id FROM exercises), 1, 'Team 01')"))
        connection.execute(text(
            "INSERT INTO report_versions (exercise_id, team_id, report_id, number, status, text, updated_at, "
            "scores, comment, day, exercise_seconds, timeline_seconds) VALUES ((SELECT id FROM exercises), "
            "(SELECT id FROM teams), 'first-report', 1, 'draft', '下書き', CURRENT_TIMESTAMP, '{}', '', 1, 0, 0)"))

    migrate.upgrade(empty_database, "0011")
    with empty_database.engine.connect() as connection:
        assert connection.execute(text("SELECT revision, text FROM report_versions")).one() == (1, "下書き")

    migrate.downgrade(empty_database, "0010")
    columns = {c["name"] for c in inspect(empty_database.engine).get_columns("report_versions")}
    assert "revision" not in columns
    with empty_database.engine.connect() as connection:
        assert connection.execute(text("SELECT text FROM report_versions")).scalar() == "下書き"


def test_0012_adds_team_variables_keeping_teams_and_downgrades(empty_database: Database) -> None:
    migrate.upgrade(empty_database, "0011")
    with empty_database.engine.begin() as connection:
        _scenario_and_exercise(connection, "running")
        connection.execute(text(
            "INSERT INTO teams (exercise_id, number, name) VALUES ((SELECT id FROM exercises), 1, 'Team 01')"))

    migrate.upgrade(empty_database, "0012")
    with empty_database.engine.begin() as connection:
        assert connection.execute(text("SELECT name, variables FROM teams")).one() == ("Team 01", None)
        assert connection.execute(text("SELECT variable_seed FROM exercises")).scalar().startswith("exercise-")
        connection.execute(text("UPDATE teams SET variables = '{\"c2_domain\": \"x.example\"}'"))

    migrate.downgrade(empty_database, "0011")
    assert "variables" not in {c["name"] for c in inspect(empty_database.engine).get_columns("teams")}
    assert "variable_seed" not in {c["name"] for c in inspect(empty_database.engine).get_columns("exercises")}
    with empty_database.engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM teams")).scalar() == "Team 01"
