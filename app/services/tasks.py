"""Tasks a team answers during an exercise: what is open, answering, and buying hints.

Points live only in the ledger: a correct answer, a wrong-answer penalty and a
hint are each one ``ScoreEvent`` whose key makes it happen once however many
team-mates press the button together. An attempt's number is unique per team
and task, so the attempts limit holds under the same race: the loser of a
number re-reads and tries again, or learns that the task is solved.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import insert_new
from app.models import (
    Exercise, ExerciseState, InjectRun, ScoreEvent, ScoreSource, TaskAttempt, Team, TimelineEvent, User, utcnow,
)
from app.runtime.triggers import counts_from
from app.scenario.model import After, At, Hint, Task, minutes
from app.services import audit, injects, ledger, scenarios
from app.services.errors import N_, Conflict, InvalidInput, NotFound, RateLimited
from scoring import answers

MAX_ANSWER = 500  # characters a trainee may type
STORED_ANSWER = 1000  # the column's width
RATE_LIMIT = 10  # attempts per account …
RATE_WINDOW = timedelta(seconds=60)  # … in this much wall time
NUMBER_TRIES = 5  # team-mates racing for the same attempt number
NOT_STARTED = {ExerciseState.DRAFT, ExerciseState.PROVISIONING, ExerciseState.READY}
TASK_SOURCES = (ScoreSource.TASK, ScoreSource.WRONG_ANSWER, ScoreSource.HINT)


def reached(session: Session, exercise: Exercise, team: Team, moment_rule: At | After | None,
            now: ledger.Moment) -> bool:
    """Whether the scenario moment *moment_rule* has come for *team* (``None``: from the start).

    ``At`` is a time of a day; ``After`` counts ``delay`` exercise minutes from
    when the team's run of the inject started (``after: {finished: …}``: ended),
    once that run has finished.
    """
    if moment_rule is None:
        return True
    if isinstance(moment_rule, At):
        return (now.day, now.seconds) >= (moment_rule.day, minutes(moment_rule.at) * 60.0)
    run = session.scalar(select(InjectRun).where(
        InjectRun.exercise_id == exercise.id, InjectRun.team_id == team.id,
        InjectRun.inject_id == moment_rule.inject))
    begun = counts_from(run, exercise, moment_rule)
    if run is None or begun is None:
        return False
    return now.timeline >= ledger.at(exercise, run.day, begun).timeline + minutes(moment_rule.delay) * 60.0


@dataclass(frozen=True)
class TaskView:
    """One task as a team sees it now."""

    task: Task
    opened: bool
    attempts_used: int
    attempts_left: int | None  # None: unlimited
    solved: bool
    last_correct: bool | None  # the latest attempt's result; None before any
    hints_taken: tuple[int, ...]  # indices into task.hints
    points_earned: int  # award minus wrong-answer penalties minus hint costs, from the ledger
    hints_released: tuple[int, ...] = ()  # of hints_taken, those an instructor gave free of charge


@dataclass(frozen=True)
class AttemptOutcome:
    correct: bool
    points: int  # awarded (> 0), a penalty (< 0), or 0 (a team-mate was first, or no penalty)
    attempts_left: int | None


def task_views(session: Session, exercise: Exercise, team: Team, *, now: datetime | None = None) -> list[TaskView]:
    """Every task of the scenario, in scenario order, with the team's attempts, hints and points."""
    moment = ledger.moment(exercise, now)
    attempts: dict[str, list[TaskAttempt]] = defaultdict(list)
    for attempt in session.scalars(select(TaskAttempt).where(TaskAttempt.team_id == team.id)
                                   .order_by(TaskAttempt.number)):
        attempts[attempt.task_id].append(attempt)
    points = dict(session.execute(
        select(ScoreEvent.source_id, func.sum(ScoreEvent.points))
        .where(ScoreEvent.team_id == team.id, ScoreEvent.source.in_(TASK_SOURCES))
        .group_by(ScoreEvent.source_id)).all())
    hints: dict[str, list[int]] = defaultdict(list)
    released: dict[str, list[int]] = defaultdict(list)
    for source_id, key, hint_points in session.execute(select(ScoreEvent.source_id, ScoreEvent.key, ScoreEvent.points)
                                                        .where(ScoreEvent.team_id == team.id,
                                                               ScoreEvent.source == ScoreSource.HINT)):
        hints[source_id].append(int(key.rsplit(":", 1)[1]))
        if hint_points == 0:
            released[source_id].append(int(key.rsplit(":", 1)[1]))
    views = []
    for task in scenarios.for_team(team).tasks:  # the team's own answers and prompts
        tried = attempts[task.id]
        views.append(TaskView(
            task=task, opened=_opened(session, exercise, team, task, moment), attempts_used=len(tried),
            attempts_left=_left(task, len(tried)), solved=any(a.correct for a in tried),
            last_correct=tried[-1].correct if tried else None, hints_taken=tuple(sorted(hints[task.id])),
            points_earned=int(points.get(task.id) or 0), hints_released=tuple(sorted(released[task.id]))))
    return views


