"""The review (振り返り): filters, the ranking against the ledger, a team's breakdown, charts, who may look."""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from html import unescape

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.models import (
    Exercise, ExerciseState, InjectRun, Role, RunStatus, ScoreEvent, ScoringRound, Team, TerminalSession, User,
)
from app.runtime import rounds
from app.services import ledger, lifecycle, reports, scenarios, scores, tasks
from scoring.checks import CheckResult
from tests.factories import add_member, make_exercise, make_scenario, make_user, run_by

T0 = datetime(2026, 11, 27, 0, 0, tzinfo=timezone.utc)  # 09:00 in Tokyo
TASK, REPORT, CHECK = "infected-host", "first-report", "beacon-stopped"
PROMPT_JA = "不審な通信をしている端末のホスト名は？"
COMMENT = "影響範囲の根拠をもう少し具体的に書きましょう。"
ADJUSTMENT = "手順書どおりに上長へ報告した"


def at(seconds: float) -> datetime:
    """Wall time *seconds* after the start; at speed 1 it is also the exercise clock."""
    return T0 + timedelta(seconds=seconds)


@dataclass
class World:
    exercise: Exercise
    teams: list[Team]
    instructor: User
    trainee: User  # a member of team 1


def fired(db: Session, exercise: Exercise, team: Team, inject: str, seconds: float) -> None:
    db.add(InjectRun(exercise_id=exercise.id, team_id=team.id, inject_id=inject, status=RunStatus.DONE, day=1,
                     started_seconds=seconds, started_at=at(seconds), finished_at=at(seconds + 1)))


def check_round(db: Session, exercise: Exercise, number: int, results: dict[Team, str]) -> None:
    """One scoring round of the beacon check, written through the engine's own ``record``."""
    check = next(c for c in scenarios.parsed(exercise.scenario).checks if c.id == CHECK)
    seconds = number * 30.0
    when = ledger.at(exercise, 1, seconds)
    scoring_round = ScoringRound(exercise_id=exercise.id, number=number, day=1, exercise_seconds=seconds,
                                 timeline_seconds=seconds, started_at=at(seconds), finished_at=at(seconds))
    db.add(scoring_round)
    db.flush()
    for team, status in results.items():
        previous = 1 if status == "up" else 0
        rounds.record(db, team, scoring_round, check, CheckResult(status, f"beacon {status}"), when,
                      active_since=600.0, previous_streak=previous)


def build_world(db: Session, *, teams: int = 3, name: str = "みなと市 演習", tag: str = "") -> World:
    """A finished three-team exercise of the minimal scenario with every kind of score line.

    Team 1: a hint, a wrong then a right answer, a graded report with a comment, the beacon down then
    contained, a terminal session, an award. Team 2: a later right answer, a report sent back, a penalty.
    Team 3: nothing at all.
    """
    exercise = make_exercise(db, teams=teams, name=name)
    exercise.prefecture_id, exercise.venue = 13, "都庁 第一本庁舎"
    exercise.starts_on = exercise.ends_on = date(2026, 11, 27)
    exercise.state = ExerciseState.READY
    lifecycle.start(db, exercise, actor=None, speed=1, now=T0)
    one, two = exercise.teams[0], exercise.teams[1]
    for team in exercise.teams:
        fired(db, exercise, team, "beacon", 600)
        fired(db, exercise, team, "police-call", 1200)
    instructor = make_user(db, role=Role.INSTRUCTOR, login=f"sensei{tag}", display_name="山田講師")
    run_by(db, exercise, instructor)  # the exercise's instructor
    alice = make_user(db, login=f"kenshu-a{tag}", display_name="佐藤 花子")
    bob = make_user(db, login=f"kenshu-b{tag}", display_name="鈴木 一郎")
    add_member(db, one, alice)
    add_member(db, two, bob)
    db.flush()

    check_round(db, exercise, 21, {one: "down", two: "down"})  # 00:10:30, the beacon runs
    tasks.take_hint(db, exercise, one, alice, TASK, 0, now=at(1250))  # -10
    tasks.submit_answer(db, exercise, one, alice, TASK, "ws02", now=at(1260))  # -5
    tasks.submit_answer(db, exercise, one, alice, TASK, "ｗｓ０１", now=at(1500))  # +50
    check_round(db, exercise, 55, {one: "up", two: "down"})  # 00:27:30, team 1 contained it
    first = reports.submit(db, exercise, one, alice, REPORT, text="影響範囲: ws01 のみ", now=at(1800))
    reports.grade(db, first, {"scope": 15}, COMMENT, instructor, now=at(1900))  # +15
    scores.adjust(db, exercise, one, 5, ADJUSTMENT, actor=instructor, now=at(2000))
    tasks.submit_answer(db, exercise, two, bob, TASK, "ws01", now=at(2400))  # +50
    sent = reports.submit(db, exercise, two, bob, REPORT, text="不明", now=at(2500))
    reports.request_revision(db, sent, "影響範囲が書かれていません。", instructor, now=at(2600))
    scores.adjust(db, exercise, two, -7, "手順違反", actor=instructor, now=at(2700))
    db.add(TerminalSession(exercise_id=exercise.id, team_id=one.id, user_id=alice.id, host="ws01", account="staff",
                           started_at=at(1300), ended_at=at(1420), recording="recordings/x.cast"))
    db.commit()
    return World(exercise, list(exercise.teams), instructor, alice)


