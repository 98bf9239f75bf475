"""``mamori rehearse SCENARIO``: play a whole scenario with scripted teams and check it holds its promises.

What the instructor runs the day before a session (and CI for every bundled
scenario). The report is in Japanese; ``--json`` gives one object with
English keys, and everything the text shows: ``scenario``, ``title``, ``ok``,
``expectations``, ``problems``, ``notes``, ``seconds`` and per team its
``rank``, score, maximum, ``share``, injects, steps, ``messages_sent``,
``requests_fulfilled``, ``reports_late`` and the score ``breakdown`` by
source. Nothing of the operator's database is touched, and the ranges
it builds are removed at the end, also after Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import json
import signal
import unicodedata
from typing import Any

import click
from flask.cli import with_appcontext

from app.cli.context import settings
from app.cli.ranges import range_engine
from app.services import rehearsal

SOURCES = {"check": "チェック", "task": "設問", "wrong_answer": "誤答", "hint": "ヒント", "report": "報告書",
           "request": "依頼", "adjustment": "調整"}


class _Interrupted:
    """Turns the first SIGINT/SIGTERM into KeyboardInterrupt; later ones are ignored so clean-up can finish."""

    def __init__(self) -> None:
        self.fired = False

    def __call__(self, signum: int, frame: Any) -> None:
        if not self.fired:
            self.fired = True
            raise KeyboardInterrupt


@click.command("rehearse")
@click.argument("scenario")
@click.option("--speed", type=click.FloatRange(0, 600, min_open=True), default=rehearsal.DEFAULT_SPEED,
              show_default=True,
              help="Exercise seconds per real second: each scoring round takes at least round_seconds/speed "
                   "seconds (600: as fast as the work allows).")
@click.option("--teams", type=click.IntRange(1, 40), default=3, show_default=True,
              help="Scripted teams: perfect, passive, late, then again.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout (progress stays on stderr).")
@with_appcontext
def rehearse(scenario: str, speed: float, teams: int, as_json: bool) -> None:
    """Rehearse SCENARIO (a YAML file, or the id of one in the scenarios folder) on real ranges.

    A throw-away exercise with scripted teams runs every day of the scenario
    on a fast clock; the exit status is 0 only when the result matches the
    scenario's expectations.
    """
    config = settings()
    path = rehearsal.scenario_path(scenario, config.scenarios_dir)
    handler = _Interrupted()
    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = rehearsal.rehearse(path, range_engine(), teams=teams, speed=speed,
                                    concurrency=config.provision_concurrency,
                                    progress=lambda text: click.echo(text, err=True))
    except KeyboardInterrupt:
        click.echo("リハーサルを中断しました（演習環境は削除済みです）", err=True)
        raise click.exceptions.Exit(130) from None
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
    else:
        click.echo("\n".join(report_lines(result)))
    if not result.ok:
        raise click.exceptions.Exit(1)


def report_lines(result: rehearsal.RehearsalResult) -> list[str]:
    """The instructor's report: the scoreboard, each team's points by source, problems, the verdict."""
    lines = [f"リハーサル: {result.scenario}" + (f" — {result.title}" if result.title else "")]
    if result.teams:
        lines += ["", "最終スコア:"]
        if result.expectations is not None:
            lines[-1] = (f"最終スコア（基準: 模範対応は満点の {result.expectations.perfect_at_least:.0%} 以上、"
                         f"無対応は {result.expectations.passive_at_most} 点以下、1時間遅れはその間）:")
        ranks = result.ranks()
        for team in sorted(result.teams, key=lambda t: (-t.score, t.number)):
            rank = ranks[team.number]
            share = f"（{team.score / team.maximum:.0%}）" if team.maximum else ""
            lines.append(f"  {rank:>2}位  {team.name}  {_pad(rehearsal.DEFENDER_NAMES[team.defender], 10)}"
                         f"{team.score:>6} 点 / 満点 {team.maximum}{share}  "
                         f"インジェクト {team.injects_fired}/{team.injects_total}  "
                         f"手順 {team.steps_done}/{team.steps_total}  "
                         f"連絡 {team.messages_sent}  依頼の完了 {team.requests_fulfilled}  "
                         f"報告の遅れ {team.reports_late}")
        lines += ["", "チーム別内訳:"]
        for team in result.teams:
            lines.append(f"  {team.name}（{rehearsal.DEFENDER_NAMES[team.defender]}）")
            for line in team.breakdown:
                lines.append(f"    {line.points:>+6}  {SOURCES.get(line.source.value, line.source.value)} "
                             f"{line.source_id}" + (f"（{line.events} 回）" if line.events > 1 else ""))
            if not team.breakdown:
                lines.append("         （得点なし）")
    if result.notes:
        lines += ["", "注意:"] + [f"  - {note}" for note in result.notes]
    if result.problems:
        lines += ["", "問題:"] + [f"  - {problem}" for problem in result.problems]
    minutes, seconds = divmod(int(result.seconds), 60)
    verdict = "合格" if result.ok else f"不合格（問題 {len(result.problems)} 件）"
    lines += ["", f"リハーサル結果: {verdict}" + (f"（所要 {minutes}分{seconds:02d}秒）" if result.seconds else "")]
    return lines


def _pad(text: str, width: int) -> str:
    """*text* padded to *width* terminal columns (a Japanese character takes two)."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(width - used, 0)
