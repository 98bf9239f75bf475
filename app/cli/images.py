"""``mamori images``: build the range images locally (no registry)."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.cli.context import settings
from range.docker_backend import DockerBackend
from range.images import available_images, build_image, image_tag


@click.group()
def images() -> None:
    """Range images."""


@images.command("build")
@click.argument("names", nargs=-1)
@click.option("-v", "--verbose", is_flag=True, help="Show the build log.")
@with_appcontext
def build(names: tuple[str, ...], verbose: bool) -> None:
    """Build NAMES (default: every image under range/images); unchanged ones are reused."""
    backend = DockerBackend(settings().docker_host)
    log = click.echo if verbose else (lambda line: None if line.startswith("  ") else click.echo(line))
    for name in names or available_images():
        result = build_image(backend, name, log)
        click.echo(f"{result.name}: {result.tag} ({'built' if result.built else 'up to date'})")


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
