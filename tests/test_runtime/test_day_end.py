"""A day ends by itself at its length: on a real range, with the engine's injected clock.

Seen before the fix: day 1 at 42:04 of a 4:30 day, a penalty check still costing
points every round. Now the clock stops at the length, no round and no inject
runs at or after it, the engine moves the exercise to "day ended", and the
instructor's live view and the team page say so.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from flask import Flask
from sqlalchemy import func, select

from app.models import (
    AuditEvent, ExerciseState, InjectRun, Message, Role, RunStatus, ScoreEvent, ScoringRound, TimelineEvent,
)
from app.runtime.engine import Engine
from app.services import exercises, injects, lifecycle, scenarios
from app.services.errors import Conflict
from app.services.exercises import ExerciseDraft
from range.docker_backend import DockerBackend
from range.images import build_image
from tests.clocks import ManualClock
from tests.factories import PASSWORD, add_member, make_user
from tests.provisioned import build_ranges

pytestmark = pytest.mark.docker
MINIMAL = Path(__file__).resolve().parents[1] / "scenarios" / "valid" / "minimal.yaml"
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc)
DAY_ENDED_JA = "本日の演習は終了しました"

PENALTY_CHECK = {"id": "not-defaced", "title": {"ja": "改ざんなし", "en": "Not defaced"}, "type": "file",
                 "params": {"host": "ws01", "path": "/srv/pwned", "expect": "absent"},
                 "scoring": {"mode": "penalty", "points_per_round": 5}}


@pytest.fixture
def day(app: Flask, db, tmp_path: Path, docker_backend: DockerBackend):  # type: ignore[no-untyped-def]
    for name in ("base", "workstation", "attacker"):
        build_image(docker_backend, name, log=lambda line: None)
    document = yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))
    document["checks"].append(PENALTY_CHECK)
    (tmp_path / "day.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    found, problems = scenarios.register_directory(db, tmp_path)
    assert problems == []
    exercise = exercises.create_exercise(db, found[0].scenario, ExerciseDraft(name="x", team_count=1), actor=None)
    db.commit()
    settings = app.config["MAMORI_SETTINGS"]
    range_engine, label = build_ranges(app, docker_backend, exercise)
    clock = ManualClock(T0)
    engine = Engine(app.extensions["mamori.db"], range_engine, settings.instance_id, now=clock)
    yield exercise.id, label, range_engine, engine, clock
    range_engine.teardown(label)


def test_the_day_ends_at_its_length_and_nothing_is_scored_after(app: Flask, db, day) -> None:  # type: ignore[no-untyped-def]
    exercise_id, label, range_engine, engine, clock = day
    db.expire_all()
    exercise = exercises.get_exercise(db, exercise_id)
    team = exercise.teams[0]
    lifecycle.start(db, exercise, actor=None, speed=60, now=T0)
    injects.control(db, exercise, "police-call", "hold", teams=None, actor=None)
    db.commit()

    clock.minute(10)  # 00:10: the beacon starts, and the range is defaced: the penalty check costs every round
    assert engine.tick() == 1
    assert range_engine.exec(label, "1", "ws01", ["sh", "-c", "touch /srv/pwned"], timeout=20).exit_code == 0
    clock.minute(119.5)  # 01:59:30, the last round of the day
    [last] = engine.scorer.tick()
    assert last.number == 239
    penalties = db.scalar(select(func.count()).select_from(ScoreEvent).where(ScoreEvent.team_id == team.id))
    assert penalties == 1

    # 02:10, and the engine's inject pass has not run since (busy, or down): the scoring thread
    # must not score past the end, the clock reads 02:00:00, and an instructor's late "fire"
    # of the held police call is not carried out.
    clock.minute(130)
    assert engine.scorer.tick() == []
    db.expire_all()
    assert lifecycle.reading(exercise, clock.now).hhmmss == "02:00:00"
    injects.control(db, exercise, "police-call", "fire", teams=None, actor=None)
    db.commit()
    assert engine.tick() == 0  # the day ends instead
    clock.minute(2524)  # "day 1 42:04": long after, the engine still does nothing
    assert engine.tick() == 0 and engine.scorer.tick() == []

    db.expire_all()
    exercise = exercises.get_exercise(db, exercise_id)
    assert exercise.state is ExerciseState.DAY_ENDED
    assert exercise.clock_elapsed == 7200.0 and exercise.clock_started_at is None
    assert db.scalar(select(func.max(ScoringRound.number)).where(ScoringRound.exercise_id == exercise_id)) == 239
    assert db.scalar(select(func.max(ScoreEvent.exercise_seconds)).where(ScoreEvent.team_id == team.id)) < 7200
    assert db.scalar(select(func.count()).select_from(ScoreEvent).where(ScoreEvent.team_id == team.id)) == penalties
    assert db.scalar(select(InjectRun.status).where(InjectRun.inject_id == "police-call")) is RunStatus.REQUESTED
    assert db.scalar(select(func.count()).select_from(Message).where(Message.team_id == team.id)) == 0
    [audit] = db.scalars(select(AuditEvent).where(AuditEvent.action == "exercise.day_over")).all()
    assert audit.detail["exercise_time"] == "02:00:00" and audit.actor_id is None
    [mark] = db.scalars(select(TimelineEvent).where(TimelineEvent.exercise_id == exercise_id,
                                                    TimelineEvent.kind == lifecycle.DAY_OVER)).all()
    assert mark.exercise_seconds == 7200.0 and mark.at == T0 + timedelta(seconds=120)  # when it was reached
    with pytest.raises(Conflict, match="last day"):
        lifecycle.start(db, exercise, actor=None, now=clock.now)
    db.rollback()

    # What people see: the instructor's live view and the team's page.
    admin = make_user(db, role=Role.ADMIN)
    trainee = make_user(db, role=Role.TRAINEE)
    add_member(db, team, trainee)
    db.commit()
    for user, path in ((admin, f"/exercises/{exercise_id}/live"), (trainee, f"/teams/{team.id}")):
        client = app.test_client()
        client.post("/login", data={"login": user.login, "password": PASSWORD})
        page = client.get(path, headers={"Accept-Language": "ja"}).get_data(as_text=True)
        assert DAY_ENDED_JA in page, path
