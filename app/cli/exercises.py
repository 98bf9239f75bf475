"""``mamori exercise`` and ``mamori roster``."""
from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import with_appcontext

from app.cli.context import database
from app.services import exercises, scenarios, staff
from app.services import roster as roster_service
from app.services.exercises import ExerciseDraft


@click.group()
def exercise() -> None:
    """Exercises."""


@exercise.command("create")
@click.option("--scenario", "scenario_id", required=True, help="Registered scenario id.")
@click.option("--teams", type=click.IntRange(1, exercises.MAX_TEAMS), required=True)
@click.option("--name", default="", help="Exercise name (defaults to the scenario title).")
@click.option("--venue", default="")
@click.option("--prefecture", type=click.IntRange(1, 47), default=None, help="JIS code, 1–47.")
@with_appcontext
def create(scenario_id: str, teams: int, name: str, venue: str, prefecture: int | None) -> None:
    """Create an exercise; prints its id alone on stdout."""
    with database().transaction() as session:
        scenario = scenarios.get_latest(session, scenario_id)
        created = exercises.create_exercise(
            session, scenario,
            ExerciseDraft(name=name, team_count=teams, venue=venue, prefecture_id=prefecture),
            actor=None,
        )
        exercise_id = created.id
    click.echo(exercise_id)


@exercise.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def list_(as_json: bool) -> None:
    """List exercises."""
    with database().transaction() as session:
        rows = [
            {"id": e.id, "name": e.name, "scenario": e.scenario.slug, "state": e.state.value,
             "teams": len(e.teams)}
            for e in exercises.list_exercises(session)
        ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        click.echo(f"{row['id']}\t{row['state']}\t{row['scenario']}\t{row['teams']} teams\t{row['name']}")


@exercise.group("staff")
def staff_group() -> None:
    """The instructors who run an exercise (the CLI acts as the operator: never refused)."""


@staff_group.command("list")
@click.argument("exercise_id", type=int)
@with_appcontext
def staff_list(exercise_id: int) -> None:
    """Print the exercise's instructors, one ``login<TAB>name`` a line."""
    with database().transaction() as session:
        rows = [(u.login, u.display_name) for u in staff.members(exercises.get_exercise(session, exercise_id))]
    for login, name in rows:
        click.echo(f"{login}\t{name}")


@staff_group.command("add")
@click.argument("exercise_id", type=int)
@click.argument("login")
@with_appcontext
def staff_add(exercise_id: int, login: str) -> None:
    """Let the instructor LOGIN run the exercise."""
    with database().transaction() as session:
        staff.add(session, exercises.get_exercise(session, exercise_id), login, actor=None)
    click.echo(f"exercise {exercise_id}: {login} added to the staff")


@staff_group.command("remove")
@click.argument("exercise_id", type=int)
@click.argument("login")
@with_appcontext
def staff_remove(exercise_id: int, login: str) -> None:
    """Take the instructor LOGIN off the exercise's staff (the last one stays)."""
    with database().transaction() as session:
        staff.remove(session, exercises.get_exercise(session, exercise_id), login, actor=None)
    click.echo(f"exercise {exercise_id}: {login} removed from the staff")


@click.group()
def roster() -> None:
    """Trainee rosters."""


@roster.command("import")
@click.argument("exercise_id", type=int)
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def import_(exercise_id: int, csv_file: Path) -> None:
    """Import CSV_FILE (name,organisation,login,team; UTF-8) into the exercise.

    Prints each trainee's one-time password. A file with any bad row is
    rejected as a whole and every bad line is named.
    """
    data = csv_file.read_bytes()[: roster_service.MAX_BYTES + 1]
    with database().transaction() as session:
        imported = roster_service.import_roster(
            session, exercises.get_exercise(session, exercise_id), data, actor=None
        )
    click.echo("login\tname\tteam\tone-time password")
    for t in imported:
        click.echo(f"{t.login}\t{t.name}\t{t.team}\t{t.password}")
