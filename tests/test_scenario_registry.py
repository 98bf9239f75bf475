"""Registering scenarios: one row per content version; exercises keep the version they began with."""
from __future__ import annotations

import shutil
from pathlib import Path

from app.scenario import load_scenario_file
from app.services import exercises, scenarios
from app.services.exercises import ExerciseDraft

MINIMAL = Path(__file__).parent / "scenarios" / "valid" / "minimal.yaml"


def copy_minimal(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "minimal.yaml"
    shutil.copy(MINIMAL, target)
    return target


def test_an_exercise_keeps_its_version_when_the_file_changes(db, tmp_path: Path) -> None:
    path = copy_minimal(tmp_path / "scenarios")
    first, problems = scenarios.register_directory(db, path.parent)
    assert problems == [] and first[0].created
    exercise = exercises.create_exercise(db, first[0].scenario, ExerciseDraft(name="x", team_count=2), actor=None)
    db.commit()

    again, _ = scenarios.register_directory(db, path.parent)
    assert again[0].created is False and again[0].scenario.id == first[0].scenario.id

    path.write_text(path.read_text(encoding="utf-8").replace('version: "1.0"', 'version: "1.1"'), encoding="utf-8")
    changed, _ = scenarios.register_directory(db, path.parent)
    db.commit()
    assert changed[0].created and changed[0].scenario.content_hash != first[0].scenario.content_hash
    assert scenarios.get_latest(db, "suspicious-beacon").version == "1.1"
    db.refresh(exercise)
    assert exercise.scenario.version == "1.0"
    assert exercise.scenario.content_hash == first[0].scenario.content_hash
    assert "version: \"1.0\"" in exercise.scenario.source_text


def test_the_hash_covers_bundled_files(tmp_path: Path) -> None:
    path = copy_minimal(tmp_path)
    before = load_scenario_file(path).content_hash
    (tmp_path / "minimal").mkdir()
    (tmp_path / "minimal" / "notes.txt").write_text("one", encoding="utf-8")
    with_file = load_scenario_file(path).content_hash
    (tmp_path / "minimal" / "notes.txt").write_text("two", encoding="utf-8")
    assert len({before, with_file, load_scenario_file(path).content_hash}) == 3


def test_registering_a_bad_file_names_it_and_registers_the_others(db, tmp_path: Path) -> None:
    copy_minimal(tmp_path)
    (tmp_path / "broken.yaml").write_text("id: broken\n", encoding="utf-8")
    found, problems = scenarios.register_directory(db, tmp_path)
    assert [r.scenario.slug for r in found] == ["suspicious-beacon"]
    assert problems and all(p.startswith(f"{tmp_path / 'broken.yaml'}:") for p in problems)


def test_describe_lists_the_timeline(db, tmp_path: Path) -> None:
    found, _ = scenarios.register_directory(db, copy_minimal(tmp_path).parent)
    text = scenarios.describe(found[0].scenario)
    assert "beacon" in text and "police-call" in text and "beacon+00:10" in text
    assert "ws01" in text and "hidden" in text


def test_a_version_registered_without_its_files_gets_them(db, tmp_path: Path) -> None:
    copy_minimal(tmp_path)
    (tmp_path / "minimal").mkdir()
    (tmp_path / "minimal" / "notes.txt").write_text("メモ", encoding="utf-8")
    first, _ = scenarios.register_directory(db, tmp_path)
    first[0].scenario.bundle = {}  # as rows registered before bundles were stored
    db.flush()
    again, _ = scenarios.register_directory(db, tmp_path)
    assert again[0].created is False and set(again[0].scenario.bundle) == {"notes.txt"}


def test_describe_lists_the_characters_and_what_they_do(db, tmp_path: Path) -> None:
    example = Path(__file__).parent / "scenarios" / "valid" / "organisation-example.yaml"
    (tmp_path / "organisation-example.yaml").write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
    found, problems = scenarios.register_directory(db, tmp_path)
    assert problems == []
    text = scenarios.describe(found[0].scenario)
    assert "vendor" in text and "request isolate" in text and "(host:host)" in text, text
    assert "after 00:05; if contacted boss; isolate; 10 pt" in text, text
    assert "1 canned reply" in text and "to boss" in text, text
    assert "boss-chases" in text and "[skip if submitted a first report]" in text, text
