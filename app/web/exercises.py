"""Instructor pages: exercises, their teams and the roster import."""
from __future__ import annotations

import base64
import binascii

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response

from wtforms import SelectChoice

from app.i18n import INJECT_LABELS, localized, select_locale, state_label, translate
from app.models import Exercise, Prefecture, RangeState, Role, Scenario
from app.services import exercises, injects, lifecycle, live, ranges, roster, scenarios, staff
from app.services.errors import ServiceError
from app.web import live as live_view
from app.web.access import require_role
from app.web.caching import no_store
from app.web.context import client_ip, db_session
from app.web.forms import ExerciseForm, RosterConfirmForm, RosterForm, TransitionForm
from app.web.slips import login_slip
from app.web.staff import StaffForm, exercise_to_run, exercise_to_view, runs

LEVELS = {"beginner": _l("Beginner"), "intermediate": _l("Intermediate"), "advanced": _l("Advanced")}

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
    if len(available) == 1 and not form.is_submitted():
        form.scenario.data = available[0].slug
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
            field = _FIELD_OF_ERROR.get(exc.text.template)
            if field is None:
                form.form_errors.append(translate(exc.text))
            else:
                form[field].errors = [*form[field].errors, translate(exc.text)]
        else:
            session.commit()
            flash(_("Exercise created."), "info")
            return redirect(url_for("exercises.show", exercise_id=exercise.id))
    status = 400 if form.errors or form.form_errors else 200
    return render_template("exercises/new.html", form=form, scenarios=available,
                           details={s.slug: _scenario_details(s) for s in available}), status


# The field beside which a refusal of the exercise service is shown (the rest go above the form).
_FIELD_OF_ERROR = {
    "the last day is before the first day": "ends_on",
    "the scenario lasts %(days)d day(s); the dates do not match": "ends_on",
    "the number of teams must be between 1 and %(max)d": "team_count",
    "unknown prefecture code %(code)s": "prefecture",
    "no registered scenario %(id)r (run `mamori scenario register`)": "scenario",
}


def _scenario_details(scenario: Scenario) -> dict[str, object]:
    """What an instructor weighs when choosing: the summary, the level, the days and their lengths."""
    document = scenario.document or {}
    summary = document.get("summary") or {}
    return {"summary": summary.get(select_locale()) or summary.get("ja") or "",
            "level": LEVELS.get(scenario.level, scenario.level), "days": scenario.days,
            "lengths": [day.get("length", "") for day in document.get("days", [])],
            "version": scenario.version}


@bp.route("/<int:exercise_id>")
@require_role(Role.INSTRUCTOR)
def show(exercise_id: int) -> tuple[str, int]:
    """The overview: every instructor may look; only its staff and administrators get the controls."""
    return _render_show(exercise_to_view(exercise_id))


