"""The engine's disk watchdog on real containers: a layer over its limit is paused and the instructor told."""
from __future__ import annotations

import threading
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditEvent, Exercise, RangeHost, Role, TimelineEvent
from app.runtime.diskwatch import DiskLimits, DiskWatch
from app.runtime.engine import Engine
from app.services import disk, ranges
from app.services.errors import Conflict
from range.docker_backend import DockerBackend, DockerFailure
from range.engine import DockerRangeEngine

from tests.factories import PASSWORD, make_running_exercise, make_user, run_by
from tests.test_range.plain_hosts import plain_host

pytestmark = pytest.mark.docker
MB = 1024 * 1024
LIMITS = DiskLimits(layer_bytes=50 * MB, interval_seconds=0.3, host_min_free_bytes=0)


@pytest.fixture
def hosts(app: Flask, db: Session, docker_backend: DockerBackend):  # type: ignore[no-untyped-def]
    """A running exercise of two teams, each with a real ws01 container labelled as the platform labels it."""
    exercise = make_running_exercise(db, teams=2)
    db.commit()
    instance = app.config["MAMORI_SETTINGS"].instance_id
    label = ranges.range_label(instance, exercise)
    engine = DockerRangeEngine(docker_backend)
    try:
        containers = {team: plain_host(docker_backend, label, str(team), "ws01") for team in (1, 2)}
        yield exercise, engine, containers, instance
    finally:
        engine.teardown(label)


def write(backend: DockerBackend, container: str, megabytes: int, name: str = "fill") -> None:
    result = backend.exec(container, ["sh", "-c", f"dd if=/dev/zero of=/var/tmp/{name} bs=1M count={megabytes} "
                                      "2>/dev/null && sync && echo ok"], timeout=60)
    assert result.text.strip() == "ok"


def status(backend: DockerBackend, container: str) -> str:
    return backend.api.inspect_container(container)["State"]["Status"]


def watch(app: Flask, engine: DockerRangeEngine, instance: str, limits: DiskLimits = LIMITS) -> DiskWatch:
    return DiskWatch(app.extensions["mamori.db"], engine, instance, limits)


def test_a_container_over_its_limit_is_paused_and_the_instructor_told(
        app: Flask, db: Session, client: FlaskClient, hosts) -> None:  # type: ignore[no-untyped-def]
    exercise, engine, containers, instance = hosts
    backend = engine.backend
    write(backend, containers[1], 80)
    write(backend, containers[2], 10)
    row = ranges.team_range(db, exercise.teams[0])
    db.add(RangeHost(team_range=row, name="ws01", container_id=containers[1], state="running"))
    db.commit()
    report = watch(app, engine, instance).run_once()
    assert report.errors == () and report.measured == 2
    assert [(f.team, f.host, f.action) for f in report.findings] == [("1", "ws01", "paused")]
    assert status(backend, containers[1]) == "paused"
    assert status(backend, containers[2]) == "running"  # under the limit: untouched
    assert report.usages[containers[1]].bytes >= 80 * MB > report.usages[containers[2]].bytes

    db.expire_all()
    audit = db.scalars(select(AuditEvent).where(AuditEvent.action == "disk.paused")).all()
    assert [(a.exercise_id, a.detail["team"], a.detail["host"], a.detail["limit_mb"]) for a in audit] == [
        (exercise.id, 1, "ws01", 50)]
    assert audit[0].detail["used_mb"] >= 80
    timeline = db.scalars(select(TimelineEvent).where(TimelineEvent.kind == "disk")).all()
    assert len(timeline) == 1 and timeline[0].team_id == exercise.teams[0].id
    assert db.scalar(select(RangeHost.state).where(RangeHost.name == "ws01")) == "paused"  # the readiness board

    # The instructor sees it on the live view (Japanese first) and in the polled fragment.
    run_by(db, exercise, make_user(db, role=Role.INSTRUCTOR, login="sensei"))  # the instructor who runs it
    db.commit()
    client.post("/login", data={"login": "sensei", "password": PASSWORD})
    for path in (f"/exercises/{exercise.id}/live", f"/exercises/{exercise.id}/live/board"):
        page = client.get(path).get_data(as_text=True)
        assert "ディスク使用量が上限を超えたため ws01 を一時停止しました" in page, path

    # A second pass records nothing new: the paused container is left alone.
    again = watch(app, engine, instance).run_once()
    assert again.findings == () and again.measured == 1


