"""``mamori user`` and ``mamori token``: accounts from the terminal."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.cli.context import database
from app.models import Role
from app.services import accounts, organisations, tokens
from app.services.text import is_plain_text

ROLE_CHOICE = click.Choice([r.value for r in Role])
PREFECTURE = click.IntRange(1, 47)


@click.group()
def user() -> None:
    """User accounts."""


@user.command("create")
@click.argument("login")
@click.option("--name", "display_name", default="", help="Display name (defaults to LOGIN).")
@click.option("--role", type=ROLE_CHOICE, default=Role.INSTRUCTOR.value, show_default=True)
@click.option("--password", envvar="MAMORI_NEW_PASSWORD", default=None,
              help="Password (or MAMORI_NEW_PASSWORD); generated and printed when absent.")
@click.option("--organisation", default="", help="Organisation (所属団体), found by name and prefecture or made.")
@click.option("--prefecture", type=PREFECTURE, default=None, help="JIS code (1–47) of the organisation's prefecture.")
@with_appcontext
def create_user(login: str, display_name: str, role: str, password: str | None, organisation: str,
                prefecture: int | None) -> None:
    """Create a user; prints a generated one-time password when none is given."""
    generated = password is None
    password = password or accounts.generate_password()
    with database().transaction() as session:
        member_of = organisations.choose(session, existing_id=None, new_name=organisation, prefecture_id=prefecture)
        accounts.create_user(
            session, login=login, display_name=display_name or login, role=Role(role),
            password=password, organisation=member_of, must_change_password=generated,
        )
    click.echo(f"created {role} {login}" + (f" ({_printable(organisation.strip())})" if member_of else ""))
    if generated:
        click.echo(f"one-time password: {password}")


@user.command("list")
@with_appcontext
def list_users() -> None:
    """List every account."""
    with database().transaction() as session:
        for u in accounts.list_users(session):
            state = "" if u.active else " (inactive)"
            member_of = _printable(organisations.label(u.organisation, "en"))
            click.echo(f"{u.login}\t{u.role.value}\t{_printable(u.display_name)}{state}\t{member_of}")


def _printable(value: str) -> str:
    """Names made before control characters were refused: show the codes, never send them to the terminal."""
    return "".join(ch if is_plain_text(ch) else ascii(ch)[1:-1] for ch in value)


@user.command("set-role")
@click.argument("login")
@click.argument("role", type=ROLE_CHOICE)
@with_appcontext
def set_role(login: str, role: str) -> None:
    """Give LOGIN the role ROLE (audited)."""
    with database().transaction() as session:
        accounts.set_role(session, accounts.get_user(session, login), Role(role), actor=None)
    click.echo(f"{login} is now {role}")


@user.command("set-organisation")
@click.argument("login")
@click.argument("name", required=False, default="")
@click.option("--prefecture", type=PREFECTURE, default=None, help="JIS code (1–47) of the organisation's prefecture.")
@with_appcontext
def set_organisation(login: str, name: str, prefecture: int | None) -> None:
    """Put LOGIN in the organisation NAME (found by name and prefecture, or made); without NAME, in none (audited)."""
    with database().transaction() as session:
        chosen = organisations.choose(session, existing_id=None, new_name=name, prefecture_id=prefecture)
        organisations.set_organisation(session, accounts.get_user(session, login), chosen, actor=None)
        label = organisations.label(chosen, "en")
    click.echo(f"{login} is now in {_printable(label)}" if chosen else f"{login} is now in no organisation")


@user.command("deactivate")
@click.argument("login")
@with_appcontext
def deactivate(login: str) -> None:
    """Stop LOGIN from logging in (their sessions and tokens stop working)."""
    with database().transaction() as session:
        accounts.set_active(session, accounts.get_user(session, login), False, actor=None)
    click.echo(f"{login} deactivated")


@user.command("activate")
@click.argument("login")
@with_appcontext
def activate(login: str) -> None:
    """Let LOGIN log in again."""
    with database().transaction() as session:
        accounts.set_active(session, accounts.get_user(session, login), True, actor=None)
    click.echo(f"{login} activated")


@user.command("unlock")
@click.argument("login")
@with_appcontext
def unlock(login: str) -> None:
    """Clear LOGIN's waits after failed logins, from every address (audited)."""
    with database().transaction() as session:
        cleared = accounts.unlock(session, accounts.get_user(session, login), actor=None)
    click.echo(f"{login} unlocked ({cleared} throttled address(es) cleared)")


@user.command("reset-password")
@click.argument("login")
@with_appcontext
def reset_password(login: str) -> None:
    """Give LOGIN a new one-time password and print it (their sessions end)."""
    with database().transaction() as session:
        password = accounts.reset_password(session, accounts.get_user(session, login), actor=None)
    click.echo(f"one-time password for {login}: {password}")


@click.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("login")
@click.option("--name", default="cli", show_default=True)
@with_appcontext
def create_token(login: str, name: str) -> None:
    """Issue an API token for LOGIN and print it (shown once)."""
    with database().transaction() as session:
        raw = tokens.issue(session, accounts.get_user(session, login), name, actor=None)
    click.echo(raw)


@token.command("revoke")
@click.argument("login")
@with_appcontext
def revoke_tokens(login: str) -> None:
    """Revoke every API token of LOGIN."""
    with database().transaction() as session:
        count = tokens.revoke_all(session, accounts.get_user(session, login), actor=None)
    click.echo(f"revoked {count} token(s) of {login}")
