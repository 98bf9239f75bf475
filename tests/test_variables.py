"""Per-team variables, the pure part: drawing values and filling placeholders."""
from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from app.scenario import load_scenario_file, variables
from app.scenario.model import Scenario, Variable
from app.services.ranges import compile_model
from app.scenario.validate import validate_file

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "tests" / "scenarios" / "valid" / "variables.yaml"


def var(**fields: object) -> Variable:
    return Variable.model_validate({"id": "x", **fields})


def test_drawing_again_gives_the_same_values_and_another_seed_others() -> None:
    declared = [var(generate="password", length=16), var(id="y", generate="domain", suffix="example.jp")]
    first = [variables.draw(declared, "seed-a", n) for n in range(1, 6)]
    assert first == [variables.draw(declared, "seed-a", n) for n in range(1, 6)]
    assert first != [variables.draw(declared, "seed-b", n) for n in range(1, 6)]


@pytest.mark.parametrize("fields", [
    {"values": ["alpha", "bravo", "charlie", "delta"]}, {"between": [10, 13]}, {"generate": "word"},
    {"generate": "username"}, {"generate": "domain"}, {"generate": "ipv4", "subnet": "198.51.100.0/24"},
    {"generate": "hex", "length": 8}, {"generate": "password"},
])
def test_distinct_values_differ_between_teams_while_the_pool_allows(fields: dict[str, object]) -> None:
    variable = var(**fields)
    size = variables.pool_size(variable) or 30
    teams = min(size, 30)
    drawn = [variables.draw([variable], "seed", n)["x"] for n in range(1, teams + 1)]
    assert len(set(drawn)) == teams


def test_a_pool_smaller_than_the_room_repeats_in_turn() -> None:
    variable = var(values=["a", "b", "c"])
    drawn = [variables.draw([variable], "seed", n)["x"] for n in range(1, 7)]
    assert sorted(drawn[:3]) == ["a", "b", "c"] and drawn[3:] == drawn[:3]


def test_not_distinct_values_may_repeat_but_stay_in_the_pool() -> None:
    variable = var(values=["a", "b"], distinct=False)
    drawn = {variables.draw([variable], "seed", n)["x"] for n in range(1, 40)}
    assert drawn == {"a", "b"}


def test_generated_values_have_their_kinds_shape() -> None:
    seeds = range(1, 25)
    for n in seeds:
        drawn = variables.draw([
            var(id="p", generate="password", length=14), var(id="h", generate="hex", length=32),
            var(id="u", generate="username"), var(id="d", generate="domain", suffix="example.jp"),
            var(id="i", generate="ipv4", subnet="203.0.113.0/24"), var(id="w", generate="word"),
            var(id="n", between=[3, 9]),
        ], "seed", n)
        assert re.fullmatch(r"[A-Za-z0-9]{14}", drawn["p"]) and re.search(r"[0-9]", drawn["p"])
        assert re.search(r"[A-Za-z]", drawn["p"])
        assert re.fullmatch(r"[0-9a-f]{32}", drawn["h"])
        assert re.fullmatch(r"[a-z]\.[a-z]+", drawn["u"])
        assert re.fullmatch(r"[a-z-]+\.example\.jp", drawn["d"])
        assert drawn["w"] in variables.WORDS
        assert 3 <= int(drawn["n"]) <= 9
        address = IPv4Address(drawn["i"])
        assert address in IPv4Network("203.0.113.0/24")
        assert int(address) & 0xFF not in (0, 1, 210, 255)


def test_rendering_fills_every_string_and_leaves_the_display_forms() -> None:
    document = {"injects": [{"message": {"body": {"ja": "{{c2}} へ {{ c2 }}（{{clock:00:10}}、{{address:ws01}}）"}}}],
                "tasks": [{"answer": {"values": ["{{c2}}"]}, "points": 10}], "param": "{single}"}
    rendered = variables.render(document, {"c2": "evil.example"})
    assert rendered["injects"][0]["message"]["body"]["ja"] == "evil.example へ evil.example（{{clock:00:10}}、{{address:ws01}}）"
    assert rendered["tasks"][0] == {"answer": {"values": ["evil.example"]}, "points": 10}
    assert rendered["param"] == "{single}"
    assert "{{c2}}" in document["tasks"][0]["answer"]["values"][0]  # the document itself is left as it was


def test_the_sample_is_each_variables_first_value() -> None:
    declared = [var(values=["one", "two"]), var(id="y", between=[5, 9]), var(id="z", generate="domain")]
    assert variables.sample(declared) == {"x": "one", "y": "5", "z": "cdn-update.example"}


def test_the_example_validates_and_is_stored_as_written() -> None:
    loaded = load_scenario_file(EXAMPLE)
    assert [v.id for v in loaded.scenario.variables] == ["c2_domain", "case_number"]
    assert loaded.document["network"]["hosts"][1]["aliases"] == ["{{c2_domain}}"]
    assert "{{c2_domain}}" in loaded.document["tasks"][1]["answer"]["values"][0]
    assert validate_file(EXAMPLE).ok


def test_a_variable_used_only_in_a_template_file_counts_as_used(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace("（受理番号 {{case_number}}、", "（").replace(
        "(case {{case_number}}, since", "(since")
    text = text.replace("""          owner: staff
      trainee_login: true""", """          owner: staff
        - {path: /home/staff/case.txt, source: case.txt, template: true}
      trainee_login: true""")
    path = tmp_path / "templated.yaml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "templated").mkdir()
    (tmp_path / "templated" / "case.txt").write_text("受理番号 {{case_number}}\n{{nothing}}\n", encoding="utf-8")
    problems = [str(p) for p in validate_file(path).problems]
    assert problems == [f"{path}:{_line(text, 'case.txt')}: network.hosts[0].files[1].source: "
                        "line 2: unknown variable {{nothing}}; declared: c2_domain, case_number"]
    (tmp_path / "templated" / "case.txt").write_bytes(b"\xff\xfe{{case_number}}")
    problems = [str(p) for p in validate_file(path).problems]
    assert any("case.txt is not UTF-8 text" in p for p in problems)


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_accounts_and_files_of_a_range_take_the_teams_values() -> None:
    document = load_scenario_file(EXAMPLE).document
    document["variables"].append({"id": "staff_user", "values": ["tsato", "hkato"]})
    document["variables"].append({"id": "staff_password", "generate": "password", "length": 14})
    document["network"]["hosts"][0]["accounts"] = [{"user": "{{staff_user}}", "password": "{{staff_password}}"}]
    values = variables.draw(variables.declared(document), "seed", 2)
    model = Scenario.model_validate(variables.render(document, values))
    spec = compile_model(model, {}, exercise="x", team="2", gateway_user="g", gateway_password="p")
    ws01 = next(h for h in spec.hosts if h.name == "ws01")
    assert [(a.user, a.password) for a in ws01.accounts] == [(values["staff_user"], values["staff_password"])]
    assert f"http://{values['c2_domain']}:8080/beacon".encode() in ws01.files[0].content
    assert next(h for h in spec.hosts if h.name == "attacker").aliases == (values["c2_domain"],)
