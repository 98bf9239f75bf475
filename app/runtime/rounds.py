"""Scoring rounds: every ``round_seconds`` of exercise time, every running team's active checks.

A round's number is the exercise timeline divided by the scenario's
``round_seconds``, so a paused exercise (whose clock stands still) has no
rounds, and a round missed while the engine was down is not made up later.
Checks run in parallel with bounded concurrency, outside any database
transaction; the round, its results and the points they earn are then written
in one transaction whose unique round number makes a replay write nothing.

A check is *active* for a team from the moment its ``active_from`` inject
fired for that team (from the start when it has none); an objective already
awarded is not checked again, so a check leaves no more traces than it must.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import Database
from app.models import (
    CheckResultRow, Exercise, ExerciseState, InjectRun, RangeState, ScoreEvent, ScoreSource, ScoringRound, Team,
    TeamRange, utcnow,
)
from app.runtime.triggers import FINISHED
from app.services import ledger, lifecycle, ranges, scenarios
from range.engine import DockerRangeEngine
from range.probes import RangeProbe
from scoring.checks import CheckResult, run_check
from scoring.modes import check_award, next_streak, objective_key
from scoring.probe import Probe, RoundProbe

log = logging.getLogger("mamori.rounds")
CHECK_DEADLINE = 20.0
ROUND_CONCURRENCY = 8


@dataclass(frozen=True)
class CheckJob:
    """One check to run for one team in a round."""

    team_id: int
    check: Any  # one of the scenario's checks
    active_since: float
    down_streak: int  # before this round


@dataclass(frozen=True)
class RoundSummary:
    exercise_id: int
    number: int
    checks: int
    errors: int
    seconds: float


ProbeFactory = Callable[[Session, Exercise, Team], Probe]


class Scorer:
    def __init__(self, database: Database, range_engine: DockerRangeEngine | None, instance_id: str, *,
                 now: Callable[[], datetime] = utcnow, concurrency: int = ROUND_CONCURRENCY,
                 probe_factory: ProbeFactory | None = None) -> None:
        self.database = database
        self.ranges = range_engine
        self.instance_id = instance_id
        self.now = now
        self.concurrency = concurrency
        self.probe_factory = probe_factory or self._range_probe

    def tick(self) -> list[RoundSummary]:
        """Run the round due in every running exercise (at most one each)."""
        with self.database.session() as session:
            ids = list(session.scalars(select(Exercise.id).where(Exercise.state == ExerciseState.RUNNING)))
        done = []
        for exercise_id in ids:
            summary = self.run_due_round(exercise_id)
            if summary is not None:
                done.append(summary)
        return done

    def run_due_round(self, exercise_id: int) -> RoundSummary | None:
        """The round due now, unless it (or a later one) was already written."""
        started_at = self.now()
        with self.database.session() as session:
            exercise = session.get(Exercise, exercise_id)
            if exercise is None or exercise.state is not ExerciseState.RUNNING:
                return None
            model = scenarios.parsed(exercise.scenario)
            reading = lifecycle.reading(exercise, started_at)
            if reading.ended:  # no round at or after the day's end (the engine is ending the day)
                return None
            when = ledger.at(exercise, reading.day, reading.seconds)
            number = int(when.timeline // model.round_seconds)
            last = session.scalar(select(func.max(ScoringRound.number)).where(ScoringRound.exercise_id == exercise_id))
            if last is not None and last >= number:
                return None
            teams = [t for t in exercise.teams if _range_ready(session, t)]
            jobs = [job for team in teams for job in _jobs(session, exercise, scenarios.for_team(team), team)]
            probes = {team.id: RoundProbe(self.probe_factory(session, exercise, team)) for team in teams}
        results = self._run(jobs, probes)
        return self._write(exercise_id, number, when, started_at, jobs, results)

    def _run(self, jobs: list[CheckJob], probes: dict[int, RoundProbe]) -> list[CheckResult]:
        return run_checks(jobs, probes, self.concurrency)

    def _write(self, exercise_id: int, number: int, when: ledger.Moment, started_at: datetime, jobs: list[CheckJob],
               results: list[CheckResult]) -> RoundSummary | None:
        with self.database.session() as session:
            exercise = session.get(Exercise, exercise_id)
            assert exercise is not None
            teams = {t.id: t for t in exercise.teams}
            errors = sum(1 for r in results if r.status == "error")
            row = ScoringRound(exercise_id=exercise_id, number=number, day=when.day, exercise_seconds=when.seconds,
                               timeline_seconds=when.timeline, started_at=started_at, finished_at=self.now(),
                               checks_run=len(jobs), errors=errors)
            session.add(row)
            try:
                session.flush()
            except IntegrityError:  # written already (another engine, or a replay)
                session.rollback()
                return None
            for job, result in zip(jobs, results):
                record(session, teams[job.team_id], row, job.check, result, when,
                       active_since=job.active_since, previous_streak=job.down_streak)
            session.commit()
            seconds = (row.finished_at - started_at).total_seconds()
        log.info("exercise %s round %s: %s checks, %s errors, %.1f s", exercise_id, number, len(jobs), errors, seconds)
        return RoundSummary(exercise_id, number, len(jobs), errors, seconds)

    def _range_probe(self, session: Session, exercise: Exercise, team: Team) -> Probe:
        if self.ranges is None:
            raise RuntimeError("no range engine to check ranges with")
        spec = ranges.compile_range(self.instance_id, exercise, team, ranges.team_range(session, team))
        return RangeProbe(self.ranges, spec)


def run_checks(jobs: list[CheckJob], probes: dict[int, RoundProbe], concurrency: int) -> list[CheckResult]:
    """Every job's result, in order: at most *concurrency* checks at once, each under ``CHECK_DEADLINE``."""
    def one(job: CheckJob) -> CheckResult:
        return run_check(job.check.type, job.check.params, probes[job.team_id], CHECK_DEADLINE)

    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(concurrency, len(jobs)), thread_name_prefix="check") as pool:
        return list(pool.map(one, jobs))


