"""A team's reports over the API: each report with its due moment and versions, saving the draft, handing in.

The portal's rules (``app.web.teamwork``): whoever may see the team reads its
reports; only its members write. Every write names the ``base`` it was written
from (the ``base`` the listing gives, ``"0.0"`` before anything was written);
when a team-mate saved or handed in since, the answer is 409 with the report's
``current`` version (its text, revision, author and new ``base``) and nothing is
written. Saving again with that ``base`` is then deliberate. A text over the
limit is refused whole (400), never cut.
"""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable

from flask import jsonify
from flask_smorest import abort
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from app.api.auth import api_user, authenticate_request, fail, require_api_role, team_for
from app.api.parsing import Blueprint
from app.models import ReportStatus, ReportVersion, Role, User
from app.services import reports
from app.services.errors import ServiceError
from app.web.context import db_session

bp = Blueprint("api_reports", __name__, url_prefix="/api/v1", description="A team's reports (第一報・続報・最終報)")
bp.before_request(authenticate_request)
BLUEPRINTS = (bp,)

BASE = validate.Regexp(r"^\d{1,9}\.\d{1,9}$", error="base is NUMBER.REVISION, as the listing gives it (0.0: none yet)")


class WriteSchema(Schema):
    text = fields.Str(required=True, metadata={"description": f"at most {reports.MAX_TEXT} characters"})
    base = fields.Str(required=True, validate=BASE,
                      metadata={"description": "the report's base the text was written from"})




def members_only(view: Callable) -> Callable:  # type: ignore[type-arg]
    """Refuse a caller who may not write as the route's team before its body is even read."""
    @wraps(view)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not any(m.user_id == api_user().id for m in team_for(db_session(), kwargs["team_id"]).memberships):
            abort(403, message="only the team's members write its reports")
        return view(*args, **kwargs)

    return wrapper


def _version(version: ReportVersion, names: dict[int, str]) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "number": version.number, "status": version.status.value, "revision": version.revision,
        "base": reports.Base.of(version).token, "text": version.text,
        "author": names.get(version.author_id or 0), "updated_at": version.updated_at.isoformat(),
        "submitted_at": version.submitted_at.isoformat() if version.submitted_at else None,
        "day": version.day if version.submitted_at else None,
        "exercise_seconds": version.exercise_seconds if version.submitted_at else None,
    }
    if version.status is ReportStatus.REVISION_REQUESTED:
        shown["comment"] = version.comment
    elif reports.grade_visible(version):  # the team sees a grade only once it is released
        shown.update(scores=dict(version.scores), total=version.total, comment=version.comment)
    return shown


def _names(session: Session, versions: list[ReportVersion]) -> dict[int, str]:
    ids = {v.author_id for v in versions if v.author_id is not None}
    return {user.id: user.display_name for user in (session.get(User, i) for i in ids) if user is not None}


def _view(view: reports.ReportView, names: dict[int, str]) -> dict[str, Any]:
    due = view.due_at
    return {
        "id": view.report.id, "kind": view.report.kind,
        "title": {"ja": view.report.title.ja, "en": view.report.title.en},
        "due": None if due is None or not due.fixed else {
            "day": due.day, "exercise_seconds": due.seconds, "wall": due.wall.isoformat() if due.wall else None},
        "submitted": view.submitted, "late_minutes": view.late_minutes,
        "overdue_minutes": view.overdue_minutes if view.overdue else None,
        "base": reports.Base.of(view.versions[-1] if view.versions else None).token,
        "draft": view.draft.text if view.draft is not None else None,
        "versions": [_version(v, names) for v in view.versions],
    }


def _conflict(exc: reports.DraftConflict) -> tuple[Response, int]:
    """409 with what the team-mate saved: the text to read before writing again with its ``base``."""
    body = {"code": 409, "status": "Conflict", "message": str(exc),
            "current": {**_version(exc.current, {exc.current.author_id or 0: exc.author}), "author": exc.author}}
    return jsonify(body), 409


@bp.route("/teams/<int:team_id>/reports")
@require_api_role(Role.TRAINEE)
def list_reports(team_id: int):  # type: ignore[no-untyped-def]
    """The scenario's reports for this team, in order: due moment, timeliness, ``base``, draft and versions."""
    session = db_session()
    team = team_for(session, team_id)
    views = reports.report_views(session, team.exercise, team)
    names = _names(session, [v for view in views for v in view.versions])
    return jsonify([_view(view, names) for view in views])


def _write(team_id: int, report_id: str, body: dict, hand_in: bool):  # type: ignore[no-untyped-def]
    session = db_session()
    team = team_for(session, team_id)
    base = reports.Base.parse(body["base"])
    try:
        if hand_in:
            version = reports.submit(session, team.exercise, team, api_user(), report_id, text=body["text"], base=base)
        else:
            version = reports.save_draft(session, team.exercise, team, api_user(), report_id, body["text"], base=base)
    except reports.DraftConflict as exc:
        session.rollback()
        return _conflict(exc)
    except ServiceError as exc:
        session.rollback()
        fail(exc)
    session.commit()
    return jsonify(_version(version, {api_user().id: api_user().display_name})), 201 if hand_in else 200


@bp.route("/teams/<int:team_id>/reports/<report_id>/draft", methods=["POST"])
@require_api_role(Role.TRAINEE)
@members_only
@bp.arguments(WriteSchema)
def save_draft(body: dict, team_id: int, report_id: str):  # type: ignore[no-untyped-def]
    """Save the team's draft from ``base``: 200 with the draft (its new ``base``), 409 with ``current`` when
    a team-mate saved or handed in since (nothing saved), 400 when the text is over the limit."""
    return _write(team_id, report_id, body, hand_in=False)


@bp.route("/teams/<int:team_id>/reports/<report_id>/submit", methods=["POST"])
@require_api_role(Role.TRAINEE)
@members_only
@bp.arguments(WriteSchema)
def submit(body: dict, team_id: int, report_id: str):  # type: ignore[no-untyped-def]
    """Hand in ``text`` for grading, from ``base``: 201 with the submitted version; 409 as for the draft, or
    while an earlier version waits for its grade."""
    return _write(team_id, report_id, body, hand_in=True)
