"""The instructor's live view of a running exercise and the readiness board of its ranges.

Each page is rendered whole once; its board is a fragment the browser polls
(htmx, every few seconds) so it stays current without a reload. The fragments
are the hot path of a session — every instructor's browser asks for them —
and are built by ``app.services.live`` with a fixed number of queries.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import SelectChoice, SelectField

from app.i18n import INJECT_LABELS, select_locale, text_of, translate
from app.models import Exercise, ExerciseState, Role
from app.services import correspondence, disk, job_progress, job_records, lifecycle, live, range_jobs, scenarios, tasks
from app.services.errors import ServiceError
from app.services.provisioning import TEARDOWN_FROM
from app.web import range_text
from app.web.access import require_role
from app.web.context import client_ip, db_session, settings
from app.web.forms import ButtonForm, HintReleaseForm, InjectControlForm, MessageForm, TransitionForm
from app.web.staff import exercise_to_run

bp = Blueprint("live", __name__, url_prefix="/exercises")

POLL_SECONDS = 5
CHECK_LABELS = {"up": _l("Up"), "down": _l("Down"), "error": _l("Error"), "none": _l("Not checked yet")}


# The live view --------------------------------------------------------------------------------


@bp.route("/<int:exercise_id>/live")
@require_role(Role.INSTRUCTOR)
def show(exercise_id: int) -> tuple[str, int]:
    return render_live(_get(exercise_id))


@bp.route("/<int:exercise_id>/live/board")
@require_role(Role.INSTRUCTOR)
def board(exercise_id: int) -> str:
    """The polled fragment: clock, inject timeline, check grid, answers, reports waiting, scores."""
    exercise = _get(exercise_id)
    return render_template("live/_board.html", exercise=exercise, board=live.board(db_session(), exercise),
                           disk_alerts=disk.alerts(db_session(), exercise), **_labels())


def _labels() -> dict[str, dict[str, str]]:
    """The cells' labels, translated once per page rather than once per cell."""
    return {"inject_labels": {k: str(v) for k, v in INJECT_LABELS.items()},
            "check_labels": {k: str(v) for k, v in CHECK_LABELS.items()}}


def render_live(exercise: Exercise, status: int = 200, **forms: object) -> tuple[str, int]:
    """The whole live page; *forms* replaces a control's empty form by the posted one with its errors."""
    controls = {
        "transition_form": TransitionForm(formdata=None), "inject_form": inject_form(exercise, formdata=None),
        "message_form": message_form(exercise, formdata=None), "hint_form": hint_form(exercise, formdata=None),
    }
    controls.update(forms)
    return render_template(
        "live/show.html", exercise=exercise, board=live.board(db_session(), exercise), actions=actions(exercise),
        disk_alerts=disk.alerts(db_session(), exercise),
        poll_seconds=POLL_SECONDS, **_labels(), **controls), status


def actions(exercise: Exercise) -> list[str]:
    """The lifecycle buttons this exercise's state allows."""
    allowed = [a for a, states in lifecycle.ALLOWED_FROM.items() if exercise.state in states]
    if exercise.current_day >= exercise.days:  # the last day: no next day to end this one for, nor to start
        allowed = [a for a in allowed
                   if a != "end_day" and not (a == "start" and exercise.state is ExerciseState.DAY_ENDED)]
    return allowed


def distinct_ids(form: FlaskForm, prefix: str) -> FlaskForm:
    """Give the form's inputs ids of their own: one page holds several forms with a ``team`` field."""
    for field in form:
        field.id = field.label.field_id = f"{prefix}-{field.name}"
    return form


class SenderMessageForm(MessageForm):
    """The instructors' message, from "講師" or — the white cell playing it — any character of the scenario."""

    sender = SelectField(_l("From"), default="")


def message_form(exercise: Exercise, **kwargs: object) -> SenderMessageForm:
    form = distinct_ids(SenderMessageForm(**kwargs), "message")
    english = select_locale() == "en"
    form.sender.choices = [SelectChoice("", _("Instructors (講師)"))] + [
        SelectChoice(c.id, correspondence.sender_names(c)[1 if english else 0])
        for c in scenarios.parsed(exercise.scenario).story.characters]
    return form  # type: ignore[return-value]


def inject_form(exercise: Exercise, **kwargs: object) -> InjectControlForm:
    form = distinct_ids(InjectControlForm(**kwargs), "inject")
    form.inject.choices = [SelectChoice(i.id, f"{i.id} — {text_of(i.title)}")
                           for i in scenarios.parsed(exercise.scenario).injects]
    return form


def hint_form(exercise: Exercise, **kwargs: object) -> HintReleaseForm:
    form = distinct_ids(HintReleaseForm(**kwargs), "hint")
    form.hint.choices = [
        SelectChoice(f"{task.id}:{index}", f"{task.id} — {_('Hint %(number)d', number=index + 1)}: "
                                           f"{text_of(hint.text)[:60]}")
        for task in scenarios.parsed(exercise.scenario).tasks for index, hint in enumerate(task.hints)]
    return form


