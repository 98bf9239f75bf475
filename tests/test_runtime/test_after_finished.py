"""after: {finished: INJECT} on a real range: an action takes real seconds while the clock runs 600× faster.

``after: slow`` counts from the moment the slow action started, so it is due
while the action still runs; ``after: {finished: slow}`` counts from its end,
so it falls due only once the output is there.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from flask import Flask
from sqlalchemy import select

from app.models import InjectRun, RunStatus
from app.runtime.engine import Engine
from app.runtime.triggers import RunView, counts_from, finished_seconds, plan
from app.runtime.clock import ClockReading
from app.scenario.model import Scenario
from app.services import exercises, ledger, lifecycle, ranges, scenarios, tasks
from app.services.exercises import ExerciseDraft
from range.docker_backend import DockerBackend
from range.images import build_image

from tests.provisioned import build_ranges

MINIMAL = Path(__file__).resolve().parents[1] / "scenarios" / "valid" / "minimal.yaml"
SPEED = 600.0
SLEEP = 4  # real seconds: 40 exercise minutes at 600×


def _inject(inject_id: str, when: dict, command: str) -> dict:
    return {"id": inject_id, "title": {"ja": inject_id, "en": inject_id}, "when": when,
            "actions": [{"type": "run", "params": {"host": "ws01", "command": command}}],
            "debrief": {"ja": inject_id, "en": inject_id}}


STAGES = [
    _inject("slow", {"day": 1, "at": "00:05"}, f"sleep {SLEEP}; date +%s.%N > /var/tmp/slow-done"),
    _inject("from-start", {"after": "slow", "delay": "00:05"}, "echo started-based > /var/tmp/from-start"),
    _inject("from-end", {"after": {"finished": "slow"}, "delay": "00:05"}, "cat /var/tmp/slow-done"),
]


def document() -> dict:
    found = yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))
    found["injects"] += STAGES
    found["tasks"][0]["opens"] = {"after": {"finished": "slow"}, "delay": "00:05"}
    return found


@pytest.mark.docker
def test_a_stage_waits_for_the_end_of_the_slow_action(app: Flask, db, tmp_path: Path,
                                                     docker_backend: DockerBackend) -> None:  # type: ignore[no-untyped-def]
    for name in ("base", "workstation", "attacker"):
        build_image(docker_backend, name, log=lambda line: None)
    (tmp_path / "stages.yaml").write_text(yaml.safe_dump(document(), allow_unicode=True), encoding="utf-8")
    found, problems = scenarios.register_directory(db, tmp_path)
    assert problems == []
    exercise = exercises.create_exercise(db, found[0].scenario, ExerciseDraft(name="x", team_count=1), actor=None)
    db.commit()
    settings = app.config["MAMORI_SETTINGS"]
    range_engine, label = build_ranges(app, docker_backend, exercise)
    try:
        engine = Engine(app.extensions["mamori.db"], range_engine, settings.instance_id)
        db.expire_all()
        exercise = exercises.get_exercise(db, exercise.id)
        team = exercise.teams[0]
        lifecycle.start(db, exercise, actor=None, speed=SPEED)
        db.commit()
        deadline = time.monotonic() + 60
        runs: dict[str, InjectRun] = {}
        opened_before_end = []
        while time.monotonic() < deadline and "from-end" not in runs:
            engine.tick()
            db.expire_all()
            runs = {r.inject_id: r for r in db.scalars(select(InjectRun).where(InjectRun.exercise_id == exercise.id))}
            if "slow" in runs and "from-end" not in runs:
                now = ledger.at(exercise, 1, lifecycle.reading(exercise).seconds)
                opened_before_end.append(tasks.reached(db, exercise, team, scenarios.parsed(exercise.scenario)
                                                       .tasks[0].opens, now))
            time.sleep(0.1)
        slow, start_based, end_based = runs["slow"], runs["from-start"], runs["from-end"]
        assert slow.status is RunStatus.DONE, slow.result
        assert end_based.status is RunStatus.DONE, end_based.output  # the slow stage's output was there
        took = (slow.finished_at - slow.started_at).total_seconds()
        assert took >= SLEEP
        end = finished_seconds(slow, exercise)
        assert end is not None and end >= slow.started_seconds + SLEEP * SPEED * 0.9
        # after: slow — due 5 minutes after the start, long before the action ended (it fired late)
        assert start_based.due_seconds == pytest.approx(slow.started_seconds + 300)
        assert start_based.due_seconds < end
        # after: {finished: slow} — due 5 minutes after the end, and fired in real time after it
        assert end_based.due_seconds == pytest.approx(end + 300, abs=1)
        assert end_based.started_at >= slow.finished_at + timedelta(seconds=300 / SPEED * 0.9)
        # the task opening 5 minutes after {finished: slow} was still closed just after the action ended
        # (5 minutes after the start were long past), and is open now
        assert opened_before_end and opened_before_end[0] is False
        db.expire_all()
        now = ledger.at(exercise, 1, lifecycle.reading(exercise).seconds)
        assert tasks.reached(db, exercise, team, scenarios.parsed(exercise.scenario).tasks[0].opens, now)
    finally:
        range_engine.teardown(ranges.range_label(settings.instance_id, exercise))


T0 = datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc)


def _run(status: RunStatus, started: float, real: float, *, day: int = 1) -> SimpleNamespace:
    return SimpleNamespace(status=status, day=day, started_seconds=started, started_at=T0,
                           finished_at=T0 + timedelta(seconds=real))


def _clock(*, elapsed: float, resumed: datetime | None, speed: float = 60.0, day: int = 1) -> SimpleNamespace:
    return SimpleNamespace(current_day=day, clock_elapsed=elapsed, clock_started_at=resumed, speed=speed)


def test_the_end_is_read_on_the_running_clock() -> None:
    # The clock was resumed before the run began (banked 0 at T0 - 600 s): the end is exact.
    clock = _clock(elapsed=0.0, resumed=T0 - timedelta(seconds=600))
    assert finished_seconds(_run(RunStatus.DONE, 36000.0, 5.0), clock) == pytest.approx(36300.0)


def test_a_pause_during_the_action_never_pushes_the_end_past_the_stopped_clock() -> None:
    paused = _clock(elapsed=700.0, resumed=None)  # paused at 700 s while the action still ran
    assert finished_seconds(_run(RunStatus.DONE, 600.0, 30.0), paused) == 700.0
    resumed_after = _clock(elapsed=700.0, resumed=T0 + timedelta(seconds=100))  # resumed after the end
    assert finished_seconds(_run(RunStatus.DONE, 600.0, 30.0), resumed_after) == 700.0


def test_a_running_parent_has_no_end_yet_and_a_failed_one_skips_its_dependent() -> None:
    model = Scenario.model_validate(document())
    clock = ClockReading(1, 3000.0, True, SPEED)
    running = {"slow": RunView(RunStatus.RUNNING, 1, 300.0)}
    assert [d.inject.id for d in plan(model, clock, running) if d.inject.id.startswith("from")] == []
    failed = {"slow": RunView(RunStatus.FAILED, 1, 300.0, 400.0)}
    decided = {d.inject.id: d for d in plan(model, clock, failed)}
    assert decided["from-end"].kind == "skip" and "did not finish" in decided["from-end"].reason
    assert decided["from-start"].kind == "fire"  # plain after fires after a failed parent, as before
    done = {"slow": RunView(RunStatus.DONE, 1, 300.0, 2800.0)}
    decided = {d.inject.id: d for d in plan(model, clock, done)}
    assert "from-end" not in decided  # due at 2800 + 300 = 3100, the clock reads 3000
    assert counts_from(_run(RunStatus.RUNNING, 300.0, 5.0), _clock(elapsed=0.0, resumed=T0),
                       model.injects[-1].when) is None