def page(client: FlaskClient, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code)
    return response.get_data(as_text=True)


def cells(html: str, *row_text: str) -> list[str]:
    """The text of each cell of the first table row containing every one of *row_text*."""
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S):
        if all(t in row for t in row_text):
            return [unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
    raise AssertionError(f"no row with {row_text!r}")


def chart_data(html: str, element_id: str) -> dict:
    found = re.search(rf'<script type="application/json" id="{element_id}"[^>]*>(.*?)</script>', html, re.S)
    assert found, f"no chart data {element_id}"
    return json.loads(found.group(1))


@pytest.fixture
def world(db: Session) -> World:
    return build_world(db)


@pytest.fixture
def staff(client: FlaskClient, auth, world: World) -> FlaskClient:  # type: ignore[no-untyped-def]
    auth.login("sensei")
    return client


# --- searching exercises ------------------------------------------------------------------------------------------


def test_the_filters_narrow_the_list_by_prefecture_date_level_and_scenario(db, client, auth) -> None:  # type: ignore[no-untyped-def]
    make_user(db, role=Role.ADMIN, login="kanri")
    tokyo = make_exercise(db, name="東京の演習", scenario=make_scenario(db, slug="web-deface"))
    tokyo.prefecture_id, tokyo.starts_on, tokyo.ends_on = 13, date(2026, 6, 2), date(2026, 6, 3)
    osaka = make_exercise(db, name="大阪の演習", scenario=make_scenario(db, slug="ransomware"))
    osaka.prefecture_id, osaka.starts_on = 27, date(2026, 9, 10)
    osaka.scenario.level = "advanced"
    undated = make_exercise(db, name="日付のない演習")
    db.commit()
    auth.login("kanri")

    def listed(query: str) -> set[str]:
        html = page(client, f"/review/?{query}")
        return {n for n in ("東京の演習", "大阪の演習", "日付のない演習") if n in html}

    assert listed("") == {"東京の演習", "大阪の演習", "日付のない演習"}
    assert listed("prefecture=13") == {"東京の演習"}
    assert listed("prefecture=27") == {"大阪の演習"}
    assert listed("date_from=2026-06-03&date_to=2026-06-30") == {"東京の演習"}, "the second day is in the period"
    assert listed("date_from=2026-07-01") == {"大阪の演習"}
    assert listed("level=advanced") == {"大阪の演習"}
    assert listed("level=beginner") == {"東京の演習", "日付のない演習"}
    assert listed("scenario=web-deface") == {"東京の演習"}
    assert listed("prefecture=13&level=advanced") == set()
    assert undated.id and "東京都" in page(client, "/review/"), "the prefecture is named"


def test_a_bad_filter_is_named_beside_its_field(db, client, auth) -> None:  # type: ignore[no-untyped-def]
    make_user(db, role=Role.INSTRUCTOR, login="sensei")
    make_exercise(db, name="東京の演習")
    db.commit()
    auth.login("sensei")
    backwards = page(client, "/review/?date_from=2026-06-30&date_to=2026-06-01", 400)
    assert 'id="date_to-errors"' in backwards and "期間の終わりが始まりより前です" in backwards
    assert "東京の演習" not in backwards
    garbled = page(client, "/review/?date_from=yesterday", 400)
    assert 'id="date_from-errors"' in garbled


def test_the_review_home_links_the_audit_log_and_users_for_administrators_only(db, client, auth) -> None:  # type: ignore[no-untyped-def]
    make_user(db, role=Role.ADMIN, login="kanri")
    make_user(db, role=Role.INSTRUCTOR, login="sensei")
    db.commit()
    auth.login("kanri")
    home = page(client, "/review/")
    assert 'href="/admin/audit"' in home and 'href="/admin/users"' in home
    assert 'href="/review/"' in home, "the menu links the review"
    auth.logout()
    auth.login("sensei")
    home = page(client, "/review/")
    assert 'href="/admin/audit"' not in home and "振り返り" in home


# --- the ranking ------------------------------------------------------------------------------------------------


def test_the_ranking_orders_teams_by_the_ledger_and_splits_points_by_source(staff, db, world) -> None:  # type: ignore[no-untyped-def]
    html = page(staff, f"/review/exercises/{world.exercise.id}")
    sums = ledger.sums(db, world.exercise)
    one, two, three = world.teams
    assert sums[one.id] > sums[two.id] > sums[three.id] == 0
    order = [html.index(t.name, html.index("<tbody")) for t in (one, two, three)]
    assert order == sorted(order), "highest score first"
    row = cells(html, one.name)
    # rank, team, points, then check, task, wrong answer, hint, report, adjustment, lines, AAR
    assert row[:3] == ["1", one.name, str(sums[one.id])]
    check_points = db.scalar(select(ScoreEvent.points).where(ScoreEvent.team_id == one.id,
                                                              ScoreEvent.source == "check"))
    assert row[3:9] == [f"{check_points:+d}", "+50", "-5", "-10", "+15", "+5"]
    assert cells(html, two.name)[:3] == ["2", two.name, str(sums[two.id])]
    assert cells(html, three.name)[:3] == ["3", three.name, "0"]


def test_the_chart_of_the_ranking_ends_at_each_team_s_total(staff, db, world) -> None:  # type: ignore[no-untyped-def]
    html = page(staff, f"/review/exercises/{world.exercise.id}")
    data = chart_data(html, "score-chart-data")
    sums = ledger.sums(db, world.exercise)
    assert [s["label"] for s in data["series"]] == [t.name for t in world.teams]
    for team, line in zip(world.teams, data["series"]):
        assert line["points"][0] == {"x": 0, "y": 0}
        assert line["points"][-1]["y"] == sums[team.id]
        assert [p["x"] for p in line["points"]] == sorted(p["x"] for p in line["points"])
    assert data["days"] == [{"start": 0, "label": "1 日目"}]
    assert 'src="/static/vendor/chart.js/chart.umd.min.js"' in html and 'src="/static/review.js"' in html


# --- a team's breakdown -----------------------------------------------------------------------------------------


def test_the_breakdown_lists_every_score_line_with_its_reason_and_a_running_total(staff, db, world) -> None:  # type: ignore[no-untyped-def]
    one = world.teams[0]
    html = page(staff, f"/review/exercises/{world.exercise.id}/teams/1")
    events = list(db.scalars(select(ScoreEvent).where(ScoreEvent.team_id == one.id)))
    table = html[html.index('class="review-events"'):]
    assert table.count("<tr>") - 1 == len(events) == 6  # header row + one per event
    assert "正解（2 回目の解答）" in table and "不正解（1 回目の解答）" in table and "ヒント 1 を使用" in table
    assert "第 1 版を採点：20 点中 15 点" in table
    assert ADJUSTMENT in table and "beacon up" in table, "an instructor's and a check's words as written"
    last = re.findall(r"<tr>(.*?)</tr>", table, re.S)[-1]
    assert f">{ledger.sums(db, world.exercise)[one.id]}<" in last, "the running total ends at the total"
    assert PROMPT_JA in table


def test_response_times_sit_beside_the_cohort_median(staff, world) -> None:  # type: ignore[no-untyped-def]
    html = page(staff, f"/review/exercises/{world.exercise.id}/teams/1")
    # police-call fired at 20:00: team 1 answered at 25:00, team 2 at 40:00 -> median 12:30.
    assert cells(html, "警察からの通報", "検知までの時間")[2:5] == ["5 分 00 秒", "12 分 30 秒", "7 分 30 秒 速い"]
    # the beacon (10:00) was contained at 27:30 by team 1 only: the median is that one time.
    assert cells(html, "不審な通信の開始", "封じ込めまでの時間")[2:5] == ["17 分 30 秒", "17 分 30 秒", "中央値と同じ"]
    assert cells(html, "警察からの通報", "復旧までの時間")[2:5] == ["—", "—", "—"]
    two = page(staff, f"/review/exercises/{world.exercise.id}/teams/2")
    assert cells(two, "警察からの通報", "検知までの時間")[2:5] == ["20 分 00 秒", "12 分 30 秒", "7 分 30 秒 遅い"]
    assert cells(two, "不審な通信の開始", "封じ込めまでの時間")[2] == "—", "team 2 never contained the beacon"


def test_the_response_times_of_every_team_are_read_with_one_query_per_table(db, world) -> None:  # type: ignore[no-untyped-def]
    statements: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        cohort = scores.metrics(db, world.exercise)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert cohort.medians[("police-call", "detect")] == 750
    for table in ("inject_runs", "check_results", "task_attempts", "report_versions"):
        assert sum(1 for s in statements if f"FROM {table}" in s) == 1, (table, statements)


def test_the_team_chart_steps_through_every_scoring_moment(staff, db, world) -> None:  # type: ignore[no-untyped-def]
    one = world.teams[0]
    data = chart_data(page(staff, f"/review/exercises/{world.exercise.id}/teams/1"), "team-chart-data")
    points = data["series"][0]["points"]
    events = list(db.scalars(select(ScoreEvent).where(ScoreEvent.team_id == one.id)
                             .order_by(ScoreEvent.timeline_seconds)))
    expected, total = [{"x": 0, "y": 0}], 0
    for e in events:
        total += e.points
        expected.append({"x": round(e.timeline_seconds / 60, 2), "y": total})
    assert points == expected


def test_an_unknown_team_or_exercise_is_not_found(staff, world) -> None:  # type: ignore[no-untyped-def]
    page(staff, f"/review/exercises/{world.exercise.id}/teams/9", 404)
    page(staff, "/review/exercises/999999", 404)
    page(staff, f"/review/exercises/{world.exercise.id}/teams/9/aar", 404)


# --- who may look -----------------------------------------------------------------------------------------------


def test_trainees_are_refused_every_review_page(client, auth, world) -> None:  # type: ignore[no-untyped-def]
    auth.login("kenshu-a")
    e = world.exercise.id
    for path in ("/review/", "/review/export/exercises.csv", f"/review/exercises/{e}",
                 f"/review/exercises/{e}/teams/1", f"/review/exercises/{e}/teams/1/aar",
                 f"/review/exercises/{e}/teams/1/aar.pdf", f"/review/exercises/{e}/export/events.json"):
        assert client.get(path).status_code == 403, path
    assert "振り返り" not in page(client, "/"), "no menu link for trainees"


def test_english_pages_on_request(staff, world) -> None:  # type: ignore[no-untyped-def]
    staff.get("/lang/en")
    html = page(staff, f"/review/exercises/{world.exercise.id}/teams/1")
    assert "Time to detect" in html and "5 min 00 s" in html and "Which host is making" in html
    assert "検知までの時間" not in html


# --- staying fast ------------------------------------------------------------------------------------------------


def test_thirty_teams_cost_no_more_queries_than_three(app, db, client, auth) -> None:  # type: ignore[no-untyped-def]
    small = build_world(db, teams=3, name="小さい演習")
    big = build_world(db, teams=30, name="大きい演習", tag="-big")
    run_by(db, big.exercise, small.instructor)  # one instructor runs both
    db.commit()
    auth.login("sensei")
    engine = app.extensions["mamori.db"].engine

    def queries(path: str) -> int:
        seen: list[str] = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731 - the statement
        event.listen(engine, "before_cursor_execute", listener)
        try:
            page(client, path)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    for suffix in ("", "/teams/1/aar"):
        assert queries(f"/review/exercises/{big.exercise.id}{suffix}") == queries(
            f"/review/exercises/{small.exercise.id}{suffix}"), suffix or "ranking"
    assert queries("/review/") < 10
    started = time.perf_counter()
    page(client, f"/review/exercises/{big.exercise.id}/teams/1")
    assert time.perf_counter() - started < 2.0
