"""API resources: thin wrappers over the service layer."""
from __future__ import annotations

from functools import wraps
from typing import Callable

from flask_smorest import abort
from sqlalchemy.orm import Session

from app.api.auth import api_user, authenticate_request, fail, require_api_role, team_for
from app.api.parsing import Blueprint
from app.api.schemas import (
    AdjustmentSchema,
    AuditEventSchema,
    ExerciseCreateSchema,
    ExerciseSchema,
    ScenarioSchema,
    ScoreEventSchema,
    StandingSchema,
    TeamSchema,
    TeamScoreSchema,
    TransitionSchema,
    UserSchema,
)
from app.models import Exercise, Role, Team
from app.services import accounts, audit, exercises, ledger, lifecycle, scenarios, scores, staff
from app.services.errors import ServiceError
from app.web.context import client_ip, db_session

me_bp = Blueprint("api_me", __name__, url_prefix="/api/v1", description="The caller")
scenario_bp = Blueprint("api_scenarios", __name__, url_prefix="/api/v1", description="Scenarios")
exercise_bp = Blueprint("api_exercises", __name__, url_prefix="/api/v1", description="Exercises and teams")
admin_bp = Blueprint("api_admin", __name__, url_prefix="/api/v1", description="Administration")
BLUEPRINTS = (me_bp, scenario_bp, exercise_bp, admin_bp)
for _blueprint in BLUEPRINTS:
    _blueprint.before_request(authenticate_request)


def _exercise_to_run(session: Session, exercise_id: int) -> Exercise:
    """404 when there is no such exercise, 403 when the caller does not run it (``app.services.staff``)."""
    try:
        exercise = exercises.get_exercise(session, exercise_id)
        staff.require_runner(exercise, api_user())
    except ServiceError as exc:
        fail(exc)
    return exercise


def runs_exercise(view: Callable) -> Callable:  # type: ignore[type-arg]
    """Refuse a caller who does not run the route's exercise before its body is even read."""
    @wraps(view)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        _exercise_to_run(db_session(), kwargs["exercise_id"])
        return view(*args, **kwargs)

    return wrapper


@me_bp.route("/me")
@require_api_role(Role.TRAINEE)
@me_bp.response(200, UserSchema)
def me():  # type: ignore[no-untyped-def]
    """The user the token belongs to."""
    return api_user()


@scenario_bp.route("/scenarios")
@require_api_role(Role.INSTRUCTOR)
@scenario_bp.response(200, ScenarioSchema(many=True))
def list_scenarios():  # type: ignore[no-untyped-def]
    """The newest registered version of every scenario."""
    return scenarios.latest(db_session())


@exercise_bp.route("/exercises")
@require_api_role(Role.INSTRUCTOR)
@exercise_bp.response(200, ExerciseSchema(many=True))
def list_exercises():  # type: ignore[no-untyped-def]
    """Every exercise, newest first."""
    return exercises.list_exercises(db_session())


@exercise_bp.route("/exercises", methods=["POST"])
@require_api_role(Role.INSTRUCTOR)
@exercise_bp.arguments(ExerciseCreateSchema)
@exercise_bp.response(201, ExerciseSchema)
def create_exercise(body: dict):  # type: ignore[no-untyped-def]
    """Create an exercise (state ``draft``) with N teams from a registered scenario."""
    session = db_session()
    try:
        scenario = scenarios.get_latest(session, body["scenario"])
        draft = exercises.ExerciseDraft(
            name=body["name"], team_count=body["teams"], venue=body["venue"],
            prefecture_id=body["prefecture_id"], starts_on=body["starts_on"], ends_on=body["ends_on"],
        )
        exercise = exercises.create_exercise(session, scenario, draft, actor=api_user(), ip=client_ip())
    except ServiceError as exc:
        session.rollback()
        fail(exc)
    session.commit()
    return exercise


@exercise_bp.route("/exercises/<int:exercise_id>")
@require_api_role(Role.INSTRUCTOR)
@exercise_bp.response(200, ExerciseSchema)
def get_exercise(exercise_id: int):  # type: ignore[no-untyped-def]
    """One exercise with its teams."""
    try:
        return exercises.get_exercise(db_session(), exercise_id)
    except ServiceError as exc:
        fail(exc)


