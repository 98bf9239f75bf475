"""What a team has done, as the scenario's conditions ask about it (``app.scenario.conditions.TeamFacts``).

A handful of grouped queries per call, whatever the size of the team's history.
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Message, ReportVersion, RequestRun, RequestStatus, ScoreEvent, ScoreSource, TaskAttempt, Team
from app.scenario.conditions import TeamFacts
from app.services import scenarios


def load(session: Session, team: Team) -> TeamFacts:
    model = scenarios.parsed(team.exercise.scenario)
    kinds = {r.id: r.kind for r in model.reports}
    contacted = set(session.scalars(select(Message.character_id).distinct().where(
        Message.team_id == team.id, Message.direction == "out")))
    requested, fulfilled = set(), set()
    for character, request, status in session.execute(
            select(RequestRun.character_id, RequestRun.request_id, RequestRun.status)
            .where(RequestRun.team_id == team.id).distinct()):
        requested.add((character, request))
        if status in (RequestStatus.FULFILLED, RequestStatus.FAILED):
            fulfilled.add((character, request))
    submitted: dict[str, float] = {}
    for report_id, first in session.execute(
            select(ReportVersion.report_id, func.min(ReportVersion.timeline_seconds))
            .where(ReportVersion.team_id == team.id, ReportVersion.submitted_at.is_not(None))
            .group_by(ReportVersion.report_id)):
        submitted[report_id] = float(first)
    submitted_kinds: dict[str, float] = {}
    for report_id, first in submitted.items():
        kind = kinds.get(report_id)
        if kind is not None:
            submitted_kinds[kind] = min(first, submitted_kinds.get(kind, first))
    correct, wrong = set(), set()
    for task_id, right in session.execute(select(TaskAttempt.task_id, TaskAttempt.correct).distinct()
                                          .where(TaskAttempt.team_id == team.id)):
        (correct if right else wrong).add(task_id)
    hints = set(session.scalars(select(ScoreEvent.source_id).distinct().where(
        ScoreEvent.team_id == team.id, ScoreEvent.source == ScoreSource.HINT)))
    return TeamFacts(frozenset(contacted), frozenset(requested), frozenset(fulfilled), submitted, submitted_kinds,
                     frozenset(correct), frozenset(wrong), frozenset(hints))
