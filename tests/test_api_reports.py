"""A team's reports over the JSON API: the portal's rules, and 409 with the current version instead of an
overwrite when a team-mate saved since."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Exercise, ReportStatus, ReportVersion, Role, Team, User
from app.services import reports, tokens
from tests.factories import add_member, make_running_exercise, make_user, run_by

REPORT = "first-report"


@dataclass
class World:
    exercise: Exercise
    team: Team
    instructor: User
    tokens: dict[str, str]

    def path(self, suffix: str = "") -> str:
        return f"/api/v1/teams/{self.team.id}/reports{suffix}"


@pytest.fixture
def world(app: Flask, db: Session) -> World:
    exercise = make_running_exercise(db, elapsed=3270, fired={"police-call": 1200})  # due at 50:00, now 54:30
    team = exercise.teams[0]
    users = {"sato": make_user(db, login="sato", display_name="佐藤 花子"),
             "suzuki": make_user(db, login="suzuki", display_name="鈴木 一郎"),
             "sensei": make_user(db, role=Role.INSTRUCTOR, login="sensei")}
    add_member(db, team, users["sato"])
    add_member(db, team, users["suzuki"])
    run_by(db, exercise, users["sensei"])
    issued = {name: tokens.issue(db, user, "test", actor=user) for name, user in users.items()}
    db.commit()
    return World(exercise, team, users["sensei"], issued)


def call(client: FlaskClient, world: World, who: str, method: str, path: str, **kwargs):  # type: ignore[no-untyped-def]
    return client.open(path, method=method, headers={"Authorization": f"Bearer {world.tokens[who]}"}, **kwargs)


def first_report(client: FlaskClient, world: World, who: str = "sato") -> dict:
    response = call(client, world, who, "GET", world.path())
    assert response.status_code == 200, response.get_json()
    return next(r for r in response.get_json() if r["id"] == REPORT)


def stored(db: Session, team: Team) -> list[ReportVersion]:
    db.expire_all()
    return list(db.scalars(select(ReportVersion).where(ReportVersion.team_id == team.id)
                           .order_by(ReportVersion.number)))


def test_a_save_from_an_old_base_is_409_with_the_team_mate_s_version_and_nothing_written(client, db, world) -> None:  # type: ignore[no-untyped-def]
    listed = first_report(client, world)
    assert (listed["base"], listed["draft"], listed["versions"]) == ("0.0", None, [])
    assert listed["due"]["day"] == 1 and listed["due"]["exercise_seconds"] == 3000.0
    assert listed["overdue_minutes"] == 4 and listed["submitted"] is False

    saved = call(client, world, "sato", "POST", world.path(f"/{REPORT}/draft"),
                 json={"text": "佐藤の文", "base": listed["base"]})
    assert saved.status_code == 200, saved.get_json()
    assert (saved.get_json()["base"], saved.get_json()["status"]) == ("1.1", "draft")

    refused = call(client, world, "suzuki", "POST", world.path(f"/{REPORT}/draft"),
                   json={"text": "鈴木の文", "base": listed["base"]})
    assert refused.status_code == 409
    body = refused.get_json()
    assert "佐藤 花子 saved this draft while you were editing it" in body["message"]
    assert {k: body["current"][k] for k in ("number", "revision", "base", "text", "author", "status")} == {
        "number": 1, "revision": 1, "base": "1.1", "text": "佐藤の文", "author": "佐藤 花子", "status": "draft"}
    assert [(v.text, v.revision) for v in stored(db, world.team)] == [("佐藤の文", 1)]

    again = call(client, world, "suzuki", "POST", world.path(f"/{REPORT}/draft"),
                 json={"text": "佐藤の文\n鈴木の文", "base": body["current"]["base"]})
    assert again.status_code == 200 and again.get_json()["base"] == "1.2"
    assert first_report(client, world)["draft"] == "佐藤の文\n鈴木の文"


def test_submitting_from_an_old_base_is_409_and_from_the_current_one_is_late_and_flagged(client, db, world) -> None:  # type: ignore[no-untyped-def]
    call(client, world, "sato", "POST", world.path(f"/{REPORT}/draft"), json={"text": "下書き", "base": "0.0"})
    call(client, world, "suzuki", "POST", world.path(f"/{REPORT}/draft"), json={"text": "鈴木の版", "base": "1.1"})
    stale = call(client, world, "sato", "POST", world.path(f"/{REPORT}/submit"), json={"text": "佐藤の版", "base": "1.1"})
    assert stale.status_code == 409 and stale.get_json()["current"]["text"] == "鈴木の版"
    assert [v.status for v in stored(db, world.team)] == [ReportStatus.DRAFT]

    handed = call(client, world, "sato", "POST", world.path(f"/{REPORT}/submit"), json={"text": "佐藤の版", "base": "1.2"})
    assert handed.status_code == 201 and handed.get_json()["status"] == "submitted"
    listed = first_report(client, world)
    assert listed["submitted"] is True and listed["late_minutes"] == 5, "due at 50:00, handed in at 54:30 and a little: 5 minutes (rounded up)"
    # A team-mate's page from before the submission: the answer says it was handed in.
    late = call(client, world, "suzuki", "POST", world.path(f"/{REPORT}/draft"), json={"text": "追記", "base": "1.2"})
    assert late.status_code == 409 and "handed in version 1" in late.get_json()["message"]
    assert late.get_json()["current"]["status"] == "submitted"


def test_over_the_limit_is_refused_whole_and_a_write_needs_its_base(client, db, world) -> None:  # type: ignore[no-untyped-def]
    long = call(client, world, "sato", "POST", world.path(f"/{REPORT}/draft"),
                json={"text": "あ" * (reports.MAX_TEXT + 1), "base": "0.0"})
    assert long.status_code == 400
    assert long.get_json()["message"].startswith("The text is over the limit (20000 characters): it has 20001")
    blind = call(client, world, "sato", "POST", world.path(f"/{REPORT}/draft"), json={"text": "base なし"})
    assert blind.status_code == 422 and "base" in blind.get_json()["errors"]["json"]
    assert stored(db, world.team) == []


def test_the_team_sees_a_grade_only_once_released_and_staff_may_read_but_not_write(client, db, world) -> None:  # type: ignore[no-untyped-def]
    call(client, world, "sato", "POST", world.path(f"/{REPORT}/submit"), json={"text": "第一報", "base": "0.0"})
    [version] = stored(db, world.team)
    reports.grade(db, version, {"scope": 12}, "根拠を書きましょう", world.instructor)
    db.commit()
    shown = first_report(client, world)["versions"][0]
    assert shown["status"] == "graded" and "total" not in shown and "comment" not in shown
    reports.release(db, db.get(Exercise, world.exercise.id), world.instructor)
    db.commit()
    shown = first_report(client, world)["versions"][0]
    assert (shown["total"], shown["comment"]) == (12, "根拠を書きましょう")
    assert first_report(client, world, "sensei")["versions"][0]["text"] == "第一報"
    refused = call(client, world, "sensei", "POST", world.path(f"/{REPORT}/draft"), json={"text": "x", "base": "1.1"})
    assert refused.status_code == 403
