"""`mamori scenario schema`: the JSON Schema describes the organisation (requests, conditions, message steps).

The command is run in-process (click's runner): it needs no app, database or Docker.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from app.cli.scenarios import schema
from app.scenario import load_scenario_file

CASES = Path(__file__).resolve().parent / "scenarios"
EXAMPLES = [CASES / "valid" / "minimal.yaml", CASES / "valid" / "organisation-example.yaml",
            CASES / "organisation.yaml"]
CONDITION_KINDS = ["Condition", "Contacted", "Submitted", "Answered", "HintTaken", "AnyOf", "AllOf", "Not"]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    result = CliRunner().invoke(schema)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture(scope="module")
def validator(document: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(document)  # it is itself a valid JSON Schema
    return jsonschema.Draft202012Validator(document)


def test_it_is_a_2020_12_json_schema(document: dict[str, Any], validator: jsonschema.Draft202012Validator) -> None:
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["title"] == "Mamori scenario"


def test_it_describes_characters_requests(document: dict[str, Any]) -> None:
    defs = document["$defs"]
    character = defs["Character"]["properties"]
    assert {"requests", "contactable", "replies"} <= set(character)
    assert character["requests"]["items"] == {"$ref": "#/$defs/CharacterRequest"}
    request = defs["CharacterRequest"]["properties"]
    assert {"params", "match", "reply", "delay", "condition", "refuse", "once", "repeat", "actions", "attach",
            "points"} <= set(request)
    assert set(defs["CharacterRequest"]["required"]) == {"id", "label", "reply"}
    assert defs["RequestParam"]["properties"]["type"]["enum"] == ["host", "choice", "text"]
    assert {"keywords", "patterns"} <= set(defs["Matching"]["properties"])
    assert {"name", "host", "path", "source", "max_bytes"} <= set(defs["Attachment"]["properties"])
    assert {"isolate", "reconnect"} <= {name.removeprefix("Action_") for name in defs if name.startswith("Action_")}


def test_it_describes_conditions_and_where_they_go(document: dict[str, Any]) -> None:
    defs = document["$defs"]
    assert set(CONDITION_KINDS) <= set(defs)
    assert "not" in defs["Not"]["properties"], "the alias, as written in YAML"
    kinds = [{"$ref": f"#/$defs/{kind}"} for kind in CONDITION_KINDS]
    for owner, field in (("Inject", "condition"), ("Inject", "skip_if"), ("CharacterRequest", "condition")):
        union = defs[owner]["properties"][field]["anyOf"][0]
        assert union["oneOf"] == kinds, (owner, field)
    assert defs["When"]["properties"]["condition"]["oneOf"] == kinds
    assert "to" in defs["Report"]["properties"]
    assert "on_time" in json.dumps(defs["Criterion"]["properties"]["auto"])


def test_it_describes_message_steps(document: dict[str, Any]) -> None:
    steps = document["properties"]["model_response"]["items"]
    assert steps["discriminator"]["mapping"]["message"] == "#/$defs/MessageStep"
    assert {"to", "request", "params", "subject", "text"} <= set(document["$defs"]["MessageStep"]["properties"])


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_the_examples_validate_against_it(path: Path, validator: jsonschema.Draft202012Validator) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(load_scenario_file(path).document)]
    assert errors == []


def _organisation() -> dict[str, Any]:
    return copy.deepcopy(load_scenario_file(CASES / "organisation.yaml").document)


def _vendor(document: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in document["story"]["characters"] if c["id"] == "vendor")


def _misspelt_condition(d: dict[str, Any]) -> None:
    d["injects"][1]["condition"] = {"chekc": "beacon-stopped"}


def _empty_report_condition(d: dict[str, Any]) -> None:
    d["injects"][1]["skip_if"] = {"by": {"day": 1, "at": "00:30"}}


def _nested_unknown_field(d: dict[str, Any]) -> None:
    d["injects"][1]["skip_if"] = {"any": [{"contacted": "vendor", "requets": "isolate"}]}


def _request_unknown_field(d: dict[str, Any]) -> None:
    _vendor(d)["requests"][0]["retries"] = 3


def _param_of_unknown_type(d: dict[str, Any]) -> None:
    _vendor(d)["requests"][0]["params"][0]["type"] = "file"


def _message_step_without_to(d: dict[str, Any]) -> None:
    d["model_response"].append({"do": "message", "at": {"day": 1, "at": "00:40"}, "text": {"ja": "あ", "en": "a"}})


@pytest.mark.parametrize("break_it", [_misspelt_condition, _empty_report_condition, _nested_unknown_field,
                                      _request_unknown_field, _param_of_unknown_type, _message_step_without_to])
def test_it_refuses_what_the_model_refuses(break_it: Any, validator: jsonschema.Draft202012Validator) -> None:
    document = _organisation()
    break_it(document)
    assert not validator.is_valid(document)


def test_it_describes_check_explanations_and_display_answers(document: dict[str, Any],
                                                             validator: jsonschema.Draft202012Validator) -> None:
    defs = document["$defs"]
    assert set(defs["Explain"]["properties"]) == {"pass", "fail"}, "as written in YAML"
    check = next(name for name in defs if name.startswith("Check_"))
    assert "explain" in defs[check]["properties"]
    assert "display_answer" in defs["Task"]["properties"]
    scenario = copy.deepcopy(load_scenario_file(EXAMPLES[0]).document)
    scenario["checks"][0]["explain"] = {"pass": {"ja": "止まっています。", "en": "Stopped."}, "fail": {"ja": "動いています。"}}
    assert list(validator.iter_errors(scenario)) != [], "a text needs both languages"
    scenario["checks"][0]["explain"]["fail"]["en"] = "Running."
    scenario["tasks"][0]["display_answer"] = {"ja": "ws01（職員端末）", "en": "ws01 (staff PC)"}
    assert [e.message for e in validator.iter_errors(scenario)] == []


@pytest.mark.parametrize("path", sorted((CASES.parent.parent / "scenarios").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_bundled_check_explains_itself_and_no_regex_answer_goes_undisplayed(path: Path) -> None:
    """Trainees read a check's result in the scenario's words, and a debrief never shows a regular expression."""
    scenario = load_scenario_file(path).document
    assert [c["id"] for c in scenario["checks"] if not {"pass", "fail"} <= set(c.get("explain", {}))] == []
    assert [t["id"] for t in scenario["tasks"] if t["answer"]["match"] == "regex" and "display_answer" not in t] == []
