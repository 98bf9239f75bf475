"""Provisioning, reconciling, resetting and tearing down an exercise's ranges.

Unlike the other services, these run for minutes and report progress while
they run, so they own their transactions: they take the ``Database`` and
commit each team's progress as it happens, from worker threads that each
use their own session.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from app.db import Database
from app.models import Exercise, ExerciseState, RangeState, Team, User, utcnow
from app.services import audit, exercises, ranges
from app.services.errors import N_, Conflict, InvalidInput
from range.engine import DockerRangeEngine
from range.errors import RangeError
from range.spec import RangeSpec

Progress = Callable[[int, str, str], None]  # team number, step, state
PROVISIONABLE = {ExerciseState.DRAFT, ExerciseState.PROVISIONING, ExerciseState.READY}
# Ranges may be removed before the exercise starts and once it is over, never while a day may still follow.
TEARDOWN_FROM = PROVISIONABLE | {ExerciseState.FINISHED, ExerciseState.TORN_DOWN}


@dataclass(frozen=True)
class TeamOutcome:
    number: int
    state: RangeState
    reason: str = ""


@dataclass(frozen=True)
class TeardownOutcome:
    teams: tuple[int, ...]
    removed: int  # containers and networks


def provision_exercise(
    database: Database,
    engine: DockerRangeEngine,
    instance_id: str,
    exercise_id: int,
    *,
    teams: list[int] | None = None,
    concurrency: int = 4,
    actor: User | None = None,
    progress: Progress | None = None,
) -> list[TeamOutcome]:
    """Bring every (or the named) team's range to *ready*; a failed team does not stop the others."""
    say = progress or (lambda number, step, state: None)
    jobs: list[tuple[int, int, RangeSpec]] = []
    with database.transaction() as session:
        exercise = exercises.get_exercise(session, exercise_id)
        if exercise.state not in PROVISIONABLE:
            raise Conflict(N_("an exercise in state %(state)s cannot be provisioned"), state=exercise.state.value)
        chosen = [t for t in exercise.teams if teams is None or t.number in teams]
        if teams is not None and len(chosen) != len(set(teams)):
            raise InvalidInput(N_("the exercise has no team %(team)r (teams: %(teams)s)"),
                               team=sorted(set(teams) - {t.number for t in chosen}),
                               teams=", ".join(str(t.number) for t in exercise.teams))
        exercise.state = ExerciseState.PROVISIONING
        for team in chosen:
            row = ranges.team_range(session, team)
            row.state, row.reason, row.step = RangeState.PENDING, "", ""
            jobs.append((row.id, team.number, ranges.compile_range(instance_id, exercise, team, row)))
        audit.record(session, "exercise.provision", actor=actor, target=f"exercise:{exercise_id}",
                     exercise_id=exercise_id, teams=[number for _, number, _ in jobs])
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="provision") as pool:
        outcomes = list(pool.map(lambda job: _provision_team(database, engine, *job, say), jobs))
    with database.transaction() as session:
        exercise = exercises.get_exercise(session, exercise_id)
        states = {ranges.team_range(session, t).state for t in exercise.teams}
        if states == {RangeState.READY}:
            exercise.state = ExerciseState.READY
    return outcomes


def _provision_team(database: Database, engine: DockerRangeEngine, row_id: int, number: int,
                    spec: RangeSpec, say: Progress) -> TeamOutcome:
    lock = threading.Lock()

    def step(message: str) -> None:
        with lock, database.transaction() as session:
            row = session.get(ranges.TeamRange, row_id)
            if row is not None:
                row.state, row.step = RangeState.CREATING, message[:200]
        say(number, message, RangeState.CREATING.value)

    step("start")
    try:
        seen = engine.provision(spec, progress=step)
    except (RangeError, OSError) as exc:
        reason = str(exc).strip() or type(exc).__name__
        with database.transaction() as session:
            row = session.get(ranges.TeamRange, row_id)
            row.state, row.reason, row.step = RangeState.FAILED, reason[:2000], ""
            _record_quietly(engine, row, spec, session)
        say(number, reason, RangeState.FAILED.value)
        return TeamOutcome(number, RangeState.FAILED, reason)
    with database.transaction() as session:
        row = session.get(ranges.TeamRange, row_id)
        row.state, row.reason, row.step, row.ready_at = RangeState.READY, "", "", utcnow()
        ranges.record_state(session, row, seen)
    say(number, "ready", RangeState.READY.value)
    return TeamOutcome(number, RangeState.READY)


def _record_quietly(engine: DockerRangeEngine, row, spec: RangeSpec, session) -> None:  # type: ignore[no-untyped-def]
    try:
        ranges.record_state(session, row, engine.status(spec))
    except RangeError:
        pass


def specs_of(session, instance_id: str, exercise: Exercise) -> list[tuple[Team, RangeSpec]]:  # type: ignore[no-untyped-def]
    return [
        (team, ranges.compile_range(instance_id, exercise, team, ranges.team_range(session, team)))
        for team in exercise.teams
    ]


