"""``mamori db``: schema migrations."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from app import migrate
from app.cli.context import database


@click.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command()
@click.argument("revision", default="head")
@with_appcontext
def upgrade(revision: str) -> None:
    """Upgrade the database to REVISION (default: the newest)."""
    migrate.upgrade(database(), revision)
    click.echo(f"database at {migrate.current_revision(database())} ({database().url})")


@db.command()
@click.argument("revision")
@with_appcontext
def downgrade(revision: str) -> None:
    """Downgrade the database to REVISION (``base`` empties it)."""
    migrate.downgrade(database(), revision)
    click.echo(f"database at {migrate.current_revision(database()) or 'base'}")


@db.command()
@with_appcontext
def current() -> None:
    """Print the database's migration and the newest one."""
    click.echo(f"database: {database().url}")
    click.echo(f"current: {migrate.current_revision(database()) or '(empty)'}")
    click.echo(f"newest:  {migrate.head_revision()}")
