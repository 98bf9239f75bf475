"""A scenario's own image (a role image plus Debian packages and files): built once, reused, rebuilt on change, run."""
from __future__ import annotations

from dataclasses import replace
import os
import uuid
from pathlib import Path
from typing import Iterator

import docker
import pytest
from flask import Flask
from sqlalchemy.orm import Session

from app import create_app
from app.cli import cli
from app.scenario import load_scenario_file
from app.services import images, ranges, rehearsal, scenarios
from app.settings import Settings
from range.docker_backend import DockerBackend
from range.engine import DockerRangeEngine
from range.errors import RangeError
from range.images import build_image, extension_tag, image_tag

from tests.conftest import SESSION_TAG
from tests.test_range.conftest import new_exercise_id

MINIMAL = Path(__file__).resolve().parent.parent / "scenarios" / "valid" / "minimal.yaml"
SCENARIO_ID = "image-lab"
IMAGES = """images:
  - id: tools
    from: workstation
    description: {ja: SQLite 入りの職員端末, en: A workstation with SQLite}
    packages: [PACKAGES]
    files:
      - {path: /opt/lab/readme.txt, content: "台帳は /opt/lab/site にあります", mode: "0640"}
      - {path: /opt/lab/site, source: site}
"""


def write_scenario(folder: Path, packages: str = "sqlite3", marker: str = "") -> Path:
    """The minimal scenario with an image of its own (``tools``) that its workstation runs."""
    text = MINIMAL.read_text(encoding="utf-8").replace("id: suspicious-beacon", f"id: {SCENARIO_ID}", 1)
    text = text.replace("network:\n", IMAGES.replace("PACKAGES", packages) + "network:\n", 1)
    text = text.replace("      image: workstation\n", "      image: tools\n", 1)
    path = folder / f"{SCENARIO_ID}.yaml"
    path.write_text(text, encoding="utf-8")
    site = folder / SCENARIO_ID / "site"
    (site / "css").mkdir(parents=True, exist_ok=True)
    (site / "index.html").write_text(f"<h1>施設予約</h1>{marker}\n", encoding="utf-8")
    (site / "css" / "site.css").write_bytes(b"body { color: #333 }\n")
    return path


def tools_tag(path: Path) -> str:
    loaded = load_scenario_file(path)
    return extension_tag(images.extensions(loaded.scenario, loaded.bundle())["tools"])


def run(app: Flask, *args: str):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(cli, list(args), catch_exceptions=False)


def test_the_tag_covers_the_role_image_packages_and_every_file(tmp_path: Path) -> None:
    path = write_scenario(tmp_path)
    first = tools_tag(path)
    assert first.startswith(f"mamori/x-{SCENARIO_ID}-tools:") and first == tools_tag(path)
    write_scenario(tmp_path, packages="sqlite3, jq")
    with_jq = tools_tag(path)
    write_scenario(tmp_path, packages="jq, sqlite3")
    assert tools_tag(path) == with_jq != first  # the packages' order does not matter
    write_scenario(tmp_path, marker="!")
    assert tools_tag(path) not in (first, with_jq)  # a bundled file's bytes
    loaded = load_scenario_file(write_scenario(tmp_path))
    extension = images.extensions(loaded.scenario, loaded.bundle())["tools"]
    assert extension_tag(extension) == first
    assert sorted(f.path for f in extension.files) == [
        "/opt/lab/readme.txt", "/opt/lab/site/css/site.css", "/opt/lab/site/index.html"]
    changed_mode = replace(extension, files=tuple(replace(f, mode=0o600) for f in extension.files))
    assert extension_tag(changed_mode) != first
    assert extension_tag(replace(extension, role="webserver")) != first


def test_a_host_runs_its_scenario_image_and_others_their_role_image(tmp_path: Path) -> None:
    loaded = load_scenario_file(write_scenario(tmp_path))
    spec = ranges.compile_model(loaded.scenario, loaded.bundle(), exercise="ex", team="1",
                                gateway_user="team", gateway_password="gateway-pass-1")
    assert spec.host("ws01").image == tools_tag(loaded.path)
    assert spec.host("attacker").image == image_tag("attacker")
    assert images.roles(loaded.scenario) == ("attacker", "base", "workstation")


def test_registered_scenarios_give_the_same_images(db: Session, tmp_path: Path) -> None:
    path = write_scenario(tmp_path)
    scenarios.register_file(db, load_scenario_file(path))
    found = images.registered(db)
    assert [extension_tag(e) for item in found for e in item.extensions] == [tools_tag(path)]


@pytest.fixture
def made_tags() -> Iterator[list[str]]:
    """Tags a test builds, removed afterwards (with any container started from them)."""
    tags: list[str] = []
    yield tags
    client = docker.from_env()
    for container in client.containers.list(all=True, filters={"label": "org.mamori.test=scenario-images"}):
        container.remove(force=True)
    for tag in tags:
        try:
            client.images.remove(tag, force=True)
        except docker.errors.ImageNotFound:
            pass


