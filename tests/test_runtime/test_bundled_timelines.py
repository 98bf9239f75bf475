"""Every bundled scenario's attacks, fired by the engine on a real range with a fast clock, land.

A passive team: nobody defends, so every inject fires (or is skipped only
because a condition in the scenario says so) and none fails.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from app.models import InjectRun, RunStatus
from app.runtime.engine import Engine
from app.scenario.model import minutes
from app.services import exercises, lifecycle, provisioning, ranges, scenarios
from app.services.exercises import ExerciseDraft
from range.docker_backend import DockerBackend
from range.engine import DockerRangeEngine
from range.images import build_image

# Slow (whole days of attacks) and not about the database: the SQLite pass runs it.
pytestmark = [pytest.mark.docker, pytest.mark.skipif(bool(os.environ.get("MAMORI_TEST_DATABASE_URL")),
                                                     reason="runs in the SQLite pass only")]
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
T0 = datetime(2026, 11, 27, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("scenario_id", ["targeted-mail", "web-deface", "ransomware"])
def test_a_passive_team_sees_every_attack_land(app: Flask, db, docker_backend: DockerBackend, scenario_id: str,
                                              tmp_path: Path) -> None:
    (tmp_path / f"{scenario_id}.yaml").symlink_to(SCENARIOS / f"{scenario_id}.yaml")
    (tmp_path / scenario_id).symlink_to(SCENARIOS / scenario_id)
    found, problems = scenarios.register_directory(db, tmp_path)
    assert problems == []
    model = scenarios.parsed(found[0].scenario)
    for name in {h.image for h in model.network.hosts} | {"base"}:
        build_image(docker_backend, name, log=lambda line: None)
    exercise = exercises.create_exercise(db, found[0].scenario, ExerciseDraft(name="x", team_count=1), actor=None)
    db.commit()
    settings = app.config["MAMORI_SETTINGS"]
    range_engine = DockerRangeEngine(docker_backend)
    now = [T0]
    engine = Engine(app.extensions["mamori.db"], range_engine, settings.instance_id, now=lambda: now[0])
    try:
        provisioning.provision_exercise(app.extensions["mamori.db"], range_engine, settings.instance_id, exercise.id)
        db.expire_all()
        exercise = exercises.get_exercise(db, exercise.id)
        for day, spec in enumerate(model.days, start=1):
            if day > 1:
                lifecycle.end_day(db, exercise, actor=None, now=now[0])
            lifecycle.start(db, exercise, actor=None, speed=1, now=now[0])
            db.commit()
            start = now[0]
            for minute in range(0, minutes(spec.length) + 1):  # one pass per exercise minute
                now[0] = start + timedelta(minutes=minute)
                engine.tick()
        db.expire_all()
        runs = {r.inject_id: r for r in db.scalars(select(InjectRun).where(InjectRun.exercise_id == exercise.id))}
        failed = {k: r.result for k, r in runs.items() if r.status is not RunStatus.DONE
                  and r.status is not RunStatus.SKIPPED}
        assert failed == {}, failed
        skipped = {k: r.result for k, r in runs.items() if r.status is RunStatus.SKIPPED}
        for inject in model.injects:
            assert inject.id in runs, f"{inject.id} never fired"
            if inject.id in skipped:
                # Only the scenario's own conditions may skip an attack on a passive team.
                assert hasattr(inject.when, "condition") or inject.skip_if is not None, (inject.id, skipped[inject.id])
    finally:
        range_engine.teardown(ranges.range_label(settings.instance_id, exercise))