def submit_answer(session: Session, exercise: Exercise, team: Team, user: User, task_id: str, answer: str, *,
                  now: datetime | None = None) -> AttemptOutcome:
    """Record one attempt at *task_id* and score it: the award once per team, a penalty per wrong answer.

    Refused while the exercise is not running, before the task opens, once it
    is solved or out of attempts, and when the account answered too often in
    the last minute.
    """
    wall = now or utcnow()
    moment = ledger.moment(exercise, wall)
    task = _open_task(session, exercise, team, task_id, moment)
    given = answer.strip()
    if not given:
        raise InvalidInput(N_("the answer is empty"))
    if len(given) > MAX_ANSWER:
        raise InvalidInput(N_("an answer may have at most %(max)d characters"), max=MAX_ANSWER)
    _check_can_answer(session, team, task)
    recent = session.scalar(select(func.count()).select_from(TaskAttempt).where(
        TaskAttempt.user_id == user.id, TaskAttempt.at > wall - RATE_WINDOW))
    if recent >= RATE_LIMIT:
        raise RateLimited(N_("too many answers: at most %(limit)d a minute per account, wait a moment"),
                          limit=RATE_LIMIT)
    correct = answers.accepts(task.answer, given)
    attempt = _record_attempt(session, team, user, task, given[:STORED_ANSWER], correct, moment, wall)
    points = _score(session, team, user, task, attempt, moment)
    verdict = "correct" if correct else "wrong"
    _timeline(session, team, moment, wall, "task", f"{task.id}: {verdict} answer (attempt {attempt.number})",
              task=task.id, attempt=attempt.number, correct=correct, points=points, user=user.id)
    return AttemptOutcome(correct, points, _left(task, attempt.number))


def take_hint(session: Session, exercise: Exercise, team: Team, user: User, task_id: str, index: int, *,
              now: datetime | None = None) -> Hint:
    """Buy hint *index* of an open task; taking it again costs nothing more and shows it again."""
    wall = now or utcnow()
    moment = ledger.moment(exercise, wall)
    task = _open_task(session, exercise, team, task_id, moment)
    if not 0 <= index < len(task.hints):
        raise NotFound(N_("task %(task)r has no hint %(index)d"), task=task.id, index=index)
    hint = task.hints[index]
    event = ledger.append(session, team, source=ScoreSource.HINT, source_id=task.id, key=f"hint:{task.id}:{index}",
                          points=-hint.cost, when=moment, reason=f"hint {index + 1} of {task.id}",
                          detail={"task": task.id, "hint": index, "cost": hint.cost}, actor=user)
    if event is not None:
        _timeline(session, team, moment, wall, "hint", f"{task.id}: hint {index + 1} taken (-{hint.cost})",
                  task=task.id, hint=index, cost=hint.cost, user=user.id)
    return hint


RELEASABLE = {ExerciseState.RUNNING, ExerciseState.PAUSED, ExerciseState.DAY_ENDED}


def release_hint(session: Session, exercise: Exercise, task_id: str, index: int, *, teams: list[int] | None,
                 actor: User | None, ip: str = "", now: datetime | None = None) -> list[int]:
    """An instructor gives hint *index* of *task_id* to the named teams (all when ``None``), free of charge.

    It is recorded like a taken hint, with 0 points, so the team sees it with
    its task (once the task is open) and taking it later costs nothing. Teams
    that already have the hint are left as they are; returns the teams that got it.
    """
    if exercise.state not in RELEASABLE:
        raise Conflict(N_("hints can be released while the exercise runs (it is %(state)s)"),
                       state=exercise.state.value)
    task = next((t for t in scenarios.parsed(exercise.scenario).tasks if t.id == task_id), None)
    if task is None:
        raise NotFound(N_("the scenario has no task %(task)r"), task=task_id)
    if not 0 <= index < len(task.hints):
        raise NotFound(N_("task %(task)r has no hint %(index)d"), task=task.id, index=index)
    chosen = injects.chosen_teams(exercise, teams)
    wall = now or utcnow()
    moment = ledger.moment(exercise, wall)
    given = []
    for team in chosen:
        event = ledger.append(session, team, source=ScoreSource.HINT, source_id=task.id,
                              key=f"hint:{task.id}:{index}", points=0, when=moment,
                              reason=f"hint {index + 1} of {task.id} released by an instructor",
                              detail={"task": task.id, "hint": index, "cost": 0, "released": True}, actor=actor)
        if event is not None:
            given.append(team.number)
            _timeline(session, team, moment, wall, "hint", f"{task.id}: hint {index + 1} released by an instructor",
                      task=task.id, hint=index, cost=0, released=True)
    audit.record(session, "hint.release", actor=actor, target=f"exercise:{exercise.id}:{task.id}",
                 exercise_id=exercise.id, ip=ip, task=task.id, hint=index, teams=given)
    return given