@pytest.mark.docker
def test_built_once_reused_run_and_rebuilt_when_a_package_changes(
        app: Flask, settings: Settings, tmp_path: Path, docker_backend: DockerBackend, made_tags: list[str]) -> None:
    path = write_scenario(tmp_path)
    tag = tools_tag(path)
    made_tags.append(tag)
    docker_backend.remove_image(tag)

    built = run(app, "images", "build", "--scenario", str(path))
    assert built.exit_code == 0, built.output
    assert f"{SCENARIO_ID}/tools: {tag} (built)" in built.output
    again = run(app, "images", "build", "--scenario", str(path))
    assert f"{SCENARIO_ID}/tools: {tag} (up to date)" in again.output
    assert "docker build" not in again.output

    engine = DockerRangeEngine(docker_backend)
    loaded = load_scenario_file(path)
    spec = ranges.compile_model(loaded.scenario, loaded.bundle(), exercise=new_exercise_id(), team="1",
                                gateway_user="team", gateway_password="gateway-pass-1")
    try:
        engine.provision(spec)

        def sh(command: str) -> str:
            result = engine.exec(spec.exercise, spec.team, "ws01", ["sh", "-c", command])
            assert result.ok, (command, result.text)
            return result.text

        assert sh("sqlite3 --version").startswith("3.")
        assert sh("stat -c '%a %U' /opt/lab/readme.txt /opt/lab/site/css/site.css").split() == [
            "640", "root", "644", "root"]
        assert sh("cat /opt/lab/readme.txt") == "台帳は /opt/lab/site にあります"
        assert "施設予約" in sh("cat /opt/lab/site/index.html")
        assert sh("stat -c %a /tmp /opt").split() == ["1777", "755"]  # parents made, others left alone
        assert sh("ls -A /").split().count(".mamori-extension") == 0
    finally:
        engine.teardown(spec.exercise)

    # The scenarios folder's scenarios are built by `mamori images build` without arguments.
    write_scenario(tmp_path, packages="sqlite3, jq")
    changed = tools_tag(path)
    made_tags.append(changed)
    docker_backend.remove_image(changed)
    folder_app = create_app(replace(settings, scenarios_dir=tmp_path))
    try:
        named = run(folder_app, "images", "build", "workstation")  # names only: no scenario images
        rebuilt = run(folder_app, "images", "build")
    finally:
        folder_app.extensions["mamori.db"].dispose()
    assert "tools" not in named.output
    assert rebuilt.exit_code == 0, rebuilt.output
    assert f"{SCENARIO_ID}/tools: {changed} (built)" in rebuilt.output and changed != tag
    output = docker_backend.client.containers.run(
        changed, ["jq", "--version"], entrypoint=[], remove=True, labels={"org.mamori.test": "scenario-images"})
    assert output.decode().startswith("jq-")


@pytest.mark.docker
def test_a_range_whose_scenario_image_is_not_built_says_which_command_builds_it(
        tmp_path: Path, docker_backend: DockerBackend) -> None:
    for name in ("base", "workstation", "attacker"):
        build_image(docker_backend, name, log=lambda line: None)
    loaded = load_scenario_file(write_scenario(tmp_path, marker=new_exercise_id()))  # a tag never built
    spec = ranges.compile_model(loaded.scenario, loaded.bundle(), exercise=new_exercise_id(), team="1",
                                gateway_user="team", gateway_password="gateway-pass-1")
    engine = DockerRangeEngine(docker_backend)
    try:
        with pytest.raises(RangeError) as failed:
            engine.provision(spec)
        assert f"image {spec.host('ws01').image} does not exist (run `mamori images build`)" in str(failed.value)
    finally:
        engine.teardown(spec.exercise)


@pytest.mark.docker
def test_a_first_build_before_setup_does_not_trouble_the_operator_about_the_database(
        settings: Settings, tmp_path: Path, docker_backend: DockerBackend) -> None:
    """``make run`` builds the images before ``mamori setup`` makes the database."""
    (tmp_path / "scenarios").mkdir()
    fresh = replace(settings, database_url=f"sqlite:///{tmp_path / 'empty.sqlite3'}",
                    scenarios_dir=tmp_path / "scenarios")
    fresh_app = create_app(fresh)
    try:
        result = run(fresh_app, "images", "build")
    finally:
        fresh_app.extensions["mamori.db"].dispose()
    assert result.exit_code == 0, result.output
    assert "registered scenarios not read" not in result.output
    assert f"base: {image_tag('base')} (up to date)" in result.output


@pytest.mark.docker
@pytest.mark.skipif(bool(os.environ.get("MAMORI_TEST_DATABASE_URL")),
                    reason="the rehearsal uses its own SQLite database: the SQLite pass runs it")
def test_the_rehearsal_builds_the_scenario_image_it_needs_first(
        tmp_path: Path, docker_backend: DockerBackend, made_tags: list[str]) -> None:
    path = write_scenario(tmp_path, marker=new_exercise_id())  # a tag no one built
    tag = tools_tag(path)
    made_tags.append(tag)
    said: list[str] = []
    instance = f"{SESSION_TAG}rh{uuid.uuid4().hex[:4]}"  # the session's clean-up finds it if all else fails
    result = rehearsal.rehearse(path, DockerRangeEngine(docker_backend), teams=1, speed=600,
                                instance_id=instance, progress=said.append)
    assert result.ok, result.problems
    assert f"docker build {SCENARIO_ID}/tools (from workstation) → {tag}" in said
    assert docker_backend.image_exists(tag)
