"""Scoring rounds on a real range: every mode, hostile checks, pause, replay, recompute, metrics, the engine process."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from flask import Flask
from sqlalchemy import func, select

from app.models import CheckResultRow, ScoreEvent, ScoringRound
from app.runtime.engine import Engine
from app.runtime.rounds import Scorer
from app.services import exercises, ledger, lifecycle, scenarios, scores
from app.services.exercises import ExerciseDraft
from range.docker_backend import DockerBackend
from range.images import build_image
from tests.clocks import ManualClock
from tests.provisioned import build_ranges

pytestmark = pytest.mark.docker
MINIMAL = Path(__file__).resolve().parents[1] / "scenarios" / "valid" / "minimal.yaml"
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc)
TITLE = {"ja": "チェック", "en": "Check"}

EXTRA_CHECKS = [
    {"id": "ssh-up", "title": dict(TITLE), "type": "tcp", "params": {"from": "attacker", "host": "ws01", "port": 22},
     "phase": "availability", "scoring": {"mode": "availability", "points_per_round": 2}},
    {"id": "service-ok", "title": dict(TITLE), "type": "file", "params": {"host": "ws01", "path": "/srv/service-ok"},
     "phase": "availability",
     "scoring": {"mode": "availability", "points_per_round": 1, "penalty_per_round": 4, "grace_rounds": 1}},
    {"id": "not-defaced", "title": dict(TITLE), "type": "file",
     "params": {"host": "ws01", "path": "/srv/pwned", "expect": "absent"},
     "scoring": {"mode": "penalty", "points_per_round": 5}},
    {"id": "undecidable", "title": dict(TITLE), "type": "file",
     "params": {"host": "ws01", "path": "/srv/huge.bin", "sha256": "0" * 64},
     "scoring": {"mode": "availability", "points_per_round": 100, "penalty_per_round": 100}},
    {"id": "floods", "title": dict(TITLE), "type": "search", "params": {"host": "ws01", "path": "/srv/flood",
                                                                       "max_files": 100},
     "scoring": {"mode": "penalty", "points_per_round": 100}},
]


@pytest.fixture
def scored(app: Flask, db, tmp_path: Path, docker_backend: DockerBackend):  # type: ignore[no-untyped-def]
    for name in ("base", "workstation", "attacker"):
        build_image(docker_backend, name, log=lambda line: None)
    document = yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))
    document["checks"] += EXTRA_CHECKS
    (tmp_path / "scored.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    found, problems = scenarios.register_directory(db, tmp_path)
    assert problems == []
    exercise = exercises.create_exercise(db, found[0].scenario, ExerciseDraft(name="x", team_count=1), actor=None)
    db.commit()
    range_engine, label = build_ranges(app, docker_backend, exercise)
    clock = ManualClock(T0)
    yield exercise.id, label, range_engine, clock
    range_engine.teardown(label)


def results(db, round_number: int) -> dict[str, CheckResultRow]:  # type: ignore[no-untyped-def]
    db.expire_all()
    return {r.check_id: r for r in db.scalars(select(CheckResultRow).where(CheckResultRow.round_number == round_number))}


def points(db, exercise_id: int, key: str) -> int | None:  # type: ignore[no-untyped-def]
    return db.scalar(select(ScoreEvent.points).where(ScoreEvent.exercise_id == exercise_id, ScoreEvent.key == key))


def test_rounds_score_every_mode_on_a_real_range(app: Flask, db, scored) -> None:  # type: ignore[no-untyped-def]
    exercise_id, label, range_engine, clock = scored
    database = app.extensions["mamori.db"]
    settings = app.config["MAMORI_SETTINGS"]
    scorer = Scorer(database, range_engine, settings.instance_id, now=clock)
    engine = Engine(database, range_engine, settings.instance_id, now=clock)
    db.expire_all()
    exercise = exercises.get_exercise(db, exercise_id)
    team = exercise.teams[0]

    def ws01(script: str) -> None:
        assert range_engine.exec(label, "1", "ws01", ["sh", "-c", script], timeout=20).exit_code == 0

    assert scorer.tick() == [], "nothing is scored before the exercise starts"
    lifecycle.start(db, exercise, actor=None, speed=60, now=T0)
    db.commit()
    ws01("touch /srv/service-ok")
    # A file too large to hash, and a tree a trainee flooded: checks that cannot decide.
    ws01("head -c 2000000 /dev/zero > /srv/huge.bin && mkdir -p /srv/flood && cd /srv/flood && seq 1 300 | xargs touch")

    # Round 0 (00:00): the beacon has not fired, so its objective is not checked yet.
    [first] = scorer.tick()
    assert first.number == 0 and first.checks == 5 and first.errors == 2
    seen = results(db, 0)
    assert "beacon-stopped" not in seen
    assert {k: r.status for k, r in seen.items()} == {
        "ssh-up": "up", "service-ok": "up", "not-defaced": "up", "undecidable": "error", "floods": "error"}
    assert "too large to hash" in seen["undecidable"].reason
    assert "more than 100 entries" in seen["floods"].reason
    assert points(db, exercise_id, "check:ssh-up:round:0") == 2
    assert points(db, exercise_id, "check:service-ok:round:0") == 1
    assert points(db, exercise_id, "check:undecidable:round:0") is None, "an ERROR neither scores nor costs"
    assert scorer.run_due_round(exercise_id) is None, "the same round is never written twice"

    # The defacement lands and the service breaks: the penalty applies at once, the availability
    # penalty only once the grace round is used.
    ws01("touch /srv/pwned; rm /srv/service-ok")
    clock.minute(0.5)  # 00:00:30 → round 1
    assert [s.number for s in scorer.tick()] == [1]
    assert points(db, exercise_id, "check:not-defaced:round:1") == -5
    assert points(db, exercise_id, "check:service-ok:round:1") is None, "the grace round"
    clock.minute(1)
    scorer.tick()
    assert results(db, 2)["service-ok"].down_streak == 2
    assert points(db, exercise_id, "check:service-ok:round:2") == -4

    # A paused exercise has no rounds, and its clock (and so decay) stands still.
    lifecycle.pause(db, exercise, actor=None, now=clock.now)
    db.commit()
    clock.minute(30)
    assert scorer.tick() == []
    clock.minute(40)
    lifecycle.resume(db, exercise, actor=None, now=clock.now)
    db.commit()

    # 00:10 of exercise time (10 minutes after the 40-minute pause began... minus the 1 minute
    # already run): the beacon fires, its objective becomes active and is DOWN while it runs.
    clock.minute(49)
    assert engine.tick() == 1
    scorer.tick()
    assert results(db, 20)["beacon-stopped"].status == "down"
    ws01("rm -f /srv/pwned; touch /srv/service-ok; pkill -f 'update[.]minato-cdn'; sleep 0.5")
    clock.minute(79)  # 30 minutes after the beacon: linear decay over 60 minutes to half → 75 of 100
    [later] = scorer.tick()
    assert results(db, later.number)["beacon-stopped"].status == "up"
    assert points(db, exercise_id, "check:beacon-stopped") == 75
    clock.minute(80)
    [last] = scorer.tick()
    assert "beacon-stopped" not in results(db, last.number), "an awarded objective is not checked again"
    assert points(db, exercise_id, f"check:not-defaced:round:{last.number}") is None

    # The totals add up three ways, and the containment time is measured from the beacon.
    db.expire_all()
    [check] = scores.recompute(db, exercise)
    assert check.agrees, check.problems
    assert check.ledger == sum(db.scalars(select(ScoreEvent.points).where(ScoreEvent.team_id == team.id)))
    [standing] = ledger.scoreboard(db, exercise)
    assert standing.points == check.total
    cohort = scores.metrics(db, exercise)
    [beacon] = [a for a in cohort.teams[0].attacks if a.attack == "beacon"]
    assert beacon.seconds["contain"] == pytest.approx(30 * 60, abs=1)
    assert cohort.medians[("beacon", "contain")] == pytest.approx(30 * 60, abs=1)
    assert beacon.seconds["detect"] is None, "the team never answered the detection task"


def test_the_engine_process_runs_rounds_beside_injects(app: Flask, db, scored) -> None:  # type: ignore[no-untyped-def]
    exercise_id, label, range_engine, _ = scored
    database = app.extensions["mamori.db"]
    engine = Engine(database, range_engine, app.config["MAMORI_SETTINGS"].instance_id)
    db.expire_all()
    exercise = exercises.get_exercise(db, exercise_id)
    lifecycle.start(db, exercise, actor=None, speed=30)  # a 30-second round every real second
    db.commit()
    stop = threading.Event()
    worker = threading.Thread(target=engine.run, args=(stop, 0.2))
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while db.scalar(select(func.count()).select_from(ScoringRound)) < 3 and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        stop.set()
        worker.join(60)
    assert not worker.is_alive()
    numbers = list(db.scalars(select(ScoringRound.number).where(ScoringRound.exercise_id == exercise_id)))
    assert len(numbers) >= 3 and len(set(numbers)) == len(numbers)
