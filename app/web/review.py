"""The review (振り返り) for administrators and instructors: exercises, rankings, breakdowns, after-action reports, exports.

Instructors see it as administrators do: they run the debrief (講評) with
it. Trainees never do (403), whatever their team's scores setting says.
"""
from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import DateField, SelectChoice, SelectField
from wtforms.validators import Optional

from app.i18n import INJECT_LABELS, localized, select_locale, text_of, translate
from app.models import Exercise, Organisation, RequestStatus, Role, RunStatus, Team, utcnow
from app.services import aar, audit, exports, ledger, organisations, participation, reports, review, staff
from app.services.errors import ServiceError
from app.web.access import require_role
from app.web.context import client_ip, db_session, settings
from app.web.scoring import SOURCE_LABELS, describe, technical_detail

bp = Blueprint("review", __name__, url_prefix="/review")

LEVEL_LABELS = {"beginner": _l("Beginner"), "intermediate": _l("Intermediate"), "advanced": _l("Advanced")}
METRIC_LABELS = {"detect": _l("Time to detect"), "contain": _l("Time to contain"),
                 "recover": _l("Time to recover"), "report": _l("Time to report"),
                 "report_up": _l("Time to report up"), "vendor": _l("Time to ask the vendor"),
                 "notify": _l("Time to notify")}
# What came of a request a team made of a character (as the team's thread says it).
REQUEST_LABELS = {
    RequestStatus.PENDING: _l("Received"), RequestStatus.SCHEDULED: _l("Scheduled"),
    RequestStatus.RUNNING: _l("Being handled"), RequestStatus.FULFILLED: _l("Completed"),
    RequestStatus.FAILED: _l("Failed"), RequestStatus.REFUSED: _l("Declined"),
    RequestStatus.REPEATED: _l("Already done"), RequestStatus.INTERRUPTED: _l("Interrupted"),
}
# An inject run's state, worded as on the live view.
RUN_LABELS = {
    RunStatus.REQUESTED: INJECT_LABELS["requested"], RunStatus.HELD: INJECT_LABELS["held"],
    RunStatus.RUNNING: INJECT_LABELS["running"], RunStatus.DONE: INJECT_LABELS["fired"],
    RunStatus.FAILED: INJECT_LABELS["failed"], RunStatus.SKIPPED: INJECT_LABELS["skipped"],
    RunStatus.MISSED: INJECT_LABELS["missed"], RunStatus.INTERRUPTED: INJECT_LABELS["interrupted"],
}
FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


class FilterForm(FlaskForm):
    """The review list's filters, read from the query string (a GET form needs no CSRF token)."""

    class Meta:
        csrf = False

    prefecture = SelectField(_l("Prefecture"), coerce=int, validators=[Optional()])
    date_from = DateField(_l("From (date)"), validators=[Optional()])
    date_to = DateField(_l("Until (date)"), validators=[Optional()])
    level = SelectField(_l("Course level"), validators=[Optional()])
    # A scenario no exercise uses any more (an old bookmark) lists nothing rather than refusing.
    scenario = SelectField(_l("Scenario"), validators=[Optional()], validate_choice=False)
    # Exercises where some trainee of this organisation (所属団体) took part; the counts show it alone.
    organisation = SelectField(_l("Organisation"), coerce=int, validators=[Optional()], validate_choice=False)


