"""An exercise's staff (issue 14 item 12): only the instructors who run an exercise change it.

Before: any instructor could adjust any exercise's scores and list its terminal
recordings. The matrix (tests/test_authz_matrix.py) covers every route for an
instructor who does not run the exercise; these tests show what a person would
notice — the refusal leaves nothing changed, the page shows the staff and the
form, the creator runs the exercise from the start — and the CLI and migration.
"""
from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from app import migrate
from app.db import Database
from app.models import AuditEvent, Exercise, ExerciseState, Role, ScoreEvent
from app.services import exercises, staff, tokens
from app.services.errors import Conflict, Forbidden, InvalidInput
from tests.factories import PASSWORD, make_exercise, make_scenario, make_user
from tests.test_cli import Operator, operator  # noqa: F401


def login(app: Flask, user) -> object:  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert client.post("/login", data={"login": user.login, "password": PASSWORD}).status_code == 302
    return client


@pytest.fixture
def crew(app: Flask, db):  # type: ignore[no-untyped-def]
    """An exercise created on the web by "owner"; "other" is an instructor who does not run it."""
    owner = make_user(db, role=Role.INSTRUCTOR, login="owner")
    other = make_user(db, role=Role.INSTRUCTOR, login="other")
    admin = make_user(db, role=Role.ADMIN, login="boss")
    scenario = make_scenario(db, slug="crew")
    db.commit()
    client = login(app, owner)
    response = client.post("/exercises/new", data={"scenario": scenario.slug, "name": "担当の演習", "team_count": 2,
                                                   "prefecture": 0})
    assert response.status_code == 302, response.get_data(as_text=True)
    exercise_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    return {"owner": owner, "other": other, "admin": admin, "exercise_id": exercise_id, "owner_client": client}


def test_the_creator_runs_the_exercise_and_sees_the_staff_form(app: Flask, db, crew) -> None:  # type: ignore[no-untyped-def]
    exercise = db.get(Exercise, crew["exercise_id"])
    assert [u.login for u in staff.members(exercise)] == ["owner"]
    page = crew["owner_client"].get(f"/exercises/{exercise.id}").get_data(as_text=True)
    assert 'id="staff-add"' in page and "owner" in page
    assert f'action="/exercises/{exercise.id}/pause"' not in page  # a draft: no clock button yet
    assert f'action="/exercises/{exercise.id}/roster"' in page


