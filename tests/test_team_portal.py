"""The team portal: the clock and briefing on the team page, unread messages, and the team's own score."""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.models import (
    AuditEvent, Exercise, Message, Organisation, ReportVersion, Role, ScoreSource, Team, User,
)
from app.services import injects, ledger, lifecycle, reports, scores, team_scores
from tests.factories import add_member, make_exercise, make_running_exercise, make_user, run_by

BRIEFING_JA = "あなたたちは情報政策課の CSIRT です。"
BRIEFING_EN = "You are the CSIRT of the IT policy division."
REPORT = "first-report"


@dataclass
class World:
    exercise: Exercise
    team_a: Team
    team_b: Team
    trainee_a: User
    instructor: User

    def team(self, suffix: str = "", team: Team | None = None) -> str:
        return f"/teams/{(team or self.team_a).id}{suffix}"

    @property
    def toggle(self) -> str:
        return f"/exercises/{self.exercise.id}/scores/visibility"


@pytest.fixture
def world(db: Session) -> World:
    """A two-team exercise running for 1300 s at speed 1 (day 1, 00:21), its police call done."""
    exercise = make_running_exercise(db, elapsed=1300, fired={"police-call": 1200})
    team_a, team_b = exercise.teams
    trainee_a = make_user(db, role=Role.TRAINEE, login="kenshu-a")
    add_member(db, team_a, trainee_a)
    add_member(db, team_b, make_user(db, role=Role.TRAINEE, login="kenshu-b"))
    instructor = make_user(db, role=Role.INSTRUCTOR, login="sensei")
    run_by(db, exercise, instructor)
    db.commit()
    return World(exercise, team_a, team_b, trainee_a, instructor)


def page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def show_scores(db: Session, world: World, visible: bool = True) -> None:
    db.expire_all()
    team_scores.set_visible(db, db.get(Exercise, world.exercise.id), visible, actor=world.instructor)
    db.commit()


def graded_report(db: Session, world: World, given: int) -> ReportVersion:
    """Team A hands in a version of the first report and the instructor grades it (not released)."""
    exercise, team = db.get(Exercise, world.exercise.id), db.get(Team, world.team_a.id)
    version = reports.submit(db, exercise, team, world.trainee_a, REPORT, text=f"影響範囲：ws01（{given}）")
    reports.grade(db, version, {"scope": given}, "", world.instructor)
    db.commit()
    return version


def release(db: Session, world: World) -> None:
    reports.release(db, db.get(Exercise, world.exercise.id), world.instructor)
    db.commit()


# --- the team page: clock, briefing, unread messages ------------------------------------------------------------


def test_the_team_page_shows_the_clock_and_the_briefing_in_japanese_then_english(client, auth, world) -> None:  # type: ignore[no-untyped-def]
    auth.login("kenshu-a")
    body = page(client, world.team())
    assert "演習時計" in body and "実施中" in body and "1 日間のうち 1 日目" in body
    assert re.search(r'class="clock">00:2[12]<', body), "1300 seconds into day 1"
    assert "ブリーフィング" in body and BRIEFING_JA in body and "みなと市役所" in body and BRIEFING_EN not in body
    assert f'hx-get="{world.team("/status")}"' in body and 'hx-trigger="every 10s"' in body
    assert "/static/vendor/htmx.org/htmx.min.js" in body and "<script>" not in body and "style=" not in body

    client.get("/lang/en")
    body = page(client, world.team())
    assert "Exercise clock" in body and "Day 1 of 1" in body and "Running" in body
    assert BRIEFING_EN in body and "Minato City Hall" in body and BRIEFING_JA not in body
    script = client.get("/static/vendor/htmx.org/htmx.min.js")
    script.close()
    assert script.status_code == 200, "served locally"


def test_the_polled_fragment_follows_the_clock(client, auth, db, world) -> None:  # type: ignore[no-untyped-def]
    auth.login("kenshu-a")
    fragment = page(client, world.team("/status"))
    assert "<html" not in fragment and 'id="team-status"' in fragment and 'hx-trigger="every 10s"' in fragment
    assert "実施中" in fragment and "時計は止まっています" not in fragment

    lifecycle.pause(db, db.get(Exercise, world.exercise.id), actor=None)
    db.commit()
    fragment = page(client, world.team("/status"))
    assert "一時停止" in fragment and "時計は止まっています" in fragment
    assert re.search(r'class="clock">00:2[12]<', fragment), "the paused time stays"


def test_before_the_start_the_clock_says_so(client, auth, db) -> None:  # type: ignore[no-untyped-def]
    exercise = make_exercise(db, teams=1)
    add_member(db, exercise.teams[0], make_user(db, role=Role.TRAINEE, login="early"))
    db.commit()
    auth.login("early")
    fragment = page(client, f"/teams/{exercise.teams[0].id}/status")
    assert "演習はまだ始まっていません。" in fragment and 'class="clock"' not in fragment