def refresh_status(session, engine: DockerRangeEngine, instance_id: str, exercise: Exercise, *,  # type: ignore[no-untyped-def]
                   repair: bool = False) -> None:
    """Read every team's range back from Docker by label (and with *repair*, reconcile it).

    After the control plane restarts this is how it learns what exists: hosts
    that vanished are marked missing, stopped ones are restarted on repair.
    """
    for team, spec in specs_of(session, instance_id, exercise):
        row = ranges.team_range(session, team)
        try:
            seen = engine.reconcile(spec) if repair and row.state is not RangeState.TORN_DOWN else engine.status(spec)
        except RangeError as exc:
            row.state, row.reason = RangeState.FAILED, (str(exc).strip() or type(exc).__name__)[:2000]
            continue
        ranges.record_state(session, row, seen)
        if repair and row.state in (RangeState.CREATING, RangeState.PENDING) and row.step:
            # The process that was building it is gone (this is the repair after a crash).
            row.state, row.step = RangeState.FAILED, ""
            row.reason = f"provisioning was interrupted; run `mamori exercise provision {exercise.id} --team {team.number}`"
        elif row.state is RangeState.READY and not seen.complete:
            row.state = RangeState.FAILED
            broken = [f"{h.name}: {h.state}" for h in seen.hosts if h.state != "running"]
            row.reason = "hosts not running: " + ", ".join(broken)
        elif row.state is RangeState.FAILED and seen.complete and repair:
            row.state, row.reason = RangeState.READY, ""


def teardown_ranges(database: Database, engine: DockerRangeEngine, instance_id: str, exercise_id: int, *,
                    actor: User | None = None, force: bool = False,
                    progress: Progress | None = None) -> TeardownOutcome:
    """Remove every team's containers and networks, team by team (each committed as it goes); safe to repeat.

    Before the exercise has started it goes back to draft (its ranges can be
    built again); after it, to torn down. A running, paused or day-ended
    exercise is refused unless *force*: its next step needs the ranges.
    """
    say = progress or (lambda number, step, state: None)
    with database.transaction() as session:
        exercise = exercises.get_exercise(session, exercise_id)
        if exercise.state not in TEARDOWN_FROM and not force:
            raise Conflict(N_("the exercise has not finished: finish it before its ranges are removed"))
        label, numbers = ranges.range_label(instance_id, exercise), [t.number for t in exercise.teams]
    removed = 0
    for number in numbers:
        with database.transaction() as session:
            team = ranges.get_team(session, exercises.get_exercise(session, exercise_id), number)
            removed += engine.teardown(label, ranges.team_label(team))
            row = ranges.team_range(session, team)
            row.state, row.reason, row.step, row.gateway_port = RangeState.TORN_DOWN, "", "", None
            for host in row.hosts:
                host.state, host.container_id = "missing", None
        say(number, "removed", RangeState.TORN_DOWN.value)
    with database.transaction() as session:
        removed += engine.teardown(label)  # anything without a team label
        exercise = exercises.get_exercise(session, exercise_id)
        exercise.state = ExerciseState.DRAFT if exercise.state in PROVISIONABLE else ExerciseState.TORN_DOWN
        audit.record(session, "exercise.teardown", actor=actor, target=f"exercise:{exercise_id}",
                     exercise_id=exercise_id, removed=removed, teams=numbers, state=exercise.state.value)
    return TeardownOutcome(tuple(numbers), removed)


def discard_team(session, engine: DockerRangeEngine, instance_id: str, exercise: Exercise, number: int, *,  # type: ignore[no-untyped-def]
                 actor: User | None = None) -> int:
    """Remove one team's whole range (to rebuild it from the scenario with ``provision_exercise``)."""
    team = ranges.get_team(session, exercise, number)
    removed = engine.teardown(ranges.range_label(instance_id, exercise), ranges.team_label(team))
    row = ranges.team_range(session, team)
    row.state, row.reason, row.step, row.gateway_port = RangeState.PENDING, "", "", None
    row.hosts.clear()
    audit.record(session, "team.reset", actor=actor, target=f"team:{team.id}", exercise_id=exercise.id,
                 removed=removed)
    return removed


def reset_host(session, engine: DockerRangeEngine, instance_id: str, exercise: Exercise, number: int,  # type: ignore[no-untyped-def]
               host: str, *, actor: User | None = None) -> None:
    team = ranges.get_team(session, exercise, number)
    row = ranges.team_range(session, team)
    spec = ranges.compile_range(instance_id, exercise, team, row)
    if host not in {h.name for h in spec.hosts}:
        raise InvalidInput(N_("the scenario has no host %(host)r"), host=host)
    ranges.record_state(session, row, engine.reset_host(spec, host))
    audit.record(session, "host.reset", actor=actor, target=f"team:{team.id}:{host}", exercise_id=exercise.id)


def pause_ranges(session, engine: DockerRangeEngine, instance_id: str, exercise: Exercise, *,  # type: ignore[no-untyped-def]
                 actor: User | None = None) -> int:
    """Freeze every team's containers (processes and files kept), e.g. for the night."""
    frozen = engine.pause(ranges.range_label(instance_id, exercise))
    for team in exercise.teams:
        row = ranges.team_range(session, team)
        if row.state is RangeState.READY:
            row.state = RangeState.PAUSED
    audit.record(session, "ranges.pause", actor=actor, target=f"exercise:{exercise.id}",
                 exercise_id=exercise.id, containers=frozen)
    return frozen


def resume_ranges(session, engine: DockerRangeEngine, instance_id: str, exercise: Exercise, *,  # type: ignore[no-untyped-def]
                  actor: User | None = None) -> None:
    """Unfreeze every team's range and restore what a pause or restart loses (routes)."""
    for team, spec in specs_of(session, instance_id, exercise):
        row = ranges.team_range(session, team)
        if row.state is RangeState.PAUSED:
            seen = engine.resume(spec)
            ranges.record_state(session, row, seen)
            row.state = RangeState.READY if seen.complete else RangeState.FAILED
            if not seen.complete:
                row.reason = "hosts not running after resume: " + ", ".join(
                    f"{h.name}: {h.state}" for h in seen.hosts if h.state != "running")
    audit.record(session, "ranges.resume", actor=actor, target=f"exercise:{exercise.id}", exercise_id=exercise.id)
