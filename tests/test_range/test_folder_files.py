"""files: a source naming a bundled folder: every file lands at path/<relative>, byte for byte, on a real range."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from flask import Flask

from app.scenario.validate import validate_file
from app.services import exercises, scenarios
from app.services.exercises import ExerciseDraft
from range.docker_backend import DockerBackend
from range.images import build_image

from tests.provisioned import build_ranges

MINIMAL = Path(__file__).resolve().parents[1] / "scenarios" / "valid" / "minimal.yaml"
BINARY = bytes(range(256)) * 4


def write_scenario(folder: Path, **placed: object) -> Path:
    document = yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))
    document["network"]["hosts"][0]["files"] = [{"path": "/srv/site", "source": "site", **placed}]
    document["network"]["hosts"][0]["accounts"].append({"user": "clerk", "password": "Clerk2024!"})
    path = folder / "folders.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def make_site(folder: Path) -> dict[str, bytes]:
    """20 files: 18 pages over two levels, a dotfile and one binary with every byte value."""
    files = {f"page{i:02d}.html": f"<p>ページ {i}</p>\n".encode("utf-8") for i in range(12)}
    files |= {f"img/icon{i}.txt": f"icon {i}\n".encode() for i in range(6)}
    files |= {".htaccess": b"Options -Indexes\n", "img/all-bytes.bin": BINARY}
    for name, data in files.items():
        (folder / "folders" / "site" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "folders" / "site" / name).write_bytes(data)
    return files


def test_a_folder_is_accepted_and_an_empty_one_is_named(tmp_path: Path) -> None:
    make_site(tmp_path)
    assert [str(p) for p in validate_file(write_scenario(tmp_path)).problems] == []
    (tmp_path / "folders" / "site" / "img" / "all-bytes.bin").unlink()
    for item in sorted((tmp_path / "folders" / "site").rglob("*"), reverse=True):
        item.unlink() if item.is_file() else item.rmdir()
    found = [str(p) for p in validate_file(write_scenario(tmp_path)).problems]
    assert len(found) == 1 and "the bundled folder 'site' is empty" in found[0], found


def test_template_on_a_binary_file_is_refused_by_name(tmp_path: Path) -> None:
    make_site(tmp_path)
    found = [str(p) for p in validate_file(write_scenario(tmp_path, template=True)).problems]
    assert len(found) == 1, found
    assert "files[0].template" in found[0] and "site/img/all-bytes.bin is not UTF-8 text" in found[0]
    (tmp_path / "folders" / "site" / "img" / "all-bytes.bin").unlink()
    assert validate_file(write_scenario(tmp_path, template=True)).problems == []


def test_a_folder_is_refused_where_one_file_is_meant(tmp_path: Path) -> None:
    make_site(tmp_path)
    document = yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))
    document["injects"][0]["actions"] = [{"type": "copy_file", "params": {
        "host": "ws01", "path": "/tmp/x", "source": "site"}}]
    path = tmp_path / "folders.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    found = [str(p) for p in validate_file(path).problems]
    assert any("'site' is a folder; name one file here" in p for p in found), found


@pytest.mark.docker
def test_twenty_files_with_a_binary_land_intact(app: Flask, db, tmp_path: Path,
                                               docker_backend: DockerBackend) -> None:  # type: ignore[no-untyped-def]
    for name in ("base", "workstation", "attacker"):
        build_image(docker_backend, name, log=lambda line: None)
    files = make_site(tmp_path)
    write_scenario(tmp_path, mode="0640", owner="clerk")
    found, problems = scenarios.register_directory(db, tmp_path)
    assert problems == []
    exercise = exercises.create_exercise(db, found[0].scenario, ExerciseDraft(name="x", team_count=1), actor=None)
    db.commit()
    range_engine, label = build_ranges(app, docker_backend, exercise)
    try:
        listing = range_engine.exec(label, "1", "ws01", ["sh", "-c", "cd /srv/site && find . -type f | sort | "
                                    "xargs sha256sum && find . -type f | xargs stat -c '%a %U %n'"]).text
        sums = {line.split()[1].removeprefix("./"): line.split()[0]
                for line in listing.splitlines() if len(line.split()) == 2 and len(line.split()[0]) == 64}
        assert sums == {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}, listing
        modes = [line for line in listing.splitlines() if line.startswith(("640 ", "644 ", "600 "))]
        assert len(modes) == 20 and all(line.startswith("640 clerk ") for line in modes), listing
    finally:
        range_engine.teardown(label)
