"""``mamori exercise start|pause|resume|end-day|finish``: the exercise's lifecycle and clock."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.cli.context import database
from app.cli.exercises import exercise
from app.services import exercises, lifecycle


def _transition(action: str, exercise_id: int, **options: object) -> None:
    with database().transaction() as session:
        current = exercises.get_exercise(session, exercise_id)
        lifecycle.TRANSITIONS[action](session, current, actor=None, **options)  # type: ignore[operator]
        read = lifecycle.reading(current)
        state = current.state.value
    click.echo(f"exercise {exercise_id}: {state}, day {read.day} {read.hhmmss} (speed ×{read.speed:g})")


@exercise.command("start")
@click.argument("exercise_id", type=int)
@click.option("--speed", type=float, default=None, help="Exercise seconds per real second (e.g. 60 for rehearsal).")
@with_appcontext
def start(exercise_id: int, speed: float | None) -> None:
    """Start day 1 (when ready) or the next day (after end-day); the day's clock starts at 00:00."""
    _transition("start", exercise_id, speed=speed)


@exercise.command("pause")
@click.argument("exercise_id", type=int)
@with_appcontext
def pause(exercise_id: int) -> None:
    """Stop the clock; nothing fires and nothing is scored until resume."""
    _transition("pause", exercise_id)


@exercise.command("resume")
@click.argument("exercise_id", type=int)
@with_appcontext
def resume(exercise_id: int) -> None:
    """Start the clock again where it stopped."""
    _transition("resume", exercise_id)


@exercise.command("end-day")
@click.argument("exercise_id", type=int)
@with_appcontext
def end_day(exercise_id: int) -> None:
    """End day 1 of a two-day course (the night does not count)."""
    _transition("end_day", exercise_id)


@exercise.command("finish")
@click.argument("exercise_id", type=int)
@with_appcontext
def finish(exercise_id: int) -> None:
    """End the exercise."""
    _transition("finish", exercise_id)
