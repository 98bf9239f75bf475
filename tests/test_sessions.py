"""Sessions end when they should, copies of their cookie included (issue 14, item 6).

A "stolen" cookie is the ``mamori_session`` value copied out of one test
client into another, as someone reading it off a shared PC would.
"""
from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cli import cli
from app.models import AuditEvent, RangeHost, RangeState, Role, Team
from app.services import ranges, tokens
from tests.factories import PASSWORD, add_member, make_exercise, make_user

NEW_PASSWORD = "a-brand-new-passphrase"


def signed_in_as(app: Flask, login: str) -> FlaskClient:
    client = app.test_client()
    assert client.post("/login", data={"login": login, "password": PASSWORD}).status_code == 302
    return client


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    cookie = client.get_cookie("mamori_session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("mamori_session", cookie.value)
    return thief


def signed_in(client: FlaskClient) -> bool:
    response = client.get("/")
    assert response.status_code in (200, 302)
    return response.status_code == 200


@pytest.fixture
def user(db: Session) -> str:
    make_user(db, role=Role.INSTRUCTOR, login="sensei")
    db.commit()
    return "sensei"


def test_a_copied_cookie_stops_working_at_logout(app: Flask, user: str) -> None:
    browser = signed_in_as(app, user)
    thief = copy_of(app, browser)
    assert signed_in(thief), "the copy works while the session is open"
    other_pc = signed_in_as(app, user)

    browser.post("/logout")

    assert not signed_in(browser)
    assert not signed_in(thief)
    assert signed_in(other_pc), "logging out ends this session only"


def test_log_out_everywhere_ends_every_session(app: Flask, db: Session, user: str) -> None:
    browser = signed_in_as(app, user)
    other_pc = signed_in_as(app, user)
    thief = copy_of(app, other_pc)
    page = browser.get("/account/password").get_data(as_text=True)
    assert "すべての端末からログアウト" in page

    response = browser.post("/account/logout-everywhere")

    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert not any(signed_in(c) for c in (browser, other_pc, thief))
    assert signed_in(signed_in_as(app, user)), "logging in again works"
    db.rollback()
    assert db.scalars(select(AuditEvent).where(AuditEvent.action == "user.logout_everywhere")).one()


def test_a_password_change_ends_the_other_sessions_but_not_this_one(app: Flask, user: str) -> None:
    browser = signed_in_as(app, user)
    before_change = copy_of(app, browser)
    other_pc = signed_in_as(app, user)

    response = browser.post("/account/password",
                            data={"current": PASSWORD, "new": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    assert response.status_code == 302
    assert signed_in(browser)
    assert not signed_in(other_pc)
    assert not signed_in(before_change), "a cookie copied before the change is dead"


def test_a_reset_ends_every_session(app: Flask, user: str) -> None:
    browser = signed_in_as(app, user)
    thief = copy_of(app, browser)

    result = app.test_cli_runner().invoke(cli, ["user", "reset-password", user])

    assert result.exit_code == 0
    assert not signed_in(browser) and not signed_in(thief)


def test_deactivation_ends_sessions_for_good_and_stops_tokens(app: Flask, db: Session, user: str) -> None:
    raw = tokens.issue(db, make_user(db, role=Role.INSTRUCTOR, login="script-owner"), "t", actor=None)
    db.commit()
    browser = signed_in_as(app, user)
    thief = copy_of(app, browser)
    api = app.test_client()
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    runner = app.test_cli_runner()

    for login in (user, "script-owner"):
        assert runner.invoke(cli, ["user", "deactivate", login]).exit_code == 0
    assert not signed_in(browser) and not signed_in(thief)
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 401

    # Activating the account again does not bring the old sessions back.
    assert runner.invoke(cli, ["user", "activate", user]).exit_code == 0
    assert not signed_in(browser) and not signed_in(thief)


def test_the_terminal_handshake_refuses_a_logged_out_cookie(app: Flask, db: Session) -> None:
    exercise = make_exercise(db)
    team: Team = exercise.teams[0]
    row = ranges.team_range(db, team)
    row.state, row.gateway_port = RangeState.READY, 9
    row.hosts = [RangeHost(name="ws01", state="running", addresses={})]
    add_member(db, team, make_user(db, role=Role.TRAINEE, login="kenshu"))
    db.commit()
    browser = signed_in_as(app, "kenshu")
    thief = copy_of(app, browser)
    path = f"/teams/{team.id}/terminal/ws01/socket"
    headers = {"Origin": "http://localhost"}  # not an upgrade: a live session gets as far as 400

    assert thief.get(path, headers=headers).status_code == 400
    browser.post("/logout")

    refused = thief.get(path, headers=headers)
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/login")
