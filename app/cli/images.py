"""``mamori images``: build the range images locally (no registry)."""
from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from app import migrate
from app.cli.context import database, settings
from app.services import images as scenario_images
from app.services.errors import InvalidInput
from app.settings import ConfigurationError
from range.catalogue import CATALOGUE_PATH, CatalogueError, ImageDescription, describe_image, dumps, load
from range.catalogue_text import DOC_PATH, markdown, text
from range.docker_backend import DockerBackend
from range.errors import ImageBuildError, RangeError
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
        wanted += _registered()
    for problem in problems:
        click.echo(f"skipped: {problem}", err=True)
    try:
        results = build_images(backend, list(names) if names else ([] if scenario_files else available_images()), log)
        results += scenario_images.build(backend, wanted, log)
    except (ImageBuildError, InvalidInput) as exc:
        raise click.ClickException(str(exc)) from None
    shown: set[str] = set()
    for result in results:
        if result.tag in shown:
            continue  # a role image is said once (the first time: built or not), however many need it
        shown.add(result.tag)
        click.echo(f"{result.name}: {result.tag} ({'built' if result.built else 'up to date'})")
    if problems and scenario_files:
        raise click.exceptions.Exit(1)


def _registered() -> list[scenario_images.ScenarioImages]:
    """The registered scenarios' images; none before ``mamori setup`` made the database (``make run`` builds first)."""
    try:
        if migrate.current_revision(database()) is None:
            return []  # nothing registered yet
        migrate.require_current(database())
    except (ConfigurationError, migrate.SchemaOutOfDate) as exc:
        click.echo(f"registered scenarios not read: {exc}", err=True)
        return []
    with database().transaction() as session:
        return scenario_images.registered(session)


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


@images.command("describe")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Everything read, as JSON (every package and account).")
@click.option("--markdown", "as_markdown", is_flag=True, help="The catalogue page (docs/images.md).")
@click.option("--catalogue", "committed", is_flag=True,
              help="Read the committed range/images/catalogue.json instead of the images (no Docker).")
@click.option("--write", is_flag=True,
              help="Read every image and rewrite range/images/catalogue.json and docs/images.md.")
@with_appcontext
def describe(name: str | None, as_json: bool, as_markdown: bool, committed: bool, write: bool) -> None:
    """What image NAME (default: every image) offers: ports, start scripts, packages, modules, accounts, commands.

    Read from the built images themselves (build them first), unless --catalogue.
    """
    if name is not None and name not in available_images():
        raise click.ClickException(f"unknown image {name!r} (images: {', '.join(available_images())})")
    if write and (name or committed):
        raise click.ClickException("--write reads every image: give no NAME and no --catalogue")
    try:
        found = _described(name, committed and not write)
    except (RangeError, CatalogueError) as exc:
        raise click.ClickException(str(exc)) from None
    if write:
        CATALOGUE_PATH.write_text(dumps(list(found.values())), encoding="utf-8")
        DOC_PATH.write_text(markdown(found), encoding="utf-8")
        click.echo(f"wrote {CATALOGUE_PATH} and {DOC_PATH} ({len(found)} images)")
    elif as_json:
        click.echo(dumps(list(found.values())), nl=False)
    elif as_markdown:
        click.echo(markdown(found), nl=False)
    else:
        base = found["base"] if "base" in found else _described("base", committed)["base"]
        click.echo("\n".join(text(found[n], base) for n in sorted(found)), nl=False)


def _described(name: str | None, committed: bool) -> dict[str, ImageDescription]:
    names = [name] if name else available_images()
    if committed:
        catalogue = load()
        missing = [n for n in names if n not in catalogue]
        if missing:
            raise CatalogueError(
                f"the committed catalogue lacks {', '.join(missing)}: run mamori images describe --write"
            )
        return {n: catalogue[n] for n in names}
    backend = DockerBackend(settings().docker_host)
    return {n: describe_image(backend, n) for n in names}
