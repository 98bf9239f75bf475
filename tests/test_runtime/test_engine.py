"""The engine on real ranges with an injected clock: timing, effects, branching, pause, exactly once, crashes."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from flask import Flask
from sqlalchemy import func, select

from app.models import ExerciseState, InjectRun, Message, RunStatus, TimelineEvent
from app.runtime.engine import Engine
from app.services import exercises, injects, lifecycle, ranges, scenarios
from app.services.exercises import ExerciseDraft
from range.docker_backend import DockerBackend
from range.images import build_image
from tests.clocks import ManualClock
from tests.provisioned import build_ranges

pytestmark = pytest.mark.docker
MINIMAL = Path(__file__).resolve().parents[1] / "scenarios" / "valid" / "minimal.yaml"
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc)

EXTRA_INJECTS = [
    {"id": "exfil", "title": {"ja": "持ち出し", "en": "Exfiltration"}, "when": {"day": 1, "at": "00:30"},
     "skip_if": {"check": "beacon-stopped", "status": "up"},
     "actions": [{"type": "run", "params": {"host": "ws01", "command": "echo stolen > /var/tmp/exfil-done"}}],
     "debrief": {"ja": "持ち出し", "en": "Exfiltration"}},
    {"id": "slow", "title": {"ja": "遅い処理", "en": "Slow step"}, "when": {"day": 1, "at": "01:00"},
     "actions": [{"type": "run", "params": {"host": "ws01", "command": "sleep 8; echo done >> /var/tmp/slow"}}],
     "debrief": {"ja": "遅い処理", "en": "Slow step"}},
]


@pytest.fixture
def world(app: Flask, db, tmp_path: Path, docker_backend: DockerBackend):  # type: ignore[no-untyped-def]
    for name in ("base", "workstation", "attacker"):
        build_image(docker_backend, name, log=lambda line: None)
    document = yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))
    document["injects"] += EXTRA_INJECTS
    (tmp_path / "branching.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    found, problems = scenarios.register_directory(db, tmp_path)
    assert problems == []
    exercise = exercises.create_exercise(db, found[0].scenario, ExerciseDraft(name="x", team_count=2), actor=None)
    db.commit()
    settings = app.config["MAMORI_SETTINGS"]
    range_engine, label = build_ranges(app, docker_backend, exercise)
    clock = ManualClock(T0)
    engine = Engine(app.extensions["mamori.db"], range_engine, settings.instance_id, now=clock)
    yield exercise.id, engine, clock, range_engine
    range_engine.teardown(label)


def runs(db, exercise_id: int) -> dict[tuple[int, str], InjectRun]:  # type: ignore[no-untyped-def]
    db.expire_all()
    found = db.scalars(select(InjectRun).where(InjectRun.exercise_id == exercise_id))
    return {(r.team_id, r.inject_id): r for r in found}


def sh(range_engine, label: str, team: int, script: str) -> str:  # type: ignore[no-untyped-def]
    return range_engine.exec(label, str(team), "ws01", ["sh", "-c", script], timeout=20).text


def engine_running_slow(db, settings, exercise) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    """Only "slow" left, the clock already past it; a real engine process started and busy with it."""
    for inject in ("beacon", "police-call", "exfil"):
        injects.control(db, exercise, inject, "skip", teams=None, actor=None)
    # At 60× the 02:00 day has a minute of real time left: the test ends long before the day does.
    lifecycle.start(db, exercise, actor=None, speed=60, now=datetime.now(timezone.utc) - timedelta(seconds=61))
    db.commit()  # exercise time is already past 01:00: "slow" is due
    env = {**os.environ, "DATABASE_URL": settings.database_url, "MAMORI_INSTANCE_ID": settings.instance_id,
           "MAMORI_INSTANCE_PATH": str(settings.instance_path)}
    mamori = shutil.which("mamori", path=os.path.dirname(sys.executable))
    child = subprocess.Popen([mamori, "engine", "run", "--interval", "0.2"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not any(r.inject_id == "slow" and r.status is RunStatus.RUNNING for r in runs(db, exercise.id).values()):
        if time.monotonic() > deadline or child.poll() is not None:
            child.kill()
            child.wait()
            pytest.fail("the engine never started the step")
        time.sleep(0.2)
    return child


def test_a_timeline_on_two_teams(app: Flask, db, world) -> None:  # type: ignore[no-untyped-def]
    exercise_id, engine, clock, range_engine = world
    db.expire_all()
    exercise = exercises.get_exercise(db, exercise_id)
    label = ranges.range_label(app.config["MAMORI_SETTINGS"].instance_id, exercise)
    lifecycle.start(db, exercise, actor=None, speed=60, now=T0)
    db.commit()
    t1, t2 = (t.id for t in exercise.teams)

    clock.at(5)  # 00:05
    assert engine.tick() == 0 and runs(db, exercise_id) == {}
    clock.at(10)  # 00:10: the beacon starts in both ranges
    assert engine.tick() == 2
    fired = runs(db, exercise_id)
    assert fired[(t1, "beacon")].status is RunStatus.DONE, fired[(t1, "beacon")].result
    assert fired[(t2, "beacon")].status is RunStatus.DONE, fired[(t2, "beacon")].result
    time.sleep(1.5)
    for team in ("1", "2"):
        processes = range_engine.processes(label, team, "ws01")
        assert any("update.minato-cdn.example" in p.command and p.uid == 0 for p in processes)  # staff: admin
        beacons = range_engine.exec(label, team, "attacker", ["cat", "/var/log/c2/beacons.log"]).text
        assert "GET /beacon" in beacons

    clock.at(20)  # 00:20: the police call arrives in both inboxes
    assert engine.tick() == 2
    db.expire_all()
    inbox = {m.team_id: m for m in db.scalars(select(Message).where(Message.exercise_id == exercise_id))}
    assert set(inbox) == {t1, t2} and "不審な通信" in inbox[t1].subject_ja and inbox[t1].read_at is None

    # Team 1 defends before 00:30, team 2 does not: the exfiltration branches.
    sh(range_engine, label, 1, "pkill -f update.minato-cdn.example; sleep 0.5")
    clock.at(25)
    lifecycle.pause(db, exercise, actor=None, now=clock.now)
    db.commit()
    clock.at(500)
    assert engine.tick() == 0, "a paused exercise fires nothing"
    lifecycle.resume(db, exercise, actor=None, now=clock.now)
    db.commit()
    clock.at(505)  # 00:30 of exercise time (25 before the pause + 5 after)
    assert engine.tick() == 2
    decided = runs(db, exercise_id)
    assert decided[(t1, "exfil")].status is RunStatus.SKIPPED and "beacon-stopped is up" in decided[(t1, "exfil")].result
    assert decided[(t2, "exfil")].status is RunStatus.DONE
    assert "stolen" in sh(range_engine, label, 2, "cat /var/tmp/exfil-done")
    assert "stolen" not in sh(range_engine, label, 1, "cat /var/tmp/exfil-done 2>&1")

    assert engine.tick() == 0, "nothing runs twice"
    count = db.scalar(select(func.count()).select_from(InjectRun).where(InjectRun.exercise_id == exercise_id))
    assert count == 6
    timeline = db.scalars(select(TimelineEvent.summary).where(TimelineEvent.team_id == t2)).all()
    assert {"beacon: done", "police-call: done", "exfil: done"} <= set(timeline)


def test_instructor_controls_and_late_firing(app: Flask, db, world) -> None:  # type: ignore[no-untyped-def]
    exercise_id, engine, clock, _ = world
    db.expire_all()
    exercise = exercises.get_exercise(db, exercise_id)
    lifecycle.start(db, exercise, actor=None, speed=60, now=T0)
    injects.control(db, exercise, "beacon", "hold", teams=[2], actor=None)
    injects.control(db, exercise, "slow", "skip", teams=None, actor=None)
    db.commit()
    clock.at(15)  # 00:15: the engine was down at 00:10, so the beacon fires late
    engine.tick()
    t1, t2 = (t.id for t in exercise.teams)
    state = runs(db, exercise_id)
    assert state[(t1, "beacon")].status is RunStatus.DONE
    assert state[(t1, "beacon")].lateness_seconds == pytest.approx(300, abs=1)
    assert state[(t2, "beacon")].status is RunStatus.HELD
    injects.control(db, exercise, "beacon", "fire", teams=[2], actor=None)
    db.commit()
    engine.tick()
    assert runs(db, exercise_id)[(t2, "beacon")].status is RunStatus.DONE
    assert runs(db, exercise_id)[(t1, "slow")].status is RunStatus.SKIPPED


def test_kill_9_in_the_middle_and_a_restart(app: Flask, db, world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    exercise_id, engine, clock, range_engine = world
    settings = app.config["MAMORI_SETTINGS"]
    db.expire_all()
    exercise = exercises.get_exercise(db, exercise_id)
    label = ranges.range_label(settings.instance_id, exercise)
    child = engine_running_slow(db, settings, exercise)
    try:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    time.sleep(9)  # the command inside the range outlives the engine; let it finish
    recovered = Engine(app.extensions["mamori.db"], range_engine, settings.instance_id)
    assert recovered.recover() >= 1
    recovered.tick()
    slow = [r.status for r in runs(db, exercise_id).values() if r.inject_id == "slow"]
    # Teams run side by side: a step the kill cut off is interrupted and not re-run (not
    # idempotent); a team whose step had not started yet gets it from the restarted engine, once.
    assert RunStatus.INTERRUPTED in slow and set(slow) <= {RunStatus.DONE, RunStatus.INTERRUPTED}, slow
    assert db.scalar(select(func.count()).select_from(InjectRun).where(
        InjectRun.exercise_id == exercise_id, InjectRun.inject_id == "slow")) == 2
    for team in ("1", "2"):  # what had started ran once; nothing ran it a second time
        assert sh(range_engine, label, int(team), "cat /var/tmp/slow 2>&1").count("done") <= 1
    assert exercises.get_exercise(db, exercise_id).state is ExerciseState.RUNNING


def test_sigterm_finishes_the_step_in_progress(app: Flask, db, world) -> None:  # type: ignore[no-untyped-def]
    exercise_id, _engine, _clock, _ = world
    settings = app.config["MAMORI_SETTINGS"]
    db.expire_all()
    exercise = exercises.get_exercise(db, exercise_id)
    child = engine_running_slow(db, settings, exercise)
    try:
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    slow = [r for r in runs(db, exercise_id).values() if r.inject_id == "slow"]
    # Teams run side by side: every step already begun finished before the engine exited.
    assert slow and {r.status for r in slow} == {RunStatus.DONE}, [r.status for r in slow]