@bp.route("/<int:exercise_id>/staff", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def change_staff(exercise_id: int) -> Response | tuple[str, int]:
    """Add an instructor to the exercise's staff, or (``remove=1``) take one off; its staff or an administrator."""
    session = db_session()
    exercise = exercise_to_run(exercise_id)
    form = StaffForm()
    if not form.validate_on_submit():
        return _render_show(exercise, 400, staff_form=form)
    change = staff.remove if request.form.get("remove") == "1" else staff.add
    try:
        user = change(session, exercise, form.login.data or "", actor=current_user._get_current_object(),
                      ip=client_ip())
    except ServiceError as exc:
        session.rollback()
        form.login.errors = [*form.login.errors, translate(exc.text)]
        return _render_show(exercise, exc.status, staff_form=form)
    session.commit()
    if change is staff.add:
        flash(_("%(name)s now runs this exercise.", name=user.display_name), "info")
    else:
        flash(_("%(name)s no longer runs this exercise.", name=user.display_name), "info")
    return redirect(url_for(".show", exercise_id=exercise.id))


CONFIRMED = {"finish"}  # transitions the server takes only with the form's confirm field (it cannot be undone)


@bp.route("/<int:exercise_id>/<any(start, pause, resume, 'end-day', finish):action>", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def transition(exercise_id: int, action: str) -> Response | tuple[str, int]:
    session = db_session()
    exercise = _get(exercise_id)
    form = TransitionForm()
    if not form.validate_on_submit():
        return _render_with(exercise, transition_form=form)
    if action in CONFIRMED and request.form.get("confirm") != action:
        # The button's form carries it once the instructor said yes; a bare POST finishes nothing.
        flash(_("The exercise was not finished: finishing must be confirmed (use the Finish button and answer "
                "the question)."), "error")
        return _render_with(exercise)
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
    return redirect(_back(exercise_id))


@bp.route("/<int:exercise_id>/injects", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def control_inject(exercise_id: int) -> Response | tuple[str, int]:
    session = db_session()
    exercise = _get(exercise_id)
    form = live_view.inject_form(exercise)
    if not form.validate_on_submit():
        return _render_with(exercise, inject_form=form)
    try:
        changed = injects.control(session, exercise, form.inject.data or "", form.action.data or "",
                                  teams=[form.team.data] if form.team.data else None,
                                  actor=current_user._get_current_object(), ip=client_ip())
    except ServiceError as exc:
        session.rollback()
        if exc.text.template == injects.NO_SUCH_TEAM:
            return _refused(exercise, form, exc, inject_form=form)
        flash(translate(exc.text), "error")
    else:
        session.commit()
        flash(_("%(inject)s: done for %(count)d team(s).", inject=form.inject.data, count=len(changed)), "info")
    return redirect(_back(exercise_id))


@bp.route("/<int:exercise_id>/messages", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def send_message(exercise_id: int) -> Response | tuple[str, int]:
    session = db_session()
    exercise = _get(exercise_id)
    form = live_view.message_form(exercise)
    if not form.validate_on_submit():
        return _render_with(exercise, message_form=form)
    try:
        count = injects.send(session, exercise, subject=form.subject.data or "", body=form.body.data or "",
                             teams=[form.team.data] if form.team.data else None,
                             actor=current_user._get_current_object(), ip=client_ip(), sender=form.sender.data or None)
    except ServiceError as exc:
        session.rollback()
        return _refused(exercise, form, exc, message_form=form)  # the text typed is kept, nothing is sent
    session.commit()
    flash(_("Message sent to %(count)d team(s).", count=count), "info")
    return redirect(_back(exercise_id))


def _refused(exercise: Exercise, form: FlaskForm, exc: ServiceError, **forms: object) -> tuple[str, int]:
    """The control's page again with the refusal beside the team field (or above the form) and the input kept."""
    shown = translate(exc.text)
    if exc.text.template == injects.NO_SUCH_TEAM:
        form.team.errors = [*form.team.errors, shown]
    else:
        form.form_errors.append(shown)
    page, _status = _render_with(exercise, **forms)
    return page, exc.status


def _to_live() -> bool:
    """Whether the control was used on the live view (the form says ``back=live``)."""
    return request.form.get("back") == "live"


def _back(exercise_id: int) -> str:
    return url_for("live.show" if _to_live() else "exercises.show", exercise_id=exercise_id)


def _render_with(exercise: Exercise, **form: object) -> tuple[str, int]:
    """The page the control was on, again, with the posted form and its errors beside the fields."""
    if _to_live():
        return live_view.render_live(exercise, 400, **form)
    return _render_show(exercise, 400, **form)


def _render_show(exercise: Exercise, status: int = 200, **overrides: object) -> tuple[str, int]:
    session = db_session()
    values: dict[str, object] = {"roster_form": RosterForm(formdata=None), "staff_form": StaffForm(formdata=None),
                                 "can_run": runs(exercise), "staff": staff.members(exercise), **_controls(exercise),
                                 "team_values": scenarios.values_by_team(exercise)}
    values.update(overrides)
    team_ranges = ranges.rows_for(session, exercise)
    building = any(row is not None and row.state in (RangeState.PENDING, RangeState.CREATING)
                   for _, row in team_ranges)
    return render_template("exercises/show.html", exercise=exercise, team_ranges=team_ranges, building=building,
                           **values), status


@bp.route("/<int:exercise_id>/roster", methods=["POST"])
@require_role(Role.INSTRUCTOR)
@no_store  # the slips show one-time passwords
def import_roster(exercise_id: int) -> tuple[str, int]:
    """Import the uploaded roster; with the Preview button, only show what the file holds."""
    exercise = _get(exercise_id)
    form = RosterForm()
    if not form.validate_on_submit():
        return _render_show(exercise, 400, roster_form=form)
    data = form.roster.data.read(roster.MAX_BYTES + 1)
    if form.preview.data:
        return _preview(exercise, form, data)
    return _import(exercise, data, form)


@bp.route("/<int:exercise_id>/roster/confirm", methods=["POST"])
@require_role(Role.INSTRUCTOR)
@no_store  # the slips show one-time passwords
def confirm_roster(exercise_id: int) -> tuple[str, int]:
    """Import the file the instructor previewed (carried back in the form)."""
    exercise = _get(exercise_id)
    form = RosterConfirmForm()
    if not form.validate_on_submit():
        return _render_show(exercise, 400)
    try:
        data = base64.b64decode(form.content.data or "", validate=True)
    except (binascii.Error, ValueError):
        return _render_show(exercise, 400)
    return _import(exercise, data, RosterForm(formdata=None))


def _preview(exercise: Exercise, form: RosterForm, data: bytes) -> tuple[str, int]:
    """The trainees the file would create, or every bad line; nothing is written."""
    try:
        rows = roster.parse_roster(data)
    except roster.RosterError as exc:
        return _render_show(exercise, 400, roster_form=form, roster_problems=exc.problems)
    confirm = RosterConfirmForm(formdata=None, content=base64.b64encode(data).decode("ascii"))
    return _render_show(exercise, roster_form=form, roster_preview=rows, confirm_form=confirm)


def _import(exercise: Exercise, data: bytes, form: RosterForm) -> tuple[str, int]:
    session = db_session()
    try:
        imported = roster.import_roster(
            session, exercise, data, actor=current_user._get_current_object(), ip=client_ip()
        )
    except roster.RosterError as exc:
        session.rollback()
        return _render_show(exercise, 400, roster_form=form, roster_problems=exc.problems)
    session.commit()
    return render_template("exercises/roster_slips.html", exercise=exercise, imported=imported,
                           login=login_slip()), 200


def _controls(exercise: Exercise) -> dict[str, object]:
    """The clock and the lifecycle buttons this exercise's state allows."""
    runs: dict[int, dict[str, str]] = {}
    for run in injects.runs_of(db_session(), exercise):  # in the live view's words (fired, skipped, failed…)
        runs.setdefault(run.team_id, {})[run.inject_id] = live.INJECT_KINDS[run.status]
    return {"clock": lifecycle.reading(exercise), "actions": live_view.actions(exercise),
            "transition_form": TransitionForm(formdata=None),
            "inject_ids": [i.id for i in scenarios.parsed(exercise.scenario).injects], "runs": runs,
            "inject_labels": {k: str(v) for k, v in INJECT_LABELS.items()},
            "inject_form": live_view.inject_form(exercise, formdata=None), "message_form": live_view.message_form(exercise, formdata=None)}


def _get(exercise_id: int) -> Exercise:
    """The exercise a control changes: its staff and administrators only (403 for other instructors)."""
    return exercise_to_run(exercise_id)
