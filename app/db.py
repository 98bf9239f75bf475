"""Engine and sessions. The caller owns the transaction: services never commit."""
from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from app.settings import ConfigurationError


class Database:
    """One engine and its session factory, created from a URL."""

    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
            self.engine: Engine = create_engine(parsed, pool_pre_ping=True)
        except ImportError as exc:
            raise ConfigurationError(
                f"DATABASE_URL {_masked(url)} needs the missing driver {exc.name!r}; "
                "for PostgreSQL write postgresql+psycopg://user:password@host/database"
            ) from None
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            raise ConfigurationError(f"DATABASE_URL {_masked(url)} is not usable: {exc}") from None
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def session(self) -> Session:
        return self.session_factory()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error (CLI, engine)."""
        session = self.session_factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def table_names(self) -> set[str]:
        return set(inspect(self.engine).get_table_names())

    def dispose(self) -> None:
        self.engine.dispose()


def insert_new(session: Session, model: type[Any], **values: Any) -> Any | None:
    """Insert one row unless it would break a unique constraint; its primary key, or ``None``.

    ``INSERT … ON CONFLICT DO NOTHING`` instead of a savepoint: Python's
    sqlite3 driver commits a savepoint that opens a transaction, so an
    IntegrityError caught around ``begin_nested()`` is not portable.
    """
    key = model.__mapper__.primary_key[0]
    statement = _insert(session)(model).values(**values).on_conflict_do_nothing().returning(key)
    return session.execute(statement).scalar()


def upsert_add(session: Session, model: type[Any], key: str, values: dict[str, Any], increments: dict[str, Any]) -> None:
    """Insert *values*, or when the row with that *key* exists add *increments* to its columns (one statement)."""
    statement = _insert(session)(model).values(**values)
    columns = model.__table__.c
    statement = statement.on_conflict_do_update(
        index_elements=[key], set_={name: columns[name] + amount for name, amount in increments.items()})
    session.execute(statement)


def _insert(session: Session) -> Any:
    """The ``insert`` with ``ON CONFLICT`` clauses of the session's database (SQLite or PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only the two supported databases
        raise NotImplementedError(f"ON CONFLICT on {dialect}")
    return insert


def _masked(url: str) -> str:
    """The URL with its password hidden, even when SQLAlchemy cannot parse it."""
    return repr(re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url))


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
