"""Range work started from the web: retry a failed team, reset a host (background ``mamori`` commands)."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditEvent, Exercise, ExerciseState, RangeHost, RangeState, Role
from app.services import exercises, job_records, range_jobs, ranges, scenarios
from app.services.errors import Conflict, InvalidInput, NotFound
from app.services.exercises import ExerciseDraft
from app.settings import Settings
from tests.factories import make_exercise, make_user, run_by
from tests.test_range.conftest import docker_backend  # noqa: F401  (real Docker, for the last test only)

MINIMAL = Path(__file__).resolve().parent / "scenarios" / "valid" / "minimal.yaml"


class FakeLauncher:
    """Records what would be started instead of starting it; the job "runs" (holds its lock) until ``end()``."""

    def __init__(self, error: OSError | None = None) -> None:
        self.calls: list[tuple[list[str], dict[str, str], Path]] = []
        self.error = error
        self.held: list[int] = []

    def __call__(self, argv: Sequence[str], env: Mapping[str, str], log: Path, keep_fds: Sequence[int] = ()) -> int:
        if self.error is not None:
            raise self.error
        self.calls.append((list(argv), dict(env), log))
        self.held += [os.dup(fd) for fd in keep_fds]  # as the child process would
        return 4242

    def end(self) -> None:
        """The "process" ends: its lock is released."""
        for fd in self.held:
            os.close(fd)
        self.held.clear()


def test_a_retry_starts_the_provision_command_on_the_same_database(db: Session, settings: Settings) -> None:
    exercise = make_exercise(db, teams=2)
    row = ranges.team_range(db, exercise.teams[1])
    row.state, row.reason = RangeState.FAILED, "ws01: start-up command 1 failed"
    launcher = FakeLauncher()

    started = range_jobs.retry_team(db, settings, exercise, 2, actor=None, ip="127.0.0.1", launcher=launcher)
    launcher.end()

    argv, env, log = launcher.calls[0]
    assert argv[0].endswith("/mamori") and Path(argv[0]).parent == Path(range_jobs.sys.executable).parent
    assert argv[1:] == ["exercise", "provision", str(exercise.id), "--team", "2"]
    assert env["DATABASE_URL"] == settings.database_url
    assert env["MAMORI_INSTANCE_PATH"] == str(settings.instance_path)
    assert env["MAMORI_INSTANCE_ID"] == settings.instance_id
    assert log.parent == settings.instance_path / "range-jobs" and log.parent.is_dir()
    assert started.record.pid == 4242 and started.record.log == log.name and not started.joined
    assert int(env[job_records.FD_VARIABLE]) > 2, "the job's lock is handed to the command"
    assert (row.state, row.reason, row.step) == (RangeState.PENDING, "", "queued")
    audit = db.scalar(select(AuditEvent).where(AuditEvent.action == "range.retry"))
    assert audit.detail["team"] == 2 and audit.detail["pid"] == 4242 and audit.ip == "127.0.0.1"


def test_range_jobs_are_refused_when_they_cannot_work(db: Session, settings: Settings) -> None:
    exercise = make_exercise(db, teams=1)
    launcher = FakeLauncher()
    with pytest.raises(NotFound):
        range_jobs.retry_team(db, settings, exercise, 7, actor=None, launcher=launcher)
    with pytest.raises(InvalidInput):
        range_jobs.reset_host(db, settings, exercise, 1, "nope", actor=None, launcher=launcher)
    with pytest.raises(Conflict):  # nothing built yet: nothing to reset
        range_jobs.reset_host(db, settings, exercise, 1, "ws01", actor=None, launcher=launcher)
    exercise.state = ExerciseState.RUNNING
    ranges.team_range(db, exercise.teams[0]).state = RangeState.FAILED
    with pytest.raises(Conflict):  # provisioning refuses a running exercise: reset hosts instead
        range_jobs.retry_team(db, settings, exercise, 1, actor=None, launcher=launcher)
    assert launcher.calls == []
    with pytest.raises(range_jobs.JobNotStarted):
        range_jobs.reset_host(db, settings, exercise, 1, "ws01", actor=None,
                              launcher=FakeLauncher(PermissionError(13, "Permission denied")))


def test_the_web_buttons_flash_and_audit(client: FlaskClient, db: Session, auth, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    exercise = make_exercise(db, teams=1)
    row = ranges.team_range(db, exercise.teams[0])
    row.state = RangeState.READY
    row.hosts = [RangeHost(name="ws01", state="exited")]
    run_by(db, exercise, make_user(db, role=Role.INSTRUCTOR, login="sensei"))
    db.commit()
    auth.login("sensei")
    launcher = FakeLauncher()
    monkeypatch.setattr(range_jobs, "detached", launcher)

    response = client.post(f"/exercises/{exercise.id}/teams/1/hosts/ws01/reset", follow_redirects=True)
    assert response.status_code == 200 and "ws01 をリセットしています" in response.get_data(as_text=True)
    assert launcher.calls[0][0][1:] == ["host", "reset", str(exercise.id), "1", "ws01"]
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "host.reset.requested")).detail["host"] == "ws01"

    exercise.state = ExerciseState.RUNNING
    db.commit()
    refused = client.post(f"/exercises/{exercise.id}/teams/1/provision", follow_redirects=True)
    assert "壊れたホストはリセットしてください" in refused.get_data(as_text=True)
    assert len(launcher.calls) == 1, "nothing more was started"


# Real Docker -----------------------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def two_teams(app: Flask, db: Session, tmp_path: Path, docker_backend) -> Exercise:  # type: ignore[no-untyped-def]
    from range.images import build_image

    for name in ("base", "workstation", "attacker"):
        build_image(docker_backend, name, log=lambda line: None)
    shutil.copy(MINIMAL, tmp_path / "minimal.yaml")
    found, problems = scenarios.register_directory(db, tmp_path)
    assert problems == []
    created = exercises.create_exercise(db, found[0].scenario, ExerciseDraft(name="演習", team_count=2), actor=None)
    run_by(db, created, make_user(db, role=Role.INSTRUCTOR, login="sensei"))
    db.commit()
    return created


@pytest.mark.docker
def test_build_all_rebuild_failed_reset_and_tear_down_from_the_board(  # type: ignore[no-untyped-def]
        app: Flask, client: FlaskClient, db: Session, auth, two_teams: Exercise, docker_backend) -> None:
    """The whole range life from the browser, with the real ``mamori`` commands the web starts."""
    from range import labels
    from range.engine import DockerRangeEngine

    settings = app.config["MAMORI_SETTINGS"]
    exercise_id = two_teams.id
    label = ranges.range_label(settings.instance_id, two_teams)
    board = lambda: client.get(f"/exercises/{exercise_id}/readiness/board").get_data(as_text=True)  # noqa: E731
    row = lambda number: ranges.team_range(db, two_teams.teams[number - 1])  # noqa: E731
    containers = lambda team=None: docker_backend.containers(labels.filters(label, team))  # noqa: E731

    def job_over() -> bool:
        status = job_records.current(settings.instance_path, exercise_id)
        return status is not None and not status.alive

    # A container already holding the name of team 2's workstation makes its build fail for real.
    foreign = docker_backend.api.create_container(
        "mamori/base:latest", name=f"mmr-{label}-2-ws01", labels={"org.mamori.test": "foreign"})
    auth.login("sensei")
    try:
        try:
            first = client.post(f"/exercises/{exercise_id}/ranges/build", follow_redirects=True)
            second = client.post(f"/exercises/{exercise_id}/ranges/build", follow_redirects=True)
            assert "チーム1〜2の演習環境の構築を始めました" in first.get_data(as_text=True)
            assert "構築はすでに実行中です（チーム1〜2）" in second.get_data(as_text=True)
            assert "構築中: " in board()
            wait_for(job_over, "the build to end")
        finally:
            docker_backend.remove_container(foreign["Id"])
        started = db.scalars(select(AuditEvent).where(AuditEvent.action == "ranges.build_all")).all()
        assert len(started) == 1, "the second click started nothing"
        log = (settings.instance_path / "range-jobs" / started[0].detail["log"]).read_text()
        assert "already exists" not in log and "1 of 2 teams ready" in log
        db.expire_all()
        assert (row(1).state, row(2).state) == (RangeState.READY, RangeState.FAILED)
        assert "構築完了: 2チーム中1チーム成功、1チーム失敗（チーム2: " in board()

        team1 = {c.id for c in containers("1")}
        rebuilt = client.post(f"/exercises/{exercise_id}/ranges/rebuild-failed", follow_redirects=True)
        assert "チーム2の演習環境の構築を始めました" in rebuilt.get_data(as_text=True)
        wait_for(job_over, "team 2's build to end")
        db.expire_all()
        assert (row(1).state, row(2).state) == (RangeState.READY, RangeState.READY)
        assert {c.id for c in containers("1")} == team1, "team 1 was not touched"
        assert exercises.get_exercise(db, exercise_id).state is ExerciseState.READY
        assert "構築完了: 1チーム中1チーム成功" in board() and "2 チーム中 2 チームが準備完了" in board()

        before = {h.name: h.container_id for h in row(1).hosts}
        reset = client.post(f"/exercises/{exercise_id}/teams/1/hosts/ws01/reset", follow_redirects=True)
        assert "ws01 をリセットしています" in reset.get_data(as_text=True)

        def recreated() -> bool:
            db.expire_all()
            now = {h.name: (h.container_id, h.state) for h in row(1).hosts}
            return now["ws01"][0] != before["ws01"] and now["ws01"][1] == "running"
        wait_for(recreated, "ws01 to be recreated", timeout=180)
        wait_for(lambda: range_jobs.running() == 0, "the reset command to end", timeout=60)

        everything = len(containers())
        refused = client.post(f"/exercises/{exercise_id}/ranges/teardown", follow_redirects=True)
        assert "演習環境の削除には確認が必要です。何も削除していません" in refused.get_data(as_text=True)
        assert len(containers()) == everything == 6, "two teams of gateway, ws01 and attacker, all still there"

        gone = client.post(f"/exercises/{exercise_id}/ranges/teardown", data={"confirm": "yes"}, follow_redirects=True)
        assert "チーム1〜2の演習環境の削除を始めました" in gone.get_data(as_text=True)
        wait_for(job_over, "the teardown to end", timeout=120)
        assert containers() == [] and docker_backend.networks(labels.filters(label)) == []
        final = board()
        assert "削除完了: 2チームのコンテナとネットワークを削除しました" in final and "全チームの演習環境を構築" in final
        assert "見つかりません" not in final, "hosts removed on purpose are not listed as missing"
        db.expire_all()
        assert exercises.get_exercise(db, exercise_id).state is ExerciseState.DRAFT, "built again at will"
        assert (row(1).state, row(2).state) == (RangeState.TORN_DOWN, RangeState.TORN_DOWN)
        audit = db.scalar(select(AuditEvent).where(AuditEvent.action == "ranges.teardown"))
        assert audit.actor_login == "sensei" and audit.detail["teams"] == [1, 2]
    finally:
        DockerRangeEngine(docker_backend).teardown(label)
        assert docker_backend.containers(labels.filters(label)) == []
