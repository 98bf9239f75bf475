"""A team's work in the portal: answering tasks, taking hints, writing reports.

Anyone who may see the team page may look (staff included); only the team's
members answer, take hints and write.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.wrappers import Response

from app.i18n import text_of, translate
from app.models import ReportStatus, Role, Team
from app.services import reports, tasks
from app.services.errors import ServiceError
from app.web.access import is_member as _is_member, require_member as _require_member, team_for as _team, require_role
from app.web.context import db_session
from app.web.forms import AnswerForm, ButtonForm, ReportForm

bp = Blueprint("teamwork", __name__, url_prefix="/teams")

REPORT_KINDS = {"first": _l("First report"), "follow_up": _l("Follow-up report"), "final": _l("Final report")}
VERSION_STATUS = {
    ReportStatus.DRAFT: _l("Not submitted (draft)"),
    ReportStatus.SUBMITTED: _l("Submitted, waiting for a grade"),
    ReportStatus.REVISION_REQUESTED: _l("Revision requested"),
    ReportStatus.GRADED: _l("Graded"),
}


def _open_task(team: Team, task_id: str) -> tasks.TaskView:
    """The team's view of an opened task; 404 for a task that does not exist or is not open yet."""
    view = next((v for v in tasks.task_views(db_session(), team.exercise, team) if v.task.id == task_id), None)
    if view is None or not view.opened:
        abort(404)
    return view


# Tasks ---------------------------------------------------------------------------------------


@bp.route("/<int:team_id>/tasks")
@require_role(Role.TRAINEE)
def task_list(team_id: int) -> tuple[str, int]:
    return _render_tasks(_team(team_id))


def _render_tasks(team: Team, posted: tuple[str, AnswerForm] | None = None, status: int = 200) -> tuple[str, int]:
    """The opened tasks, each with an empty answer form, or the *posted* (task id, form) with its errors."""
    views = [v for v in tasks.task_views(db_session(), team.exercise, team) if v.opened]
    forms = {v.task.id: AnswerForm(prefix=v.task.id, formdata=None) for v in views}
    if posted is not None:
        forms[posted[0]] = posted[1]
    return render_template("teams/tasks.html", team=team, views=views, forms=forms,
                           member=_is_member(team)), status


@bp.route("/<int:team_id>/tasks/<task_id>/answer", methods=["POST"])
@require_role(Role.TRAINEE)
def answer(team_id: int, task_id: str) -> Response | tuple[str, int]:
    team = _team(team_id)
    _require_member(team)
    _open_task(team, task_id)
    form = AnswerForm(prefix=task_id)
    if not form.validate_on_submit():
        return _render_tasks(team, (task_id, form), 400)
    session = db_session()
    try:
        outcome = tasks.submit_answer(session, team.exercise, team, current_user._get_current_object(), task_id,
                                      form.answer.data or "")
    except ServiceError as exc:
        session.rollback()
        form.answer.errors = [*form.answer.errors, translate(exc.text)]
        return _render_tasks(team, (task_id, form), exc.status)
    session.commit()
    flash(_verdict(outcome), "info" if outcome.correct else "error")
    return redirect(url_for(".task_list", team_id=team.id, _anchor=f"task-{task_id}"))


def _verdict(outcome: tasks.AttemptOutcome) -> str:
    if outcome.correct:
        if outcome.points > 0:
            return _("Correct! Your team earned %(points)d points.", points=outcome.points)
        return _("Correct! A team-mate had already answered it; the points were counted once.")
    left, penalty = outcome.attempts_left, outcome.points
    if penalty < 0:
        if left is None:
            return _("Wrong answer (%(points)d points).", points=penalty)
        return _("Wrong answer (%(points)d points). Attempts left: %(left)d.", points=penalty, left=left)
    if left is None:
        return _("Wrong answer.")
    return _("Wrong answer. Attempts left: %(left)d.", left=left)


