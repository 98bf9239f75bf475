"""``mamori engine run`` (exercise time, its own process) and the instructor's inject and message commands."""
from __future__ import annotations

import logging
import signal
import threading

import click
from flask.cli import with_appcontext

from app.cli.context import database, settings
from app.cli.ranges import range_engine
from app.services import exercises, injects


@click.group()
def engine() -> None:
    """The engine process that runs exercise time."""


@engine.command("run")
@click.option("--interval", type=click.FloatRange(0.1, 60), default=1.0, show_default=True,
              help="Seconds between passes.")
@click.option("--once", is_flag=True, help="One pass, then exit (for scripts and tests).")
@with_appcontext
def run(interval: float, once: bool) -> None:
    """Fire injects when they fall due and run scoring rounds. SIGTERM finishes the step in progress."""
    from app.runtime.diskwatch import DiskLimits
    from app.runtime.engine import Engine

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    worker = Engine(database(), range_engine(), settings().instance_id,
                    disk_limits=DiskLimits.from_settings(settings()))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if once:
        worker.recover()
        click.echo(f"{worker.tick()} inject(s) decided, {len(worker.scorer.tick())} scoring round(s)")
        return
    click.echo(f"engine {worker.holder} running (every {interval:g} s); stop with SIGTERM")
    worker.run(stop, interval)
    click.echo("engine stopped")


@click.group()
def inject() -> None:
    """Instructor controls over injects."""


def _control(action: str, exercise_id: int, inject_id: str, teams: tuple[int, ...]) -> None:
    with database().transaction() as session:
        current = exercises.get_exercise(session, exercise_id)
        changed = injects.control(session, current, inject_id, action, teams=list(teams) or None, actor=None)
    click.echo(f"{inject_id}: {action} for team(s) {', '.join(map(str, changed)) or '(none)'}")


for _action, _help in (("fire", "Fire it now (for the named teams, or all that have not had it)."),
                       ("hold", "Keep it back until released."),
                       ("release", "Release a hold."),
                       ("skip", "Never fire it.")):
    def _make(action: str, help_text: str):  # type: ignore[no-untyped-def]
        @inject.command(action, help=help_text)
        @click.argument("exercise_id", type=int)
        @click.argument("inject_id")
        @click.option("--team", "teams", type=int, multiple=True, help="Only this team (repeatable).")
        @with_appcontext
        def command(exercise_id: int, inject_id: str, teams: tuple[int, ...]) -> None:
            _control(action, exercise_id, inject_id, teams)

        return command

    _make(_action, _help)


@click.group()
def message() -> None:
    """Messages to teams' inboxes."""


@message.command("send")
@click.argument("exercise_id", type=int)
@click.option("--subject", required=True)
@click.option("--body", required=True)
@click.option("--team", "teams", type=int, multiple=True, help="Only this team (repeatable); default: all.")
@with_appcontext
def send(exercise_id: int, subject: str, body: str, teams: tuple[int, ...]) -> None:
    """Send a message (to every team: a broadcast)."""
    with database().transaction() as session:
        current = exercises.get_exercise(session, exercise_id)
        count = injects.send(session, current, subject=subject, body=body, teams=list(teams) or None, actor=None)
    click.echo(f"sent to {count} team(s)")