@exercise_bp.route("/exercises/<int:exercise_id>/<any(start, pause, resume, 'end-day', finish):action>",
                   methods=["POST"])
@require_api_role(Role.INSTRUCTOR)
@runs_exercise
@exercise_bp.arguments(TransitionSchema)
@exercise_bp.response(200, ExerciseSchema)
def transition(body: dict, exercise_id: int, action: str):  # type: ignore[no-untyped-def]
    """Start (day 1 or the next day, optionally with a speed factor), pause, resume, end the day, finish."""
    session = db_session()
    try:
        exercise = exercises.get_exercise(session, exercise_id)
        options = {"speed": body.get("speed")} if action == "start" else {}
        lifecycle.TRANSITIONS[action.replace("-", "_")](session, exercise, actor=api_user(), ip=client_ip(),
                                                        **options)
    except ServiceError as exc:
        session.rollback()
        fail(exc)
    session.commit()
    return exercise


@exercise_bp.route("/exercises/<int:exercise_id>/scores")
@require_api_role(Role.INSTRUCTOR)
@runs_exercise
@exercise_bp.response(200, StandingSchema(many=True))
def scoreboard(exercise_id: int):  # type: ignore[no-untyped-def]
    """The scoreboard: teams by points, ties sharing a rank."""
    session = db_session()
    try:
        return ledger.scoreboard(session, exercises.get_exercise(session, exercise_id))
    except ServiceError as exc:
        fail(exc)


@exercise_bp.route("/exercises/<int:exercise_id>/teams/<int:number>/score-events")
@require_api_role(Role.INSTRUCTOR)
@runs_exercise
@exercise_bp.response(200, TeamScoreSchema)
def team_score_events(exercise_id: int, number: int):  # type: ignore[no-untyped-def]
    """A team's points by source and its newest 200 score events."""
    session = db_session()
    team = _team_by_number(session, exercise_id, number)
    lines = ledger.breakdown(session, team)
    return {"team": team, "points": sum(line.points for line in lines), "breakdown": lines,
            "events": ledger.events(session, team, limit=200)}


@exercise_bp.route("/exercises/<int:exercise_id>/adjustments", methods=["POST"])
@require_api_role(Role.INSTRUCTOR)
@runs_exercise
@exercise_bp.arguments(AdjustmentSchema)
@exercise_bp.response(201, ScoreEventSchema)
def adjust(body: dict, exercise_id: int):  # type: ignore[no-untyped-def]
    """Award (points > 0) or take away (points < 0) points from a team, with a reason the team reads."""
    session = db_session()
    team = _team_by_number(session, exercise_id, body["team"])
    try:
        event = scores.adjust(session, team.exercise, team, body["points"], body["reason"], actor=api_user(),
                              ip=client_ip())
    except ServiceError as exc:
        session.rollback()
        fail(exc)
    session.commit()
    return event


def _team_by_number(session: Session, exercise_id: int, number: int) -> Team:
    try:
        exercise = exercises.get_exercise(session, exercise_id)
    except ServiceError as exc:
        fail(exc)
    team = next((t for t in exercise.teams if t.number == number), None)
    if team is None:
        abort(404, message=f"exercise {exercise_id} has no team {number}")
    return team


@exercise_bp.route("/teams/<int:team_id>")
@require_api_role(Role.TRAINEE)
@exercise_bp.response(200, TeamSchema)
def get_team(team_id: int):  # type: ignore[no-untyped-def]
    """A team: staff see any team, a trainee only their own."""
    return team_for(db_session(), team_id)


@admin_bp.route("/users")
@require_api_role(Role.ADMIN)
@admin_bp.response(200, UserSchema(many=True))
def list_users():  # type: ignore[no-untyped-def]
    """Every account."""
    return accounts.list_users(db_session())


@admin_bp.route("/audit")
@require_api_role(Role.ADMIN)
@admin_bp.response(200, AuditEventSchema(many=True))
def audit_log():  # type: ignore[no-untyped-def]
    """The newest 500 audit events."""
    return audit.recent(db_session(), limit=500)
