"""``mamori score board|events|adjust|recompute|metrics``: the ledger from the terminal."""
from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from app.cli.context import database
from app.models import Exercise, Team
from app.services import exercises, ledger, review, scores
from app.services.errors import N_, NotFound


@click.group("score")
def score() -> None:
    """Scores: the board, a team's events, adjustments, the recompute, response metrics."""


def _team(exercise: Exercise, number: int) -> Team:
    team = next((t for t in exercise.teams if t.number == number), None)
    if team is None:
        raise NotFound(N_("the exercise has no team %(team)r (teams: %(teams)s)"), team=number,
                       teams=", ".join(str(t.number) for t in exercise.teams))
    return team


@score.command("board")
@click.argument("exercise_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@with_appcontext
def board(exercise_id: int, as_json: bool) -> None:
    """The scoreboard: rank, team, points, events."""
    with database().session() as session:
        exercise = exercises.get_exercise(session, exercise_id)
        standings = ledger.scoreboard(session, exercise)
        rows = [{"rank": s.rank, "team": s.team.number, "name": s.team.name, "points": s.points,
                 "events": s.events} for s in standings]
    if as_json:
        click.echo(json.dumps({"exercise": exercise_id, "teams": rows}, ensure_ascii=False))
        return
    for row in rows:
        click.echo(f"{row['rank']:>3}  {row['name']:<12} {row['points']:>7}  ({row['events']} events)")


@score.command("events")
@click.argument("exercise_id", type=int)
@click.argument("team_number", type=int)
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@with_appcontext
def events(exercise_id: int, team_number: int, limit: int, as_json: bool) -> None:
    """A team's score, line by line (newest first), and its points per source."""
    with database().session() as session:
        team = _team(exercises.get_exercise(session, exercise_id), team_number)
        lines = [{"id": e.id, "day": e.day, "exercise_seconds": round(e.exercise_seconds), "source": e.source.value,
                  "source_id": e.source_id, "points": e.points, "reason": e.reason, "detail": e.detail}
                 for e in ledger.events(session, team, limit=limit)]
        parts = [{"source": b.source.value, "source_id": b.source_id, "points": b.points, "events": b.events}
                 for b in ledger.breakdown(session, team)]
    if as_json:
        click.echo(json.dumps({"team": team_number, "breakdown": parts, "events": lines}, ensure_ascii=False))
        return
    for part in parts:
        click.echo(f"{part['points']:>7}  {part['source']}:{part['source_id']} ({part['events']} events)")
    click.echo("")
    for line in lines:
        hhmm = f"{line['exercise_seconds'] // 3600:02d}:{line['exercise_seconds'] % 3600 // 60:02d}"
        click.echo(f"day {line['day']} {hhmm} {line['points']:>+6}  {line['source']}:{line['source_id']}  "
                   f"{line['reason'][:100]}")


@score.command("adjust", context_settings={"ignore_unknown_options": True})  # POINTS may be -5
@click.argument("exercise_id", type=int)
@click.argument("team_number", type=int)
@click.argument("points", type=int)
@click.option("--reason", required=True, help="Why (the team reads it).")
@with_appcontext
def adjust(exercise_id: int, team_number: int, points: int, reason: str) -> None:
    """Award (positive) or deduct (negative) points by hand, with a reason; audited."""
    with database().transaction() as session:
        exercise = exercises.get_exercise(session, exercise_id)
        event = scores.adjust(session, exercise, _team(exercise, team_number), points, reason, actor=None)
        click.echo(f"team {team_number}: {event.points:+d} ({reason})")


@score.command("recompute")
@click.argument("exercise_id", type=int)
@with_appcontext
def recompute(exercise_id: int) -> None:
    """Rebuild every team's score from check results, answers and grades; exit 1 if the ledger disagrees."""
    with database().session() as session:
        report = scores.recompute(session, exercises.get_exercise(session, exercise_id))
        lines = [(t.team.name, t.recomputed, t.ledger, t.total, t.problems, t.agrees) for t in report]
    for name, recomputed, in_ledger, total, problems, agrees in lines:
        click.echo(f"{name}: recomputed {recomputed}, ledger {in_ledger}, total {total}"
                   f"{'' if agrees else '  DISAGREES'}")
        for problem in problems:
            click.echo(f"  {problem}")
    if not all(agrees for *_, agrees in lines):
        raise SystemExit(1)


@score.command("metrics")
@click.argument("exercise_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@with_appcontext
def metrics(exercise_id: int, as_json: bool) -> None:
    """Time to detect, contain, recover and report, and to report up, ask the vendor and notify, per team and
    attack, beside the cohort median."""
    with database().session() as session:
        exercise = exercises.get_exercise(session, exercise_id)
        cohort = scores.metrics(session, exercise)
        organisation = review.organisation_metrics(session, exercise, cohort)
        teams = [{"team": t.team.number, "name": t.team.name,
                  "attacks": [{"attack": a.attack, "fired": a.fired, **a.seconds,
                               **{m: organisation.seconds.get((t.team.id, a.attack, m))
                                  for m in review.ORGANISATION_METRICS}} for a in t.attacks]}
                 for t in cohort.teams]
    every = {**cohort.medians, **organisation.medians}
    medians = [{"attack": attack, "metric": metric, "median": value} for (attack, metric), value in every.items()]
    if as_json:
        click.echo(json.dumps({"exercise": exercise_id, "teams": teams, "medians": medians}, ensure_ascii=False))
        return

    def minutes(value: float | None) -> str:
        return "—" if value is None else f"{value / 60:.0f} min"

    for team in teams:
        for attack in team["attacks"]:
            shown = "  ".join(f"{m} {minutes(attack[m])} (median {minutes(every.get((attack['attack'], m)))})"
                              for m in (*scores.METRICS, *review.ORGANISATION_METRICS))
            click.echo(f"{team['name']} {attack['attack']}: {shown}")
