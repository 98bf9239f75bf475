"""Authorisation matrix: every route and API endpoint × every kind of caller.

A route added without a row here fails ``test_every_route_has_a_row``. The
"instructor" persona runs the world's exercise (is on its staff); an instructor
who does not is the "other instructor", whose column for the exercise-scoped rows
is ``tests/authz_rows/staff.py``'s ``OTHER_INSTRUCTOR``.
"""
from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.exceptions import MethodNotAllowed, NotFound

from app.models import Role
from app.services import injects, staff, tokens
from tests.authz_rows import PERSONAS, Row, extra_rows
from tests.authz_rows.staff import OTHER_INSTRUCTOR
from tests.factories import PASSWORD, add_member, make_exercise, make_user

# 302 for an anonymous web visitor is the redirect to the login page.
ROWS = [
    Row("GET", "/", (302, 200, 200, 200, 200)),
    Row("GET", "/healthz", (200, 200, 200, 200, 200)),
    Row("GET", "/static/mamori.css", (200, 200, 200, 200, 200)),
    Row("GET", "/lang/en", (302, 302, 302, 302, 302)),
    Row("GET", "/login", (200, 302, 302, 302, 302)),
    Row("POST", "/login", (400, 302, 302, 302, 302)),
    Row("GET", "/account/password", (302, 200, 200, 200, 200)),
    Row("POST", "/account/password", (302, 400, 400, 400, 400)),
    Row("GET", "/account/tokens", (302, 403, 403, 200, 200)),
    Row("POST", "/account/tokens", (302, 403, 403, 200, 200)),
    Row("POST", "/account/tokens/{instructor_token}/revoke", (302, 403, 403, 302, 404)),
    Row("GET", "/exercises/", (302, 403, 403, 200, 200)),
    Row("GET", "/exercises/new", (302, 403, 403, 200, 200)),
    Row("POST", "/exercises/new", (302, 403, 403, 400, 400)),
    Row("GET", "/exercises/{exercise}", (302, 403, 403, 200, 200)),
    Row("GET", "/exercises/999999", (302, 403, 403, 404, 404)),
    Row("POST", "/exercises/{exercise}/roster", (302, 403, 403, 400, 400)),
    # The exercise is a draft: the button is refused with a message (redirect back).
    Row("POST", "/exercises/{exercise}/pause", (302, 403, 403, 302, 302)),
    Row("POST", "/exercises/{exercise}/injects", (302, 403, 403, 400, 400)),
    Row("POST", "/exercises/{exercise}/messages", (302, 403, 403, 400, 400)),
    Row("GET", "/teams/{team_a}", (302, 200, 403, 200, 200)),
    Row("GET", "/teams/{team_b}", (302, 403, 200, 200, 200)),
    # No range has been built in this world: the member and staff get 404, others 403.
    Row("GET", "/teams/{team_a}/ssh_config", (302, 404, 403, 404, 404)),
    Row("GET", "/teams/{team_a}/inbox", (302, 200, 403, 200, 200)),
    Row("GET", "/teams/{team_a}/inbox/{message_a}", (302, 200, 403, 200, 200)),
    # A team's tasks and reports: staff look but only members act. The exercise is a draft, so no
    # task is open (404 once the caller may see the team).
    Row("GET", "/teams/{team_a}/tasks", (302, 200, 403, 200, 200)),
    Row("POST", "/teams/{team_a}/tasks/infected-host/answer", (302, 404, 403, 403, 403)),
    Row("GET", "/teams/{team_a}/tasks/infected-host/hints/0", (302, 404, 403, 404, 404)),
    Row("POST", "/teams/{team_a}/tasks/infected-host/hints/0", (302, 404, 403, 403, 403)),
    Row("GET", "/teams/{team_a}/reports", (302, 200, 403, 200, 200)),
    Row("GET", "/teams/{team_a}/reports/first-report", (302, 200, 403, 200, 200)),
    Row("GET", "/teams/{team_a}/reports/no-such-report", (302, 404, 403, 404, 404)),
    # No button pressed: refused (the member's draft is not saved).
    Row("POST", "/teams/{team_a}/reports/first-report", (302, 400, 403, 403, 403)),
    Row("GET", "/exercises/{exercise}/scores", (302, 403, 403, 200, 200)),
    Row("POST", "/exercises/{exercise}/adjustments", (302, 403, 403, 400, 400)),
    Row("GET", "/exercises/{exercise}/teams/1/score", (302, 403, 403, 200, 200)),
    Row("GET", "/exercises/{exercise}/teams/99/score", (302, 403, 403, 404, 404)),
    Row("GET", "/exercises/{exercise}/grading", (302, 403, 403, 200, 200)),
    Row("GET", "/exercises/{exercise}/grading/999999", (302, 403, 403, 404, 404)),
    Row("POST", "/exercises/{exercise}/grading/999999", (302, 403, 403, 404, 404)),
    Row("POST", "/exercises/{exercise}/grading/release", (302, 403, 403, 302, 302)),
    Row("GET", "/admin/users", (302, 403, 403, 403, 200)),
    Row("POST", "/admin/users", (302, 403, 403, 403, 400)),
    Row("POST", "/admin/users/{trainee_a_user}/role", (302, 403, 403, 403, 302), {"role": "trainee"}),
    Row("GET", "/admin/audit", (302, 403, 403, 403, 200)),
    Row("GET", "/api/v1/openapi.json", (200, 200, 200, 200, 200)),
    Row("GET", "/api/v1/me", (401, 200, 200, 200, 200)),
    Row("GET", "/api/v1/scenarios", (401, 403, 403, 200, 200)),
    Row("GET", "/api/v1/exercises", (401, 403, 403, 200, 200)),
    Row("POST", "/api/v1/exercises", (401, 403, 403, 422, 422)),
    Row("GET", "/api/v1/exercises/{exercise}", (401, 403, 403, 200, 200)),
    Row("POST", "/api/v1/exercises/{exercise}/start", (401, 403, 403, 409, 409)),
    Row("GET", "/api/v1/exercises/{exercise}/scores", (401, 403, 403, 200, 200)),
    Row("GET", "/api/v1/exercises/{exercise}/teams/1/score-events", (401, 403, 403, 200, 200)),
    Row("GET", "/api/v1/exercises/{exercise}/teams/99/score-events", (401, 403, 403, 404, 404)),
    Row("POST", "/api/v1/exercises/{exercise}/adjustments", (401, 403, 403, 422, 422)),
    Row("GET", "/api/v1/teams/{team_a}", (401, 200, 403, 200, 200)),
    Row("GET", "/api/v1/teams/{team_b}", (401, 403, 200, 200, 200)),
    Row("GET", "/api/v1/users", (401, 403, 403, 403, 200)),
    Row("GET", "/api/v1/audit", (401, 403, 403, 403, 200)),
    # The portals' own rows, one module each under tests/authz_rows/.
    *extra_rows(),
    # Logging out comes last: it ends the session the rows above use.
    Row("POST", "/account/logout-everywhere", (302, 302, 302, 302, 302)),
    Row("POST", "/logout", (302, 302, 302, 302, 302)),
]