def test_a_resumed_host_gets_room_to_clean_up_then_is_paused_again(
        app: Flask, db: Session, client: FlaskClient, hosts) -> None:  # type: ignore[no-untyped-def]
    exercise, engine, containers, instance = hosts
    backend = engine.backend
    watcher = watch(app, engine, instance)
    write(backend, containers[1], 60)
    assert [f.action for f in watcher.run_once().findings] == ["paused"]

    with pytest.raises(Conflict):  # team 2's ws01 is not paused
        disk.resume_host(db, engine, instance, db.get(Exercise, exercise.id), 2, "ws01")
    db.rollback()
    # The instructor presses the live view's button: `mamori host resume` runs in the background.
    run_by(db, exercise, make_user(db, role=Role.INSTRUCTOR, login="sensei"))  # the instructor who runs it
    db.commit()
    client.post("/login", data={"login": "sensei", "password": PASSWORD})
    board = client.get(f"/exercises/{exercise.id}/live/board").get_data(as_text=True)
    resume = f"/exercises/{exercise.id}/teams/1/hosts/ws01/resume"
    assert f'action="{resume}"' in board
    assert client.post(resume).status_code == 302
    deadline = time.monotonic() + 60
    while status(backend, containers[1]) != "running" and time.monotonic() < deadline:
        time.sleep(0.3)
    assert status(backend, containers[1]) == "running"
    while time.monotonic() < deadline:  # the command records the resume once it has unpaused
        db.expire_all()
        if db.scalar(select(AuditEvent).where(AuditEvent.action == "disk.resumed")) is not None:
            break
        time.sleep(0.3)
    assert watcher.run_once().findings == ()  # allowed its use at the resume plus one limit
    write(backend, containers[1], 30, "more")
    assert watcher.run_once().findings == ()
    write(backend, containers[1], 30, "even-more")
    assert [f.action for f in watcher.run_once().findings] == ["paused"]
    db.expire_all()
    events = [e.detail["event"] for e in db.scalars(select(TimelineEvent).order_by(TimelineEvent.id))]
    assert events == ["paused", "resumed", "paused"]


def test_the_engine_runs_the_watch_in_its_own_thread(app: Flask, hosts) -> None:  # type: ignore[no-untyped-def]
    exercise, engine, containers, instance = hosts
    write(engine.backend, containers[2], 60)
    worker = Engine(app.extensions["mamori.db"], engine, instance, disk_limits=LIMITS)
    stop = threading.Event()
    loop = threading.Thread(target=worker.run, args=(stop, 0.2))
    loop.start()
    try:
        deadline = time.monotonic() + 30
        while status(engine.backend, containers[2]) != "paused" and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        loop.join(30)
    assert status(engine.backend, containers[2]) == "paused"
    assert status(engine.backend, containers[1]) == "running"


def test_a_failing_docker_engine_becomes_a_reported_error(app: Flask, hosts, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    exercise, engine, containers, instance = hosts

    def refuse(*args: object, **kwargs: object) -> None:
        raise DockerFailure("listing containers failed: connection refused")

    monkeypatch.setattr(engine.backend, "containers", refuse)
    report = watch(app, engine, instance).run_once()
    assert report.errors and "connection refused" in report.errors[0]


def test_low_free_space_on_the_docker_host_warns_each_exercise_once(
        app: Flask, db: Session, hosts) -> None:  # type: ignore[no-untyped-def]
    exercise, engine, containers, instance = hosts
    watcher = watch(app, engine, instance, DiskLimits(layer_bytes=50 * MB, host_min_free_bytes=10 ** 15))
    first = watcher.run_once()
    assert first.low_space and first.space is not None and first.errors == ()
    assert watcher.run_once().low_space
    db.expire_all()
    rows = db.scalars(select(TimelineEvent).where(TimelineEvent.kind == "disk")).all()
    assert [(r.exercise_id, r.team_id, r.detail["event"]) for r in rows] == [(exercise.id, None, "low_space")]
    assert [a.action for a in db.scalars(select(AuditEvent).where(AuditEvent.action.like("disk.%")))] == ["disk.low_space"]
