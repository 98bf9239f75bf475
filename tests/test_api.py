"""The JSON API: its OpenAPI document, bearer tokens, creating exercises, team visibility."""
from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import ApiToken, AuditEvent, Exercise, Role, Team, User
from app.services import staff, tokens
from tests.factories import add_member, make_exercise, make_scenario, make_user


def issue_token(db: Session, user: User) -> str:
    raw = tokens.issue(db, user, "test", actor=user)
    db.commit()
    return raw


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def see_app_commits(db: Session) -> None:
    db.rollback()
    db.expire_all()


def exercise_count(db: Session) -> int:
    see_app_commits(db)
    return db.scalar(select(func.count()).select_from(Exercise)) or 0


def actions(db: Session, action: str) -> list[AuditEvent]:
    see_app_commits(db)
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# --- the OpenAPI document ---------------------------------------------------------------


def test_openapi_document_is_public_and_lists_the_api(client: FlaskClient):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    document = response.get_json()
    assert "openapi" in document
    assert {
        "/api/v1/me",
        "/api/v1/exercises",
        "/api/v1/exercises/{exercise_id}",
        "/api/v1/teams/{team_id}",
        "/api/v1/scenarios",
        "/api/v1/users",
        "/api/v1/audit",
    } <= set(document["paths"])
    assert document["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert "post" in document["paths"]["/api/v1/exercises"]


# --- tokens -----------------------------------------------------------------------------


def test_a_token_authenticates_its_user(client, db):
    user = make_user(db, login="yamada")
    raw = issue_token(db, user)

    response = client.get("/api/v1/me", headers=bearer(raw))

    assert response.status_code == 200
    assert response.get_json()["login"] == "yamada"
    assert response.get_json()["role"] == "trainee"


def test_using_a_token_records_when(client, db):
    user = make_user(db, login="yamada")
    raw = issue_token(db, user)

    client.get("/api/v1/me", headers=bearer(raw))

    see_app_commits(db)
    assert db.scalar(select(ApiToken.last_used_at)) is not None


def test_no_token_is_401_with_a_bearer_challenge(client):
    response = client.get("/api/v1/me")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer mmr_not-a-real-token", "Bearer not-even-the-prefix", "Basic eWFtYWRhOnB3", "Bearer "]
)
def test_a_wrong_token_is_401(client, db, header):
    issue_token(db, make_user(db, login="yamada"))

    response = client.get("/api/v1/me", headers={"Authorization": header})

    assert response.status_code == 401


def test_a_revoked_token_is_401(client, db):
    user = make_user(db, role=Role.INSTRUCTOR, login="yamada")
    raw = issue_token(db, user)
    assert client.get("/api/v1/me", headers=bearer(raw)).status_code == 200
    token_id = db.scalar(select(ApiToken.id).where(ApiToken.user_id == user.id))
    tokens.revoke(db, user, token_id, actor=user)
    db.commit()

    assert client.get("/api/v1/me", headers=bearer(raw)).status_code == 401


def test_a_deactivated_users_token_is_401(client, db):
    user = make_user(db, login="yamada")
    raw = issue_token(db, user)
    user.active = False
    db.commit()

    assert client.get("/api/v1/me", headers=bearer(raw)).status_code == 401


def test_a_browser_session_does_not_authenticate_the_api(client, db, auth):
    make_user(db, role=Role.ADMIN, login="root")
    db.commit()
    assert auth.login("root").status_code == 302
    assert client.get("/admin/users").status_code == 200

    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/users").status_code == 401


# --- creating exercises -----------------------------------------------------------------


@pytest.fixture
def instructor_token(db) -> str:
    return issue_token(db, make_user(db, role=Role.INSTRUCTOR, login="sensei"))


def test_instructor_creates_an_exercise(client, db, instructor_token):
    make_scenario(db, slug="web-deface")
    db.commit()

    response = client.post(
        "/api/v1/exercises", json={"scenario": "web-deface", "teams": 3}, headers=bearer(instructor_token)
    )

    assert response.status_code == 201
    body = response.get_json()
    assert body["scenario"] == "web-deface"
    assert body["state"] == "draft"
    assert [team["number"] for team in body["teams"]] == [1, 2, 3]
    assert exercise_count(db) == 1
    [event] = actions(db, "exercise.create")
    assert event.actor_login == "sensei"
    assert event.exercise_id == body["id"]
    assert client.get(f"/api/v1/exercises/{body['id']}", headers=bearer(instructor_token)).status_code == 200


