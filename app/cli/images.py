"""``mamori images``: build the range images locally (no registry)."""
from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from app.cli.context import database, settings
from app.services import images as scenario_images
from app.services.errors import InvalidInput
from range.docker_backend import DockerBackend
from range.errors import ImageBuildError
from range.images import available_images, build_images, image_tag


@click.group()
def images() -> None:
    """Range images."""


@images.command("build")
@click.argument("names", nargs=-1)
@click.option("--scenario", "scenario_files", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Build only this scenario file's images (its role images and its own extensions).")
@click.option("-v", "--verbose", is_flag=True, help="Show the build log.")
@with_appcontext
def build(names: tuple[str, ...], scenario_files: tuple[Path, ...], verbose: bool) -> None:
    """Build NAMES (default: every image under range/images, and the scenarios' own images).

    Without NAMES or --scenario, the extensions (``images:``) of every scenario in
    the scenarios folder and of every registered scenario are built too.
    Unchanged images are reused.
    """
    backend = DockerBackend(settings().docker_host)
    log = click.echo if verbose else (lambda line: None if line.startswith("  ") else click.echo(line))
    wanted, problems = scenario_images.from_files(list(scenario_files or ([] if names else [settings().scenarios_dir])))
    if not scenario_files and not names:
        with database().transaction() as session:
            wanted += scenario_images.registered(session)
    for problem in problems:
        click.echo(f"skipped: {problem}", err=True)
    try:
        results = build_images(backend, list(names) if names else ([] if scenario_files else available_images()), log)
        results += scenario_images.build(backend, wanted, log)
    except (ImageBuildError, InvalidInput) as exc:
        raise click.ClickException(str(exc)) from None
    for result in results:
        click.echo(f"{result.name}: {result.tag} ({'built' if result.built else 'up to date'})")
    if problems and scenario_files:
        raise click.exceptions.Exit(1)


@images.command("list")
def list_images() -> None:
    """Print each image and the content tag it has."""
    for name in available_images():
        click.echo(f"{name}\t{image_tag(name)}")


@images.command("check")
@with_appcontext
def check() -> None:
    """Check that the Docker Engine answers."""
    backend = DockerBackend(settings().docker_host)
    click.echo(f"Docker Engine {backend.engine_version()} answers")