@bp.route("/<int:exercise_id>/hints", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def release_hint(exercise_id: int) -> Response | tuple[str, int]:
    """Give a task's hint to one team or all, free of charge (recorded like a taken hint, audited)."""
    session = db_session()
    exercise = _get(exercise_id)
    form = hint_form(exercise)
    if not form.validate_on_submit():
        return render_live(exercise, 400, hint_form=form)
    task_id, _sep, index = (form.hint.data or "").rpartition(":")
    try:
        given = tasks.release_hint(session, exercise, task_id, int(index),
                                   teams=[form.team.data] if form.team.data else None,
                                   actor=current_user._get_current_object(), ip=client_ip())
    except ServiceError as exc:
        session.rollback()
        form.hint.errors = [*form.hint.errors, translate(exc.text)]
        return render_live(exercise, exc.status, hint_form=form)
    session.commit()
    if given:
        flash(_("Hint released to %(count)d team(s), free of charge.", count=len(given)), "info")
    else:
        flash(_("Every team chosen already had this hint."), "info")
    return redirect(url_for(".show", exercise_id=exercise.id))


# The readiness board --------------------------------------------------------------------------


@bp.route("/<int:exercise_id>/readiness")
@require_role(Role.INSTRUCTOR)
def readiness(exercise_id: int) -> str:
    exercise = _get(exercise_id)
    return render_template("live/readiness.html", exercise=exercise, poll_seconds=POLL_SECONDS,
                           **_readiness_context(exercise))


@bp.route("/<int:exercise_id>/readiness/board")
@require_role(Role.INSTRUCTOR)
def readiness_board(exercise_id: int) -> str:
    """The polled fragment: the range job's progress or result, each team's range state and each host's."""
    exercise = _get(exercise_id)
    return render_template("live/_readiness.html", exercise=exercise, **_readiness_context(exercise))


def _readiness_context(exercise: Exercise) -> dict[str, object]:
    session = db_session()
    job = job_progress.progress(session, settings().instance_path, exercise)
    board = live.readiness(session, exercise)
    running = bool(job and job.running)
    return {"readiness": board, "job": job, "job_running": running,
            "job_line": range_text.progress_line(job) if job else "",
            "job_meta": range_text.job_meta(job) if job else "",
            # A build under way with no job alive: its process is gone (its team can be built again).
            "interrupted": {t.number for t in board.teams if not running and range_jobs.interrupted(t.state, t.step)},
            "has_ranges": any(t.hosts or t.state not in ("pending", "torn_down") for t in board.teams),
            "can_teardown": exercise.state in TEARDOWN_FROM}


@bp.route("/<int:exercise_id>/ranges/build", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def build_all(exercise_id: int) -> Response:
    """Build every team's range with ``mamori exercise provision ID`` (joins that build if it runs)."""
    exercise = _get(exercise_id)
    return _range_job(exercise, lambda session: range_jobs.build_all(
        session, settings(), exercise, actor=current_user._get_current_object(), ip=client_ip()))


@bp.route("/<int:exercise_id>/ranges/rebuild-failed", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def rebuild_failed(exercise_id: int) -> Response:
    """Build again only the teams whose range failed (or whose build was interrupted)."""
    exercise = _get(exercise_id)
    return _range_job(exercise, lambda session: range_jobs.rebuild_failed(
        session, settings(), exercise, actor=current_user._get_current_object(), ip=client_ip()))


@bp.route("/<int:exercise_id>/ranges/teardown", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def teardown(exercise_id: int) -> Response:
    """Remove every team's range with ``mamori exercise teardown ID``; the form must carry ``confirm=yes``."""
    exercise = _get(exercise_id)
    confirmed = request.form.get("confirm") == "yes"
    return _range_job(exercise, lambda session: range_jobs.teardown(
        session, settings(), exercise, confirmed=confirmed, actor=current_user._get_current_object(),
        ip=client_ip()))


@bp.route("/<int:exercise_id>/teams/<int:number>/provision", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def retry_team(exercise_id: int, number: int) -> Response:
    """Build a (failed) team's range again with ``mamori exercise provision ID --team N``, in the background."""
    exercise = _get(exercise_id)
    return _range_job(exercise, lambda session: range_jobs.retry_team(
        session, settings(), exercise, number, actor=current_user._get_current_object(), ip=client_ip()))


@bp.route("/<int:exercise_id>/teams/<int:number>/hosts/<host>/reset", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def reset_host(exercise_id: int, number: int, host: str) -> Response:
    """Recreate one host with ``mamori host reset ID TEAM HOST``, in the background."""
    exercise = _get(exercise_id)
    return _range_job(exercise, lambda session: range_jobs.reset_host(
        session, settings(), exercise, number, host, actor=current_user._get_current_object(), ip=client_ip()),
        _("Team %(team)d: resetting %(host)s. This board follows the progress.", team=number, host=host))


@bp.route("/<int:exercise_id>/teams/<int:number>/hosts/<host>/resume", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def resume_host(exercise_id: int, number: int, host: str) -> Response:
    """Unpause one host (the disk watchdog paused it) with ``mamori host resume``, in the background."""
    exercise = _get(exercise_id)
    return _range_job(exercise, lambda session: range_jobs.resume_host(
        session, settings(), exercise, number, host, actor=current_user._get_current_object(), ip=client_ip()),
        _("Team %(team)d: resuming %(host)s.", team=number, host=host))


def _range_job(exercise: Exercise, start, done: str | None = None) -> Response:  # type: ignore[no-untyped-def]
    """Start (or join) a range job, flash what happened, back to the readiness board."""
    if not ButtonForm().validate_on_submit():
        abort(400)
    session = db_session()
    try:
        started = start(session)
    except job_records.JobRunning as busy:
        session.rollback()
        flash(range_text.busy_message(busy.status.record), "error")
    except ServiceError as exc:
        session.rollback()
        if exc.status == 404:
            abort(404)
        flash(translate(exc.text), "error")
    else:
        session.commit()
        if isinstance(started, range_jobs.JobStart):
            done = range_text.started_message(started.record.kind, started.record.teams, started.joined)
        flash(done or "", "info")
    return redirect(url_for(".readiness", exercise_id=exercise.id))


def _get(exercise_id: int) -> Exercise:
    """The live view and the readiness board are the exercise's staff's (and the administrators')."""
    return exercise_to_run(exercise_id)
