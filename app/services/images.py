"""A scenario's images: its hosts' role images and its own extensions, as the range library builds them.

The scenario model says what an extension is (``images:``); this module turns
it and the scenario's bundled files into ``range.images.Extension`` (plain
data), gives each host the tag it runs, and builds what a scenario needs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from app.scenario import ScenarioError, load_scenario_file
from app.scenario.model import ImageExtension, Scenario
from app.services import bundles, scenarios
from range.docker_backend import DockerBackend
from range.images import Extension, ExtensionFile, ImageResult, Log, build_extension, build_images, extension_tag, image_tag

GATEWAY_IMAGE = "base"  # the team's SSH gateway runs the base image


@dataclass(frozen=True)
class ScenarioImages:
    """One scenario version's extensions, ready to build (``source`` names where it came from)."""

    source: str
    extensions: tuple[Extension, ...]
    roles: tuple[str, ...]


def extension(scenario: Scenario, declared: ImageExtension, bundle: dict[str, str]) -> Extension:
    """*declared* with its files read: ``content`` as UTF-8, a ``source`` file or folder from *bundle*."""
    files = [ExtensionFile(path, content, int(placed.mode, 8)) for placed in declared.files
             for path, content in bundles.files_at(placed.path, placed.content, placed.source, bundle)]
    return Extension(scenario.id, declared.id, declared.from_, tuple(declared.packages), tuple(files))


def extensions(scenario: Scenario, bundle: dict[str, str]) -> dict[str, Extension]:
    return {declared.id: extension(scenario, declared, bundle) for declared in scenario.images}


def host_images(scenario: Scenario, bundle: dict[str, str]) -> dict[str, str]:
    """The tag each ``image:`` name of the scenario's hosts runs: its own extension's, else the role image's."""
    own = {name: extension_tag(item) for name, item in extensions(scenario, bundle).items()}
    return {h.image: own.get(h.image) or image_tag(h.image) for h in scenario.network.hosts}


def roles(scenario: Scenario) -> tuple[str, ...]:
    """The role images the scenario's hosts, extensions and the gateway stand on."""
    own = {declared.id: declared.from_ for declared in scenario.images}
    return tuple(sorted({own.get(h.image, h.image) for h in scenario.network.hosts} | {GATEWAY_IMAGE}))


def for_scenario(source: str, scenario: Scenario, bundle: dict[str, str]) -> ScenarioImages:
    return ScenarioImages(source, tuple(extensions(scenario, bundle).values()), roles(scenario))


def from_files(paths: list[Path]) -> tuple[list[ScenarioImages], list[str]]:
    """The images of each scenario file (folders: every ``*.yaml``); problems of files that do not validate."""
    found: list[ScenarioImages] = []
    problems: list[str] = []
    for path in [p for path in paths for p in (sorted(path.glob("*.yaml")) if path.is_dir() else [path])]:
        try:
            loaded = load_scenario_file(path)
        except ScenarioError as exc:
            problems += exc.problems
            continue
        found.append(for_scenario(str(path), loaded.scenario, loaded.bundle()))
    return found, problems


def registered(session: Session) -> list[ScenarioImages]:
    """The images of the newest registered version of every scenario that declares any."""
    return [
        for_scenario(f"{row.slug} {row.version} (registered)", scenarios.parsed(row), row.bundle or {})
        for row in scenarios.latest(session) if scenarios.parsed(row).images
    ]


def build(backend: DockerBackend, wanted: list[ScenarioImages], log: Log) -> list[ImageResult]:
    """Build the role images *wanted* stands on, then its extensions (each once, unchanged ones reused)."""
    roles_needed = sorted({role for images in wanted for role in images.roles}
                          | {e.role for images in wanted for e in images.extensions})
    results = build_images(backend, roles_needed, log)
    built: dict[str, ImageResult] = {}
    for images in wanted:
        for item in images.extensions:
            tag = extension_tag(item)
            if tag not in built:
                built[tag] = build_extension(backend, item, log)
    return results + list(built.values())
