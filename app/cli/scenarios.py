"""``mamori scenario``: registering and listing scenario files."""
from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import with_appcontext

from app.cli.context import database, settings
from app.scenario import ScenarioError, load_scenario_file
from app.scenario.schema import json_schema
from app.scenario.validate import validate_file
from app.services import scenarios


@click.group()
def scenario() -> None:
    """Scenarios."""


@scenario.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def validate(paths: tuple[Path, ...]) -> None:
    """Validate scenario files (folders: every *.yaml) without Docker or the database.

    Prints every problem as FILE:LINE: field: message; exits 1 if there is any.
    """
    files = [p for path in paths for p in (sorted(path.glob("*.yaml")) if path.is_dir() else [path])]
    problems = 0
    for path in files:
        result = validate_file(path)
        for problem in result.problems:
            click.echo(str(problem), err=True)
        problems += len(result.problems)
        if result.ok:
            click.echo(f"{path}: ok")
    if problems:
        raise click.exceptions.Exit(1)


@scenario.command("schema")
def schema() -> None:
    """Print the JSON Schema of the scenario format (for editor completion)."""
    click.echo(json.dumps(json_schema(), ensure_ascii=False, indent=2))


@scenario.command("show")
@click.argument("scenario_id")
@with_appcontext
def show(scenario_id: str) -> None:
    """Describe a registered scenario: network, timeline, checks, tasks, reports."""
    with database().transaction() as session:
        row = scenarios.get_latest(session, scenario_id)
        text = scenarios.describe(row)
    click.echo(text)


@scenario.command("register")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@with_appcontext
def register(paths: tuple[Path, ...]) -> None:
    """Register scenario files (default: every file in the scenarios folder)."""
    problems: list[str] = []
    with database().transaction() as session:
        registrations = []
        for path in paths or (settings().scenarios_dir,):
            if path.is_dir():
                found, bad = scenarios.register_directory(session, path)
                registrations += found
                problems += bad
            else:
                try:
                    registrations.append(scenarios.register_file(session, load_scenario_file(path)))
                except ScenarioError as exc:
                    problems += exc.problems
    for r in registrations:
        state = "registered" if r.created else "unchanged"
        click.echo(f"{r.scenario.slug} v{r.scenario.version} ({r.scenario.content_hash[:12]}): {state}")
    if problems:
        raise ScenarioError(problems)


@scenario.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON list of objects.")
@with_appcontext
def list_(as_json: bool) -> None:
    """List the newest registered version of every scenario."""
    with database().transaction() as session:
        rows = [
            {"id": s.slug, "version": s.version, "title": {"ja": s.title_ja, "en": s.title_en},
             "level": s.level, "days": s.days, "content_hash": s.content_hash}
            for s in scenarios.latest(session)
        ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        click.echo(f"{row['id']}\tv{row['version']}\t{row['level']}\t{row['days']}d\t{row['title']['ja']}")
