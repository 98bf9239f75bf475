"""The image catalogue: read from the real images, committed, and the docs page made from it."""
from __future__ import annotations

import json

import docker
import pytest
from flask.testing import FlaskCliRunner

from app.cli import cli
from range.catalogue import (
    PROBE_LABEL, UnknownImage, accounts, commands, describe_image, dumps, load, loads, parse_sections,
)
from range.catalogue_text import DOC_PATH, markdown
from range.docker_backend import DockerBackend
from range.images import available_images, build_image

REGENERATE = "regenerate: .venv/bin/mamori images describe --write"


def test_the_docs_page_is_what_the_generator_writes_from_the_catalogue() -> None:
    assert DOC_PATH.read_text(encoding="utf-8") == markdown(load()), REGENERATE


def test_the_catalogue_file_is_in_its_own_stable_form() -> None:
    catalogue = load()
    assert sorted(catalogue) == available_images(), REGENERATE
    text = (DOC_PATH.parent.parent / "range" / "images" / "catalogue.json").read_text(encoding="utf-8")
    assert dumps(list(catalogue.values())) == text
    assert loads(text) == catalogue


def test_accounts_and_commands_answer_from_the_catalogue_for_the_validator() -> None:
    assert {"root", "www-data", "sshd"} <= accounts("webserver")
    assert "mysql" in accounts("database") and "mysql" not in accounts("webserver")
    assert {"postfix", "dovecot"} <= accounts("mail")
    assert {"mutt", "mariadb", "dig", "ssh"} <= commands("workstation")
    assert {"sqlite3", "php", "python3"} <= commands("webserver")
    assert "php" not in commands("workstation")
    with pytest.raises(UnknownImage, match="unknown image 'nginx-old'"):
        accounts("nginx-old")


def test_the_probe_output_is_split_at_its_section_lines() -> None:
    sections = parse_sections("noise\n@@packages\nbash\t5.2\n\n@@startd\n10-apache\n@@end\n")
    assert sections == {"packages": ["bash\t5.2"], "startd": ["10-apache"], "end": []}


@pytest.mark.docker
def test_the_committed_catalogue_is_what_the_images_hold(docker_backend: DockerBackend) -> None:
    catalogue = load()
    for name in available_images():
        build_image(docker_backend, name, log=lambda line: None)
        assert describe_image(docker_backend, name) == catalogue[name], f"{name}: {REGENERATE}"
    leftovers = docker.from_env().containers.list(all=True, filters={"label": PROBE_LABEL})
    assert leftovers == [], "every probe container is removed"


@pytest.mark.docker
def test_describe_webserver_json_lists_pdo_sqlite_and_port_80(runner: FlaskCliRunner) -> None:
    result = runner.invoke(cli, ["images", "describe", "webserver", "--json"])
    assert result.exit_code == 0, result.output
    webserver = json.loads(result.output)["webserver"]
    assert {"pdo_sqlite", "pdo_mysql"} <= set(webserver["php_modules"])
    assert "80/tcp" in webserver["ports"] and "10-apache" in webserver["start_scripts"]
    assert any(p["name"] == "sqlite3" and p["manual"] for p in webserver["packages"])


def test_describe_reads_the_committed_catalogue_without_docker(runner: FlaskCliRunner) -> None:
    result = runner.invoke(cli, ["images", "describe", "mail", "--catalogue"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("mail — ")
    assert "ports:          22/tcp, 25/tcp, 143/tcp" in result.output
    assert "postfix" in result.output and "dovecot-imapd" in result.output
    unknown = runner.invoke(cli, ["images", "describe", "nginx-old"])
    assert unknown.exit_code != 0 and "unknown image 'nginx-old'" in unknown.output
