"""The after-action report (講評) of one team: the attack beside the team's response, the score, the model answers.

Assembled from what the database recorded and the scenario's debrief texts,
as plain dataclasses a page or a PDF renders. Nothing is translated here:
scenario texts stay bilingual (``Text``), the rest is data the template
words in the reader's language. Each part is one query for the team, so the
report costs the same for the first team as for the thirtieth.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    CheckResultRow, Exercise, InjectRun, ReportStatus, ReportVersion, RunStatus, ScoreEvent, ScoreSource,
    TaskAttempt, Team, TerminalSession, TimelineEvent, User,
)
from app.scenario.model import After, Character, Criterion, Report, Step, Task, Text
from app.services import ledger, reports as report_service, review, scenarios
from app.services.aar_correspondence import Letter, RequestOutcome, Stamp, record


@dataclass(frozen=True)
class AttackStep:
    """One inject of the scenario as it went for this team (or did not: ``status`` None means never run)."""

    inject_id: str
    title: Text
    status: RunStatus | None
    stamp: Stamp
    lateness: float
    debrief: Text


@dataclass(frozen=True)
class TeamAction:
    """Something the team did, or that happened to its range or score.

    ``kind`` is one of: answer, hint, report_submitted, report_graded,
    revision_requested, check_down, check_up, adjustment, terminal,
    instructor (a message or inject an instructor sent to the team),
    message_sent (the team wrote to a character), message_received (a
    character's reply; ``detail["letter"]`` is the ``Letter``).
    """

    kind: str
    stamp: Stamp
    subject: Text | None = None  # the task, report, check or host it concerns, in both languages
    points: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TimelineRow:
    """One line of the side-by-side timeline: either the attack's side or the team's."""

    stamp: Stamp
    attack: AttackStep | None = None
    action: TeamAction | None = None


@dataclass(frozen=True)
class Comment:
    """An instructor's words to the team: a grade, a revision request or an adjustment's reason."""

    kind: str  # report_graded, revision_requested, adjustment
    subject: Text | None
    text: str
    author: str
    wall: datetime | None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskAnswer:
    task: Task
    solved: bool
    attempts: int
    points: int  # award, penalties and hints together, from the ledger


@dataclass(frozen=True)
class ReportGrade:
    report: Report
    criteria: list[tuple[Criterion, int | None]]  # each criterion with the points of the latest grade
    total: int | None
    of: int
    version: int | None  # the latest graded version
    addressee: Character | None = None
    quoted: ReportVersion | None = None  # the latest submitted version, whose text the report quotes
    late_minutes: int = 0  # how late the first submission was (0: on time, or not submitted)
    grader: str = ""  # who graded or sent back the quoted version ("" when no one has yet)


@dataclass(frozen=True)
class ModelStep:
    """One step of the scenario's model response, with the moment it is due."""

    step: Step
    day: int | None = None  # at a time of a day …
    at: str | None = None
    after: Text | None = None  # … or some time after an inject (its title)
    delay: str | None = None
    subject: Text | None = None  # the task or report an answer or report step is for


@dataclass(frozen=True)
class AfterActionReport:
    exercise: Exercise
    team: Team
    rank: review.RankRow
    teams: int
    lines: list[ledger.BreakdownLine]
    attack: list[AttackStep]
    actions: list[TeamAction]
    timeline: list[TimelineRow]
    metrics: list[review.MetricLine]
    tasks: list[TaskAnswer]
    reports: list[ReportGrade]
    letters: list[Letter]  # the team's correspondence with the characters, oldest first
    requests: list[RequestOutcome]
    model_response: list[ModelStep]
    comments: list[Comment]
    summary: Text
    lessons: list[Text]
    hosts: dict[str, Text]
    titles: dict[tuple[ScoreSource, str], Text]  # what each ledger source names


def build(session: Session, exercise: Exercise, team: Team) -> AfterActionReport:
    """The after-action report of *team*: read-only, a fixed number of queries."""
    model = scenarios.for_team(team)  # the answers, model response and texts with the team's own values
    titles = review.titles(exercise, team)
    hosts = {h.id: h.name for h in model.network.hosts}
    ranking = review.ranking(session, exercise)
    events = list(session.scalars(select(ScoreEvent).where(ScoreEvent.team_id == team.id).order_by(ScoreEvent.id)))
    versions = list(session.scalars(select(ReportVersion).where(
        ReportVersion.team_id == team.id, ReportVersion.status != ReportStatus.DRAFT).order_by(ReportVersion.id)))
    names = _names(session, [v.grader_id for v in versions] + [e.actor_id for e in events])
    attack = _attack(session, exercise, team, model)
    characters = {c.id: c for c in model.story.characters}
    letters, requests = record(session, exercise, team, characters)
    late = {report_id: report_service.late_minutes(t)
            for (team_id, report_id), t in report_service.timeliness(session, exercise).items() if team_id == team.id}
    actions = [*_attempts(session, team, titles), *_reports(session, exercise, team, versions, titles, late),
               *_score_actions(events, titles, names), *_checks(session, team, titles, model.checks),
               *_terminals(session, team, hosts), *_instructor(session, exercise, team), *_letters(letters)]
    rows = [TimelineRow(a.stamp, attack=a) for a in attack if a.stamp.timeline is not None]
    rows += [TimelineRow(a.stamp, action=a) for a in actions]
    order = _chronology(rows, exercise.speed or 1.0)
    return AfterActionReport(
        exercise=exercise, team=team, rank=next(r for r in ranking if r.team.id == team.id), teams=len(ranking),
        lines=ledger.breakdown(session, team), attack=attack, actions=sorted(actions, key=order),
        timeline=sorted(rows, key=order),
        metrics=review.team_metrics(session, exercise, team),
        tasks=_task_answers(model.tasks, session, team, events),
        reports=_grades(model.reports, versions, characters, late, names), letters=letters, requests=requests,
        model_response=[_model_step(step, model) for step in model.model_response],
        comments=_comments(versions, events, titles, names), summary=model.debrief.summary,
        lessons=list(model.debrief.lessons), hosts=hosts, titles=titles)


def _chronology(items: list[Any], speed: float) -> Callable[[Any], tuple[float, int]]:
    """A sort key putting *items* in exercise-time order.

    Most things carry their moment on the exercise clock. A few know only
    their wall time (a terminal opened, a grade given): they go where the
    wall clock puts them among the things that know both.
    """
    anchors = sorted((i.stamp.wall, i.stamp.timeline) for i in items
                     if i.stamp.wall is not None and i.stamp.timeline is not None)
    walls = [wall for wall, _ in anchors]

    def key(item: Any) -> tuple[float, int]:
        stamp = item.stamp
        if stamp.timeline is not None:
            return (stamp.timeline, 0)
        if stamp.wall is None:
            return (float("inf"), 1)
        before = bisect_right(walls, stamp.wall) - 1
        if before < 0:
            return (0.0, 1)
        wall, timeline = anchors[before]
        return (timeline + (stamp.wall - wall).total_seconds() * speed, 1)

    return key


def _names(session: Session, ids: list[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {user_id: name for user_id, name in session.execute(
        select(User.id, User.display_name).where(User.id.in_(wanted)))}


def _attack(session: Session, exercise: Exercise, team: Team, model: Any) -> list[AttackStep]:
    """Every inject of the scenario in its order, with this team's run of it (when there was one)."""
    runs = {r.inject_id: r for r in session.scalars(select(InjectRun).where(InjectRun.team_id == team.id))}
    steps = []
    for inject in model.injects:
        run = runs.get(inject.id)
        stamp = Stamp()
        if run is not None and run.started_seconds is not None:
            moment = ledger.at(exercise, run.day, run.started_seconds)
            stamp = Stamp(moment.day, moment.seconds, moment.timeline, run.started_at)
        steps.append(AttackStep(inject.id, inject.title, run.status if run else None, stamp,
                                run.lateness_seconds if run else 0.0, inject.debrief))
    return steps


def _attempts(session: Session, team: Team, titles: dict[tuple[ScoreSource, str], Text]) -> list[TeamAction]:
    return [TeamAction("answer", Stamp(a.day, a.exercise_seconds, a.timeline_seconds, a.at),
                       titles.get((ScoreSource.TASK, a.task_id)),
                       detail={"task": a.task_id, "answer": a.answer, "correct": a.correct, "number": a.number})
            for a in session.scalars(select(TaskAttempt).where(TaskAttempt.team_id == team.id))]


def _reports(session: Session, exercise: Exercise, team: Team, versions: list[ReportVersion],
             titles: dict[tuple[ScoreSource, str], Text], late: dict[str, int]) -> list[TeamAction]:
    # A revision request's moment is its line of the team's timeline (the version keeps its latest state).
    returned = {(t.detail.get("report"), t.detail.get("version")): t for t in session.scalars(
        select(TimelineEvent).where(TimelineEvent.team_id == team.id, TimelineEvent.kind == "report"))
        if t.detail.get("step") == "revision_requested"}
    actions = []
    first: set[str] = set()
    for v in versions:
        subject = titles.get((ScoreSource.REPORT, v.report_id))
        detail = {"report": v.report_id, "number": v.number}
        if v.submitted_at is not None:
            # Lateness is the first submission's: versions come in the order they were made.
            minutes = late.get(v.report_id, 0) if v.report_id not in first else 0
            first.add(v.report_id)
            actions.append(TeamAction("report_submitted", Stamp(v.day, v.exercise_seconds, v.timeline_seconds,
                                                                v.submitted_at), subject,
                                      detail={**detail, "late_minutes": minutes}))
        if v.status is ReportStatus.GRADED:
            actions.append(TeamAction("report_graded", Stamp(wall=v.graded_at), subject, v.total,
                                      detail={**detail, "comment": v.comment}))
        elif v.status is ReportStatus.REVISION_REQUESTED:
            line = returned.get((v.report_id, v.number))
            stamp = (Stamp(line.day, line.exercise_seconds, ledger.at(exercise, line.day, line.exercise_seconds).timeline,
                           line.at) if line else Stamp())
            actions.append(TeamAction("revision_requested", stamp, subject, detail={**detail, "comment": v.comment}))
    return actions


def _score_actions(events: list[ScoreEvent], titles: dict[tuple[ScoreSource, str], Text],
                   names: dict[int, str]) -> list[TeamAction]:
    """Hints taken and instructors' adjustments: the events that are their own record."""
    actions = []
    for e in events:
        stamp = Stamp(e.day, e.exercise_seconds, e.timeline_seconds, e.created_at)
        if e.source is ScoreSource.HINT:
            actions.append(TeamAction("hint", stamp, titles.get((ScoreSource.HINT, e.source_id)), e.points,
                                      {"task": e.source_id, "hint": int((e.detail or {}).get("hint", 0)) + 1}))
        elif e.source is ScoreSource.ADJUSTMENT:
            actions.append(TeamAction("adjustment", stamp, None, e.points,
                                      {"reason": e.reason, "author": names.get(e.actor_id or 0, "")}))
    return actions


def _checks(session: Session, team: Team, titles: dict[tuple[ScoreSource, str], Text],
            checks: list[Any]) -> list[TeamAction]:
    """When each check first failed (DOWN) and when it passed again (UP); ERROR results say nothing.

    ``detail["explain"]`` is the scenario's words for that finding (``None``: it has none); the raw
    ``reason`` is kept for the staff, never shown to the team.
    """
    explains = {c.id: c.explain for c in checks if c.explain is not None}
    rows = session.execute(select(CheckResultRow.check_id, CheckResultRow.status, CheckResultRow.day,
                                  CheckResultRow.exercise_seconds, CheckResultRow.timeline_seconds,
                                  CheckResultRow.at, CheckResultRow.reason)
                           .where(CheckResultRow.team_id == team.id)
                           .order_by(CheckResultRow.check_id, CheckResultRow.round_number))
    last: dict[str, str] = {}
    actions = []
    for check_id, status, day, seconds, timeline, at, reason in rows:
        if status not in ("up", "down"):
            continue
        before, last[check_id] = last.get(check_id), status
        if status == "down" and before != "down":
            kind = "check_down"
        elif status == "up" and before == "down":
            kind = "check_up"
        else:
            continue
        explain = explains.get(check_id)
        words = (explain.passing if status == "up" else explain.failing) if explain is not None else None
        actions.append(TeamAction(kind, Stamp(day, seconds, timeline, at), titles.get((ScoreSource.CHECK, check_id)),
                                  detail={"check": check_id, "reason": reason, "explain": words}))
    return actions


def _terminals(session: Session, team: Team, hosts: dict[str, Text]) -> list[TeamAction]:
    rows = session.execute(select(TerminalSession, User.display_name)
                           .outerjoin(User, User.id == TerminalSession.user_id)
                           .where(TerminalSession.team_id == team.id))
    actions = []
    for terminal, name in rows:
        minutes = ((terminal.ended_at - terminal.started_at).total_seconds() / 60.0
                   if terminal.ended_at is not None else None)
        actions.append(TeamAction("terminal", Stamp(wall=terminal.started_at), hosts.get(terminal.host),
                                  detail={"host": terminal.host, "account": terminal.account, "user": name or "",
                                          "minutes": minutes, "recorded": bool(terminal.recording)}))
    return actions


def _instructor(session: Session, exercise: Exercise, team: Team) -> list[TeamAction]:
    """Messages and injects an instructor sent this team by hand (they changed what the team faced)."""
    return [TeamAction("instructor", Stamp(t.day, t.exercise_seconds, ledger.at(exercise, t.day, t.exercise_seconds)
                                           .timeline, t.at), detail={"summary": t.summary})
            for t in session.scalars(select(TimelineEvent).where(TimelineEvent.team_id == team.id,
                                                                 TimelineEvent.kind == "instructor"))]


def _letters(letters: list[Letter]) -> list[TeamAction]:
    """The correspondence on the timeline (an inject's message is already the inject's line)."""
    return [TeamAction("message_sent" if letter.outgoing else "message_received", letter.stamp,
                       _who(letter.character), detail={"letter": letter})
            for letter in letters if not letter.from_inject]


def _who(character: Character | None) -> Text | None:
    if character is None:
        return None
    return Text(ja=f"{character.title.ja} {character.name.ja}", en=f"{character.name.en}, {character.title.en}")


def _task_answers(tasks: list[Task], session: Session, team: Team, events: list[ScoreEvent]) -> list[TaskAnswer]:
    attempts: dict[str, list[bool]] = {}
    for task_id, correct in session.execute(select(TaskAttempt.task_id, TaskAttempt.correct)
                                            .where(TaskAttempt.team_id == team.id)):
        attempts.setdefault(task_id, []).append(bool(correct))
    points: dict[str, int] = {}
    for e in events:
        if e.source in (ScoreSource.TASK, ScoreSource.WRONG_ANSWER, ScoreSource.HINT):
            points[e.source_id] = points.get(e.source_id, 0) + e.points
    return [TaskAnswer(t, any(attempts.get(t.id, [])), len(attempts.get(t.id, [])), points.get(t.id, 0))
            for t in tasks]


def _grades(reports: list[Report], versions: list[ReportVersion], characters: dict[str, Character],
            late: dict[str, int], names: dict[int, str]) -> list[ReportGrade]:
    """Each report's latest grade, and the text of its latest submitted version with who graded it."""
    latest: dict[str, ReportVersion] = {}
    quoted: dict[str, ReportVersion] = {}
    for v in versions:  # oldest first
        if v.status is ReportStatus.GRADED:
            latest[v.report_id] = v
        if v.submitted_at is not None:
            quoted[v.report_id] = v
    grades = []
    for report in reports:
        graded = latest.get(report.id)
        given = graded.scores if graded is not None else {}
        grades.append(ReportGrade(report, [(c, given.get(c.id)) for c in report.rubric],
                                  graded.total if graded else None, sum(c.points for c in report.rubric),
                                  graded.number if graded else None,
                                  characters.get(report.to) if report.to else None, quoted.get(report.id),
                                  late.get(report.id, 0), _grader(quoted.get(report.id), names)))
    return grades


def _grader(version: ReportVersion | None, names: dict[int, str]) -> str:
    if version is None or version.grader_id is None:
        return ""
    return names.get(version.grader_id, "")


def _comments(versions: list[ReportVersion], events: list[ScoreEvent], titles: dict[tuple[ScoreSource, str], Text],
              names: dict[int, str]) -> list[Comment]:
    comments = [Comment("report_graded" if v.status is ReportStatus.GRADED else "revision_requested",
                        titles.get((ScoreSource.REPORT, v.report_id)), v.comment,
                        names.get(v.grader_id or 0, ""), v.graded_at if v.status is ReportStatus.GRADED else None,
                        {"number": v.number, "total": v.total})
                for v in versions
                if v.comment.strip() and v.status in (ReportStatus.GRADED, ReportStatus.REVISION_REQUESTED)]
    comments += [Comment("adjustment", None, e.reason, names.get(e.actor_id or 0, ""), e.created_at,
                         {"points": e.points}) for e in events if e.source is ScoreSource.ADJUSTMENT]
    return comments


def _model_step(step: Step, model: Any) -> ModelStep:
    subject = None
    if step.do == "answer":
        subject = next((t.prompt for t in model.tasks if t.id == step.task), None)
    elif step.do == "report":
        subject = next((r.title for r in model.reports if r.id == step.report), None)
    if isinstance(step.at, After):
        title = next((i.title for i in model.injects if i.id == step.at.inject), Text(ja=step.at.inject, en=step.at.inject))
        return ModelStep(step, after=title, delay=step.at.delay, subject=subject)
    return ModelStep(step, day=step.at.day, at=step.at.at, subject=subject)