@pytest.fixture
def world(app: Flask, db) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    exercise = make_exercise(db, teams=2)
    team_a, team_b = exercise.teams
    users = {
        "trainee_a": make_user(db, role=Role.TRAINEE, login="trainee-a"),
        "trainee_b": make_user(db, role=Role.TRAINEE, login="trainee-b"),
        "instructor": make_user(db, role=Role.INSTRUCTOR, login="instructor"),
        "admin": make_user(db, role=Role.ADMIN, login="admin"),
        "other_instructor": make_user(db, role=Role.INSTRUCTOR, login="other-instructor"),
    }
    staff.add(db, exercise, "instructor", actor=None)
    add_member(db, team_a, users["trainee_a"])
    add_member(db, team_b, users["trainee_b"])
    api_tokens = {name: tokens.issue(db, user, "matrix", actor=user) for name, user in users.items()}
    revocable = tokens.issue(db, users["instructor"], "to revoke", actor=None)
    injects.send(db, exercise, subject="確認", body="本文", teams=[1], actor=None)
    db.commit()
    instructor_token = tokens.tokens_of(db, users["instructor"])[-1]
    assert revocable and instructor_token.name == "to revoke"
    return {
        "ids": {
            "exercise": exercise.id, "team_a": team_a.id, "team_b": team_b.id,
            "trainee_a_user": users["trainee_a"].id, "instructor_token": instructor_token.id,
            "message_a": injects.inbox(db, team_a)[0].id,
        },
        "logins": {name: user.login for name, user in users.items()},
        "tokens": api_tokens,
    }


