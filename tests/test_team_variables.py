"""Per-team variables end to end on real ranges: each team's own values in its files, checks, answers and inbox.

Two teams of one exercise of tests/scenarios/valid/variables.yaml: the C2 domain
is drawn per team, so a neighbour's answer is wrong, a neighbour's fix does not
pass the check, the instructor sees both values and trainees never see ``{{``.
"""
from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from app.models import Message, Role
from app.runtime.engine import Engine
from app.services import exercises, injects, lifecycle, ranges, scenarios, tasks
from app.services.exercises import ExerciseDraft
from range.docker_backend import DockerBackend
from range.images import build_image
from range.probes import RangeProbe
from scoring.checks import run_check
from tests.clocks import ManualClock
from tests.factories import add_member, make_user, run_by
from tests.provisioned import build_ranges
from tests.test_range.conftest import docker_backend  # noqa: F401  (the fixture)
from tests.test_rehearsal import mamori as rehearsal_cli

pytestmark = pytest.mark.docker
EXAMPLE = Path(__file__).resolve().parent / "scenarios" / "valid" / "variables.yaml"
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc)  # 10:00 in Tokyo


@pytest.fixture
def world(app: Flask, db, tmp_path: Path, docker_backend: DockerBackend):  # type: ignore[no-untyped-def]
    for name in ("base", "workstation", "attacker"):
        build_image(docker_backend, name, log=lambda line: None)
    shutil.copy(EXAMPLE, tmp_path / "variables.yaml")
    found, problems = scenarios.register_directory(db, tmp_path)
    assert problems == []
    instructor = make_user(db, role=Role.INSTRUCTOR, login="sensei")
    exercise = exercises.create_exercise(db, found[0].scenario, ExerciseDraft(name="変数", team_count=2), actor=None)
    run_by(db, exercise, instructor)
    for team in exercise.teams:
        add_member(db, team, make_user(db, login=f"member{team.number}"))
    db.commit()
    settings = app.config["MAMORI_SETTINGS"]
    range_engine, label = build_ranges(app, docker_backend, exercise)
    clock = ManualClock(T0)
    engine = Engine(app.extensions["mamori.db"], range_engine, settings.instance_id, now=clock)
    yield exercise.id, engine, clock, range_engine, label
    range_engine.teardown(label)
    assert docker_backend.containers({"label": f"org.mamori.exercise={label}"}) == []


def test_two_teams_get_their_own_values_everywhere(app: Flask, db, client, auth, world) -> None:  # type: ignore[no-untyped-def]
    exercise_id, engine, clock, range_engine, label = world
    db.expire_all()  # provisioning changed the exercise in its own session
    exercise = exercises.get_exercise(db, exercise_id)
    one, two = exercise.teams
    domain = {team.number: scenarios.team_values(team)["c2_domain"] for team in (one, two)}
    assert domain[1] != domain[2]
    assert db.get(type(one), one.id).variables["c2_domain"] == domain[1]  # stored, so never drawn anew

    # Each range has its own value in the file placed on ws01.
    for number in (1, 2):
        log = range_engine.get_file(label, str(number), "ws01", "/home/staff/proxy-log.txt")
        assert log is not None and f"http://{domain[number]}:8080/beacon" in log.decode()

    lifecycle.start(db, exercise, actor=None, speed=60, now=T0)
    db.commit()
    clock.at(10)  # 00:10: each team's beacon calls its own C2 domain (the attacker's alias in that range)
    assert engine.tick() == 2
    clock.at(20)  # 00:20: the police call names each team's own domain
    assert engine.tick() == 2
    db.expire_all()
    inbox = {m.team_id: m for m in db.scalars(select(Message).where(Message.exercise_id == exercise_id))}
    for team in (one, two):
        other = domain[3 - team.number]
        assert domain[team.number] in inbox[team.id].body_ja and other not in inbox[team.id].body_ja
        assert "10:00 頃から" in inbox[team.id].body_ja  # {{clock:00:10}}: 10:00 Tokyo at speed 60 from 10:00
        assert "{{" not in inbox[team.id].body_ja + inbox[team.id].body_en

    # The same fix (team 1's domain on the block list) passes team 1's check only.
    for number in (1, 2):
        range_engine.exec(label, str(number), "ws01", ["sh", "-c", f"echo {domain[1]} > /home/staff/blocklist.txt"])
    for team in (one, two):
        check = next(c for c in scenarios.for_team(team).checks if c.id == "domain-blocked")
        spec = ranges.compile_range(app.config["MAMORI_SETTINGS"].instance_id, exercise, team,
                                    ranges.team_range(db, team))
        result = run_check(check.type, check.params, RangeProbe(range_engine, spec), 20)
        assert result.status == ("up" if team.number == 1 else "down"), result.reason

    # Team 1's right answer is wrong for team 2.
    member = {team.number: next(m.user for m in team.memberships) for team in (one, two)}
    assert tasks.submit_answer(db, exercise, one, member[1], "c2-domain", domain[1], now=clock()).correct
    assert not tasks.submit_answer(db, exercise, two, member[2], "c2-domain", domain[1], now=clock()).correct
    assert tasks.submit_answer(db, exercise, two, member[2], "c2-domain", domain[2], now=clock()).correct
    db.commit()

    # Trainees never see a placeholder on their pages.
    auth.login("member2")
    for page in (f"/teams/{two.id}", f"/teams/{two.id}/tasks", f"/teams/{two.id}/inbox",
                 f"/teams/{two.id}/inbox/{inbox[two.id].id}"):
        response = client.get(page, follow_redirects=True)
        assert response.status_code == 200 and "{{" not in response.get_data(as_text=True), page
    letter = client.get(f"/teams/{two.id}/inbox/{inbox[two.id].id}", follow_redirects=True).get_data(as_text=True)
    assert domain[2] in letter and domain[1] not in letter
    address = ranges.team_range(db, two).hosts  # {{address:ws01}}: the team's own address of ws01
    ws01 = next(h for h in address if h.name == "ws01").addresses["office"]
    assert f"送信元 {ws01} の端末" in client.get(f"/teams/{two.id}/tasks").get_data(as_text=True)
    auth.logout()

    # The exercise's instructor sees both teams' values, on the page and in the export.
    auth.login("sensei")
    page = client.get(f"/exercises/{exercise_id}").get_data(as_text=True)
    assert domain[1] in page and domain[2] in page and "{{c2_domain}}" in page
    export = client.get(f"/review/exercises/{exercise_id}/export/variables.csv").get_data(as_text=True)
    rows = [line.split(",") for line in export.splitlines()[1:]]
    assert {(row[1], row[3], row[4]) for row in rows} >= {("1", "c2_domain", domain[1]), ("2", "c2_domain", domain[2])}


