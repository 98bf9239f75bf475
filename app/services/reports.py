"""Reports (第一報 / 続報 / 最終報): a team drafts and submits versions, an instructor grades or returns them.

A report's points are those of its latest graded version. Grading writes to
the ledger only the difference from what the ledger already holds for that
report, so a re-grade corrects the score with one more event and the ledger
stays append-only. The team sees a revision request's comment at once, but a
grade's scores and comment only once an instructor releases them.

Team-mates write the same draft. Every save names the version and revision
its writer started from (``Base``); when a team-mate saved or submitted since,
the save is refused with ``DraftConflict`` (carrying what the team-mate saved)
instead of being written over it, so no one's text is lost unseen. Text over
``MAX_TEXT`` characters is refused whole, never cut.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db import insert_new
from app.models import (
    Exercise, ExerciseState, InjectRun, ReportStatus, RunStatus, ReportVersion, ScoreEvent, ScoreSource, Team, TimelineEvent,
    User, utcnow,
)
from app.runtime.triggers import counts_from
from app.scenario.model import At, Character, Report, minutes
from app.services import audit, ledger, scenarios
from app.services.errors import N_, Conflict, InvalidInput, NotFound
from app.services.tasks import reached

MAX_TEXT = 20_000
WRITABLE = {ExerciseState.RUNNING, ExerciseState.PAUSED}
TRIES = 5  # team-mates starting the same draft, instructors grading the same report


@dataclass(frozen=True)
class Base:
    """The state of a report a writer started from: its newest version's number and revision (0, 0: none yet).

    It travels with the form as a token (``"3.7"``) and comes back with the save.
    """

    number: int
    revision: int

    @property
    def token(self) -> str:
        return f"{self.number}.{self.revision}"

    @classmethod
    def of(cls, version: ReportVersion | None) -> Base:
        return cls(0, 0) if version is None else cls(version.number, version.revision)

    @classmethod
    def parse(cls, token: str | None) -> Base:
        """The base a token names; a missing or garbled token reads as "nothing yet", which never overwrites."""
        number, _, revision = (token or "").partition(".")
        if number.isdigit() and revision.isdigit():
            return cls(int(number), int(revision))
        return cls(0, 0)


class DraftConflict(Conflict):
    """A save or submission made from an older state of the report: a team-mate saved or submitted since.

    ``current`` is the version as it now stands (its text is the team-mate's);
    nothing of the refused text was saved.
    """

    def __init__(self, current: ReportVersion, author: str, *, yours: bool = False) -> None:
        if yours:  # the writer's own save from another window or tab
            super().__init__(N_("This report was saved from another window while you were editing it. Read that "
                                "text below, then save yours again."))
        elif current.status is ReportStatus.DRAFT:
            super().__init__(N_("%(author)s saved this draft while you were editing it. Read their text below, "
                                "then save yours again."), author=author)
        else:
            super().__init__(N_("%(author)s handed in version %(number)d while you were editing. Read it below; "
                                "your text is not saved yet."), author=author, number=current.number)
        self.current = current
        self.author = author


@dataclass(frozen=True)
class DueTime:
    """When a report falls due, as trainees read it: on the exercise clock and on the wall."""

    day: int | None  # None: not fixed yet (its inject has not run)
    seconds: float | None  # into that day
    wall: datetime | None  # when the running clock reaches it at the current speed; None when unknown

    @property
    def fixed(self) -> bool:
        return self.day is not None


@dataclass(frozen=True)
class ReportView:
    """One report as a team sees it: its versions, the editable draft, whether it is due, whom it goes to."""

    report: Report
    versions: tuple[ReportVersion, ...]  # oldest first, drafts included
    draft: ReportVersion | None
    due: bool  # its due moment has been reached
    submitted: bool  # some version was submitted
    addressee: Character | None = None  # the character the report is addressed to (``Report.to``)
    due_at: DueTime | None = None
    timing: Timeliness | None = None
    overdue: bool = False  # due, and still not submitted
    overdue_minutes: int = 0  # whole minutes since it fell due, when overdue

    @property
    def late_minutes(self) -> int:
        """Whole minutes (rounded up) the first submission came after the due moment; 0 when on time."""
        return late_minutes(self.timing)


def report_views(session: Session, exercise: Exercise, team: Team, *,
                 now: datetime | None = None) -> list[ReportView]:
    """Every report of the scenario, in scenario order, with the team's versions, addressee and due moment."""
    wall = now or utcnow()
    moment = ledger.moment(exercise, wall)
    model = scenarios.for_team(team)  # the templates and rubrics with the team's own values
    characters = {c.id: c for c in model.story.characters}
    timings = timeliness(session, exercise)
    rows = list(session.scalars(select(ReportVersion).where(ReportVersion.team_id == team.id)
                                .order_by(ReportVersion.number)))
    views = []
    for report in model.reports:
        versions = tuple(v for v in rows if v.report_id == report.id)
        timing = timings[(team.id, report.id)]
        overdue = timing.overdue(moment.timeline)
        views.append(ReportView(
            report=report, versions=versions,
            draft=next((v for v in versions if v.status is ReportStatus.DRAFT), None),
            due=reached(session, exercise, team, report.due, moment),
            submitted=any(v.submitted_at is not None for v in versions),
            addressee=characters.get(report.to) if report.to else None,
            due_at=due_time(exercise, timing.due, moment, wall), timing=timing, overdue=overdue,
            overdue_minutes=int((moment.timeline - timing.due) // 60) if overdue else 0))  # type: ignore[operator]
    return views


def late_minutes(timing: Timeliness | None) -> int:
    """Whole minutes (rounded up) a late first submission came after the due moment; 0 when not late."""
    return math.ceil(timing.late_seconds / 60.0) if timing is not None and timing.late else 0


def due_time(exercise: Exercise, due: float | None, now: ledger.Moment, wall: datetime) -> DueTime:
    """The due moment *due* (timeline seconds) as a day and time, and on the wall when it can be known.

    The wall time is known only while the exercise runs and for a moment of
    the day now under way: it is when the clock reaches it at the current
    speed (for a moment already past, when the clock passed it, pauses aside).
    """
    if due is None:
        return DueTime(None, None, None)
    day, seconds = _on_day(exercise, due)
    known = exercise.state is ExerciseState.RUNNING and day == now.day
    at_wall = wall + timedelta(seconds=(due - now.timeline) / (exercise.speed or 1.0)) if known else None
    return DueTime(day, seconds, at_wall)


def _on_day(exercise: Exercise, timeline: float) -> tuple[int, float]:
    """The day and the seconds into it of a moment on the timeline (past the last day: that day, overrun)."""
    lengths = ledger.day_lengths(exercise)
    for day, length in enumerate(lengths, start=1):
        if timeline < length or day == len(lengths):
            return day, timeline
        timeline -= length
    return 1, timeline


@dataclass(frozen=True)
class Timeliness:
    """When a report falls due for a team and when the team first submitted it (exercise timeline seconds)."""

    report: Report
    due: float | None  # None: not fixed yet (its inject has not run), or never (that inject did not happen)
    submitted: float | None

    @property
    def late(self) -> bool:
        """Submitted after it was due."""
        return self.due is not None and self.submitted is not None and self.submitted > self.due

    def overdue(self, now: float) -> bool:
        """Due, and still not submitted at *now*."""
        return self.due is not None and self.submitted is None and now > self.due

    @property
    def late_seconds(self) -> float:
        return max((self.submitted or 0.0) - self.due, 0.0) if self.late else 0.0  # type: ignore[operator]


def timeliness(session: Session, exercise: Exercise) -> dict[tuple[int, str], Timeliness]:
    """Every team's due moment and first submission of every report, by (team id, report id): two queries."""
    model = scenarios.parsed(exercise.scenario)
    runs: dict[tuple[int, str], InjectRun] = {}
    after = {r.due.inject for r in model.reports if not isinstance(r.due, At)}
    if after:
        for run in session.scalars(select(InjectRun).where(
                InjectRun.exercise_id == exercise.id, InjectRun.inject_id.in_(after),
                InjectRun.started_seconds.is_not(None), InjectRun.status.in_(
                    (RunStatus.DONE, RunStatus.FAILED, RunStatus.INTERRUPTED, RunStatus.RUNNING)))):
            runs[(run.team_id, run.inject_id)] = run
    firsts = {(team_id, report_id): float(first) for team_id, report_id, first in session.execute(
        select(ReportVersion.team_id, ReportVersion.report_id, func.min(ReportVersion.timeline_seconds))
        .where(ReportVersion.exercise_id == exercise.id, ReportVersion.submitted_at.is_not(None))
        .group_by(ReportVersion.team_id, ReportVersion.report_id))}
    found = {}
    for team in exercise.teams:
        for report in model.reports:
            due = report.due
            if isinstance(due, At):
                at: float | None = ledger.at(exercise, due.day, minutes(due.at) * 60.0).timeline
            else:
                run = runs.get((team.id, due.inject))
                begun = counts_from(run, exercise, due) if due.on_finish else run and run.started_seconds
                at = None if run is None or begun is None else (
                    ledger.at(exercise, run.day, begun).timeline + minutes(due.delay) * 60.0)
            found[(team.id, report.id)] = Timeliness(report, at, firsts.get((team.id, report.id)))
    return found


def save_draft(session: Session, exercise: Exercise, team: Team, user: User, report_id: str, text: str, *,
               base: Base | None = None, now: datetime | None = None) -> ReportVersion:
    """Write the team's draft of *report_id*: the one draft there is, or a new version after the last.

    With *base* (what the writer started from), a team-mate's save since then
    raises ``DraftConflict`` and nothing is written; without it (scripts, the
    rehearsal) the save applies to whatever draft there is.
    """
    report = _writable_report(exercise, report_id)
    text = _checked_text(text)
    return _write_draft(session, team, user, report, text, now or utcnow(), base)


def submit(session: Session, exercise: Exercise, team: Team, user: User, report_id: str, *,
           text: str | None = None, base: Base | None = None, now: datetime | None = None) -> ReportVersion:
    """Hand in the draft (written from *text* first when given) for grading.

    Refused while an earlier version is still waiting for a grade (or to be
    sent back), and like ``save_draft`` when a team-mate saved since *base*.
    """
    wall = now or utcnow()
    report = _writable_report(exercise, report_id)
    if text is not None:
        text = _checked_text(text)
        if base is not None:  # before the check below: a team-mate's hand-in reads as that, not "waiting"
            _check_base(session, team, user, report.id, text, base)
    pending = session.scalar(select(ReportVersion).where(
        ReportVersion.team_id == team.id, ReportVersion.report_id == report.id,
        ReportVersion.status == ReportStatus.SUBMITTED).limit(1))
    if pending is not None:
        raise Conflict(N_("version %(number)d of %(report)r is waiting to be graded: submit again after that"),
                       number=pending.number, report=report.id)
    draft = _draft(session, team, report.id)
    content = text if text is not None else draft.text if draft is not None else ""
    if not content.strip():
        raise InvalidInput(N_("an empty report cannot be submitted"))
    version = _write_draft(session, team, user, report, content, wall, base if text is not None else None)
    moment = ledger.moment(exercise, wall)
    version.status, version.submitted_at = ReportStatus.SUBMITTED, wall
    version.day, version.exercise_seconds, version.timeline_seconds = moment.day, moment.seconds, moment.timeline
    _timeline(session, version, moment, wall, f"{report.id}: version {version.number} submitted", "submitted")
    return version


def grading_queue(session: Session, exercise: Exercise) -> list[ReportVersion]:
    """Versions waiting for a grade, oldest submission first."""
    return list(session.scalars(select(ReportVersion).where(
        ReportVersion.exercise_id == exercise.id, ReportVersion.status == ReportStatus.SUBMITTED)
        .order_by(ReportVersion.submitted_at, ReportVersion.id)))


def unreleased(session: Session, exercise: Exercise) -> list[ReportVersion]:
    """Graded versions the teams cannot see yet, by team number then report and version: one query."""
    return list(session.scalars(select(ReportVersion).join(Team, Team.id == ReportVersion.team_id).where(
        ReportVersion.exercise_id == exercise.id, ReportVersion.status == ReportStatus.GRADED,
        ReportVersion.released_at.is_(None)).order_by(Team.number, ReportVersion.report_id, ReportVersion.number)))


def timing_of(session: Session, exercise: Exercise, version: ReportVersion) -> Timeliness:
    """When *version*'s report fell due for its team and when the team first submitted it."""
    return timeliness(session, exercise)[(version.team_id, version.report_id)]


def auto_scores(report: Report, timing: Timeliness) -> dict[str, int]:
    """The points of the criteria the platform scores: ``on_time`` is full unless the first submission was late."""
    return {c.id: 0 if timing.late else c.points for c in report.rubric if c.auto == "on_time"}


def get_version(session: Session, exercise: Exercise, version_id: int) -> ReportVersion:
    version = session.get(ReportVersion, version_id)
    if version is None or version.exercise_id != exercise.id:
        raise NotFound(N_("no such report version"))
    return version


def grade(session: Session, version: ReportVersion, scores: dict[str, int], comment: str, actor: User | None, *,
          now: datetime | None = None) -> int:
    """Grade (or re-grade) a submitted version against its rubric; returns the points added to the ledger.

    *scores* names every rubric criterion once, each from 0 to its points;
    a criterion the platform scores (``auto: on_time``) may be left out and is
    filled from the team's first submission whatever *scores* says.
    The ledger gets the difference between the report's latest graded total
    and what it already holds for the report (negative when a re-grade lowers it).
    """
    if version.status not in (ReportStatus.SUBMITTED, ReportStatus.GRADED):
        raise Conflict(N_("only a submitted or graded version can be graded (this one is %(status)s)"),
                       status=version.status.value)
    exercise = session.get(Exercise, version.exercise_id)
    report = _report(exercise, version.report_id)
    # The platform's own criteria override whatever was given for them (a form cannot forge them).
    scores = {**scores, **auto_scores(report, timing_of(session, exercise, version))}
    total = _total(report, scores)
    wall = now or utcnow()
    version.status, version.scores, version.total = ReportStatus.GRADED, dict(scores), total
    version.comment, version.graded_at = comment, wall
    version.grader_id = actor.id if actor is not None else None
    session.flush([version])
    team = session.get(Team, version.team_id)
    added = _settle(session, exercise, team, report, version, ledger.moment(exercise, wall), actor)
    audit.record(session, "report.grade", actor=actor, target=f"exercise:{exercise.id}:{report.id}",
                 exercise_id=exercise.id, team=team.number, version=version.number, total=total, points=added)
    return added


def request_revision(session: Session, version: ReportVersion, comment: str, actor: User | None, *,
                     now: datetime | None = None) -> None:
    """Send a submitted version back with *comment* (the team sees it at once); no points change."""
    if version.status is not ReportStatus.SUBMITTED:
        raise Conflict(N_("only a submitted version can be sent back (this one is %(status)s)"),
                       status=version.status.value)
    if not comment.strip():
        raise InvalidInput(N_("say what the team should revise"))
    wall = now or utcnow()
    exercise = session.get(Exercise, version.exercise_id)
    version.status, version.comment = ReportStatus.REVISION_REQUESTED, comment
    version.grader_id = actor.id if actor is not None else None
    _timeline(session, version, ledger.moment(exercise, wall), wall,
              f"{version.report_id}: revision of version {version.number} requested", "revision_requested")
    audit.record(session, "report.request_revision", actor=actor,
                 target=f"exercise:{exercise.id}:{version.report_id}", exercise_id=exercise.id,
                 team=session.get(Team, version.team_id).number, version=version.number)


def release(session: Session, exercise: Exercise, actor: User | None, *, team: Team | None = None,
            now: datetime | None = None) -> int:
    """Show the teams (or one team) their grades: every graded, unreleased version; returns how many."""
    query = select(ReportVersion).where(ReportVersion.exercise_id == exercise.id,
                                        ReportVersion.status == ReportStatus.GRADED,
                                        ReportVersion.released_at.is_(None))
    if team is not None:
        query = query.where(ReportVersion.team_id == team.id)
    wall = now or utcnow()
    versions = list(session.scalars(query))
    for version in versions:
        version.released_at = wall
    audit.record(session, "report.release", actor=actor, target=f"exercise:{exercise.id}", exercise_id=exercise.id,
                 team=team.number if team is not None else None, versions=len(versions))
    return len(versions)


def grade_visible(version: ReportVersion) -> bool:
    """Whether the team may see the grade's scores, total and comment: graded and released."""
    return version.status is ReportStatus.GRADED and version.released_at is not None


def _report(exercise: Exercise, report_id: str) -> Report:
    report = next((r for r in scenarios.parsed(exercise.scenario).reports if r.id == report_id), None)
    if report is None:
        raise NotFound(N_("the scenario has no report %(report)r"), report=report_id)
    return report


def _writable_report(exercise: Exercise, report_id: str) -> Report:
    if exercise.state not in WRITABLE:
        raise Conflict(N_("reports can be written only while the exercise runs or is paused (it is %(state)s)"),
                       state=exercise.state.value)
    return _report(exercise, report_id)


def _checked_text(text: str) -> str:
    """*text* with the browser's CRLF line ends made LF (so it counts as the page's counter does), or refused."""
    text = text.replace("\r\n", "\n")
    if len(text) > MAX_TEXT:
        raise InvalidInput(N_("The text is over the limit (%(max)d characters): it has %(length)d characters. "
                              "Nothing was saved."), max=MAX_TEXT, length=len(text))
    return text


def _newest(session: Session, team: Team, report_id: str) -> ReportVersion | None:
    """The report's newest version as the database holds it now (a team-mate may have saved since it was read)."""
    return session.scalar(select(ReportVersion).where(
        ReportVersion.team_id == team.id, ReportVersion.report_id == report_id)
        .order_by(ReportVersion.number.desc()).limit(1).execution_options(populate_existing=True))


def _check_base(session: Session, team: Team, user: User, report_id: str, text: str,
                base: Base) -> ReportVersion | None:
    """The newest version, unless a team-mate changed the report since *base*: then ``DraftConflict``.

    A draft that already holds exactly *text* is no conflict: nothing would be lost.
    """
    newest = _newest(session, team, report_id)
    if Base.of(newest) == base:
        return newest
    assert newest is not None  # a base naming a version: versions are never deleted
    if newest.status is ReportStatus.DRAFT and newest.text == text:
        return newest
    author = session.get(User, newest.author_id) if newest.author_id is not None else None
    raise DraftConflict(newest, author.display_name if author is not None else "?",
                        yours=newest.author_id == user.id)


def _draft(session: Session, team: Team, report_id: str) -> ReportVersion | None:
    return session.scalar(select(ReportVersion).where(
        ReportVersion.team_id == team.id, ReportVersion.report_id == report_id,
        ReportVersion.status == ReportStatus.DRAFT).order_by(ReportVersion.number.desc()).limit(1))


def _write_draft(session: Session, team: Team, user: User, report: Report, text: str,
                 wall: datetime, base: Base | None) -> ReportVersion:
    """Update the team's draft, or start one after the last version (a team-mate may be starting it too).

    The update is a compare-and-set on the draft's revision, so of two saves
    made from the same revision at once exactly one applies; the other finds
    the new revision on its next turn (a ``DraftConflict`` when it has a *base*).
    """
    session.flush()
    for _ in range(TRIES):
        newest = _newest(session, team, report.id) if base is None else _check_base(
            session, team, user, report.id, text, base)
        if newest is not None and newest.status is ReportStatus.DRAFT:
            written = session.execute(
                update(ReportVersion).where(ReportVersion.id == newest.id, ReportVersion.revision == newest.revision)
                .values(text=text, author_id=user.id, updated_at=wall, revision=ReportVersion.revision + 1)
                .execution_options(synchronize_session=False)).rowcount
            if written:
                session.refresh(newest)
                return newest
            base = None if base is None else Base.of(newest)  # lost the race: the next turn names who won
            continue
        draft_id = insert_new(session, ReportVersion, exercise_id=team.exercise_id, team_id=team.id,
                              report_id=report.id, number=(newest.number if newest else 0) + 1,
                              status=ReportStatus.DRAFT, text=text, author_id=user.id, updated_at=wall, revision=1)
        if draft_id is not None:
            return session.get(ReportVersion, draft_id)
    raise Conflict(N_("your team-mates are saving %(report)r at the same time: try again"), report=report.id)


def _total(report: Report, scores: dict[str, int]) -> int:
    unknown = sorted(set(scores) - {c.id for c in report.rubric})
    if unknown:
        raise InvalidInput(N_("the rubric of %(report)r has no criterion %(criterion)r"),
                           report=report.id, criterion=unknown[0])
    for criterion in report.rubric:
        if criterion.id not in scores:
            raise InvalidInput(N_("no score given for criterion %(criterion)r"), criterion=criterion.id)
        value = scores[criterion.id]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= criterion.points:
            raise InvalidInput(N_("the score for criterion %(criterion)r must be a whole number from 0 to %(max)d"),
                               criterion=criterion.id, max=criterion.points)
    return sum(scores[c.id] for c in report.rubric)


def _settle(session: Session, exercise: Exercise, team: Team, report: Report, version: ReportVersion,
            moment: ledger.Moment, actor: User | None) -> int:
    """Bring the ledger's points for *report* to its latest graded total; returns the points written."""
    target = session.scalar(select(ReportVersion.total).where(
        ReportVersion.team_id == team.id, ReportVersion.report_id == report.id,
        ReportVersion.status == ReportStatus.GRADED).order_by(ReportVersion.number.desc()).limit(1)) or 0
    for _ in range(TRIES):
        held, count = session.execute(
            select(func.coalesce(func.sum(ScoreEvent.points), 0), func.count()).where(
                ScoreEvent.team_id == team.id, ScoreEvent.source == ScoreSource.REPORT,
                ScoreEvent.source_id == report.id)).one()
        delta = target - int(held)
        if delta == 0 and count > 0:
            return 0
        event = ledger.append(session, team, source=ScoreSource.REPORT, source_id=report.id,
                              key=f"report:{report.id}:v{version.number}:g{count + 1}", points=delta, when=moment,
                              reason=f"{report.id}: version {version.number} graded",
                              detail={"version": version.number, "total": version.total,
                                      "of": sum(c.points for c in report.rubric)}, actor=actor)
        if event is not None:
            return delta
    raise Conflict(N_("another instructor is grading %(report)r of this team: try again"), report=report.id)


def _timeline(session: Session, version: ReportVersion, moment: ledger.Moment, wall: datetime, summary: str,
              step: str) -> None:
    """A line of the team's timeline; *step* (``submitted``, ``revision_requested``) says what happened."""
    session.add(TimelineEvent(exercise_id=version.exercise_id, team_id=version.team_id, at=wall, day=moment.day,
                              exercise_seconds=moment.seconds, kind="report", summary=summary[:500],
                              detail={"report": version.report_id, "version": version.number, "step": step}))
