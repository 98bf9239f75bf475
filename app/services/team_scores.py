"""What a team sees of its own score, and whether it sees it at all.

An instructor decides when trainees see their score (``Exercise.scores_visible``).
Whatever that says, a report's points reach the team only once the grade they
come from is released (``reports.release``): ``reports.grade`` writes its
ledger event at grading time, keyed by the version (``detail["version"]``), so
every query here leaves out report events whose version is not released — in
the lines, the breakdown and the total alike. A report event that names no
released version stays hidden (fail closed).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.orm import Session

from app.models import Exercise, ReportStatus, ReportVersion, ScoreEvent, ScoreSource, Team, User
from app.services import audit
from app.services.ledger import BreakdownLine

EVENTS_PER_PAGE = 100


@dataclass(frozen=True)
class TeamScoreView:
    """A team's score as the team may see it: released report grades only."""

    total: int
    lines: list[BreakdownLine]  # per source and source id, largest first
    by_source: dict[ScoreSource, int]  # the lines added up per kind of source
    events: list[ScoreEvent]  # newest first, one page
    more_before: int | None  # the id to page on from when older events exist
    withheld: int  # graded report versions the team will see once released


def team_visible() -> ColumnElement[bool]:
    """The condition a score event meets when its team may see it."""
    version = ScoreEvent.detail["version"].as_integer()
    released = exists().where(
        ReportVersion.team_id == ScoreEvent.team_id,
        ReportVersion.report_id == ScoreEvent.source_id,
        ReportVersion.number == version,
        ReportVersion.status == ReportStatus.GRADED,
        ReportVersion.released_at.is_not(None),
    )
    return or_(ScoreEvent.source != ScoreSource.REPORT, released)


def visible_score(session: Session, team: Team, *, before_id: int | None = None,
                  limit: int = EVENTS_PER_PAGE) -> TeamScoreView:
    """The team's total, breakdown and a page of its events (newest first), without unreleased grades."""
    rows = session.execute(
        select(ScoreEvent.source, ScoreEvent.source_id, func.sum(ScoreEvent.points), func.count())
        .where(ScoreEvent.team_id == team.id, team_visible())
        .group_by(ScoreEvent.source, ScoreEvent.source_id))
    lines = sorted((BreakdownLine(ScoreSource(source), source_id, int(points or 0), int(count))
                    for source, source_id, points, count in rows),
                   key=lambda line: (-abs(line.points), line.source.value, line.source_id))
    by_source: dict[ScoreSource, int] = {}
    for line in lines:
        by_source[line.source] = by_source.get(line.source, 0) + line.points
    query = select(ScoreEvent).where(ScoreEvent.team_id == team.id, team_visible())
    if before_id is not None:
        query = query.where(ScoreEvent.id < before_id)
    page = list(session.scalars(query.order_by(ScoreEvent.id.desc()).limit(limit + 1)))
    more_before = page[limit - 1].id if len(page) > limit else None
    withheld = session.scalar(select(func.count()).select_from(ReportVersion).where(
        ReportVersion.team_id == team.id, ReportVersion.status == ReportStatus.GRADED,
        ReportVersion.released_at.is_(None))) or 0
    return TeamScoreView(total=sum(line.points for line in lines), lines=lines, by_source=by_source,
                         events=page[:limit], more_before=more_before, withheld=int(withheld))


def set_visible(session: Session, exercise: Exercise, visible: bool, *, actor: User | None, ip: str = "") -> bool:
    """Show the teams their scores (or hide them again); returns whether anything changed. Audited."""
    changed = exercise.scores_visible != visible
    exercise.scores_visible = visible
    audit.record(session, "score.show" if visible else "score.hide", actor=actor, target=f"exercise:{exercise.id}",
                 exercise_id=exercise.id, ip=ip, changed=changed)
    return changed
