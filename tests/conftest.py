"""Shared fixtures, in the shape of Flask's tutorial: app, client, runner, auth.

The database is real: SQLite by default, PostgreSQL when
``MAMORI_TEST_DATABASE_URL`` names a server role that may create databases.
Each test session migrates one fresh database; each test empties its tables.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app import create_app, migrate
from app.db import Database
from app.models import Base
from app.services import scenarios
from app.settings import Settings

KEPT_TABLES = {"prefectures", "alembic_version"}
# Ranges made by this test session carry this prefix, so its clean-up never touches
# another session's (a CI run and a developer's run may share one Docker Engine).
SESSION_TAG = f"pytest{uuid.uuid4().hex[:4]}"


def postgres_admin_url() -> str | None:
    return os.environ.get("MAMORI_TEST_DATABASE_URL") or None


def create_postgres_database(admin_url: str) -> str:
    """Create an empty database on the server of *admin_url*; return its URL."""
    name = f"mamori_test_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    admin = postgres_admin_url()
    if admin:
        url = create_postgres_database(admin)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'mamori.sqlite3'}"
    database = Database(url)
    migrate.upgrade(database)
    database.dispose()
    yield url
    if admin:
        drop_postgres_database(admin, url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings.from_env(
        environ={"DATABASE_URL": database_url, "TZ": "Asia/Tokyo",
                 # Range labels start with "pytest-" so leftovers are found and removed.
                 "MAMORI_INSTANCE_ID": f"{SESSION_TAG}{uuid.uuid4().hex[:4]}"},
        instance_path=tmp_path / "instance",
        testing=True,
    )


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    flask_app = create_app(settings)
    flask_app.config["WTF_CSRF_ENABLED"] = False
    yield flask_app
    database: Database = flask_app.extensions["mamori.db"]
    with database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in KEPT_TABLES:
                connection.execute(table.delete())
    database.dispose()


@pytest.fixture(autouse=True)
def _fresh_scenario_models() -> Iterator[None]:
    """Each test's scenarios are parsed afresh: tests empty the tables (ids come again) and edit documents."""
    yield
    scenarios.forget_parsed()


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """A session on the app's database; tests commit what the app must see."""
    session = app.extensions["mamori.db"].session()
    yield session
    session.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


class AuthActions:
    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    def login(self, login: str, password: str = "correct-horse-battery"):  # type: ignore[no-untyped-def]
        return self._client.post("/login", data={"login": login, "password": password})

    def logout(self):  # type: ignore[no-untyped-def]
        return self._client.post("/logout")


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


# The slowest tests (each bundled scenario's rehearsal takes minutes, the browser journey one or two).
SLOW_FIRST = ("tests/test_rehearsal.py::", "tests/browser/test_journey.py::")


def slow_first(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    """With several xdist workers, put one slow test at the head of each worker's first batch.

    xdist's load scheduling hands each worker a first batch of consecutive
    tests (a quarter of its share), then more as it goes. Left where they are,
    the rehearsals come last and run alone at the end; placed so, each worker
    starts with one and they overlap with everything else.
    """
    slow = [item for item in items if item.nodeid.startswith(SLOW_FIRST)]
    if workers < 2 or not slow:
        return items
    rest = [item for item in items if not item.nodeid.startswith(SLOW_FIRST)]
    batch = max(len(items) // workers // 4, 2) - 1  # the others in a worker's first batch (LoadScheduling)
    ordered: list[pytest.Item] = []
    for worker in range(workers):
        ordered += slow[worker:worker + 1] + rest[worker * batch:(worker + 1) * batch]
    return ordered + slow[workers:] + rest[workers * batch:]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the slow tests for the workers; on PostgreSQL, run only the tests that use its database (the
    ``database_url`` fixture, or marked ``postgres``): the others would repeat the SQLite pass exactly."""
    items[:] = slow_first(items, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    if not postgres_admin_url():
        return
    repeat = pytest.mark.skip(reason="uses no database: the SQLite pass runs it")
    for item in items:
        if "database_url" not in getattr(item, "fixturenames", ()) and item.get_closest_marker("postgres") is None:
            item.add_marker(repeat)
