"""The ``mamori`` command: the operator's entry point.

Known failures (bad configuration, unreachable database or Docker Engine, a
rejected file) become one line on stderr and exit status 1 — no traceback.
"""
from __future__ import annotations

import click
from flask.cli import FlaskGroup

from app.cli import accounts, dbcmd, exercises, images, scenarios, serve
from app.migrate import SchemaOutOfDate
from app.scenario import ScenarioError
from app.services.errors import ServiceError
from app.settings import ConfigurationError

KNOWN_ERRORS = (ConfigurationError, ServiceError, SchemaOutOfDate, ScenarioError, images.ImageError)


def _create_app():  # type: ignore[no-untyped-def]
    from app import create_app

    return create_app()


class MamoriGroup(FlaskGroup):
    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except KNOWN_ERRORS as exc:
            message = str(exc).strip() or type(exc).__name__
            raise click.ClickException(message) from None


@click.group(
    cls=MamoriGroup,
    create_app=_create_app,
    add_default_commands=False,
    add_version_option=False,
    load_dotenv=False,
    set_debug_flag=False,
)
def cli() -> None:
    """Mamori (守り): cyber-defense exercise platform."""


for group in (dbcmd.db, accounts.user, accounts.token, exercises.exercise, exercises.roster,
              scenarios.scenario, images.images, serve.serve, serve.setup):
    cli.add_command(group)


def main() -> None:
    cli(prog_name="mamori")