def test_unread_messages_are_counted_and_opening_one_marks_it_read_for_that_team_only(  # type: ignore[no-untyped-def]
        client, auth, db, world) -> None:
    exercise = db.get(Exercise, world.exercise.id)
    injects.send(db, exercise, subject="全体連絡", body="全チームへ", teams=None, actor=None)
    injects.send(db, exercise, subject="個別連絡", body="Aチームへ", teams=[1], actor=None)
    db.commit()
    broadcast_a, broadcast_b = (db.scalar(select(Message).where(Message.team_id == t.id, Message.subject_ja == "全体連絡"))
                                for t in (world.team_a, world.team_b))

    auth.login("sensei")
    page(client, world.team(f"/inbox/{broadcast_a.id}"))
    auth.logout()
    auth.login("kenshu-a")
    assert "未読 2 件" in page(client, world.team()), "staff looking in mark nothing read"
    inbox = page(client, world.team("/inbox"))
    assert inbox.count('<tr class="unread">') == 2 and inbox.count("未読</span>") == 2

    assert "全チームへ" in page(client, world.team(f"/inbox/{broadcast_a.id}"))
    assert "未読 1 件" in page(client, world.team("/status"))
    assert page(client, world.team("/inbox")).count('<tr class="unread">') == 1
    assert client.get(world.team(f"/inbox/{broadcast_b.id}")).status_code == 404, "another team's copy"
    db.expire_all()
    assert db.get(Message, broadcast_a.id).read_at is not None
    assert db.get(Message, broadcast_b.id).read_at is None, "team B's copy stays unread"

    auth.logout()
    auth.login("kenshu-b")
    assert "未読 1 件" in page(client, world.team("/status", world.team_b))
    assert client.get(world.team("/status")).status_code == 403


def test_the_team_page_names_no_other_team_and_no_other_members(client, auth, db, world) -> None:  # type: ignore[no-untyped-def]
    auth.login("kenshu-a")
    body = page(client, world.team())
    assert "kenshu-a" in body and "kenshu-b" not in body and "Team 02" not in body


# --- the team's score -------------------------------------------------------------------------------------------


def test_until_the_instructor_shows_scores_the_team_sees_no_numbers(client, auth, db, world) -> None:  # type: ignore[no-untyped-def]
    scores.adjust(db, db.get(Exercise, world.exercise.id), db.get(Team, world.team_a.id), 37, "迅速な初動",
                  actor=world.instructor)
    db.commit()
    auth.login("kenshu-a")
    hidden = page(client, world.team("/score"))
    assert "講師はまだ得点を公開していません。" in hidden
    assert "37" not in hidden and "迅速な初動" not in hidden and "合計" not in hidden

    auth.logout()
    auth.login("sensei")
    staff = page(client, world.team("/score"))
    assert "+37" in staff and "迅速な初動" in staff and "チームにはまだこのページは見えていません" in staff

    show_scores(db, world)
    auth.logout()
    auth.login("kenshu-a")
    shown = page(client, world.team("/score"))
    assert 'id="score-total">37<' in shown and "迅速な初動" in shown and "調整" in shown
    assert "1 日目 00:2" in shown, "each line with its exercise time"
    assert "講師はまだ得点を公開していません" not in shown


def test_unreleased_report_points_are_invisible_until_released(client, auth, db, world) -> None:  # type: ignore[no-untyped-def]
    exercise, team = db.get(Exercise, world.exercise.id), db.get(Team, world.team_a.id)
    scores.adjust(db, exercise, team, 30, "迅速な報告", actor=world.instructor)
    db.commit()
    show_scores(db, world)
    first = graded_report(db, world, 15)

    seen = team_scores.visible_score(db, team)
    assert (seen.total, seen.withheld) == (30, 1)
    assert [line.source for line in seen.lines] == [ScoreSource.ADJUSTMENT]
    assert seen.by_source == {ScoreSource.ADJUSTMENT: 30}
    assert all(e.source is not ScoreSource.REPORT for e in seen.events)
    assert ledger.sums(db, exercise)[team.id] == 45, "the ledger itself holds the grade"

    auth.login("kenshu-a")
    before = page(client, world.team("/score"))
    assert 'id="score-total">30<' in before and "+15" not in before and "第一報" not in before
    assert "報告書の採点結果 1 件は、講師が公開するとここに加算されます。" in before

    release(db, world)
    after = page(client, world.team("/score"))
    assert 'id="score-total">45<' in after and "+15" in after and "第一報" in after
    assert "第 1 版を採点：20 点中 15 点" in after
    assert "講師が公開するとここに加算されます" not in after
    seen = team_scores.visible_score(db, team)
    assert (seen.total, seen.withheld, seen.by_source[ScoreSource.REPORT]) == (45, 0, 15)

    # A second, better version: its extra points wait for their own release.
    db.expire_all()
    assert first.released_at is not None
    second = graded_report(db, world, 18)
    assert second.number == 2 and ledger.sums(db, exercise)[team.id] == 48
    assert team_scores.visible_score(db, team).total == 45
    assert 'id="score-total">45<' in page(client, world.team("/score"))
    release(db, world)
    assert team_scores.visible_score(db, team).total == 48
    assert 'id="score-total">48<' in page(client, world.team("/score"))


