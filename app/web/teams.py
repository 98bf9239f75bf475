"""The team page: a trainee sees only their own team; staff see any team.

The page polls a small status fragment (the exercise clock and the unread
messages) every few seconds, so both read a fixed handful of rows. The
correspondence with the scenario's characters is ``app.web.correspondence``.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_login import current_user

from app.models import Role, Team
from app.services import correspondence, injects, ranges, team_portal, team_scores
from app.services.errors import ServiceError
from app.web.access import is_member as _is_member, team_for as _team, require_role
from app.web.context import db_session, settings
from app.web.correspondence import KIND_LABELS, THREAD_STATES
from app.web.converters import query_id
from app.web.scoring import SOURCE_LABELS, describe, source_titles

bp = Blueprint("teams", __name__, url_prefix="/teams")

STATUS_POLL_SECONDS = 10


@bp.app_context_processor
def _state_banner() -> dict[str, object]:
    """``team_state_notice(team)`` for the state banner that base.html shows on every team page."""
    return {"team_state_notice": lambda team: team_portal.state_notice(db_session(), team)}


def access_host() -> str:
    """Where trainees reach the gateway: the bind address, or this server's name if it binds all."""
    bind = settings().range_bind_address
    return request.host.split(":")[0] if bind in ("0.0.0.0", "::") else bind


@bp.route("/<int:team_id>")
@require_role(Role.TRAINEE)
def show(team_id: int) -> str:
    session = db_session()
    team = _team(team_id)
    row, hosts = ranges.access_for(session, team)
    return render_template("teams/show.html", team=team, exercise=team.exercise, range_row=row,
                           hosts=hosts, access_host=access_host(), story=team_portal.briefing(team),
                           objectives=team_portal.objectives(team),
                           members=team_portal.members(session, team),
                           people=correspondence.contactable(team.exercise), kind_labels=KIND_LABELS,
                           member=_is_member(team), **_status(team))


@bp.route("/<int:team_id>/status")
@require_role(Role.TRAINEE)
def status(team_id: int) -> str:
    """The polled part of the team page: clock and unread messages."""
    team = _team(team_id)
    return render_template("teams/_status.html", team=team, **_status(team))


def _status(team: Team) -> dict[str, object]:
    return {"clock": team_portal.clock(team.exercise), "unread": injects.unread_count(db_session(), team),
            "poll_seconds": STATUS_POLL_SECONDS}


@bp.route("/<int:team_id>/score")
@require_role(Role.TRAINEE)
def score(team_id: int) -> str:
    """The team's score, breakdown and lines: once the instructor shows scores (staff always), released grades only."""
    team = _team(team_id)
    exercise = team.exercise
    staff = current_user.has_role(Role.INSTRUCTOR)
    if not (exercise.scores_visible or staff):
        return render_template("teams/score.html", team=team, exercise=exercise, view=None, staff=False)
    before = request.args.get("before", type=query_id)
    view = team_scores.visible_score(db_session(), team, before_id=before)
    return render_template("teams/score.html", team=team, exercise=exercise, view=view, staff=staff,
                           before=before, titles=source_titles(exercise, team), source_labels=SOURCE_LABELS,
                           describe=describe)


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
    """The team's 連絡 page: its threads with the scenario's characters, and the instructors' messages."""
    team = _team(team_id)
    session = db_session()
    return render_template("teams/inbox.html", team=team, threads=correspondence.threads(session, team),
                           messages=injects.broadcasts(session, team),
                           people=correspondence.contactable(team.exercise), member=_is_member(team),
                           thread_states=THREAD_STATES, kind_labels=KIND_LABELS)


@bp.route("/<int:team_id>/inbox/<int:message_id>")
@require_role(Role.TRAINEE)
def message(team_id: int, message_id: int) -> Response | str:
    """One message; a message of a thread is shown in its thread (old links keep working)."""
    team = _team(team_id)
    session = db_session()
    try:
        shown = injects.get_message(session, team, message_id)
    except ServiceError as exc:
        abort(exc.status)
    if shown.thread_id is not None:
        return redirect(url_for("correspondence.thread", team_id=team.id, thread_id=shown.thread_id,
                                _anchor=f"message-{shown.id}"))
    if _is_member(team):  # staff looking in do not mark it read
        injects.mark_read(shown)
        session.commit()
    return render_template("teams/message.html", team=team, message=shown)