def test_another_instructor_sees_the_overview_read_only(app: Flask, db, crew) -> None:  # type: ignore[no-untyped-def]
    client = login(app, crew["other"])
    exercise_id = crew["exercise_id"]
    assert "担当の演習" in client.get("/exercises/").get_data(as_text=True)
    response = client.get(f"/exercises/{exercise_id}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="read-only"' in page and "owner" in page
    for control in ("staff-add", f"/exercises/{exercise_id}/roster", f"/exercises/{exercise_id}/injects",
                    f"/exercises/{exercise_id}/messages", f"/exercises/{exercise_id}/live"):
        assert control not in page, control


def test_another_instructors_adjustment_is_refused_and_changes_nothing(app: Flask, db, crew) -> None:  # type: ignore[no-untyped-def]
    exercise_id = crew["exercise_id"]
    client = login(app, crew["other"])
    response = client.post(f"/exercises/{exercise_id}/adjustments", data={"team": 1, "points": 50, "reason": "x"})
    assert response.status_code == 403
    token = tokens.issue(db, crew["other"], "api", actor=crew["other"])
    db.commit()
    api = app.test_client().post(f"/api/v1/exercises/{exercise_id}/adjustments",
                                 json={"team": 1, "points": 50, "reason": "x"},
                                 headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 403 and "do not run exercise" in api.get_json()["message"]
    assert db.scalar(select(func.count()).select_from(ScoreEvent)) == 0
    # The same form from the exercise's instructor is recorded.
    done = crew["owner_client"].post(f"/exercises/{exercise_id}/adjustments",
                                     data={"team": 1, "points": 50, "reason": "x"})
    assert done.status_code == 302
    assert db.scalar(select(func.count()).select_from(ScoreEvent)) == 1


def test_another_instructor_cannot_start_the_clock(app: Flask, db, crew) -> None:  # type: ignore[no-untyped-def]
    exercise = db.get(Exercise, crew["exercise_id"])
    exercise.state = ExerciseState.READY
    db.commit()
    assert login(app, crew["other"]).post(f"/exercises/{exercise.id}/start").status_code == 403
    db.expire_all()
    assert db.get(Exercise, exercise.id).state is ExerciseState.READY


def test_staff_add_and_remove_on_the_page(app: Flask, db, crew) -> None:  # type: ignore[no-untyped-def]
    exercise_id, owner_client = crew["exercise_id"], crew["owner_client"]
    other_client = login(app, crew["other"])
    assert other_client.get(f"/exercises/{exercise_id}/live").status_code == 403
    assert other_client.post(f"/exercises/{exercise_id}/staff", data={"login": "other"}).status_code == 403

    assert owner_client.post(f"/exercises/{exercise_id}/staff", data={"login": "other"}).status_code == 302
    assert other_client.get(f"/exercises/{exercise_id}/live").status_code == 200
    # A trainee cannot run an exercise; nobody is added twice.
    trainee = make_user(db, role=Role.TRAINEE, login="trainee-x")
    db.commit()
    refused = owner_client.post(f"/exercises/{exercise_id}/staff", data={"login": trainee.login})
    assert refused.status_code == 400 and "講師ではありません" in refused.get_data(as_text=True)
    assert owner_client.post(f"/exercises/{exercise_id}/staff", data={"login": "other"}).status_code == 409

    # The added instructor takes the creator off; the last one stays.
    assert other_client.post(f"/exercises/{exercise_id}/staff", data={"login": "owner", "remove": "1"}).status_code == 302
    assert owner_client.get(f"/exercises/{exercise_id}/live").status_code == 403
    last = other_client.post(f"/exercises/{exercise_id}/staff", data={"login": "other", "remove": "1"})
    assert last.status_code == 409
    db.expire_all()
    assert [u.login for u in staff.members(db.get(Exercise, exercise_id))] == ["other"]
    actions = db.scalars(select(AuditEvent.action).where(AuditEvent.action.like("exercise.staff_%"))).all()
    assert sorted(actions) == ["exercise.staff_add", "exercise.staff_remove"]


def test_an_administrator_runs_every_exercise_and_adds_staff(app: Flask, db) -> None:  # type: ignore[no-untyped-def]
    exercise = make_exercise(db)  # made by the operator (CLI): no staff, administrators only
    admin = make_user(db, role=Role.ADMIN)
    instructor = make_user(db, role=Role.INSTRUCTOR)
    db.commit()
    assert staff.members(exercise) == []
    assert login(app, instructor).get(f"/exercises/{exercise.id}/scores").status_code == 403
    client = login(app, admin)
    assert client.get(f"/exercises/{exercise.id}/scores").status_code == 200
    assert client.post(f"/exercises/{exercise.id}/staff", data={"login": instructor.login}).status_code == 302
    assert login(app, instructor).get(f"/exercises/{exercise.id}/scores").status_code == 200


def test_the_service_refuses_what_the_pages_refuse(db) -> None:  # type: ignore[no-untyped-def]
    exercise = make_exercise(db)
    one, two = make_user(db, role=Role.INSTRUCTOR), make_user(db, role=Role.INSTRUCTOR)
    with pytest.raises(Forbidden):
        staff.add(db, exercise, two.login, actor=one)
    staff.add(db, exercise, one.login, actor=None)  # the operator
    staff.add(db, exercise, two.login, actor=one)
    with pytest.raises(Forbidden):
        exercises.get_team_for(db, make_user(db, role=Role.INSTRUCTOR), exercise.teams[0].id)
    assert exercises.get_team_for(db, two, exercise.teams[0].id) is exercise.teams[0]
    two.active = False
    with pytest.raises(InvalidInput):
        staff.add(db, make_exercise(db), two.login, actor=None)
    staff.remove(db, exercise, two.login, actor=one)
    with pytest.raises(Conflict):
        staff.remove(db, exercise, one.login, actor=None)


def test_cli_staff_add_list_remove(operator: Operator) -> None:  # noqa: F811
    operator.migrate()
    operator.register_scenario()
    exercise = operator.run("exercise", "create", "--scenario", "mini", "--teams", "1").stdout.strip()
    for login in ("sato", "suzuki"):
        made = operator.run("user", "create", login, "--role", "instructor", MAMORI_NEW_PASSWORD=PASSWORD)
        assert made.returncode == 0, made.stderr
    assert operator.run("exercise", "staff", "list", exercise).stdout == ""
    for login in ("sato", "suzuki"):
        added = operator.run("exercise", "staff", "add", exercise, login)
        assert added.returncode == 0, added.stderr
    assert [line.split("\t")[0] for line in operator.run("exercise", "staff", "list", exercise).stdout.splitlines()] \
        == ["sato", "suzuki"]
    assert operator.run("exercise", "staff", "remove", exercise, "sato").returncode == 0
    last = operator.run("exercise", "staff", "remove", exercise, "suzuki")
    assert last.returncode == 1 and "only instructor" in last.stderr
    missing = operator.run("exercise", "staff", "add", exercise, "nobody")
    assert missing.returncode == 1 and "no user 'nobody'" in missing.stderr


def test_the_migration_makes_each_creator_staff(tmp_path) -> None:  # type: ignore[no-untyped-def]
    database = Database(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    try:
        migrate.upgrade(database, "0007")
        with database.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO users (login, display_name, password_hash, role, active, must_change_password, "
                "created_at, session_generation) VALUES ('maker', 'Maker', 'x', 'instructor', 1, 0, "
                "CURRENT_TIMESTAMP, 0), ('pupil', 'Pupil', 'x', 'trainee', 1, 0, CURRENT_TIMESTAMP, 0)"))
            connection.execute(text(
                "INSERT INTO scenarios (slug, version, content_hash, title_ja, title_en, level, days, source_path, "
                "source_text, document, bundle, registered_at) VALUES ('s', '1', 'h', 't', 't', 'beginner', 1, "
                "'p', 'x', '{}', '{}', CURRENT_TIMESTAMP)"))
            for creator in ("(SELECT id FROM users WHERE login = 'maker')", "NULL",
                            "(SELECT id FROM users WHERE login = 'pupil')"):
                connection.execute(text(
                    "INSERT INTO exercises (name, scenario_id, state, days, current_day, clock_elapsed, speed, "
                    "scores_visible, venue, created_by_id, created_at) VALUES ('e', (SELECT id FROM scenarios), "
                    f"'draft', 1, 1, 0, 1, 0, '', {creator}, CURRENT_TIMESTAMP)"))
        migrate.upgrade(database)
        with database.engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT exercise_staff.exercise_id, users.login FROM exercise_staff "
                "JOIN users ON users.id = exercise_staff.user_id ORDER BY exercise_staff.exercise_id")).all()
        assert [tuple(r) for r in rows] == [(1, "maker")]  # none for the CLI's, none for a trainee
    finally:
        database.dispose()