def request(client: FlaskClient, row: Row, ids: dict[str, int], token: str | None) -> int:
    path = row.path.format(**ids)
    headers = {"Authorization": f"Bearer {token}"} if token and path.startswith("/api/") else {}
    if row.method == "GET":
        response = client.get(path, headers=headers)
    elif path.startswith("/api/"):
        response = client.post(path, json=row.data, headers=headers)
    else:
        response = client.post(path, data=row.data, headers=headers)
    response.close()
    return response.status_code


@pytest.mark.parametrize("persona", PERSONAS)
def test_matrix(app: Flask, world: dict[str, Any], persona: str) -> None:
    client = app.test_client()
    if persona != "anonymous":
        response = client.post("/login", data={"login": world["logins"][persona], "password": PASSWORD})
        assert response.status_code == 302, f"{persona} could not log in"
    token = world["tokens"].get(persona)
    column = PERSONAS.index(persona)
    mismatches = []
    for row in ROWS:
        status = request(client, row, world["ids"], token)
        if status != row.expect[column]:
            mismatches.append(f"{row.method} {row.path}: got {status}, want {row.expect[column]}")
    assert mismatches == [], f"{persona}:\n" + "\n".join(mismatches)


# A path about one exercise or one of its teams (whatever the id).
EXERCISE_SCOPED = re.compile(r"^(/api/v1|/review)?/(exercises|teams)/(\{\w+\}|\d+)")


def other_instructor_expects(row: Row) -> int:
    """The other instructor's cell: OTHER_INSTRUCTOR's (every row about one exercise has one), else the instructor's."""
    if (row.method, row.path) in OTHER_INSTRUCTOR or EXERCISE_SCOPED.match(row.path):
        return OTHER_INSTRUCTOR[(row.method, row.path)]
    return row.expect[PERSONAS.index("instructor")]


def test_other_instructor(app: Flask, world: dict[str, Any]) -> None:
    """An instructor who does not run the exercise: the overview read-only, nothing else about it."""
    client = app.test_client()
    response = client.post("/login", data={"login": world["logins"]["other_instructor"], "password": PASSWORD})
    assert response.status_code == 302, "the other instructor could not log in"
    mismatches = []
    for row in ROWS:
        status = request(client, row, world["ids"], world["tokens"]["other_instructor"])
        if status != other_instructor_expects(row):
            mismatches.append(f"{row.method} {row.path}: got {status}, want {other_instructor_expects(row)}")
    assert mismatches == [], "other_instructor:\n" + "\n".join(mismatches)


def test_every_exercise_scoped_row_has_an_other_instructor_cell() -> None:
    scoped = {(row.method, row.path) for row in ROWS if EXERCISE_SCOPED.match(row.path)}
    assert sorted(scoped - set(OTHER_INSTRUCTOR)) == [], "exercise-scoped rows without an other-instructor cell"
    assert sorted(set(OTHER_INSTRUCTOR) - {(row.method, row.path) for row in ROWS}) == [], \
        "other-instructor cells without a row"


def test_every_route_has_a_row(app: Flask) -> None:
    adapter = app.url_map.bind("localhost")
    covered: set[tuple[str, str]] = set()
    sample_ids = {"exercise": 1, "team_a": 1, "team_b": 2, "trainee_a_user": 1, "instructor_token": 1,
                  "message_a": 1}
    for row in ROWS:
        try:
            endpoint, _ = adapter.match(row.path.format(**sample_ids), method=row.method)
        except (NotFound, MethodNotAllowed):
            pytest.fail(f"row {row.method} {row.path} matches no route")
        covered.add((endpoint, row.method))
    missing = [
        f"{method} {rule.rule} ({rule.endpoint})"
        for rule in app.url_map.iter_rules()
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
        if (rule.endpoint, method) not in covered
    ]
    assert missing == [], "routes without a row in the authorisation matrix:\n" + "\n".join(missing)


def test_a_trainee_page_never_lists_another_team(app: Flask, world: dict[str, Any], db) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    client.post("/login", data={"login": world["logins"]["trainee_a"], "password": PASSWORD})
    home = client.get("/").get_data(as_text=True)
    assert "Team 01" in home
    assert "Team 02" not in home
    assert "trainee-b" not in client.get(f"/teams/{world['ids']['team_a']}").get_data(as_text=True)
