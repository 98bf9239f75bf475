"""Account commands an operator needs when something goes wrong: deactivate, revoke, reset."""
from __future__ import annotations

from sqlalchemy import select

from app.cli import cli
from app.models import AuditEvent, Role
from app.services import roster, tokens
from tests.factories import make_exercise, make_user


def test_deactivate_stops_login_and_tokens(app, db, client, auth) -> None:  # type: ignore[no-untyped-def]
    user = make_user(db, role=Role.INSTRUCTOR, login="sensei")
    raw = tokens.issue(db, user, "script", actor=user)
    db.commit()
    runner = app.test_cli_runner()
    assert runner.invoke(cli, ["user", "deactivate", "sensei"]).exit_code == 0
    assert auth.login("sensei").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    assert runner.invoke(cli, ["user", "activate", "sensei"]).exit_code == 0
    assert auth.login("sensei").status_code == 302


def test_token_revoke_from_the_cli_is_audited_without_an_actor(app, db, client) -> None:  # type: ignore[no-untyped-def]
    trainee = make_user(db, role=Role.TRAINEE, login="kenshu")
    db.commit()
    runner = app.test_cli_runner()
    raw = runner.invoke(cli, ["token", "create", "kenshu"]).output.strip()
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    result = runner.invoke(cli, ["token", "revoke", "kenshu"])
    assert result.exit_code == 0 and "revoked 1" in result.output
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    issued = db.scalars(select(AuditEvent).where(AuditEvent.action == "token.issue")).one()
    assert issued.actor_id is None and issued.target == f"user:{trainee.login}"


def test_roster_teams_may_be_written_loosely(db) -> None:  # type: ignore[no-untyped-def]
    exercise = make_exercise(db, teams=3)
    data = ("name,organisation,login,team\n"
            "山田 太郎,みなと市,yamada,Team 01\n"
            "佐藤 花子,みなと市,sato,team 2\n"
            "鈴木 一郎,みなと市,suzuki,チーム３\n"
            "高橋 次郎,みなと市,takahashi,01\n").encode()
    imported = roster.import_roster(db, exercise, data, actor=None)
    assert [t.team for t in imported] == ["Team 01", "Team 02", "Team 03", "Team 01"]


def test_the_generated_first_admin_password_must_be_changed(app, db, client, auth) -> None:  # type: ignore[no-untyped-def]
    result = app.test_cli_runner().invoke(cli, ["setup"], env={"MAMORI_ADMIN_PASSWORD": ""})
    assert result.exit_code == 0, result.output
    password = result.output.split("password ")[1].split()[0]
    assert auth.login("admin", password).status_code == 302
    assert client.get("/").headers["Location"].endswith("/account/password")


def test_names_with_line_breaks_are_refused(db) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from app.services import exercises
    from app.services.errors import InvalidInput
    from tests.factories import make_scenario

    scenario = make_scenario(db, slug="nl")
    with pytest.raises(InvalidInput, match="line breaks"):
        exercises.create_exercise(
            db, scenario, exercises.ExerciseDraft(name="Day1\nHost *\n ProxyCommand x", team_count=1), actor=None)


def test_user_create_refuses_control_characters_in_the_name(app, db) -> None:  # type: ignore[no-untyped-def]
    from app.models import User

    runner = app.test_cli_runner()
    for name in ("悪意\x1b]0;pwned\x07", "右から\u202e左へ", "改行\n入り", "C1\x9bコード"):
        result = runner.invoke(cli, ["user", "create", "osc", "--name", name])
        assert result.exit_code == 1, name
        assert "control characters" in result.output
    assert db.scalar(select(User).where(User.login == "osc")) is None


def test_user_list_never_sends_a_stored_escape_to_the_terminal(app, db) -> None:  # type: ignore[no-untyped-def]
    """A name stored before control characters were refused is shown with its codes spelled out."""
    user = make_user(db, login="legacy")
    user.display_name = "旧\x1b]0;pwned\x07名"
    db.commit()

    result = app.test_cli_runner().invoke(cli, ["user", "list"])

    assert result.exit_code == 0
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "legacy\ttrainee\t旧\\x1b]0;pwned\\x07名" in result.output