def _exercise_of_the_example(db, tmp_path: Path, instructor):  # type: ignore[no-untyped-def]
    shutil.copy(EXAMPLE, tmp_path / "variables.yaml")
    found, problems = scenarios.register_directory(db, tmp_path)
    assert problems == []
    return exercises.create_exercise(db, found[0].scenario, ExerciseDraft(name="変数", team_count=3),
                                     actor=instructor)


def test_values_are_fixed_and_only_the_exercises_staff_see_them(db, client, auth, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mine = make_user(db, role=Role.INSTRUCTOR, login="sensei")
    make_user(db, role=Role.INSTRUCTOR, login="other-sensei")
    exercise = _exercise_of_the_example(db, tmp_path, mine)
    drawn = [dict(team.variables) for team in exercise.teams]
    assert len({d["c2_domain"] for d in drawn}) == 3 and len({d["case_number"] for d in drawn}) == 3
    # The scenario in general keeps its placeholders (a field that cannot hold one shows the first value).
    general = scenarios.parsed(exercise.scenario)
    assert general.tasks[1].answer.values == ["{{c2_domain}}"]
    assert general.network.hosts[1].aliases == ["cdn-update.example"]
    assert scenarios.for_team(exercise.teams[0]).tasks[1].answer.values == [drawn[0]["c2_domain"]]
    # Renaming a team or registering a new version of the scenario leaves the values alone.
    exercise.teams[0].name = "改名したチーム"
    (tmp_path / "variables.yaml").write_text(EXAMPLE.read_text(encoding="utf-8").replace(
        'version: "1.0"', 'version: "1.1"').replace("generate: domain", "values: [a.example, b.example]")
        .replace("    suffix: example\n", ""), encoding="utf-8")
    assert scenarios.register_directory(db, tmp_path)[1] == []
    db.commit()
    db.expire_all()
    assert [scenarios.team_values(team) for team in exercise.teams] == drawn

    auth.login("other-sensei")
    page = client.get(f"/exercises/{exercise.id}").get_data(as_text=True)
    assert client.get(f"/exercises/{exercise.id}").status_code == 200
    assert all(d["c2_domain"] not in page for d in drawn) and "{{c2_domain}}" not in page
    auth.logout()
    auth.login("sensei")
    page = client.get(f"/exercises/{exercise.id}").get_data(as_text=True)
    assert all(d["c2_domain"] in page and d["case_number"] in page for d in drawn)


def test_an_instructors_message_with_a_placeholder_reaches_each_team_with_its_own_value(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    exercise = _exercise_of_the_example(db, tmp_path, make_user(db, role=Role.INSTRUCTOR, login="sensei"))
    injects.send(db, exercise, subject="遮断の確認（{{case_number}}）", body="{{c2_domain}} を遮断しましたか。",
                 teams=None, actor=None)
    db.flush()
    for team in exercise.teams:
        message = db.scalar(select(Message).where(Message.team_id == team.id))
        assert message.body_ja == f"{team.variables['c2_domain']} を遮断しましたか。"
        assert message.subject_ja == f"遮断の確認（{team.variables['case_number']}）"


@pytest.mark.docker
@pytest.mark.skipif(bool(os.environ.get("MAMORI_TEST_DATABASE_URL")), reason="the rehearsal has its own SQLite database")
def test_the_rehearsal_draws_each_scripted_team_its_own_values_and_passes(tmp_path: Path) -> None:
    done = rehearsal_cli(tmp_path, "rehearse", str(EXAMPLE), "--json", "--speed", "600", "--teams", "3", timeout=1200)
    result = json.loads(done.stdout)
    assert result["problems"] == [] and (result["ok"], done.returncode) == (True, 0), done.stderr[-2000:]
    drawn = [note.split("変数 ", 1)[1] for note in result["notes"] if "変数 " in note]
    assert len(drawn) == 3 and len({d.split(",")[0] for d in drawn}) == 3, drawn  # three different C2 domains
    perfect = next(team for team in result["teams"] if team["defender"] == "perfect")
    assert perfect["steps_done"] == perfect["steps_total"]  # its own domain answered, blocked and checked
    assert {line["id"] for line in perfect["breakdown"] if line["points"] > 0} >= {"c2-domain", "domain-blocked"}
