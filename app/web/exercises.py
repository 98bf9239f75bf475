"""Instructor pages: exercises, their teams and the roster import."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from wtforms import SelectChoice

from app.i18n import localized, state_label, text_of, translate
from app.models import Exercise, Prefecture, RangeState, Role
from app.services import exercises, injects, lifecycle, ranges, roster, scenarios
from app.services.errors import ServiceError
from app.web.access import require_role
from app.web.context import client_ip, db_session
from app.web.forms import ExerciseForm, InjectControlForm, MessageForm, RosterForm, TransitionForm

bp = Blueprint("exercises", __name__, url_prefix="/exercises")


@bp.route("/")
@require_role(Role.INSTRUCTOR)
def index() -> str:
    return render_template(
        "exercises/index.html", exercises=exercises.list_exercises(db_session())
    )


@bp.route("/new", methods=["GET", "POST"])
@require_role(Role.INSTRUCTOR)
def new() -> Response | str | tuple[str, int]:
    session = db_session()
    form = ExerciseForm()
    available = scenarios.latest(session)
    form.scenario.choices = [SelectChoice(s.slug, localized(s, "title")) for s in available]
    form.prefecture.choices = [SelectChoice(0, "—")] + [
        SelectChoice(p.id, localized(p, "name"))
        for p in session.scalars(select(Prefecture).order_by(Prefecture.id))
    ]
    if form.validate_on_submit():
        draft = exercises.ExerciseDraft(
            name=form.name.data or "",
            team_count=form.team_count.data or 0,
            venue=form.venue.data or "",
            prefecture_id=form.prefecture.data or None,
            starts_on=form.starts_on.data,
            ends_on=form.ends_on.data,
        )
        try:
            scenario = scenarios.get_latest(session, form.scenario.data or "")
            exercise = exercises.create_exercise(
                session, scenario, draft, actor=current_user._get_current_object(), ip=client_ip()
            )
        except ServiceError as exc:
            form.form_errors.append(translate(exc.text))
        else:
            session.commit()
            flash(_("Exercise created."), "info")
            return redirect(url_for("exercises.show", exercise_id=exercise.id))
    status = 400 if form.errors or form.form_errors else 200
    return render_template("exercises/new.html", form=form, scenarios=available), status


@bp.route("/<int:exercise_id>")
@require_role(Role.INSTRUCTOR)
def show(exercise_id: int) -> str:
    exercise = _get(exercise_id)
    team_ranges = ranges.rows_for(db_session(), exercise)
    building = any(row is not None and row.state in (RangeState.PENDING, RangeState.CREATING)
                   for _, row in team_ranges)
    return render_template("exercises/show.html", exercise=exercise, roster_form=RosterForm(),
                           team_ranges=team_ranges, building=building, **_controls(exercise))


@bp.route("/<int:exercise_id>/<any(start, pause, resume, 'end-day', finish):action>", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def transition(exercise_id: int, action: str) -> Response:
    session = db_session()
    exercise = _get(exercise_id)
    form = TransitionForm()
    if not form.validate_on_submit():
        abort(400)
    options = {"speed": form.speed.data} if action == "start" and form.speed.data else {}
    try:
        lifecycle.TRANSITIONS[action.replace("-", "_")](
            session, exercise, actor=current_user._get_current_object(), ip=client_ip(), **options)
    except ServiceError as exc:
        session.rollback()
        flash(translate(exc.text), "error")
    else:
        session.commit()
        flash(state_label(exercise.state), "info")
    return redirect(url_for("exercises.show", exercise_id=exercise_id))


@bp.route("/<int:exercise_id>/injects", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def control_inject(exercise_id: int) -> Response:
    session = db_session()
    exercise = _get(exercise_id)
    form = _inject_form(exercise)
    if not form.validate_on_submit():
        abort(400)
    try:
        changed = injects.control(session, exercise, form.inject.data or "", form.action.data or "",
                                  teams=[form.team.data] if form.team.data else None,
                                  actor=current_user._get_current_object(), ip=client_ip())
    except ServiceError as exc:
        session.rollback()
        flash(translate(exc.text), "error")
    else:
        session.commit()
        flash(_("%(inject)s: done for %(count)d team(s).", inject=form.inject.data, count=len(changed)), "info")
    return redirect(url_for("exercises.show", exercise_id=exercise_id))


@bp.route("/<int:exercise_id>/messages", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def send_message(exercise_id: int) -> Response:
    session = db_session()
    exercise = _get(exercise_id)
    form = MessageForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        count = injects.send(session, exercise, subject=form.subject.data or "", body=form.body.data or "",
                             teams=[form.team.data] if form.team.data else None,
                             actor=current_user._get_current_object(), ip=client_ip())
    except ServiceError as exc:
        session.rollback()
        flash(translate(exc.text), "error")
    else:
        session.commit()
        flash(_("Message sent to %(count)d team(s).", count=count), "info")
    return redirect(url_for("exercises.show", exercise_id=exercise_id))


def _inject_form(exercise: Exercise) -> InjectControlForm:
    form = InjectControlForm()
    form.inject.choices = [SelectChoice(i.id, f"{i.id} — {text_of(i.title)}")
                           for i in scenarios.parsed(exercise.scenario).injects]
    return form


@bp.route("/<int:exercise_id>/roster", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def import_roster(exercise_id: int) -> tuple[str, int] | str:
    session = db_session()
    exercise = _get(exercise_id)
    form = RosterForm()
    if not form.validate_on_submit():
        return render_template("exercises/show.html", exercise=exercise, roster_form=form,
                               team_ranges=ranges.rows_for(session, exercise), **_controls(exercise)), 400
    data = form.roster.data.read(roster.MAX_BYTES + 1)
    try:
        imported = roster.import_roster(
            session, exercise, data, actor=current_user._get_current_object(), ip=client_ip()
        )
    except roster.RosterError as exc:
        session.rollback()
        return render_template(
            "exercises/show.html", exercise=exercise, roster_form=form, roster_problems=exc.problems,
            team_ranges=ranges.rows_for(session, exercise), **_controls(exercise),
        ), 400
    session.commit()
    return render_template("exercises/roster_slips.html", exercise=exercise, imported=imported)


def _controls(exercise: Exercise) -> dict[str, object]:
    """The clock and the lifecycle buttons this exercise's state allows."""
    allowed = [a for a, states in lifecycle.ALLOWED_FROM.items() if exercise.state in states]
    if exercise.current_day >= exercise.days and "end_day" in allowed:
        allowed.remove("end_day")
    runs: dict[int, dict[str, str]] = {}
    for run in injects.runs_of(db_session(), exercise):
        runs.setdefault(run.team_id, {})[run.inject_id] = run.status.value
    return {"clock": lifecycle.reading(exercise), "actions": allowed, "transition_form": TransitionForm(),
            "inject_ids": [i.id for i in scenarios.parsed(exercise.scenario).injects], "runs": runs,
            "inject_form": _inject_form(exercise), "message_form": MessageForm()}


def _get(exercise_id: int) -> Exercise:
    try:
        return exercises.get_exercise(db_session(), exercise_id)
    except ServiceError:
        abort(404)
