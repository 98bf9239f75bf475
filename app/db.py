"""Engine and sessions. The caller owns the transaction: services never commit."""
from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator

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


def _masked(url: str) -> str:
    """The URL with its password hidden, even when SQLAlchemy cannot parse it."""
    return repr(re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url))


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
