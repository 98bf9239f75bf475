"""The readiness board's whole-exercise buttons: build all, build the failed ones again, tear down.

One job per exercise at a time (a lock in the instance folder, held by the job's process); a second
click joins it. The fast tests here use a launcher that only pretends to start the command but holds
its lock as the command would; tests/test_range_jobs.py runs the real thing against Docker.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping, Sequence

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cli import cli
from app.models import AuditEvent, ExerciseState, RangeHost, RangeState, Role
from app.services import job_records, range_jobs, ranges
from app.services.errors import Conflict, InvalidInput
from app.settings import Settings
from tests.factories import make_exercise, make_user, run_by


class HoldingLauncher:
    """Pretends to start the command; the "process" holds the job's lock (as the real one does) until ``end()``."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.held: list[int] = []

    def __call__(self, argv: Sequence[str], env: Mapping[str, str], log: Path, keep_fds: Sequence[int] = ()) -> int:
        self.calls.append(list(argv))
        self.held += [os.dup(fd) for fd in keep_fds]
        return 90000 + len(self.calls)

    def end(self, instance_path: Path, exercise_id: int, result: dict | None) -> None:  # type: ignore[type-arg]
        if result is not None:
            job_records.finish(instance_path, exercise_id, result)
        for fd in self.held:
            os.close(fd)
        self.held.clear()


@pytest.fixture
def launcher(monkeypatch: pytest.MonkeyPatch) -> HoldingLauncher:
    fake = HoldingLauncher()
    monkeypatch.setattr(range_jobs, "detached", fake)
    yield fake  # type: ignore[misc]
    for fd in fake.held:
        os.close(fd)


