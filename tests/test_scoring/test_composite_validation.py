"""An ``all`` check in a scenario: its parts are validated when the scenario loads, each named by its path."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.scenario import ScenarioError, load_scenario_file
from app.scenario.validate import validate_file

MINIMAL = Path(__file__).resolve().parents[1] / "scenarios" / "valid" / "minimal.yaml"
STAFF = {"type": "account", "params": {"host": "ws01", "user": "staff"}}


def scenario_with_all(tmp_path: Path, *parts: dict[str, Any]) -> Path:
    """minimal.yaml with its one check turned into an ``all`` of *parts*."""
    document = yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))
    document["checks"][0].update(type="all", params={"checks": json.loads(json.dumps(parts))})
    path = tmp_path / "composite.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    return [str(p).removeprefix(f"{path}:") for p in validate_file(path).problems]


def test_a_valid_all_check_loads_with_typed_parts(tmp_path: Path) -> None:
    path = scenario_with_all(tmp_path, STAFF, {"type": "tcp", "params": {"from": "ws01", "host": "attacker",
                                                                         "port": 8080, "expect": "closed"}})
    assert problems(path) == []
    check = load_scenario_file(path).scenario.checks[0]
    assert [part.type for part in check.params.checks] == ["account", "tcp"]
    assert check.params.checks[1].params.source == "ws01"


@pytest.mark.parametrize(("part", "message"), [
    ({"type": "command", "params": {"host": "ws01", "command": "true"}},
     "checks[0].params.checks[1]: check type 'command' was removed"),
    ({"type": "all", "params": {"checks": [STAFF, STAFF]}},
     "checks[0].params.checks[1]: unknown check type 'all' for a part"),
    ({"type": "procss", "params": {"host": "ws01", "pattern": "x"}},
     "checks[0].params.checks[1]: unknown check type 'procss' for a part (known: account, "),
    ({"type": "search", "params": {"host": "ws01", "path": "/var/www", "max_files": 0}},
     "checks[0].params.checks[1]: search params: max_files: Input should be greater than or equal to 1"),
    ({"type": "password", "params": {"host": "ws01", "user": "staff", "password": "p", "colour": "blue"}},
     "checks[0].params.checks[1]: password params: colour: Unexpected keyword argument"),
    ({"type": "ssh_login", "params": {"host": "ws01", "user": "staff", "key_file": "/root/.ssh/id_rsa"}},
     "checks[0].params.checks[1]: ssh_login params: key_file and counts_as need from"),
])
def test_a_bad_part_fails_at_load_naming_the_part(tmp_path: Path, part: dict[str, Any], message: str) -> None:
    path = scenario_with_all(tmp_path, STAFF, part)
    found = problems(path)
    assert any(message in p for p in found), found
    assert all(p.split(": ", 1)[0].strip().isdigit() for p in found), found  # each with its line
    with pytest.raises(ScenarioError):
        load_scenario_file(path)


def test_an_all_check_needs_two_parts(tmp_path: Path) -> None:
    found = problems(scenario_with_all(tmp_path, STAFF))
    assert any("checks[0].params.checks: List should have at least 2 items" in p for p in found), found


def test_a_host_named_inside_a_part_that_does_not_exist_is_reported_with_its_path(tmp_path: Path) -> None:
    path = scenario_with_all(
        tmp_path, STAFF,
        {"type": "tcp", "params": {"from": "ws01", "host": "web09", "port": 80}},
        {"type": "ssh_login", "params": {"from": "kali", "host": "ws01", "user": "staff",
                                         "key_file": "/root/.ssh/id_ed25519"}},
        {"type": "http", "params": {"from": "ws01", "url": "http://intranet.example/"}},
    )
    found = problems(path)
    assert any(p.endswith("checks[0].params.checks[1].params.host: unknown host 'web09'") for p in found), found
    assert any(p.endswith("checks[0].params.checks[2].params.from: unknown host 'kali'") for p in found), found
    assert any(p.endswith("checks[0].params.checks[3].params.url: the URL names unknown host 'intranet.example'")
               for p in found), found
    assert len(found) == 3, found
