"""The team page: a trainee sees only their own team; staff see any team."""
from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user

from app.models import Role
from app.services import exercises
from app.services.errors import ServiceError
from app.web.access import require_role
from app.web.context import db_session

bp = Blueprint("teams", __name__, url_prefix="/teams")


@bp.route("/<int:team_id>")
@require_role(Role.TRAINEE)
def show(team_id: int) -> str:
    try:
        team = exercises.get_team_for(db_session(), current_user, team_id)
    except ServiceError as exc:
        abort(exc.status)
    return render_template("teams/show.html", team=team, exercise=team.exercise)
