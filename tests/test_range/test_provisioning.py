"""Provisioning an exercise through the control plane: per-team states, failures, status, teardown."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from flask import Flask

from app.cli import cli
from app.models import ExerciseState, RangeState
from app.services import exercises, ranges, scenarios
from app.services.exercises import ExerciseDraft
from range import labels
from range.docker_backend import DockerBackend
from range.images import build_image

pytestmark = pytest.mark.docker
MINIMAL = Path(__file__).resolve().parent.parent / "scenarios" / "valid" / "minimal.yaml"


@pytest.fixture
def exercise_id(app: Flask, db, tmp_path: Path, docker_backend: DockerBackend) -> int:  # type: ignore[no-untyped-def]
    for name in ("base", "workstation", "attacker"):
        build_image(docker_backend, name, log=lambda line: None)
    shutil.copy(MINIMAL, tmp_path / "minimal.yaml")
    found, problems = scenarios.register_directory(db, tmp_path)
    assert problems == []
    created = exercises.create_exercise(db, found[0].scenario, ExerciseDraft(name="演習", team_count=2), actor=None)
    db.commit()
    return created.id


def run(app: Flask, *args: str):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(cli, list(args), catch_exceptions=False)


def test_provision_status_and_teardown(app: Flask, db, exercise_id: int, docker_backend: DockerBackend) -> None:  # type: ignore[no-untyped-def]
    result = run(app, "exercise", "provision", str(exercise_id))
    assert result.exit_code == 0, result.output
    assert "2 of 2 teams ready" in result.output

    status = run(app, "exercise", "status", str(exercise_id), "--json")
    report = json.loads(status.stdout)
    assert report["state"] == ExerciseState.READY.value
    assert [t["state"] for t in report["teams"]] == ["ready", "ready"]
    team = report["teams"][0]
    assert team["gateway"]["host"] == "127.0.0.1" and team["gateway"]["port"]
    hosts = {h["name"]: h for h in team["hosts"]}
    assert set(hosts) == {"ws01", "attacker", labels.GATEWAY_HOST}
    assert hosts["ws01"]["state"] == "running" and hosts["ws01"]["container_id"]
    assert hosts["ws01"]["addresses"]["office"].count(".") == 3

    label = ranges.range_label(app.config["MAMORI_SETTINGS"].instance_id, exercises.get_exercise(db, exercise_id))
    docker_backend.remove_container(hosts["attacker"]["container_id"])
    after = json.loads(run(app, "exercise", "status", str(exercise_id), "--json").stdout)
    first = after["teams"][0]
    assert first["state"] == "failed" and "attacker: missing" in first["reason"]
    assert after["teams"][1]["state"] == "ready"

    retry = run(app, "exercise", "provision", str(exercise_id), "--team", "1")
    assert retry.exit_code == 0, retry.output
    assert json.loads(run(app, "exercise", "status", str(exercise_id), "--json").stdout)["teams"][0]["state"] == "ready"

    down = run(app, "exercise", "teardown", str(exercise_id))
    assert down.exit_code == 0
    assert docker_backend.containers(labels.filters(label)) == []
    assert docker_backend.networks(labels.filters(label)) == []
    again = run(app, "exercise", "teardown", str(exercise_id))
    assert "removed 0" in again.output


def test_a_failing_team_does_not_stop_the_others(app: Flask, db, exercise_id: int, docker_backend: DockerBackend) -> None:  # type: ignore[no-untyped-def]
    label = ranges.range_label(app.config["MAMORI_SETTINGS"].instance_id, exercises.get_exercise(db, exercise_id))
    foreign = docker_backend.api.create_container(
        "mamori/base:latest", name=f"mmr-{label}-2-ws01", labels={"org.mamori.test": "foreign"})
    try:
        result = run(app, "exercise", "provision", str(exercise_id))
        assert result.exit_code == 1
        assert "1 of 2 teams ready" in result.output
        assert "team 2 failed" in result.output and "Conflict" in result.output or "already in use" in result.output
        db.expire_all()
        rows = {t.number: ranges.team_range(db, t) for t in exercises.get_exercise(db, exercise_id).teams}
        assert rows[1].state is RangeState.READY
        assert rows[2].state is RangeState.FAILED and "ws01" in rows[2].reason
        assert exercises.get_exercise(db, exercise_id).state is ExerciseState.PROVISIONING
    finally:
        docker_backend.remove_container(foreign["Id"])
    retry = run(app, "exercise", "provision", str(exercise_id), "--team", "2")
    assert retry.exit_code == 0, retry.output
    db.expire_all()
    assert exercises.get_exercise(db, exercise_id).state is ExerciseState.READY
    run(app, "exercise", "teardown", str(exercise_id))
    assert docker_backend.containers(labels.filters(label)) == []


def test_reset_host_from_the_cli(app: Flask, db, exercise_id: int) -> None:  # type: ignore[no-untyped-def]
    assert run(app, "exercise", "provision", str(exercise_id)).exit_code == 0
    before = json.loads(run(app, "exercise", "status", str(exercise_id), "--json").stdout)
    result = run(app, "host", "reset", str(exercise_id), "1", "ws01")
    assert result.exit_code == 0, result.output
    after = json.loads(run(app, "exercise", "status", str(exercise_id), "--json").stdout)
    ids = lambda report, team: {h["name"]: h["container_id"] for h in report["teams"][team]["hosts"]}  # noqa: E731
    assert ids(after, 0)["ws01"] != ids(before, 0)["ws01"]
    assert ids(after, 0)["attacker"] == ids(before, 0)["attacker"]
    assert ids(after, 1) == ids(before, 1)
    bad = app.test_cli_runner().invoke(cli, ["host", "reset", str(exercise_id), "1", "nope"])
    assert bad.exit_code == 1 and "no host 'nope'" in bad.output
    run(app, "exercise", "teardown", str(exercise_id))


def test_reset_a_whole_team(app: Flask, db, exercise_id: int) -> None:  # type: ignore[no-untyped-def]
    assert run(app, "exercise", "provision", str(exercise_id)).exit_code == 0
    before = json.loads(run(app, "exercise", "status", str(exercise_id), "--json").stdout)
    result = run(app, "team", "reset", str(exercise_id), "2")
    assert result.exit_code == 0, result.output
    after = json.loads(run(app, "exercise", "status", str(exercise_id), "--json").stdout)
    ids = lambda report, team: {h["name"]: h["container_id"] for h in report["teams"][team]["hosts"]}  # noqa: E731
    assert ids(after, 0) == ids(before, 0)
    assert not set(ids(after, 1).values()) & set(ids(before, 1).values())
    assert after["teams"][1]["state"] == "ready"
    run(app, "exercise", "teardown", str(exercise_id))


def test_pause_resume_and_repair_after_an_interrupted_provisioning(app: Flask, db, exercise_id: int) -> None:  # type: ignore[no-untyped-def]
    assert run(app, "exercise", "provision", str(exercise_id)).exit_code == 0
    paused = run(app, "ranges", "pause", str(exercise_id))
    assert "paused 6 containers" in paused.output
    report = json.loads(run(app, "exercise", "status", str(exercise_id), "--json").stdout)
    assert {h["state"] for t in report["teams"] for h in t["hosts"]} == {"paused"}
    assert [t["state"] for t in report["teams"]] == ["paused", "paused"]
    resumed = run(app, "ranges", "resume", str(exercise_id))
    assert "team 1: ready" in resumed.output and "team 2: ready" in resumed.output

    # A control plane that died mid-build leaves "creating" behind; reconcile says what to do.
    row = ranges.team_range(db, exercises.get_exercise(db, exercise_id).teams[0])
    row.state, row.step = RangeState.CREATING, "wait ws01"
    db.commit()
    run(app, "exercise", "reconcile", str(exercise_id))
    db.expire_all()
    row = ranges.team_range(db, exercises.get_exercise(db, exercise_id).teams[0])
    assert row.state is RangeState.FAILED and f"provision {exercise_id} --team 1" in row.reason
    run(app, "exercise", "teardown", str(exercise_id))
