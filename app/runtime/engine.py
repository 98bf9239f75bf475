"""The engine process: fires each running exercise's injects, per team, exactly once.

All its state is in the database: the clock on the exercise, one
``InjectRun`` per (exercise, team, inject) whose unique key makes a second
claim fail, and a lease so that a second engine started by mistake waits.
It never runs inside gunicorn (``mamori engine run``).
"""
from __future__ import annotations

import base64
import logging
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import Database
from app.models import Exercise, ExerciseState, InjectRun, RunStatus, Team, TimelineEvent, utcnow
from app.runtime import diskwatch, lease, organisation
from app.runtime.dayend import end_due_days
from app.runtime.clock import ClockReading
from app.runtime.rounds import Scorer
from app.runtime.triggers import Decision, plan, view
from app.scenario import conditions
from app.scenario.conditions import TeamFacts
from app.scenario.model import At, Condition, Inject, Scenario, minutes
from app.services import correspondence, ledger, lifecycle, ranges, scenarios, team_facts
from range.actions import run_action
from range.actions_target import RangeActionTarget
from range.engine import DockerRangeEngine
from range.probes import RangeProbe
from scoring.checks import run_check

log = logging.getLogger("mamori.engine")
MAX_OUTPUT = 16 * 1024
CHECK_DEADLINE = 20.0
TEAM_CONCURRENCY = 8  # teams whose injects are decided at once


class Engine:
    def __init__(self, database: Database, range_engine: DockerRangeEngine, instance_id: str, *,
                 holder: str | None = None, now: Callable[[], datetime] = utcnow,
                 disk_limits: diskwatch.DiskLimits | None = None) -> None:
        self.database = database
        self.ranges = range_engine
        self.instance_id = instance_id
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self.now = now
        self.scorer = Scorer(database, range_engine, instance_id, now=now)
        self.disk_watch = diskwatch.DiskWatch(database, range_engine, instance_id, disk_limits, now=now)

    # The loop ---------------------------------------------------------------------

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        """Tick until *stop* is set; the inject in progress always completes first.

        Scoring rounds run beside the injects in their own thread, so a long
        inject never delays a round (and the reverse), both only while this
        engine holds the lease.
        """
        recovered = False
        holding = threading.Event()
        scoring = threading.Thread(target=self._score, args=(stop, holding, interval), name="scoring", daemon=True)
        scoring.start()
        watching = self.disk_watch.start(stop, holding)  # its own thread: measuring never delays an inject
        while not stop.is_set():
            with self.database.session() as session:
                held = lease.hold(session, self.holder, self.now())
            if held:
                holding.set()
            else:
                holding.clear()
            if held and not recovered:
                self.recover()
                recovered = True
            if held:
                self.tick(stop)
            stop.wait(interval)
        holding.clear()
        scoring.join()
        watching.join()
        with self.database.session() as session:
            lease.release(session, self.holder)

    def _score(self, stop: threading.Event, holding: threading.Event, interval: float) -> None:
        while not stop.is_set():
            if holding.is_set():
                try:
                    self.scorer.tick()
                except Exception:  # a round that cannot be written is logged, and the next one is tried
                    log.exception("a scoring round failed")
            stop.wait(interval)

    def recover(self) -> int:
        """After a crash: re-run what was running if idempotent, else mark it interrupted."""
        count = 0
        with self.database.transaction() as session:
            for run in session.scalars(select(InjectRun).where(InjectRun.status == RunStatus.RUNNING)):
                exercise = session.get(Exercise, run.exercise_id)
                inject = _inject(scenarios.parsed(exercise.scenario), run.inject_id) if exercise else None
                if inject is not None and inject.idempotent:
                    run.status, run.attempt = RunStatus.REQUESTED, run.attempt + 1
                    run.result = "interrupted by an engine stop; re-run (idempotent)"
                else:
                    run.status, run.finished_at = RunStatus.INTERRUPTED, self.now()
                    run.result = "interrupted by an engine stop; not re-run (not idempotent)"
                _timeline(session, run, f"{run.inject_id}: {run.status.value}", "inject", run.day,
                          run.started_seconds or 0.0, self.now())
                count += 1
            count += organisation.interrupt_running(session, self.now())
        return count

    def tick(self, stop: threading.Event | None = None) -> int:
        """One pass over every running exercise; returns how many injects were decided.

        Teams are decided side by side (each in its own session), so one team's
        slow attack (a brute force of minutes) never holds back the others.
        """
        decided = 0
        end_due_days(self.database, self.now())  # a day over its length ends before anything else happens
        with self.database.session() as session:
            ids = list(session.scalars(select(Exercise.id).where(Exercise.state == ExerciseState.RUNNING)))
        for exercise_id in ids:
            if stop is not None and stop.is_set():
                break
            with self.database.session() as session:
                exercise = session.get(Exercise, exercise_id)
                if exercise is None or exercise.state is not ExerciseState.RUNNING:
                    continue
                team_ids = [team.id for team in exercise.teams]
            if not team_ids:
                continue
            with ThreadPoolExecutor(max_workers=min(TEAM_CONCURRENCY, len(team_ids)),
                                    thread_name_prefix="inject") as pool:
                decided += sum(pool.map(lambda team_id: self._tick_team_alone(exercise_id, team_id, stop), team_ids))
        return decided

    def _tick_team_alone(self, exercise_id: int, team_id: int, stop: threading.Event | None) -> int:
        if stop is not None and stop.is_set():
            return 0
        with self.database.session() as session:
            exercise = session.get(Exercise, exercise_id)
            team = session.get(Team, team_id)
            if exercise is None or team is None or exercise.state is not ExerciseState.RUNNING:
                return 0
            try:
                return self._tick_team(session, exercise, scenarios.for_team(team), team)
            except Exception:  # one team's failure is logged; the other teams go on
                log.exception("exercise %s team %s: the inject pass failed", exercise_id, team.number)
                session.rollback()
                return 0

    def _tick_team(self, session: Session, exercise: Exercise, model: Scenario, team: Team) -> int:
        reading = lifecycle.reading(exercise, self.now())
        if reading.ended:  # nothing fires after the day's end (the next tick ends the day)
            return 0
        rows = {r.inject_id: r for r in session.scalars(
            select(InjectRun).where(InjectRun.exercise_id == exercise.id, InjectRun.team_id == team.id))}
        views = {k: view(r, exercise) for k, r in rows.items()}
        decided = 0
        for decision in plan(model, reading, views):
            context = _TeamContext(self, session, exercise, team)
            if decision.kind == "condition":
                condition = decision.inject.when.condition  # type: ignore[union-attr]
                if not context.holds(model, condition):
                    continue
            decided += context.settle(model, decision, reading, rows.get(decision.inject.id))
            rows = {r.inject_id: r for r in session.scalars(
                select(InjectRun).where(InjectRun.exercise_id == exercise.id, InjectRun.team_id == team.id))}
            views = {k: view(r, exercise) for k, r in rows.items()}
        runs = organisation.open_runs(session, team)
        if runs:
            context = _TeamContext(self, session, exercise, team)
            decided += organisation.settle(
                session, exercise, model, team, runs, reading, lambda c: context.holds(model, c), context.target,
                context.probe, self.holder, self.now())
        return decided