def record(session: Session, team: Team, scoring_round: ScoringRound, check: Any, result: CheckResult,
           when: ledger.Moment, *, active_since: float, previous_streak: int) -> CheckResultRow:
    """One check result and the points it earns, in the caller's transaction."""
    streak = next_streak(previous_streak, result.status)
    row = CheckResultRow(
        round_id=scoring_round.id, round_number=scoring_round.number, exercise_id=team.exercise_id,
        team_id=team.id, check_id=check.id, status=result.status, reason=result.reason, seconds=result.seconds,
        active_since=active_since, down_streak=streak, day=when.day, exercise_seconds=when.seconds,
        timeline_seconds=when.timeline, at=scoring_round.started_at,
    )
    session.add(row)
    award = check_award(check.id, check.scoring, result.status, round_number=scoring_round.number,
                        minutes_active=(when.timeline - active_since) / 60.0, down_streak=streak,
                        awarded=False)  # awarded objectives get no job; the key guards any replay
    if award is not None:
        ledger.append(session, team, source=ScoreSource.CHECK, source_id=check.id, key=award.key,
                      points=award.points, when=when, reason=result.reason, detail=award.detail,
                      round_id=scoring_round.id)
    return row


def active_since(exercise: Exercise, check: Any, runs: dict[str, InjectRun]) -> float | None:
    """When *check* became active for a team, on the timeline; ``None`` while it is not."""
    if check.active_from is None:
        return 0.0
    run = runs.get(check.active_from)
    if run is None or run.status not in FINISHED or run.started_seconds is None:
        return None
    return ledger.at(exercise, run.day, run.started_seconds).timeline


def _jobs(session: Session, exercise: Exercise, model: Any, team: Team) -> list[CheckJob]:
    runs = {r.inject_id: r for r in session.scalars(
        select(InjectRun).where(InjectRun.exercise_id == exercise.id, InjectRun.team_id == team.id))}
    awarded = set(session.scalars(select(ScoreEvent.key).where(
        ScoreEvent.team_id == team.id, ScoreEvent.source == ScoreSource.CHECK,
        ScoreEvent.key.in_([objective_key(c.id) for c in model.checks]))))
    streaks = _streaks(session, team)
    jobs = []
    for check in model.checks:
        since = active_since(exercise, check, runs)
        if since is None or (check.scoring.mode == "objective" and objective_key(check.id) in awarded):
            continue
        jobs.append(CheckJob(team.id, check, since, streaks.get(check.id, 0)))
    return jobs


def _streaks(session: Session, team: Team) -> dict[str, int]:
    """Each check's DOWN streak after its latest result for *team*."""
    latest = (select(CheckResultRow.check_id, func.max(CheckResultRow.round_number).label("number"))
              .where(CheckResultRow.team_id == team.id).group_by(CheckResultRow.check_id).subquery())
    rows = session.execute(select(CheckResultRow.check_id, CheckResultRow.down_streak).join(
        latest, (CheckResultRow.check_id == latest.c.check_id) & (CheckResultRow.round_number == latest.c.number))
        .where(CheckResultRow.team_id == team.id))
    return {check_id: streak for check_id, streak in rows}


def _range_ready(session: Session, team: Team) -> bool:
    row = session.scalar(select(TeamRange).where(TeamRange.team_id == team.id))
    return row is not None and row.state is RangeState.READY
