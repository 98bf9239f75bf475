"""Instructor pages for an exercise's points: the scoreboard, a team's score lines, adjustments, report grading."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms import SelectChoice

from app.i18n import text_of, translate
from app.models import Exercise, ReportStatus, ReportVersion, Role, ScoreEvent, ScoreSource, Team
from app.scenario.model import Report
from app.services import ledger, reports, scenarios, scores, team_scores
from app.services.errors import ServiceError
from app.web.access import require_role
from app.web.context import client_ip, db_session
from app.web.forms import AdjustmentForm, ButtonForm, GradeForm, grade_form
from app.web.staff import exercise_to_run

bp = Blueprint("scoring", __name__, url_prefix="/exercises")

SOURCE_LABELS = {
    ScoreSource.CHECK: _l("Check"),
    ScoreSource.TASK: _l("Task"),
    ScoreSource.WRONG_ANSWER: _l("Wrong answer"),
    ScoreSource.HINT: _l("Hint"),
    ScoreSource.REPORT: _l("Report"),
    ScoreSource.ADJUSTMENT: _l("Adjustment"),
}
EVENTS_SHOWN = 100


def exercise_time(day: int, seconds: float) -> str:
    """A moment on the exercise clock as “day N HH:MM”."""
    whole = int(seconds)
    return f"{_('Day %(day)d', day=day)} {whole // 3600:02d}:{whole % 3600 // 60:02d}"


# The scoreboard and adjustments ---------------------------------------------------------------


@bp.route("/<int:exercise_id>/scores")
@require_role(Role.INSTRUCTOR)
def scoreboard(exercise_id: int) -> str:
    exercise = _get(exercise_id)
    return _render_scoreboard(exercise, _adjustment_form(exercise))[0]


@bp.route("/<int:exercise_id>/adjustments", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def adjust(exercise_id: int) -> Response | tuple[str, int]:
    session = db_session()
    exercise = _get(exercise_id)
    form = _adjustment_form(exercise)
    if not form.validate_on_submit():
        return _render_scoreboard(exercise, form, 400)
    team = _team(exercise, form.team.data or 0)
    try:
        scores.adjust(session, exercise, team, form.points.data or 0, form.reason.data or "",
                      actor=current_user._get_current_object(), ip=client_ip())
    except ServiceError as exc:
        session.rollback()
        form.form_errors.append(translate(exc.text))
        return _render_scoreboard(exercise, form, exc.status)
    session.commit()
    flash(_("%(team)s: %(points)+d points recorded.", team=team.name, points=form.points.data or 0), "info")
    return redirect(url_for(".scoreboard", exercise_id=exercise.id))


@bp.route("/<int:exercise_id>/scores/visibility", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def score_visibility(exercise_id: int) -> Response:
    """Show the teams their own scores (released report grades only), or hide them again."""
    session = db_session()
    exercise = _get(exercise_id)
    visible = request.form.get("visible")
    if not ButtonForm().validate_on_submit() or visible not in ("0", "1"):
        abort(400)
    team_scores.set_visible(session, exercise, visible == "1", actor=current_user._get_current_object(),
                            ip=client_ip())
    session.commit()
    flash(_("The teams now see their scores.") if exercise.scores_visible
          else _("The teams no longer see their scores."), "info")
    return redirect(url_for(".scoreboard", exercise_id=exercise.id))


def _adjustment_form(exercise: Exercise) -> AdjustmentForm:
    form = AdjustmentForm()
    form.team.choices = [SelectChoice(t.number, t.name) for t in exercise.teams]
    return form


def _render_scoreboard(exercise: Exercise, form: AdjustmentForm, status: int = 200) -> tuple[str, int]:
    return render_template("exercises/scores.html", exercise=exercise,
                           standings=ledger.scoreboard(db_session(), exercise), form=form,
                           visibility_form=ButtonForm()), status


@bp.route("/<int:exercise_id>/teams/<int:number>/score")
@require_role(Role.INSTRUCTOR)
def team_score(exercise_id: int, number: int) -> str:
    session = db_session()
    exercise = _get(exercise_id)
    team = _team(exercise, number)
    lines = ledger.breakdown(session, team)
    return render_template("exercises/team_score.html", exercise=exercise, team=team, lines=lines,
                           total=sum(line.points for line in lines),
                           events=ledger.events(session, team, limit=EVENTS_SHOWN),
                           titles=source_titles(exercise), source_labels=SOURCE_LABELS, describe=describe,
                           technical=technical_detail)


def describe(event: ScoreEvent) -> str:
    """Why an event has its points, for anyone including the team: an instructor's words as written, a check's
    finding in the scenario's words (its ``explain``, else a neutral sentence), the rest translated."""
    detail = event.detail or {}
    if event.source is ScoreSource.CHECK:
        return check_finding(db_session().get(Exercise, event.exercise_id), event.source_id, check_passed(event))
    if event.source is ScoreSource.TASK and "attempt" in detail:
        return _("Correct answer (attempt %(number)d)", number=detail["attempt"])
    if event.source is ScoreSource.WRONG_ANSWER and "attempt" in detail:
        return _("Wrong answer (attempt %(number)d)", number=detail["attempt"])
    if event.source is ScoreSource.HINT and "hint" in detail:
        return _("Hint %(number)d taken", number=detail["hint"] + 1)
    if event.source is ScoreSource.REPORT and {"version", "total", "of"} <= set(detail):
        return _("Version %(number)d graded: %(total)d of %(max)d points",
                 number=detail["version"], total=detail["total"], max=detail["of"])
    return event.reason


def technical_detail(event: ScoreEvent) -> str:
    """A check's raw finding (an exit status, a probe's output): for the staff only, never the team's pages."""
    return event.reason if event.source is ScoreSource.CHECK else ""