def _filter_form() -> tuple[FilterForm, review.ExerciseFilter | None]:
    """The form filled from the query string, and the filter when every field is valid."""
    choices = review.filter_choices(db_session())
    form = FilterForm(formdata=request.args)
    form.prefecture.choices = [SelectChoice(0, _("All"))] + [
        SelectChoice(p.id, localized(p, "name")) for p in choices.prefectures]
    form.level.choices = [SelectChoice("", _("All"))] + [
        SelectChoice(level, LEVEL_LABELS[level]) for level in choices.levels]
    form.scenario.choices = [SelectChoice("", _("All"))] + [
        SelectChoice(s.slug, localized(s, "title")) for s in choices.scenarios]
    form.organisation.choices = [SelectChoice(0, _("All"))] + [
        SelectChoice(o.id, organisations.label(o, select_locale())) for o in choices.organisations]
    if not form.validate():
        return form, None
    try:
        criteria = review.ExerciseFilter(prefecture_id=form.prefecture.data or None, date_from=form.date_from.data,
                                         date_to=form.date_to.data, level=form.level.data or None,
                                         scenario=form.scenario.data or None,
                                         organisation_id=form.organisation.data or None)
    except ServiceError as exc:
        form.date_to.errors = [*form.date_to.errors, translate(exc.text)]
        return form, None
    return form, criteria


def _valid_filter() -> review.ExerciseFilter:
    """The filter of a download: the same as the list's, and 400 when a field is wrong."""
    _form, criteria = _filter_form()
    if criteria is None:
        abort(400)
    return criteria


@bp.route("/")
@require_role(Role.INSTRUCTOR)
def index() -> tuple[str, int]:
    form, criteria = _filter_form()
    session = db_session()
    rows = review.search(session, criteria) if criteria is not None else []
    counted = (participation.count(session, [r.exercise for r in rows], organisation_id=criteria.organisation_id)
               if criteria is not None else None)
    return render_template("review/index.html", form=form, rows=rows, query=request.args.to_dict(),
                           level_labels=LEVEL_LABELS, counted=counted,
                           organisation_label=_organisation_label), 200 if criteria is not None else 400


@bp.route("/export/exercises.<any(csv, json):fmt>")
@require_role(Role.INSTRUCTOR)
def export_exercises(fmt: str) -> Response:
    table = exports.exercises_table(review.search(db_session(), _valid_filter(), limit=None))
    return _download(table, None, fmt, "exercises")


@bp.route("/export/participation.<any(csv, json):fmt>")
@require_role(Role.INSTRUCTOR)
def export_participation(fmt: str) -> Response:
    """The participant counts of the listed exercises, per exercise and organisation, with totals."""
    criteria = _valid_filter()
    session = db_session()
    rows = review.search(session, criteria, limit=None)
    counted = participation.count(session, [r.exercise for r in rows], organisation_id=criteria.organisation_id)
    return _download(exports.participation_table(counted), None, fmt, "participation")


def _organisation_label(organisation: Organisation | None) -> str:
    return organisations.label(organisation, select_locale()) if organisation else _("No organisation")


@bp.route("/exercises/<int:exercise_id>")
@require_role(Role.INSTRUCTOR)
def exercise(exercise_id: int) -> str:
    session = db_session()
    found = _exercise(exercise_id)
    series = review.score_series(session, found)
    chart = _chart([(t.name, series[t.id]) for t in found.teams], found)
    return render_template("review/exercise.html", exercise=found, ranking=review.ranking(session, found),
                           chart=chart, source_labels=SOURCE_LABELS, level_labels=LEVEL_LABELS,
                           team_organisations=review.team_organisations, organisation_label=_organisation_label,
                           counted=participation.count(session, [found]))


@bp.route("/exercises/<int:exercise_id>/teams/<int:number>")
@require_role(Role.INSTRUCTOR)
def team(exercise_id: int, number: int) -> str:
    found = _exercise(exercise_id)
    the_team = _team(found, number)
    breakdown = review.team_breakdown(db_session(), found, the_team)
    return render_template("review/team.html", exercise=found, team=the_team, b=breakdown,
                           titles=review.titles(found), chart=_chart([(the_team.name, breakdown.series)], found),
                           source_labels=SOURCE_LABELS, metric_labels=METRIC_LABELS, describe=describe,
                           technical=technical_detail, reports=reports.report_views(db_session(), found, the_team))


@bp.route("/exercises/<int:exercise_id>/teams/<int:number>/aar")
@require_role(Role.INSTRUCTOR)
def aar_page(exercise_id: int, number: int) -> str:
    found = _exercise(exercise_id)
    report = aar.build(db_session(), found, _team(found, number))
    return render_template("review/aar.html", r=report, **_aar_labels())


