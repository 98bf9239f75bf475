"""YAML mistakes as an author meets them: the line and column, a hint in words, every error at once,
and files that libyaml reads but PyYAML's pure-Python parser (editors', linters') refuses."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from app.scenario.validate import Problem, validate_file

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = ROOT / "tests" / "scenarios" / "valid" / "minimal.yaml"
BUNDLED = sorted((ROOT / "scenarios").glob("*.yaml"))
MAMORI = str(Path(sys.executable).with_name("mamori"))

# (the text, the 1-based line and column the problem must name, words its message must hold)
MISTAKES = {
    "colon-in-japanese-flow": ("prompt: {ja: 攻撃元を答えよ（例: xxx.php）, en: Answer}\n", 1, 23, "「: 」"),
    "colon-in-japanese-block": ("a:\n  ja: 注意: 重要です\n  en: x\n", 2, 9, "「: 」"),
    "colon-in-english-flow": ("a: {ja: x, en: Note: read this}\n", 1, 20, "contains ': '"),
    "tab-indentation": ("a:\n\tb: 1\n", 2, 1, "tab is used for indentation"),
    "unclosed-double-quote": ("a: \"abc\nb: 1\nc: 2\n", 1, 4, "never closed"),
    "unclosed-single-quote": ("a: 'abc\nb: 1\n", 1, 4, "never closed"),
    "unclosed-bracket": ("a: [x, y\nb: 1\n", 1, 4, "'[' opened here is not closed"),
    "unclosed-brace": ("a: {x: 1\nb: 1\n", 1, 4, "close it with '}'"),
    "question-mark-in-flow": ("a: {ja: 今夜は大丈夫？, en: Are we safe overnight?}\n", 1, 43, "contains '?'"),
    "deeper-indentation": ("a:\n  b: 1\n   c: 2\n", 3, 5, "indentation does not match"),
    "shallower-indentation": ("a:\n    b: 1\n  c: 2\n", 3, 3, "indentation does not match"),
    "list-indentation": ("- a: 1\n  b: 2\n - c: 3\n", 3, 2, "indentation does not match"),
    "text-after-quote": ("a: \"x\" y\n", 1, 8, "text after the closing quote"),
}


def problems(tmp_path: Path, text: str) -> list[Problem]:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return validate_file(path).problems


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_a_common_mistake_gets_its_line_column_and_hint(name: str, tmp_path: Path) -> None:
    text, line, column, words = MISTAKES[name]
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    assert (found[0].line, found[0].column) == (line, column), str(found[0])
    assert words in found[0].message and "hint: " in found[0].message
    assert str(found[0]).startswith(f"{tmp_path / 's.yaml'}:{line}:{column}: ")


def test_the_colon_hint_is_in_japanese_and_english(tmp_path: Path) -> None:
    message = problems(tmp_path, MISTAKES["colon-in-japanese-block"][0])[0].message
    assert "値全体を引用符 \"…\" で囲んでください" in message
    assert "put the whole value in quotes" in message


def test_a_problem_without_a_column_keeps_the_old_form(tmp_path: Path) -> None:
    text = MINIMAL.read_text(encoding="utf-8").replace("round_seconds: 30", "round_seconds: 30\ncolour: blue")
    found = problems(tmp_path, text)
    assert found and all(p.column is None for p in found)
    assert any(str(p).endswith(": colour: unknown field") and str(p).count(":") == 3 for p in found), found


def test_several_bad_lines_each_get_a_problem(tmp_path: Path) -> None:
    lines = MINIMAL.read_text(encoding="utf-8").splitlines(keepends=True)
    broken = {}
    for index in (20, 40, 60):
        assert lines[index].strip() and ":" in lines[index]
        lines[index] = lines[index].rstrip("\n") + "  注意: 重要: x\n"
        broken[index + 1] = len(lines[index]) - len("重要: x\n")
    lines[80] = "\t" + lines[80]
    found = problems(tmp_path, "".join(lines))
    assert [p.line for p in found] == [21, 41, 61, 81], [str(p) for p in found]
    assert all(p.column is not None and "hint: " in p.message for p in found)
    assert "tab" in found[-1].message


def test_a_good_block_between_bad_ones_is_not_blamed(tmp_path: Path) -> None:
    text = "a:\n  ja: 注意: x\n  en: fine\nb:\n  - {ja: ok, en: ok}\n  - name: \"good\"\nc: {ja: 例: x, en: y}\n"
    found = problems(tmp_path, text)
    assert [p.line for p in found] == [2, 7], [str(p) for p in found]


def test_a_block_scalar_is_not_read_as_yaml(tmp_path: Path) -> None:
    text = "a: |\n  注意: これは本文です\n  key: value\nb: c: d\n"
    found = problems(tmp_path, text)
    assert [p.line for p in found] == [4], [str(p) for p in found]


def test_what_only_libyaml_reads_is_refused_with_a_hint(tmp_path: Path) -> None:
    text = MINIMAL.read_text(encoding="utf-8")
    assert "title: {ja: " in text
    text = text.replace("title: {ja: ", "title: {en: Are we safe?, ja: ", 1)
    list(yaml.parse(text, Loader=yaml.CSafeLoader))  # libyaml reads it
    with pytest.raises(yaml.YAMLError):
        list(yaml.parse(text, Loader=yaml.SafeLoader))
    found = problems(tmp_path, text)
    assert len(found) == 1 and "PyYAML" in found[0].message and "contains '?'" in found[0].message
    assert text.splitlines()[found[0].line - 1][found[0].column - 1] == "?"


@pytest.mark.parametrize("path", [MINIMAL, *BUNDLED], ids=lambda p: p.stem)
def test_bundled_scenarios_read_the_same_with_both_parsers(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert yaml.load(text, Loader=yaml.SafeLoader) == yaml.load(text, Loader=yaml.CSafeLoader)
    assert not [p for p in validate_file(path).problems if p.column is not None]


def test_the_command_prints_every_syntax_error_with_its_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("a:\n  ja: 注意: x\nb: [1, 2\nc: 3\n", encoding="utf-8")
    result = subprocess.run([MAMORI, "scenario", "validate", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [f"{path}:2:9", f"{path}:3:4"], result.stderr


def test_many_errors_stay_quick(tmp_path: Path) -> None:
    lines = MINIMAL.read_text(encoding="utf-8").splitlines(keepends=True) * 30
    text = "".join(line.rstrip("\n") + " x: y: z\n" if i % 7 == 0 else line for i, line in enumerate(lines))
    path = tmp_path / "many.yaml"
    path.write_text(text[:250_000], encoding="utf-8")
    started = time.perf_counter()
    found = validate_file(path).problems
    assert time.perf_counter() - started < 0.8
    assert 1 < len(found) <= 20