def test_another_teams_trainee_is_refused_the_score_and_the_status(client, auth, db, world) -> None:  # type: ignore[no-untyped-def]
    show_scores(db, world)
    auth.login("kenshu-b")
    assert client.get(world.team("/score")).status_code == 403
    assert client.get(world.team("/status")).status_code == 403
    assert client.get(world.team()).status_code == 403
    assert page(client, world.team("/score", world.team_b)).count("Team 01") == 0


def test_the_toggle_is_staff_only_and_audited(client, auth, db, world) -> None:  # type: ignore[no-untyped-def]
    auth.login("kenshu-a")
    assert client.post(world.toggle, data={"visible": "1"}).status_code == 403
    db.expire_all()
    assert db.get(Exercise, world.exercise.id).scores_visible is False
    auth.logout()

    auth.login("sensei")
    board = page(client, f"/exercises/{world.exercise.id}/scores")
    assert "非公開" in board and "チームに得点を公開する" in board
    assert client.post(world.toggle, data={"visible": "yes"}).status_code == 400
    shown = client.post(world.toggle, data={"visible": "1"}, follow_redirects=True).get_data(as_text=True)
    assert "チームに得点を公開しました。" in shown and "公開中" in shown and "チームへの得点の公開をやめる" in shown
    db.expire_all()
    assert db.get(Exercise, world.exercise.id).scores_visible is True
    client.post(world.toggle, data={"visible": "0"})
    db.expire_all()
    assert db.get(Exercise, world.exercise.id).scores_visible is False
    audit = [(e.action, e.actor_login, e.exercise_id) for e in db.scalars(
        select(AuditEvent).where(AuditEvent.action.like("score.%")).order_by(AuditEvent.id))]
    assert audit == [("score.show", "sensei", world.exercise.id), ("score.hide", "sensei", world.exercise.id)]

    client.get("/lang/en")
    assert "Show the teams their scores" in page(client, f"/exercises/{world.exercise.id}/scores")


# --- speed: a constant, small number of statements --------------------------------------------------------------


@contextmanager
def counted(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = app.extensions["mamori.db"].engine

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def statements_for(app: Flask, client: FlaskClient, path: str) -> int:
    client.get(path)  # warm: first-request work is not the steady state
    with counted(app) as statements:
        assert client.get(path).status_code == 200
    return len(statements)


def member(db: Session, team: Team, number: int) -> None:
    """A trainee of *team* from a town office (no password hash worth computing: they never log in)."""
    town = Organisation(name=f"{number} 町役場")
    user = User(login=f"member{team.number}-{number}", display_name=f"受講者{number}", password_hash="!",
                role=Role.TRAINEE, organisation=town)
    db.add_all([town, user])
    db.flush()
    add_member(db, team, user)


def grow(db: Session, world: World) -> None:
    """28 more teams with members, messages and score lines; more of all of it for team A."""
    exercise = db.get(Exercise, world.exercise.id)
    for number in range(3, 31):
        team = Team(exercise=exercise, number=number, name=f"Team {number:02d}")
        db.add(team)
        db.flush()
        for index in range(4):
            member(db, team, index)
    for index in range(4):
        member(db, db.get(Team, world.team_a.id), index)
    for _ in range(20):
        injects.send(db, exercise, subject="連絡", body="本文", teams=None, actor=None)
    for team in exercise.teams:
        for _ in range(5):
            scores.adjust(db, exercise, team, 1, "加点", actor=world.instructor)
    db.commit()


def test_the_team_page_and_its_fragment_read_a_constant_small_number_of_rows(app, client, auth, db, world) -> None:  # type: ignore[no-untyped-def]
    show_scores(db, world)
    auth.login("kenshu-a")
    paths = (world.team(), world.team("/status"), world.team("/score"))
    small = {path: statements_for(app, client, path) for path in paths}
    grow(db, world)
    graded_report(db, world, 12)
    large = {path: statements_for(app, client, path) for path in paths}
    assert large == small, "the number of statements does not grow with teams, members, messages or events"
    assert small[world.team("/status")] <= 6 and small[world.team()] <= 12 and small[world.team("/score")] <= 12, small