def flashes(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", m).strip() for m in re.findall(r'class="flash flash-\w+"[^>]*>(.*?)</', html, re.S)]


def test_build_all_twice_starts_one_job_and_the_board_follows_it(  # type: ignore[no-untyped-def]
        client: FlaskClient, db: Session, auth, settings: Settings, launcher: HoldingLauncher) -> None:
    exercise = make_exercise(db, teams=3)
    run_by(db, exercise, make_user(db, role=Role.INSTRUCTOR, login="sensei"))
    db.commit()
    auth.login("sensei")
    board = client.get(f"/exercises/{exercise.id}/readiness").get_data(as_text=True)
    assert "全チームの演習環境を構築" in board and 'id="teardown"' not in board, "nothing built: nothing to remove"

    first = client.post(f"/exercises/{exercise.id}/ranges/build", follow_redirects=True).get_data(as_text=True)
    again = client.post(f"/exercises/{exercise.id}/ranges/build", follow_redirects=True).get_data(as_text=True)
    one = client.post(f"/exercises/{exercise.id}/teams/2/provision", follow_redirects=True).get_data(as_text=True)

    assert "チーム1〜3の演習環境の構築を始めました。" in first
    assert "構築はすでに実行中です（チーム1〜3）。進行状況はこの画面に表示されます。" in again
    assert "構築はすでに実行中です（チーム1〜3）" in one, "a team inside the running build joins it"
    assert launcher.calls == [[range_jobs.mamori_program(), "exercise", "provision", str(exercise.id)]]
    audits = db.scalars(select(AuditEvent).where(AuditEvent.action.like("range%"))).all()
    assert [(a.action, a.actor_login, a.detail["teams"]) for a in audits] == [("ranges.build_all", "sensei", [1, 2, 3])]

    # The job's process reports each team on its range row; the board counts them.
    db.expire_all()
    ranges.team_range(db, exercise.teams[0]).state = RangeState.READY
    ranges.team_range(db, exercise.teams[1]).state, ranges.team_range(db, exercise.teams[1]).step = \
        RangeState.CREATING, "configure ws01"
    db.commit()
    running = client.get(f"/exercises/{exercise.id}/readiness/board").get_data(as_text=True)
    assert "構築中: 1/3 チーム完了" in running and "ws01 を設定中" in running
    assert 'id="build-all"' not in running and "実行中の作業に合流するだけです" in running
    refused = client.post(f"/exercises/{exercise.id}/ranges/teardown", data={"confirm": "yes"},
                          follow_redirects=True).get_data(as_text=True)
    assert "別の作業（チーム1〜3の構築）が実行中です。終わってからもう一度押してください。" in flashes(refused)
    assert len(launcher.calls) == 1

    launcher.end(settings.instance_path, exercise.id, {"ready": [1, 2], "failed": [[3, "ws01: timeout"]]})
    for number, state in ((2, RangeState.READY), (3, RangeState.FAILED)):
        row = ranges.team_range(db, exercise.teams[number - 1])
        row.state, row.step = state, ""
    db.commit()
    over = client.get(f"/exercises/{exercise.id}/readiness/board").get_data(as_text=True)
    assert "構築完了: 3チーム中2チーム成功、1チーム失敗（チーム3: ws01: timeout）" in over
    assert "実行者: sensei" in over and "失敗したチームを再構築（1チーム）" in over
    for english in ("queued", "configure", "provision", "failed"):
        assert not re.search(rf">[^<]*\b{english}\b", over), f"{english!r} shown on the Japanese board"


def test_rebuild_failed_builds_only_the_failed_and_interrupted_teams(  # type: ignore[no-untyped-def]
        client: FlaskClient, db: Session, auth, settings: Settings, launcher: HoldingLauncher) -> None:
    exercise = make_exercise(db, teams=4)
    states = [RangeState.READY, RangeState.FAILED, RangeState.CREATING, RangeState.READY]
    for team, state in zip(exercise.teams, states):
        ranges.team_range(db, team).state = state
    ranges.team_range(db, exercise.teams[2]).step = "create ws01"  # its process died mid-build
    run_by(db, exercise, make_user(db, role=Role.INSTRUCTOR, login="sensei"))
    db.commit()
    auth.login("sensei")
    board = client.get(f"/exercises/{exercise.id}/readiness/board").get_data(as_text=True)
    assert "中断" in board and "失敗したチームを再構築（2チーム）" in board

    page = client.post(f"/exercises/{exercise.id}/ranges/rebuild-failed", follow_redirects=True)
    assert "チーム2〜3の演習環境の構築を始めました" in page.get_data(as_text=True)
    assert launcher.calls == [[range_jobs.mamori_program(), "exercise", "provision", str(exercise.id),
                               "--team", "2", "--team", "3"]]
    db.expire_all()
    assert [ranges.team_range(db, t).state for t in exercise.teams] == \
        [RangeState.READY, RangeState.PENDING, RangeState.PENDING, RangeState.READY]
    audit = db.scalar(select(AuditEvent).where(AuditEvent.action == "ranges.rebuild_failed"))
    assert audit.detail["teams"] == [2, 3] and audit.actor_login == "sensei"

    # Building all while that job runs would leave teams 1 and 4 out of it: refused, nothing started.
    refused = client.post(f"/exercises/{exercise.id}/ranges/build", follow_redirects=True).get_data(as_text=True)
    assert "別の作業（チーム2〜3の構築）が実行中です。" in refused and len(launcher.calls) == 1

    launcher.end(settings.instance_path, exercise.id, None)  # the process vanished without a result
    over = client.get(f"/exercises/{exercise.id}/readiness/board").get_data(as_text=True)
    assert "構築は中断されました。処理が結果を残さずに終了しています" in over
    assert "失敗したチームを再構築（2チーム）" in over, "the rows it left half-built can be built again"


def test_teardown_needs_confirmation_and_a_finished_or_unstarted_exercise(  # type: ignore[no-untyped-def]
        client: FlaskClient, db: Session, auth, settings: Settings, launcher: HoldingLauncher) -> None:
    exercise = make_exercise(db, teams=2)
    for team in exercise.teams:
        row = ranges.team_range(db, team)
        row.state, row.hosts = RangeState.READY, [RangeHost(name="ws01", state="running")]
    exercise.state = ExerciseState.RUNNING
    run_by(db, exercise, make_user(db, role=Role.INSTRUCTOR, login="sensei"))
    db.commit()
    auth.login("sensei")
    board = client.get(f"/exercises/{exercise.id}/readiness/board").get_data(as_text=True)
    assert 'id="teardown"' not in board and "演習の開始前か終了後に削除できます" in board
    running = client.post(f"/exercises/{exercise.id}/ranges/teardown", data={"confirm": "yes"}, follow_redirects=True)
    assert "演習を終了してから演習環境を削除してください" in running.get_data(as_text=True)

    for state in (ExerciseState.PAUSED, ExerciseState.DAY_ENDED):
        exercise.state = state
        with pytest.raises(Conflict):
            range_jobs.teardown(db, settings, exercise, confirmed=True, actor=None)
    exercise.state = ExerciseState.FINISHED
    db.commit()
    board = client.get(f"/exercises/{exercise.id}/readiness/board").get_data(as_text=True)
    form = re.search(r'<form[^>]*id="teardown"[^>]*data-confirm="([^"]+)"', board)
    assert form and "コンテナとネットワークを削除します" in form.group(1) and "元に戻せません" in form.group(1)
    assert 'name="confirm" value="yes"' in board

    unconfirmed = client.post(f"/exercises/{exercise.id}/ranges/teardown", follow_redirects=True)
    assert "演習環境の削除には確認が必要です。何も削除していません" in unconfirmed.get_data(as_text=True)
    with pytest.raises(InvalidInput):
        range_jobs.teardown(db, settings, exercise, confirmed=False, actor=None)
    assert launcher.calls == []

    first = client.post(f"/exercises/{exercise.id}/ranges/teardown", data={"confirm": "yes"}, follow_redirects=True)
    again = client.post(f"/exercises/{exercise.id}/ranges/teardown", data={"confirm": "yes"}, follow_redirects=True)
    assert "チーム1〜2の演習環境の削除を始めました" in first.get_data(as_text=True)
    assert "削除はすでに実行中です（チーム1〜2）" in again.get_data(as_text=True)
    assert launcher.calls == [[range_jobs.mamori_program(), "exercise", "teardown", str(exercise.id)]]
    audit = db.scalars(select(AuditEvent).where(AuditEvent.action == "ranges.teardown")).all()
    assert [(a.actor_login, a.detail["teams"]) for a in audit] == [("sensei", [1, 2])]


def test_a_terminal_run_waits_for_no_one_but_refuses_while_a_web_job_runs(  # type: ignore[no-untyped-def]
        app: Flask, db: Session, settings: Settings, launcher: HoldingLauncher) -> None:
    exercise = make_exercise(db, teams=1)
    range_jobs.build_all(db, settings, exercise, actor=None)
    db.commit()
    result = app.test_cli_runner().invoke(cli, ["exercise", "provision", str(exercise.id)])
    assert result.exit_code == 1 and "another range job is running for this exercise" in result.output
    result = app.test_cli_runner().invoke(cli, ["exercise", "teardown", str(exercise.id)])
    assert result.exit_code == 1 and "another range job is running" in result.output
    db.expire_all()
    assert ranges.team_range(db, exercise.teams[0]).state is RangeState.PENDING, "the refused command changed nothing"


def test_trainees_and_other_instructors_cannot_build_all(  # type: ignore[no-untyped-def]
        client: FlaskClient, db: Session, auth, launcher: HoldingLauncher) -> None:
    exercise = make_exercise(db, teams=1)
    run_by(db, exercise, make_user(db, role=Role.INSTRUCTOR, login="sensei"))
    make_user(db, role=Role.INSTRUCTOR, login="other")
    make_user(db, role=Role.TRAINEE, login="trainee")
    db.commit()
    for login in ("other", "trainee"):
        auth.login(login)
        for action in ("build", "rebuild-failed", "teardown"):
            assert client.post(f"/exercises/{exercise.id}/ranges/{action}", data={"confirm": "yes"}).status_code == 403
        auth.logout()
    assert launcher.calls == []
