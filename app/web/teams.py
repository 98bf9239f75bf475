"""The team page: a trainee sees only their own team; staff see any team."""
from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request
from flask_login import current_user

from app.models import Role, Team
from app.services import exercises, injects, ranges
from app.services.errors import ServiceError
from app.web.access import require_role
from app.web.context import db_session, settings

bp = Blueprint("teams", __name__, url_prefix="/teams")


def _team(team_id: int) -> Team:
    try:
        return exercises.get_team_for(db_session(), current_user, team_id)
    except ServiceError as exc:
        abort(exc.status)


def access_host() -> str:
    """Where trainees reach the gateway: the bind address, or this server's name if it binds all."""
    bind = settings().range_bind_address
    return request.host.split(":")[0] if bind in ("0.0.0.0", "::") else bind


@bp.route("/<int:team_id>")
@require_role(Role.TRAINEE)
def show(team_id: int) -> str:
    team = _team(team_id)
    row, hosts = ranges.access_for(db_session(), team)
    unread = sum(1 for m in injects.inbox(db_session(), team) if m.read_at is None)
    return render_template("teams/show.html", team=team, exercise=team.exercise, range_row=row,
                           hosts=hosts, access_host=access_host(), unread=unread)


@bp.route("/<int:team_id>/ssh_config")
@require_role(Role.TRAINEE)
def ssh_config(team_id: int) -> Response:
    team = _team(team_id)
    row, hosts = ranges.access_for(db_session(), team)
    if row is None or row.gateway_port is None:
        abort(404)
    text = ranges.ssh_config(team, row, hosts, access_host())
    return Response(text, mimetype="text/plain", headers={
        "Content-Disposition": f"attachment; filename=mamori-team{team.number:02d}.ssh_config"})


@bp.route("/<int:team_id>/inbox")
@require_role(Role.TRAINEE)
def inbox(team_id: int) -> str:
    team = _team(team_id)
    return render_template("teams/inbox.html", team=team, messages=injects.inbox(db_session(), team))


@bp.route("/<int:team_id>/inbox/<int:message_id>")
@require_role(Role.TRAINEE)
def message(team_id: int, message_id: int) -> str:
    team = _team(team_id)
    session = db_session()
    try:
        shown = injects.get_message(session, team, message_id)
    except ServiceError as exc:
        abort(exc.status)
    if not current_user.has_role(Role.INSTRUCTOR):  # staff looking in do not mark it read
        injects.mark_read(shown)
        session.commit()
    return render_template("teams/message.html", team=team, message=shown)
