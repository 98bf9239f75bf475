"""The exercise lifecycle and clock: pauses and nights never count, transitions only from the right state."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.cli import cli
from app.models import AuditEvent, ExerciseState, Role
from app.runtime import clock
from app.services import lifecycle, tokens
from app.services.errors import Conflict, InvalidInput
from tests.factories import make_exercise, make_scenario, make_user, run_by

T0 = datetime(2026, 11, 27, 0, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_clock_is_pure_arithmetic() -> None:
    assert clock.read(day=1, elapsed=0, started_at=T0, speed=60, now=at(10)).seconds == 600
    assert clock.read(day=1, elapsed=600, started_at=None, speed=60, now=at(999)).seconds == 600
    assert clock.read(day=2, elapsed=30, started_at=at(5), speed=1, now=at(4)).seconds == 30  # no negative time
    assert clock.read(day=1, elapsed=3725, started_at=None, speed=1, now=T0).hhmmss == "01:02:05"


def ready_exercise(db, days: int = 2):  # type: ignore[no-untyped-def]
    exercise = make_exercise(db, teams=2, scenario=make_scenario(db, slug=f"two{days}", days=days))
    exercise.state = ExerciseState.READY
    db.flush()
    return exercise


def test_two_days_with_a_pause_and_a_night(db) -> None:  # type: ignore[no-untyped-def]
    exercise = ready_exercise(db)
    lifecycle.start(db, exercise, actor=None, speed=60, now=at(0))
    assert lifecycle.reading(exercise, at(10)).hhmmss == "00:10:00"
    lifecycle.pause(db, exercise, actor=None, now=at(10))
    assert lifecycle.reading(exercise, at(500)).seconds == 600, "a pause does not count"
    lifecycle.resume(db, exercise, actor=None, now=at(500))
    assert lifecycle.reading(exercise, at(510)).seconds == 1200
    lifecycle.end_day(db, exercise, actor=None, now=at(510))
    assert exercise.state is ExerciseState.DAY_ENDED
    assert lifecycle.reading(exercise, at(50_000)).seconds == 1200, "the night does not count"
    lifecycle.start(db, exercise, actor=None, now=at(60_000))
    day2 = lifecycle.reading(exercise, at(60_001))
    assert (day2.day, day2.seconds, day2.speed) == (2, 60, 60), "day 2 starts at its own zero, same speed"
    with pytest.raises(Conflict, match="last day"):
        lifecycle.end_day(db, exercise, actor=None, now=at(60_002))
    lifecycle.finish(db, exercise, actor=None, now=at(60_010))
    assert exercise.state is ExerciseState.FINISHED and not lifecycle.reading(exercise, at(70_000)).running
    actions = list(db.scalars(select(AuditEvent.action).where(AuditEvent.exercise_id == exercise.id)))
    assert actions[-6:] == ["exercise.start", "exercise.pause", "exercise.resume", "exercise.end_day",
                            "exercise.start", "exercise.finish"]


@pytest.mark.parametrize(("state", "action"), [
    (ExerciseState.DRAFT, "start"), (ExerciseState.READY, "pause"), (ExerciseState.RUNNING, "resume"),
    (ExerciseState.FINISHED, "start"), (ExerciseState.READY, "finish"), (ExerciseState.PAUSED, "pause"),
])
def test_transitions_only_from_the_right_states(db, state: ExerciseState, action: str) -> None:  # type: ignore[no-untyped-def]
    exercise = ready_exercise(db)
    exercise.state = state
    with pytest.raises(Conflict, match=f"cannot be {'end' if action == 'end_day' else action.rstrip('e')}ed now"):
        lifecycle.TRANSITIONS[action](db, exercise, actor=None)
    assert exercise.state is state


def test_a_silly_speed_is_refused(db) -> None:  # type: ignore[no-untyped-def]
    exercise = ready_exercise(db)
    with pytest.raises(InvalidInput, match="speed"):
        lifecycle.start(db, exercise, actor=None, speed=10_000)
    assert exercise.state is ExerciseState.READY


def test_the_cli_steers_the_clock(app, db) -> None:  # type: ignore[no-untyped-def]
    exercise = ready_exercise(db)
    db.commit()
    runner = app.test_cli_runner()
    started = runner.invoke(cli, ["exercise", "start", str(exercise.id), "--speed", "60"])
    assert started.exit_code == 0 and "running, day 1" in started.output and "×60" in started.output
    again = runner.invoke(cli, ["exercise", "start", str(exercise.id)])
    assert again.exit_code == 1 and "cannot be started now" in again.output
    assert "Traceback" not in again.output
    assert runner.invoke(cli, ["exercise", "pause", str(exercise.id)]).exit_code == 0
    assert runner.invoke(cli, ["exercise", "end-day", str(exercise.id)]).exit_code == 0
    assert "day 2 00:00:00" in runner.invoke(cli, ["exercise", "start", str(exercise.id)]).output


def test_the_api_and_the_web_steer_the_clock(client, db, auth) -> None:  # type: ignore[no-untyped-def]
    exercise = ready_exercise(db)
    instructor = make_user(db, role=Role.INSTRUCTOR, login="sensei")
    run_by(db, exercise, instructor)
    token = tokens.issue(db, instructor, "t", actor=instructor)
    db.commit()
    headers = {"Authorization": f"Bearer {token}"}
    started = client.post(f"/api/v1/exercises/{exercise.id}/start", json={"speed": 30}, headers=headers)
    assert started.status_code == 200
    assert started.json["state"] == "running" and started.json["clock"]["running"] and started.json["speed"] == 30
    refused = client.post(f"/api/v1/exercises/{exercise.id}/resume", json={}, headers=headers)
    assert refused.status_code == 409 and "cannot be resumed" in refused.json["message"]

    auth.login("sensei")
    page = client.get(f"/exercises/{exercise.id}").get_data(as_text=True)
    assert "演習時計" in page and "1 日目" in page and "一時停止" in page
    paused = client.post(f"/exercises/{exercise.id}/pause", follow_redirects=True)
    assert "一時停止中" in paused.get_data(as_text=True)
    db.expire_all()
    assert db.get(type(exercise), exercise.id).state is ExerciseState.PAUSED


# A day ends at its length (issue 14 item 13) ---------------------------------------------------------------------


def test_the_clock_stops_at_the_day_s_length() -> None:
    reading = clock.read(day=1, elapsed=0, started_at=T0, speed=1, now=at(42 * 3600 + 240), length=4.5 * 3600)
    assert reading.hhmmss == "04:30:00" and reading.ended  # not "42:04"
    assert not clock.read(day=1, elapsed=0, started_at=T0, speed=1, now=at(100), length=4.5 * 3600).ended


def test_each_day_ends_by_itself_and_no_round_is_written_after(app, db) -> None:  # type: ignore[no-untyped-def]
    from app.models import ScoringRound, TimelineEvent
    from app.runtime.dayend import end_due_days
    from app.runtime.rounds import Scorer
    from app.web.live import actions

    database = app.extensions["mamori.db"]
    exercise = ready_exercise(db)  # two days of 02:00
    lifecycle.start(db, exercise, actor=None, speed=60, now=T0)
    db.commit()
    scorer = Scorer(database, None, "test", now=lambda: at(119))  # 01:59: a round (no range to check)
    assert [s.number for s in scorer.tick()] == [238]
    assert end_due_days(database, at(119)) == []
    scorer.now = lambda: at(125)  # 02:05: no round, and the engine ends day 1
    assert scorer.tick() == []
    assert end_due_days(database, at(125)) == [exercise.id]
    db.expire_all()
    assert exercise.state is ExerciseState.DAY_ENDED and exercise.clock_elapsed == 7200
    assert lifecycle.reading(exercise, at(9999)).hhmmss == "02:00:00" and "start" in actions(exercise)

    lifecycle.start(db, exercise, actor=None, now=at(1000))  # day 2, at 60× as before
    db.commit()
    assert end_due_days(database, at(1000 + 7200 / 60)) == [exercise.id]
    db.expire_all()
    assert (exercise.state, exercise.current_day) == (ExerciseState.DAY_ENDED, 2)
    assert actions(exercise) == ["finish"], "no third day to start"
    with pytest.raises(Conflict, match="last day"):
        lifecycle.start(db, exercise, actor=None, now=at(2000))
    lifecycle.finish(db, exercise, actor=None, now=at(2000))
    db.commit()
    assert [r for r in db.scalars(select(ScoringRound.number))] == [238]
    marks = db.scalars(select(TimelineEvent).where(TimelineEvent.kind == lifecycle.DAY_OVER)
                       .order_by(TimelineEvent.id)).all()
    assert [(m.day, m.at) for m in marks] == [(1, at(120)), (2, at(1120))]
    assert db.scalars(select(AuditEvent.action).where(AuditEvent.action == "exercise.day_over")).all() == \
        ["exercise.day_over"] * 2