def check_passed(event: ScoreEvent) -> bool:
    """Whether the check result behind *event* was a pass: an objective met, a service up, not a penalty."""
    status = (event.detail or {}).get("status")
    if status in ("up", "down"):
        return status == "up"
    mode = (event.detail or {}).get("mode")
    return mode != "penalty" and (mode == "objective" or event.points >= 0)


def check_finding(exercise: Exercise | None, check_id: str, passed: bool) -> str:
    """What a check found, in the scenario's words for a trainee; a neutral sentence where it has none."""
    check = next((c for c in scenarios.parsed(exercise.scenario).checks if c.id == check_id), None) if exercise else None
    explain = check.explain if check is not None else None
    text = (explain.passing if passed else explain.failing) if explain is not None else None
    if text is not None:
        return text_of(text)
    return _("Confirmed.") if passed else _("Could not be confirmed.")


def source_titles(exercise: Exercise, team: Team | None = None) -> dict[tuple[ScoreSource, str], str]:
    """What each ledger source names, in the reader's language: a check, a task, a report (*team*'s own texts)."""
    model = scenarios.for_team(team) if team is not None else scenarios.parsed(exercise.scenario)
    titles: dict[tuple[ScoreSource, str], str] = {}
    for check in model.checks:
        titles[(ScoreSource.CHECK, check.id)] = text_of(check.title)
    for task in model.tasks:
        for source in (ScoreSource.TASK, ScoreSource.WRONG_ANSWER, ScoreSource.HINT):
            titles[(source, task.id)] = text_of(task.prompt)
    for report in model.reports:
        titles[(ScoreSource.REPORT, report.id)] = text_of(report.title)
    return titles


# Report grading -------------------------------------------------------------------------------


@bp.route("/<int:exercise_id>/grading")
@require_role(Role.INSTRUCTOR)
def grading_queue(exercise_id: int) -> str:
    session = db_session()
    exercise = _get(exercise_id)
    return render_template("exercises/grading.html", exercise=exercise, queue=reports.grading_queue(session, exercise),
                           unreleased=reports.unreleased(session, exercise), teams={t.id: t for t in exercise.teams},
                           timings=reports.timeliness(session, exercise),
                           report_titles=_report_titles(exercise), form=ButtonForm())


@bp.route("/<int:exercise_id>/grading/<int:version_id>", methods=["GET", "POST"])
@require_role(Role.INSTRUCTOR)
def grade(exercise_id: int, version_id: int) -> Response | str | tuple[str, int]:
    session = db_session()
    exercise = _get(exercise_id)
    version = _version(exercise, version_id)
    report = _report(exercise, version)
    # The platform scores the auto criteria: the form asks only for the others.
    form = grade_form([c for c in report.rubric if c.auto is None], scores=version.scores, comment=version.comment)
    status = 200
    if form.is_submitted():
        if not form.validate() or not (form.grade.data or form.revise.data):
            status = 400
        else:
            try:
                message = _grade_or_return(version, report, form)
            except ServiceError as exc:
                session.rollback()
                form.form_errors.append(translate(exc.text))
                status = exc.status
            else:
                session.commit()
                flash(message, "info")
                return redirect(url_for(".grading_queue", exercise_id=exercise.id))
    team = session.get(Team, version.team_id)
    timing = reports.timing_of(session, exercise, version)
    return render_template("exercises/grade.html", exercise=exercise, team=team, version=version, report=report,
                           form=form, timing=timing, auto=reports.auto_scores(report, timing)), status


def _grade_or_return(version: ReportVersion, report: Report, form: GradeForm) -> str:
    actor = current_user._get_current_object()
    comment = form.comment.data or ""
    if form.revise.data:
        reports.request_revision(db_session(), version, comment, actor)
        return _("The report was sent back to the team for revision.")
    given = {c.id: form[name].data for c, name in form.criterion_fields}
    reports.grade(db_session(), version, given, comment, actor)
    return _("Graded: %(total)d of %(max)d points. The team sees it once you release the grades.",
             total=version.total or 0, max=sum(c.points for c in report.rubric))


@bp.route("/<int:exercise_id>/grading/release", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def release(exercise_id: int) -> Response:
    session = db_session()
    exercise = _get(exercise_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    count = reports.release(session, exercise, current_user._get_current_object())
    session.commit()
    flash(_("Released %(count)d grade(s) to the teams.", count=count), "info")
    return redirect(url_for(".grading_queue", exercise_id=exercise.id))


def _report_titles(exercise: Exercise) -> dict[str, str]:
    return {r.id: text_of(r.title) for r in scenarios.parsed(exercise.scenario).reports}


def _version(exercise: Exercise, version_id: int) -> ReportVersion:
    """A version that was handed in (drafts stay the team's own)."""
    try:
        version = reports.get_version(db_session(), exercise, version_id)
    except ServiceError:
        abort(404)
    if version.status is ReportStatus.DRAFT:
        abort(404)
    return version


def _report(exercise: Exercise, version: ReportVersion) -> Report:
    team = next((t for t in exercise.teams if t.id == version.team_id), None)  # the rubric with its values
    model = scenarios.for_team(team) if team is not None else scenarios.parsed(exercise.scenario)
    report = next((r for r in model.reports if r.id == version.report_id), None)
    if report is None:
        abort(404)
    return report


def _team(exercise: Exercise, number: int) -> Team:
    team = next((t for t in exercise.teams if t.number == number), None)
    if team is None:
        abort(404)
    return team


def _get(exercise_id: int) -> Exercise:
    return exercise_to_run(exercise_id)  # 404, or 403 for an instructor who does not run it