def test_api_posts_need_no_csrf_token(app, client, db, instructor_token):
    app.config["WTF_CSRF_ENABLED"] = True
    make_scenario(db, slug="web-deface")
    db.commit()

    response = client.post(
        "/api/v1/exercises", json={"scenario": "web-deface", "teams": 1}, headers=bearer(instructor_token)
    )

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "bad_field"),
    [
        ({"scenario": "web-deface", "teams": 0}, "teams"),
        ({"scenario": "web-deface", "teams": 999}, "teams"),
        ({"scenario": "web-deface", "teams": "three"}, "teams"),
        ({"teams": 3}, "scenario"),
        ({"scenario": "web-deface"}, "teams"),
    ],
)
def test_invalid_exercise_is_422_with_field_errors(client, db, instructor_token, body, bad_field):
    make_scenario(db, slug="web-deface")
    db.commit()

    response = client.post("/api/v1/exercises", json=body, headers=bearer(instructor_token))

    assert response.status_code == 422
    assert bad_field in response.get_json()["errors"]["json"]
    assert exercise_count(db) == 0
    assert actions(db, "exercise.create") == []


def test_unknown_scenario_is_404(client, db, instructor_token):
    response = client.post("/api/v1/exercises", json={"scenario": "nope", "teams": 2}, headers=bearer(instructor_token))

    assert response.status_code == 404
    assert exercise_count(db) == 0


def test_unknown_scenario_error_names_the_scenario(client, db, instructor_token):
    response = client.post("/api/v1/exercises", json={"scenario": "nope", "teams": 2}, headers=bearer(instructor_token))

    assert "nope" in response.get_data(as_text=True)


def test_trainee_cannot_create_an_exercise(client, db):
    make_scenario(db, slug="web-deface")
    raw = issue_token(db, make_user(db, role=Role.TRAINEE, login="gakusei"))

    response = client.post("/api/v1/exercises", json={"scenario": "web-deface", "teams": 3}, headers=bearer(raw))

    assert response.status_code == 403
    assert exercise_count(db) == 0


# --- teams ------------------------------------------------------------------------------


@pytest.fixture
def two_teams(db):  # type: ignore[no-untyped-def]
    """A trainee in team 1 of an exercise; team 2 has someone else."""
    exercise = make_exercise(db, teams=2)
    trainee = make_user(db, login="gakusei", display_name="学生 一郎")
    add_member(db, exercise.teams[0], trainee)
    add_member(db, exercise.teams[1], make_user(db, login="other", display_name="他の 班"))
    raw = issue_token(db, trainee)
    return raw, exercise.teams[0].id, exercise.teams[1].id


def test_trainee_sees_their_own_team_with_members(client, two_teams):
    raw, own, _other = two_teams

    response = client.get(f"/api/v1/teams/{own}", headers=bearer(raw))

    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == own
    assert body["members"] == [{"login": "gakusei", "display_name": "学生 一郎", "organisation": None}]


def test_trainee_cannot_see_another_team(client, two_teams):
    raw, _own, other = two_teams

    response = client.get(f"/api/v1/teams/{other}", headers=bearer(raw))

    assert response.status_code == 403
    assert "他の 班" not in response.get_data(as_text=True)


def test_instructor_sees_any_team_of_an_exercise_they_run(client, db, two_teams, instructor_token):
    _raw, _own, other = two_teams
    assert client.get(f"/api/v1/teams/{other}", headers=bearer(instructor_token)).status_code == 403
    staff.add(db, db.get(Team, other).exercise, "sensei", actor=None)
    db.commit()

    response = client.get(f"/api/v1/teams/{other}", headers=bearer(instructor_token))

    assert response.status_code == 200
    assert [m["login"] for m in response.get_json()["members"]] == ["other"]


def test_unknown_team_is_404(client, two_teams):
    raw, own, other = two_teams

    assert client.get(f"/api/v1/teams/{own + other + 1000}", headers=bearer(raw)).status_code == 404
