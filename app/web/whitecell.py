"""The white cell: instructors answer, as the scenario's characters, the team messages no script recognised.

The queue page lists every waiting message with its team, character, text,
attachments and age; beside each, the instructor answers in role (a suggested
reply, edited, or free text), runs one of the character's requests by hand (the
engine then carries it out), or dismisses it. Only the exercise's staff and the
administrators open it (403 for other instructors, as the live view); the
services audit every action with the real instructor's name.
"""
from __future__ import annotations

import io

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.i18n import translate, when
from app.models import Exercise, Role
from app.services import correspondence, white_cell
from app.services.errors import Conflict, ServiceError
from app.web.access import require_role
from app.web.context import client_ip, db_session
from app.web.forms import ButtonForm
from app.web.staff import exercise_to_run

bp = Blueprint("whitecell", __name__, url_prefix="/exercises")

STATE_LABELS = {correspondence.ANSWERED: _l("answered"), correspondence.DISMISSED: _l("dismissed")}


class InRoleAnswerForm(FlaskForm):
    """The reply the team will see under the character's name; ``prefix`` is the message's."""

    body = TextAreaField(_l("Reply as the character"),
                         validators=[DataRequired(), Length(max=correspondence.MAX_BODY)])


class RequestByHandForm(FlaskForm):
    """One of the character's requests; its parameters come as ``param-<id>`` fields beside it."""

    request_id = HiddenField(validators=[DataRequired()])


def _prefix(message_id: int) -> str:
    return f"m{message_id}"


@bp.route("/<int:exercise_id>/white-cell")
@require_role(Role.INSTRUCTOR)
def queue(exercise_id: int) -> tuple[str, int]:
    return render_queue(exercise_to_run(exercise_id))


def render_queue(exercise: Exercise, status: int = 200, *, posted: dict[int, FlaskForm] | None = None,
                 errors: dict[tuple[int, str], list[str]] | None = None, notice: str = "") -> tuple[str, int]:
    """The queue page; *posted* keeps a message's typed reply, *errors* go beside (message, form)."""
    items = white_cell.queue(db_session(), exercise)
    forms = {item.message.id: (posted or {}).get(item.message.id)
             or InRoleAnswerForm(prefix=_prefix(item.message.id), formdata=None) for item in items}
    return render_template("live/white_cell.html", exercise=exercise, items=items, answer_forms=forms,
                           button_form=ButtonForm(formdata=None), errors=errors or {}, notice=notice), status


@bp.route("/<int:exercise_id>/white-cell/<int:message_id>/answer", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def answer(exercise_id: int, message_id: int) -> Response | tuple[str, int]:
    exercise = exercise_to_run(exercise_id)
    form = InRoleAnswerForm(prefix=_prefix(message_id))
    if not form.validate_on_submit():
        return render_queue(exercise, 400, posted={message_id: form})  # the errors show beside the text
    return _act(exercise, message_id, "answer", lambda session: correspondence.answer_in_role(
        session, exercise, message_id, current_user._get_current_object(), body=form.body.data or "",
        ip=client_ip()), _("The reply went out under the character's name."), posted={message_id: form})


@bp.route("/<int:exercise_id>/white-cell/<int:message_id>/request", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def run_request(exercise_id: int, message_id: int) -> Response | tuple[str, int]:
    exercise = exercise_to_run(exercise_id)
    form = RequestByHandForm()
    if not form.validate_on_submit():
        return render_queue(exercise, 400, errors={(message_id, "request"): _form_errors(form)})
    params = {key.removeprefix("param-"): value for key, value in request.form.items() if key.startswith("param-")}
    return _act(exercise, message_id, "request", lambda session: correspondence.run_request_by_hand(
        session, exercise, message_id, current_user._get_current_object(), request_id=form.request_id.data or "",
        params=params, ip=client_ip()),
        _("The request is handed to the engine: it carries it out and the reply goes out by script."))


@bp.route("/<int:exercise_id>/white-cell/<int:message_id>/dismiss", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def dismiss(exercise_id: int, message_id: int) -> Response | tuple[str, int]:
    exercise = exercise_to_run(exercise_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    return _act(exercise, message_id, "dismiss", lambda session: correspondence.dismiss(
        session, exercise, message_id, current_user._get_current_object(), ip=client_ip()),
        _("The message is off the queue, unanswered."))


def _act(exercise: Exercise, message_id: int, kind: str, action, done: str,  # type: ignore[no-untyped-def]
         posted: dict[int, FlaskForm] | None = None) -> Response | tuple[str, int]:
    session = db_session()
    try:
        action(session)
    except ServiceError as exc:
        session.rollback()
        if isinstance(exc, Conflict):
            return render_queue(exercise, 409, notice=_already_handled(exercise, message_id, exc))
        if exc.status == 404:
            abort(404)
        return render_queue(exercise, exc.status, posted=posted, errors={(message_id, kind): [translate(exc.text)]})
    session.commit()
    flash(done, "info")
    return redirect(url_for(".queue", exercise_id=exercise.id))


def _already_handled(exercise: Exercise, message_id: int, exc: ServiceError) -> str:
    found = white_cell.handled(db_session(), exercise, message_id)
    if found is None:
        return translate(exc.text)
    return _("Another instructor already handled this message (%(state)s by %(name)s, %(at)s); nothing was sent.",
             state=STATE_LABELS.get(found.state, found.state), name=found.by or "—", at=when(found.at))


def _form_errors(form: FlaskForm) -> list[str]:
    return [str(error) for errors in form.errors.values() for error in errors]


@bp.route("/<int:exercise_id>/attachments/<int:attachment_id>")
@require_role(Role.INSTRUCTOR)
def attachment(exercise_id: int, attachment_id: int) -> Response:
    """A file attached to any message of the exercise, as a download (never rendered by the browser)."""
    exercise = exercise_to_run(exercise_id)
    try:
        row = correspondence.get_attachment(db_session(), exercise, attachment_id, team=None)
    except ServiceError as exc:
        abort(exc.status)
    response = send_file(io.BytesIO(row.data), mimetype=correspondence.download_type(row), as_attachment=True,
                         download_name=row.name, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