@bp.route("/<int:team_id>/tasks/<task_id>/hints/<int:index>", methods=["GET", "POST"])
@require_role(Role.TRAINEE)
def hint(team_id: int, task_id: str, index: int) -> Response | str:
    """GET asks to confirm the cost; POST takes the hint and goes back to the tasks."""
    team = _team(team_id)
    if request.method == "POST":
        _require_member(team)
    view = _open_task(team, task_id)
    if not 0 <= index < len(view.task.hints):
        abort(404)
    form = ButtonForm()
    if request.method == "GET":
        return render_template("teams/tasks_hint.html", team=team, view=view, index=index,
                               hint=view.task.hints[index], taken=index in view.hints_taken, form=form,
                               member=_is_member(team))
    if not form.validate_on_submit():
        abort(400)
    session = db_session()
    try:
        tasks.take_hint(session, team.exercise, team, current_user._get_current_object(), task_id, index)
    except ServiceError as exc:
        session.rollback()
        flash(translate(exc.text), "error")
    else:
        session.commit()
    return redirect(url_for(".task_list", team_id=team.id, _anchor=f"task-{task_id}"))


# Reports -------------------------------------------------------------------------------------


@bp.route("/<int:team_id>/reports")
@require_role(Role.TRAINEE)
def report_list(team_id: int) -> str:
    team = _team(team_id)
    return render_template("teams/reports.html", team=team,
                           views=reports.report_views(db_session(), team.exercise, team),
                           grade_visible=reports.grade_visible)


@bp.route("/<int:team_id>/reports/<report_id>", methods=["GET", "POST"])
@require_role(Role.TRAINEE)
def report_edit(team_id: int, report_id: str) -> Response | str | tuple[str, int]:
    """The report's editor. A save refused because a team-mate saved first shows both texts: theirs, saved,
    and the writer's, unsaved, still in the form, whose base now names theirs so saving again is deliberate."""
    team = _team(team_id)
    if request.method == "POST":
        _require_member(team)
    session = db_session()
    view = _report_view(team, report_id)
    form = ReportForm(text=_starting_text(view))
    if request.method == "GET":  # a POST's base is only ever the one it carried: a missing one overwrites nothing
        form.base.data = reports.Base.of(view.versions[-1] if view.versions else None).token
    status, conflict = 200, None
    if request.method == "POST":
        if not form.validate_on_submit() or not (form.save_draft.data or form.hand_in.data):
            status = 400
        else:
            try:
                _write(team, report_id, form)
            except reports.DraftConflict as exc:
                session.rollback()
                conflict, status = exc, exc.status
                form.base.data = reports.Base.of(exc.current).token
                view = _report_view(team, report_id)
            except ServiceError as exc:
                session.rollback()
                form.text.errors = [*form.text.errors, translate(exc.text)]
                status = exc.status
            else:
                session.commit()
                flash(_("Report submitted.") if form.hand_in.data else _("Draft saved."), "info")
                if form.hand_in.data:
                    return redirect(url_for(".report_list", team_id=team.id, _anchor=f"report-{report_id}"))
                return redirect(url_for(".report_edit", team_id=team.id, report_id=report_id))
    return render_template("teams/report_edit.html", team=team, view=view, form=form, member=_is_member(team),
                           writable=team.exercise.state in reports.WRITABLE, conflict=conflict,
                           max_text=reports.MAX_TEXT, grade_visible=reports.grade_visible), status


def _report_view(team: Team, report_id: str) -> reports.ReportView:
    view = next((v for v in reports.report_views(db_session(), team.exercise, team) if v.report.id == report_id), None)
    if view is None:
        abort(404)
    return view


def _write(team: Team, report_id: str, form: ReportForm) -> None:
    """Save or hand in the posted text, from the state the form was written from."""
    user, text, base = current_user._get_current_object(), form.text.data or "", reports.Base.parse(form.base.data)
    if form.hand_in.data:
        reports.submit(db_session(), team.exercise, team, user, report_id, text=text, base=base)
    else:
        reports.save_draft(db_session(), team.exercise, team, user, report_id, text, base=base)


def _starting_text(view: reports.ReportView) -> str:
    """The draft, else the latest version (to revise it), else the report's template."""
    if view.draft is not None:
        return view.draft.text
    if view.versions:
        return view.versions[-1].text
    return text_of(view.report.template)