# Answers and hints are taken only while the clock runs; what a team reads when it tries in any other state.
ANSWERABLE = {ExerciseState.RUNNING}
NOT_ANSWERABLE = {
    ExerciseState.PAUSED: N_("the exercise is paused: answers and hints are taken again when the instructor "
                             "resumes it"),
    ExerciseState.DAY_ENDED: N_("today's exercise has ended: no answers or hints are taken now"),
    ExerciseState.FINISHED: N_("the exercise is over: answers and hints are no longer taken"),
    ExerciseState.TORN_DOWN: N_("the exercise is over: answers and hints are no longer taken"),
}
NOT_STARTED = N_("the exercise has not started yet: answers are taken once the instructor starts it")


def _open_task(session: Session, exercise: Exercise, team: Team, task_id: str, moment: ledger.Moment) -> Task:
    if exercise.state not in ANSWERABLE:
        raise Conflict(NOT_ANSWERABLE.get(exercise.state, NOT_STARTED))
    lengths = ledger.day_lengths(exercise)
    if 1 <= moment.day <= len(lengths) and moment.seconds >= lengths[moment.day - 1]:
        # the engine has not moved the exercise to "day ended" yet (it ticks, or it is down): same answer
        raise Conflict(N_("the day has ended: no answers or hints are taken now"))
    task = next((t for t in scenarios.for_team(team).tasks if t.id == task_id), None)  # graded with its values
    if task is None:
        raise NotFound(N_("the scenario has no task %(task)r"), task=task_id)
    if not _opened(session, exercise, team, task, moment):
        raise Conflict(N_("task %(task)r is not open yet"), task=task_id)
    return task


def _opened(session: Session, exercise: Exercise, team: Team, task: Task, moment: ledger.Moment) -> bool:
    return exercise.state not in NOT_STARTED and reached(session, exercise, team, task.opens, moment)


def _left(task: Task, used: int) -> int | None:
    return None if task.attempts is None else max(task.attempts - used, 0)


def _check_can_answer(session: Session, team: Team, task: Task) -> int:
    """The team's last attempt number at *task*, after checking it may try once more."""
    used, solved = session.execute(
        select(func.coalesce(func.max(TaskAttempt.number), 0), func.count().filter(TaskAttempt.correct))
        .where(TaskAttempt.team_id == team.id, TaskAttempt.task_id == task.id)).one()
    if solved:
        raise Conflict(N_("task %(task)r is already solved by your team"), task=task.id)
    if task.attempts is not None and used >= task.attempts:
        raise Conflict(N_("no attempts left at task %(task)r (%(attempts)d allowed)"), task=task.id,
                       attempts=task.attempts)
    return int(used)


def _record_attempt(session: Session, team: Team, user: User, task: Task, answer: str, correct: bool,
                    moment: ledger.Moment, wall: datetime) -> TaskAttempt:
    """Insert the attempt with the next number; a team-mate who took that number first means: look again."""
    for _ in range(NUMBER_TRIES):
        used = _check_can_answer(session, team, task)
        attempt_id = insert_new(session, TaskAttempt, exercise_id=team.exercise_id, team_id=team.id,
                                task_id=task.id, number=used + 1, user_id=user.id, answer=answer, correct=correct,
                                at=wall, day=moment.day, exercise_seconds=moment.seconds,
                                timeline_seconds=moment.timeline)
        if attempt_id is not None:
            return session.get(TaskAttempt, attempt_id)
    raise Conflict(N_("your team-mates are answering task %(task)r at the same time: try again"), task=task.id)


def _score(session: Session, team: Team, user: User, task: Task, attempt: TaskAttempt,
           moment: ledger.Moment) -> int:
    """The attempt's points in the ledger: the award (0 when a team-mate was first), or the penalty."""
    detail = {"task": task.id, "attempt": attempt.number}
    if attempt.correct:
        event = ledger.append(session, team, source=ScoreSource.TASK, source_id=task.id, key=f"task:{task.id}",
                              points=task.points, when=moment, reason=f"{task.id}: correct answer",
                              detail=detail, actor=user)
        return event.points if event is not None else 0
    if task.wrong_penalty <= 0:
        return 0
    event = ledger.append(session, team, source=ScoreSource.WRONG_ANSWER, source_id=task.id,
                          key=f"task:{task.id}:wrong:{attempt.number}", points=-task.wrong_penalty, when=moment,
                          reason=f"{task.id}: wrong answer", detail=detail, actor=user)
    return event.points if event is not None else 0


def _timeline(session: Session, team: Team, moment: ledger.Moment, wall: datetime, kind: str, summary: str,
              **detail: object) -> None:
    session.add(TimelineEvent(exercise_id=team.exercise_id, team_id=team.id, at=wall, day=moment.day,
                              exercise_seconds=moment.seconds, kind=kind, summary=summary[:500], detail=detail))
