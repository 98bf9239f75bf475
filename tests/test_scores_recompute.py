"""The full recompute and the response metrics over answers, hints, reports and adjustments (no Docker)."""
from __future__ import annotations

from sqlalchemy import delete, select

from app.models import Role, ScoreEvent
from app.services import ledger, reports, scores, tasks
from tests.factories import make_user
from tests.test_tasks_reports import REPORT, TASK, at, running, trainee


def test_every_kind_of_point_recomputes_to_the_ledger_and_the_totals(db) -> None:  # type: ignore[no-untyped-def]
    exercise = running(db)
    one, two = exercise.teams
    alice, bob = trainee(db, one), trainee(db, two)
    instructor = make_user(db, role=Role.INSTRUCTOR)
    tasks.take_hint(db, exercise, one, alice, TASK, 0, now=at(1250))
    tasks.submit_answer(db, exercise, one, alice, TASK, "ws02", now=at(1260))  # wrong: -5
    tasks.submit_answer(db, exercise, one, alice, TASK, "WS01", now=at(1500))  # +50
    tasks.submit_answer(db, exercise, two, bob, TASK, "ws01", now=at(2400))
    first = reports.submit(db, exercise, one, alice, REPORT, text="影響範囲: ws01", now=at(1800))
    reports.grade(db, first, {"scope": 12}, "範囲の根拠を", instructor, now=at(1900))
    reports.grade(db, first, {"scope": 18}, "再採点", instructor, now=at(1950))  # +6 more, not +18
    scores.adjust(db, exercise, two, -7, "手順違反", actor=instructor, now=at(2000))
    db.flush()

    checked = {c.team.number: c for c in scores.recompute(db, exercise)}
    assert {n: (c.recomputed, c.ledger, c.total, c.agrees) for n, c in checked.items()} == {
        1: (-10 - 5 + 50 + 18, 53, 53, True), 2: (50 - 7, 43, 43, True)}
    assert [s.team.number for s in ledger.scoreboard(db, exercise)] == [1, 2]

    # A lost line is found and named.
    db.execute(delete(ScoreEvent).where(ScoreEvent.team_id == one.id, ScoreEvent.key == f"task:{TASK}"))
    broken = next(c for c in scores.recompute(db, exercise) if c.team.number == 1)
    assert not broken.agrees and broken.ledger == 3 and broken.total == 53
    assert any(p.startswith(f"task:{TASK}: ledger None, recomputed 50") for p in broken.problems), broken.problems


def test_time_to_detect_and_to_report_count_from_the_attack(db) -> None:  # type: ignore[no-untyped-def]
    exercise = running(db)  # police-call fired at 00:20 (1200 s) for both teams
    one, two = exercise.teams
    tasks.submit_answer(db, exercise, one, trainee(db, one), TASK, "ws01", now=at(1500))
    reports.submit(db, exercise, two, trainee(db, two), REPORT, text="第一報", now=at(3000))
    db.flush()
    cohort = scores.metrics(db, exercise)
    by_team = {t.team.number: {a.attack: a for a in t.attacks} for t in cohort.teams}
    assert by_team[1]["police-call"].seconds["detect"] == 300
    assert by_team[2]["police-call"].seconds["detect"] is None
    assert by_team[2]["police-call"].seconds["report"] == 1800
    assert by_team[1]["beacon"].fired is None, "the beacon never fired in this exercise"
    assert cohort.medians[("police-call", "detect")] == 300
    assert db.scalar(select(ScoreEvent.points).where(ScoreEvent.team_id == one.id)) == 50
