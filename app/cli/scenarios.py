"""``mamori scenario``: registering and listing scenario files."""
from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import with_appcontext

from app.cli.context import database, settings
from app.scenario import ScenarioError, load_scenario_file
from app.services import scenarios


@click.group()
def scenario() -> None:
    """Scenarios."""


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
