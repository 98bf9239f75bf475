"""The ``mamori`` command: the operator's entry point.

Known failures (bad configuration, unreachable database or Docker Engine, a
rejected file) become one line on stderr and exit status 1 — no traceback.
"""
from __future__ import annotations

import click
from flask.cli import NoAppException, ScriptInfo
from sqlalchemy.exc import OperationalError, ProgrammingError

from app.cli import accounts, dbcmd, engine, exercises, images, lifecycle, ranges, rehearse, scenarios, scores, serve  # noqa: F401
from app.migrate import SchemaOutOfDate
from app.scenario import ScenarioError
from app.services.errors import ServiceError
from app.settings import ConfigurationError
from range.errors import RangeError

KNOWN_ERRORS = (ConfigurationError, ServiceError, SchemaOutOfDate, ScenarioError, RangeError)


def _create_app():  # type: ignore[no-untyped-def]
    from app import create_app

    return create_app()


class MamoriGroup(click.Group):
    """A plain group whose commands can use ``with_appcontext`` (the app is made on first use)."""

    def make_context(self, info_name, args, parent=None, **extra):  # type: ignore[no-untyped-def]
        extra.setdefault("obj", ScriptInfo(create_app=_create_app, set_debug_flag=False, load_dotenv_defaults=False))
        return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except KNOWN_ERRORS as exc:
            message = str(exc).strip() or type(exc).__name__
            raise click.ClickException(message) from None
        except NoAppException as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, KNOWN_ERRORS):
                raise click.ClickException(str(cause)) from None
            raise
        except (OperationalError, ProgrammingError) as exc:
            raise click.ClickException(_database_problem(exc)) from None


def _database_problem(exc: Exception) -> str:
    detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    lowered = detail.lower()
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return f"the database has no schema yet ({detail}): run `mamori db upgrade`"
    if "no such column" in lowered or ("column" in lowered and "does not exist" in lowered):
        return f"the database schema is older than this version of Mamori ({detail}): run `mamori db upgrade`"
    return f"cannot use the database: {detail} (check DATABASE_URL)"


@click.group(cls=MamoriGroup)
def cli() -> None:
    """Mamori (守り): cyber-defense exercise platform."""


for group in (dbcmd.db, accounts.user, accounts.token, exercises.exercise, exercises.roster,
              scenarios.scenario, images.images, ranges.host, ranges.team, ranges.ranges_group,
              engine.engine, engine.inject, engine.message, scores.score, serve.serve, serve.setup, rehearse.rehearse):
    cli.add_command(group)


def main() -> None:
    cli(prog_name="mamori")
