"""``mamori score …`` as an operator runs it: adjust, the board, a team's lines, the recompute, metrics."""
from __future__ import annotations

import json
import sqlite3

from tests.test_cli import Operator, assert_one_clear_error, operator  # noqa: F401


def exercise_with_teams(operator: Operator) -> str:  # noqa: F811
    operator.migrate()
    operator.register_scenario()
    created = operator.run("exercise", "create", "--scenario", "mini", "--teams", "3")
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


def test_adjustments_show_on_the_board_and_in_the_team_lines(operator: Operator) -> None:  # noqa: F811
    exercise = exercise_with_teams(operator)
    for team, points, reason in (("2", "30", "報告が的確"), ("2", "-5", "手順違反"), ("3", "10", "協力")):
        done = operator.run("score", "adjust", exercise, team, points, "--reason", reason)
        assert done.returncode == 0, done.stderr
    board = json.loads(operator.run("score", "board", exercise, "--json").stdout)
    assert [(t["rank"], t["team"], t["points"]) for t in board["teams"]] == [(1, 2, 25), (2, 3, 10), (3, 1, 0)]
    lines = json.loads(operator.run("score", "events", exercise, "2", "--json").stdout)
    assert [(e["points"], e["reason"]) for e in lines["events"]] == [(-5, "手順違反"), (30, "報告が的確")]
    assert lines["breakdown"] == [{"source": "adjustment", "source_id": "instructor", "points": 25, "events": 2}]
    recomputed = operator.run("score", "recompute", exercise)
    assert recomputed.returncode == 0 and "DISAGREES" not in recomputed.stdout, recomputed.stdout


def test_recompute_fails_when_the_running_total_was_tampered_with(operator: Operator) -> None:  # noqa: F811
    exercise = exercise_with_teams(operator)
    assert operator.run("score", "adjust", exercise, "1", "7", "--reason", "x").returncode == 0
    with sqlite3.connect(operator.database_url.removeprefix("sqlite:///")) as connection:
        connection.execute("UPDATE team_scores SET points = points + 100")
    recomputed = operator.run("score", "recompute", exercise)
    assert recomputed.returncode == 1
    assert "recomputed 7, ledger 7, total 107  DISAGREES" in recomputed.stdout


def test_adjust_refuses_bad_input_and_changes_nothing(operator: Operator) -> None:  # noqa: F811
    exercise = exercise_with_teams(operator)
    assert_one_clear_error(operator.run("score", "adjust", exercise, "1", "0", "--reason", "x"), "non-zero")
    assert_one_clear_error(operator.run("score", "adjust", exercise, "9", "5", "--reason", "x"), "no team 9")
    assert_one_clear_error(operator.run("score", "adjust", exercise, "1", "5", "--reason", "  "), "reason")
    board = json.loads(operator.run("score", "board", exercise, "--json").stdout)
    assert {t["points"] for t in board["teams"]} == {0}


def test_metrics_list_every_attack_the_scenario_measures(operator: Operator) -> None:  # noqa: F811
    exercise = exercise_with_teams(operator)
    shown = json.loads(operator.run("score", "metrics", exercise, "--json").stdout)
    assert {a["attack"] for t in shown["teams"] for a in t["attacks"]} == {"beacon", "police-call"}
    assert all(a["contain"] is None and a["fired"] is None for t in shown["teams"] for a in t["attacks"])
    # The organisational times are there too (nothing sent yet: none), with their medians.
    assert all({"report_up", "vendor", "notify"} <= set(a) and a["vendor"] is None
               for t in shown["teams"] for a in t["attacks"])
    assert {m["metric"] for m in shown["medians"]} >= {"detect", "report_up", "vendor", "notify"}
    text = operator.run("score", "metrics", exercise).stdout
    assert "report_up —" in text and "notify —" in text, text
