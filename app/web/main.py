"""The home page (a dashboard by role) and the health probe."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import text
from werkzeug.wrappers import Response

from app.models import Role
from app.services import exercises
from app.web.access import public
from app.web.context import db_session

bp = Blueprint("main", __name__)


@bp.route("/")
@public
def index() -> Response | str:
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    session = db_session()
    if current_user.has_role(Role.INSTRUCTOR):
        return render_template("main/staff_home.html", exercises=exercises.list_exercises(session))
    return render_template("main/trainee_home.html", teams=exercises.teams_of(session, current_user))


@bp.route("/healthz")
@public
def healthz() -> tuple[dict[str, str], int]:
    try:
        db_session().execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - the probe reports any database failure
        return {"status": "error", "database": type(exc).__name__}, 503
    return {"status": "ok"}, 200
