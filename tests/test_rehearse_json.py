"""``mamori rehearse --json`` carries every fact of the text report (pure: a constructed result)."""
from __future__ import annotations

import json
import re
from typing import Any, Iterator

from app.cli.rehearse import SOURCES, report_lines
from app.models import ScoreSource
from app.scenario.model import Expectations
from app.services.ledger import BreakdownLine
from app.services.rehearsal import DEFENDER_NAMES, RehearsalResult, TeamResult


def _team(number: int, defender: str, score: int, **more: Any) -> TeamResult:
    return TeamResult(number=number, name=f"rehearsal-{number}", defender=defender, score=score, maximum=640,
                      injects_fired=more.get("fired", 7), injects_total=7, steps_done=more.get("steps", 11),
                      steps_total=12, messages_sent=more.get("messages", 3), requests_fulfilled=more.get("fulfilled", 2),
                      reports_late=more.get("late", 0), breakdown=more.get("breakdown", ()))


RESULT = RehearsalResult(
    scenario="web-deface", title="Webサイト改ざん",
    teams=(
        _team(1, "perfect", 575, breakdown=(
            BreakdownLine(ScoreSource.CHECK, "site-restored", 230, 23),
            BreakdownLine(ScoreSource.TASK, "attacker-ip", 50, 1),
            BreakdownLine(ScoreSource.HINT, "attacker-ip", -10, 1),
            BreakdownLine(ScoreSource.REQUEST, "vendor/isolate", 25, 1),
            BreakdownLine(ScoreSource.REPORT, "first-report", 80, 1))),
        _team(2, "passive", 35, fired=6, steps=0, messages=0, fulfilled=0, late=2, breakdown=(
            BreakdownLine(ScoreSource.CHECK, "site-up", 35, 35),)),
        _team(3, "late", 35, steps=12, messages=4, fulfilled=1, late=1),
    ),
    problems=("インジェクト deface が rehearsal-2（無対応）で実行されませんでした（missed）",),
    notes=("手順 7 は 1 日目の終わりに間に合いませんでした",),
    seconds=263.4,
    expectations=Expectations(perfect_at_least=0.85, passive_at_most=40),
)


def _flat(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _flat(item)
    elif isinstance(value, list):
        for item in value:
            yield from _flat(item)
    elif value is not None:
        yield str(value)


def test_every_fact_of_the_text_is_in_the_json() -> None:
    text = "\n".join(report_lines(RESULT))
    document = json.loads(json.dumps(RESULT.as_json(), ensure_ascii=False))
    values = set(_flat(document))
    words = " ".join(values)
    # Texts (titles, problems, notes) whole; every identifier and number of the report.
    for fact in (RESULT.title, *RESULT.problems, *RESULT.notes):
        assert fact in values
    tokens = set(re.findall(r"[A-Za-z][A-Za-z0-9_./-]*[A-Za-z0-9]|[+-]?\d+(?:\.\d+)?%?", text))
    for token in tokens:
        if token.endswith("%"):  # a share of the maximum, or perfect_at_least
            share = int(token[:-1]) / 100
            shares = [document["expectations"]["perfect_at_least"], *(t["share"] for t in document["teams"])]
            assert any(abs(share - s) < 0.005 for s in shares), token
        elif token.lstrip("+-").isdigit():
            assert str(int(token)) in values or token in words, token
        else:
            assert token in words, token
    minutes, seconds = divmod(int(RESULT.seconds), 60)
    assert f"{minutes}分{seconds:02d}秒" in text and document["seconds"] == 263.4
    # The report's Japanese labels stand for values the JSON names.
    for key, label in (*SOURCES.items(), *DEFENDER_NAMES.items()):
        if label in text:
            assert key in values, key


def test_ranks_and_the_verdict_agree_with_the_text() -> None:
    text = report_lines(RESULT)
    document = RESULT.as_json()
    ranked = [line for line in text if re.match(r"^\s+\d+位", line)]
    assert [re.match(r"^\s+(\d+)位\s+(\S+)", line).groups() for line in ranked] == [  # type: ignore[union-attr]
        ("1", "rehearsal-1"), ("2", "rehearsal-2"), ("2", "rehearsal-3")]
    assert {t["team"]: t["rank"] for t in document["teams"]} == {"rehearsal-1": 1, "rehearsal-2": 2, "rehearsal-3": 2}
    assert document["ok"] is False and "不合格（問題 1 件）" in text[-1] and len(document["problems"]) == 1
    assert document["expectations"] == {"perfect_at_least": 0.85, "passive_at_most": 40}
    assert [t["share"] for t in document["teams"]] == [0.8984, 0.0547, 0.0547]
