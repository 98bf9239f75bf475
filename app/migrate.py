"""Schema management: Alembic is the only way the schema is made or changed."""
from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from app.db import Database
from app.settings import PROJECT_ROOT, ConfigurationError

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


class SchemaOutOfDate(Exception):
    """The database is not at the newest migration."""


def alembic_config(database: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option(
        "sqlalchemy.url",
        database.engine.url.render_as_string(hide_password=False).replace("%", "%%"),
    )
    return config


def upgrade(database: Database, revision: str = "head") -> None:
    _run(database, command.upgrade, revision)


def downgrade(database: Database, revision: str) -> None:
    _run(database, command.downgrade, revision)


def _run(database: Database, fn, revision: str) -> None:  # type: ignore[no-untyped-def]
    config = alembic_config(database)
    sqlite = database.engine.dialect.name == "sqlite"
    try:
        with database.engine.connect() as connection:
            if sqlite:
                # SQLite rebuilds a table to alter it; with foreign keys on, dropping the
                # old table would fail (or cascade). The pragma only works outside a transaction.
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()
            with connection.begin():
                config.attributes["connection"] = connection
                fn(config, revision)
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()
    except CommandError as exc:
        raise ConfigurationError(f"migration: {exc}") from None
    except OperationalError as exc:
        raise ConfigurationError(
            f"cannot reach the database {database.url}: {_first_line(exc)}"
        ) from None


def head_revision() -> str:
    script = ScriptDirectory.from_config(_script_config())
    head = script.get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(database: Database) -> str | None:
    try:
        with database.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise ConfigurationError(
            f"cannot reach the database {database.url}: {_first_line(exc)}"
        ) from None


def require_current(database: Database) -> None:
    """Raise ``SchemaOutOfDate`` with an actionable message unless at head."""
    current, head = current_revision(database), head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"the database {database.url} is at migration {current or '(empty)'}, "
            f"the newest is {head}: run `mamori db upgrade`"
        )


def _script_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