@bp.route("/exercises/<int:exercise_id>/teams/<int:number>/aar.pdf")
@require_role(Role.INSTRUCTOR)
def aar_pdf(exercise_id: int, number: int) -> Response | tuple[str, int]:
    found = _exercise(exercise_id)
    the_team = _team(found, number)
    report = aar.build(db_session(), found, the_team)
    html = render_template("review/aar_pdf.html", r=report, **_aar_labels())
    try:
        pdf = exports.to_pdf(html, render_template("review/aar_print.css"))
    except ServiceError as exc:
        return render_template("review/pdf_unavailable.html", r=report, message=translate(exc.text)), exc.status
    name = f"aar-exercise{found.id}-team{the_team.number:02d}.pdf"
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/exercises/<int:exercise_id>/export/<any(teams, scores, events, messages, trainees, variables):kind>.<any(csv, json):fmt>")
@require_role(Role.INSTRUCTOR)
def export_exercise(exercise_id: int, kind: str, fmt: str) -> Response:
    found = _exercise(exercise_id)
    table = exports.TABLES[kind](db_session(), found)
    return _download(table, found, fmt, f"exercise{found.id}-{kind}")


def _download(table: exports.Table, exercise: Exercise | None, fmt: str, stem: str) -> Response:
    """The table as a file; who exported what is written to the audit log (exports carry names)."""
    session = db_session()
    zone = ZoneInfo(settings().display_timezone)
    if fmt == "csv":
        body = exports.to_csv(table, zone)
    else:
        head: dict[str, object] = {"exported_at": utcnow().astimezone(zone).isoformat()}
        if exercise is not None:
            head["exercise"] = {"id": exercise.id, "name": exercise.name, "scenario": exercise.scenario.slug}
        body = exports.to_json([table], zone, **head)
    audit.record(session, "review.export", actor=current_user._get_current_object(),
                 target=f"exercise:{exercise.id}" if exercise else "exercises",
                 exercise_id=exercise.id if exercise else None, ip=client_ip(), table=table.name, format=fmt,
                 rows=len(table.rows))
    session.commit()
    return Response(body, content_type=FORMATS[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{stem}.{fmt}"'})


def _chart(lines: list[tuple[str, list[review.SeriesPoint]]], exercise: Exercise) -> dict[str, object]:
    """What review.js draws: score over exercise time, one line per team (minutes since day 1 began)."""
    return {
        "x_title": _("Exercise time"), "y_title": _("Points"),
        "days": [{"start": round(start / 60.0, 2), "label": _("Day %(day)d", day=n)}
                 for n, start in enumerate(_day_starts(exercise), start=1)],
        "series": [{"label": name, "points": [{"x": round(p.timeline / 60.0, 2), "y": p.total} for p in points]}
                   for name, points in lines],
    }


def _day_starts(exercise: Exercise) -> list[float]:
    """Where each day begins on the timeline, in seconds."""
    starts, total = [], 0.0
    for length in ledger.day_lengths(exercise):
        starts.append(total)
        total += length
    return starts


def _aar_labels() -> dict[str, object]:
    return {"source_labels": SOURCE_LABELS, "metric_labels": METRIC_LABELS, "run_labels": RUN_LABELS,
            "level_labels": LEVEL_LABELS, "request_labels": REQUEST_LABELS, "text_of": text_of}


def _exercise(exercise_id: int) -> Exercise:
    """An exercise's review (ranking, breakdowns, AARs, exports with names): its staff and administrators."""
    try:
        found = review.get_exercise(db_session(), exercise_id)
    except ServiceError:
        abort(404)
    try:
        staff.require_runner(found, current_user._get_current_object())
    except ServiceError as exc:
        abort(exc.status)
    return found


def _team(exercise: Exercise, number: int) -> Team:
    try:
        return review.get_team(exercise, number)
    except ServiceError:
        abort(404)