class _TeamContext:
    """One team's range as the engine reaches it during one decision."""

    def __init__(self, engine: Engine, session: Session, exercise: Exercise, team: Team) -> None:
        self.engine, self.session, self.exercise, self.team = engine, session, exercise, team
        row = ranges.team_range(session, team)
        self.spec = ranges.compile_range(engine.instance_id, exercise, team, row)
        self._facts: TeamFacts | None = None

    def holds(self, model: Scenario, condition: object) -> bool:
        """Whether a scenario condition holds for the team now: its events from the database, checks live."""
        if self._facts is None:
            self._facts = team_facts.load(self.session, self.team)
        return conditions.holds(condition, self._facts, lambda leaf: self._check(model, leaf), self._timeline)

    def _check(self, model: Scenario, condition: Condition) -> bool:
        check = next(c for c in model.checks if c.id == condition.check)
        return run_check(check.type, check.params, self.probe(), CHECK_DEADLINE).status == condition.status

    def _timeline(self, moment: At) -> float:
        return ledger.at(self.exercise, moment.day, minutes(moment.at) * 60.0).timeline

    def probe(self) -> RangeProbe:
        return RangeProbe(self.engine.ranges, self.spec)

    def target(self) -> RangeActionTarget:
        bundle = {path: base64.b64decode(data) for path, data in (self.exercise.scenario.bundle or {}).items()}
        return RangeActionTarget(self.engine.ranges, self.spec, bundle)

    def settle(self, model: Scenario, decision: Decision, reading: ClockReading, existing: InjectRun | None) -> int:
        """Claim the run (exactly once), then skip, miss or fire it; commits as it goes."""
        now = self.engine.now()
        status = {"miss": RunStatus.MISSED, "skip": RunStatus.SKIPPED}.get(decision.kind, RunStatus.RUNNING)
        run = self._claim(existing, decision, reading, status, now)
        if run is None:
            return 0
        if status is not RunStatus.RUNNING:
            self._finish(run, status, decision.reason, "", reading)
            return 1
        inject = decision.inject
        if inject.condition is not None and not self.holds(model, inject.condition):
            self._finish(run, RunStatus.SKIPPED, f"condition not met: {conditions.describe(inject.condition)}", "",
                         reading)
            return 1
        if inject.skip_if is not None and self.holds(model, inject.skip_if):
            self._finish(run, RunStatus.SKIPPED, f"skip_if holds: {conditions.describe(inject.skip_if)}", "", reading)
            return 1
        ok, summary, output = self._fire(model, inject, reading, run)
        self._finish(run, RunStatus.DONE if ok else RunStatus.FAILED, summary, output, reading)
        return 1

    def _claim(self, existing: InjectRun | None, decision: Decision, reading: ClockReading, status: RunStatus,
               now: datetime) -> InjectRun | None:
        if existing is not None:  # an instructor's request: take it only if still requested
            if existing.status is not RunStatus.REQUESTED:
                return None
            existing.status, existing.engine = status, self.engine.holder
            run = existing
        else:
            run = InjectRun(exercise_id=self.exercise.id, team_id=self.team.id, inject_id=decision.inject.id,
                            status=status, engine=self.engine.holder)
            self.session.add(run)
        run.day, run.due_seconds, run.started_seconds = reading.day, decision.due_seconds, reading.seconds
        run.lateness_seconds = max(reading.seconds - decision.due_seconds, 0.0)
        run.started_at = now
        try:
            self.session.commit()
        except IntegrityError:  # another engine claimed it first
            self.session.rollback()
            return None
        return run

    def _fire(self, model: Scenario, inject: Inject, reading: ClockReading, run: InjectRun) -> tuple[bool, str, str]:
        target = self.target() if inject.actions else None
        outcomes, outputs = [], []
        for action in inject.actions:
            result = run_action(action.type, action.params, target, inject.timeout)
            outcomes.append((result.ok, f"{action.type}: {result.summary}"))
            outputs.append(result.output.decode("utf-8", errors="replace"))
        if inject.message is not None:
            self._deliver(model, inject, run)
            outcomes.append((True, f"message from {inject.message.sender}"))
        ok = all(flag for flag, _ in outcomes)
        summary = "; ".join(text for _, text in outcomes)[:2000]
        return ok, summary, "\n".join(outputs)[-MAX_OUTPUT:]

    def _deliver(self, model: Scenario, inject: Inject, run: InjectRun) -> None:
        """The inject's message opens a thread with its character, which the team can answer."""
        message = inject.message
        assert message is not None
        sender = next(c for c in model.story.characters if c.id == message.sender)
        correspondence.deliver(self.session, self.exercise, self.team, sender, thread=None,
                               subject=message.subject.ja, subject_en=message.subject.en, body_ja=message.body.ja,
                               body_en=message.body.en, inject_run_id=run.id, now=self.engine.now())

    def _finish(self, run: InjectRun, status: RunStatus, result: str, output: str, reading: ClockReading) -> None:
        run.status, run.result, run.output = status, result[:2000], output[-MAX_OUTPUT:]
        run.finished_at = self.engine.now()
        late = f" ({int(run.lateness_seconds)} s late)" if run.lateness_seconds >= 60 else ""
        _timeline(self.session, run, f"{run.inject_id}: {status.value}{late}", "inject", reading.day,
                  reading.seconds, run.finished_at)
        self.session.commit()
        log.info("exercise %s team %s %s: %s %s", run.exercise_id, self.team.number, run.inject_id,
                 status.value, result[:200])


def _inject(model: Scenario, inject_id: str) -> Inject | None:
    return next((i for i in model.injects if i.id == inject_id), None)


def _timeline(session: Session, run: InjectRun, summary: str, kind: str, day: int, seconds: float,
              at: datetime) -> None:
    session.add(TimelineEvent(exercise_id=run.exercise_id, team_id=run.team_id, at=at, day=day,
                              exercise_seconds=seconds, kind=kind, summary=summary[:500],
                              detail={"inject": run.inject_id, "status": run.status.value,
                                      "lateness_seconds": round(run.lateness_seconds, 1)}))
