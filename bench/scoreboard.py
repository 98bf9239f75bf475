"""Benchmark: the scoreboard, a team's breakdown and its event page with 1,000,000 score events.

A fresh database (SQLite in a temporary folder, or a new database on the
PostgreSQL server of --database-url, dropped afterwards) is migrated; an
exercise of 30 teams is made of the largest bundled scenario, and its ledger is
filled in bulk with what the platform writes: per-round check awards from
``scoring.modes.check_award`` (most of the events), objectives, task answers,
wrong answers, hints, report grades and adjustments, with the running totals
(``TeamScore``) that the ledger keeps in step. Each query is then timed in a
fresh session; printed are the median and p95 against 50 ms, and the ratio of
the scoreboard to a naive ``SUM(points) … GROUP BY team_id``. A query over
target gets its plan printed and is timed again with the index that would fix
it, created in the benchmark's database only. Exit status 1 means the totals
do not match the events.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, event, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app import migrate  # noqa: E402
from app.db import Database  # noqa: E402
from app.models import Exercise, ScoreEvent, ScoreSource, ScoringRound, Team, TeamScore  # noqa: E402
from app.scenario import load_scenario_file  # noqa: E402
from app.services import exercises, ledger, scenarios  # noqa: E402
from scoring.modes import check_award, next_streak, objective_key  # noqa: E402

TARGET_MS = 50.0
CHUNK = 20_000
UP_SHARE = 0.93  # checks that hold in a round; the rest are down (a defended range, not a perfect one)
START = datetime(2026, 2, 3, 0, 30, tzinfo=timezone.utc)


# The database -----------------------------------------------------------------------------------

@contextmanager
def fresh_database(server_url: str | None) -> Iterator[Database]:
    """A migrated, empty database that is gone afterwards."""
    if server_url is None:
        with tempfile.TemporaryDirectory(prefix="mamori-bench-") as folder:
            database = Database(f"sqlite:///{folder}/bench.sqlite3")
            try:
                migrate.upgrade(database)
                yield database
            finally:
                database.dispose()
        return
    name = f"mamori_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    database = Database(make_url(server_url).set(database=name).render_as_string(hide_password=False))
    try:
        migrate.upgrade(database)
        yield database
    finally:
        database.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_exercise(database: Database, teams: int) -> tuple[int, list[int], Any]:
    """The largest bundled scenario, registered, and an exercise of *teams* teams."""
    loaded = max((load_scenario_file(p) for p in sorted((ROOT / "scenarios").glob("*.yaml"))),
                 key=lambda s: len(s.scenario.checks))
    with database.transaction() as session:
        scenario = scenarios.register_file(session, loaded).scenario
        exercise = exercises.create_exercise(session, scenario, exercises.ExerciseDraft(
            name="ベンチマーク演習", team_count=teams), actor=None)
        return exercise.id, [t.id for t in exercise.teams], loaded.scenario


# The ledger, as the platform writes it ----------------------------------------------------------

class LedgerWriter:
    """Score events of one exercise in the shapes the services write, and each team's totals of those written."""

    def __init__(self, exercise_id: int, team_ids: list[int], model: Any, seed: int = 7) -> None:
        self.exercise_id, self.team_ids, self.model = exercise_id, team_ids, model
        self.rng = random.Random(seed)
        self.totals: dict[int, list[int]] = {t: [0, 0] for t in team_ids}
        self.streaks: dict[tuple[int, str], int] = {}
        self.awarded: set[tuple[int, str]] = set()

    def event(self, team_id: int, source: ScoreSource, source_id: str, key: str, points: int, timeline: float,
              reason: str, detail: dict[str, Any], round_id: int | None = None) -> dict[str, Any]:
        return {"exercise_id": self.exercise_id, "team_id": team_id, "source": source, "source_id": source_id,
                "key": key, "points": points, "reason": reason, "detail": detail, "actor_id": None,
                "round_id": round_id, "day": 1, "exercise_seconds": timeline, "timeline_seconds": timeline,
                "created_at": START + timedelta(seconds=timeline)}

    def round_events(self, number: int) -> Iterator[dict[str, Any]]:
        """Every team's check awards of round *number* (``check_award``, as ``rounds.record`` calls it)."""
        timeline = number * float(self.model.round_seconds)
        for team_id in self.team_ids:
            for check in self.model.checks:
                status = "up" if self.rng.random() < UP_SHARE else "down"
                streak = next_streak(self.streaks.get((team_id, check.id), 0), status)
                self.streaks[(team_id, check.id)] = streak
                award = check_award(check.id, check.scoring, status, round_number=number,
                                    minutes_active=timeline / 60.0, down_streak=streak,
                                    awarded=(team_id, check.id) in self.awarded)
                if award is None:
                    continue
                if award.key == objective_key(check.id):
                    self.awarded.add((team_id, check.id))
                reason = f"{check.id}: {'holds' if status == 'up' else 'does not hold'}"
                yield self.event(team_id, ScoreSource.CHECK, check.id, award.key, award.points, timeline,
                                 reason, award.detail, round_id=number)

    def team_extras(self, team_id: int, rounds: int) -> Iterator[tuple[int, dict[str, Any]]]:
        """(round, event) of one team's answers, hints, report grades and adjustments."""
        rng, seconds = self.rng, float(self.model.round_seconds)

        def at() -> int:
            return rng.randint(1, max(rounds, 1))

        for task in self.model.tasks:
            for n in range(rng.randint(0, 3) if task.wrong_penalty else 0):
                when = at()
                yield when, self.event(team_id, ScoreSource.WRONG_ANSWER, task.id, f"task:{task.id}:wrong:{n + 1}",
                                       -task.wrong_penalty, when * seconds, f"{task.id}: wrong answer",
                                       {"task": task.id, "attempt": n + 1})
            for index, hint in enumerate(task.hints[:rng.randint(0, len(task.hints))]):
                when = at()
                yield when, self.event(team_id, ScoreSource.HINT, task.id, f"hint:{task.id}:{index}", -hint.cost,
                                       when * seconds, f"{task.id}: hint {index + 1}", {"hint": index})
            if rng.random() < 0.8:
                when = at()
                yield when, self.event(team_id, ScoreSource.TASK, task.id, f"task:{task.id}", task.points,
                                       when * seconds, f"{task.id}: correct answer", {"task": task.id})
        for report in self.model.reports:
            full = sum(c.points for c in report.rubric)
            when = at()
            yield when, self.event(team_id, ScoreSource.REPORT, report.id, f"report:{report.id}:v1:g1",
                                   rng.randint(full // 2, full), when * seconds, f"{report.id}: version 1 graded",
                                   {"version": 1, "of": full})
        for _ in range(rng.randint(0, 2)):
            when = at()
            yield when, self.event(team_id, ScoreSource.ADJUSTMENT, "instructor", f"adjustment:{uuid.uuid4().hex}",
                                   rng.choice([-20, -10, 10, 30]), when * seconds, "講師による調整", {})

    def rows(self, total: int) -> Iterator[tuple[str, dict[str, Any]]]:
        """("round", row) before the events that name it, then ("event", row); exactly *total* events."""
        per_round = max(1, sum(1 for c in self.model.checks if c.scoring.mode != "objective"))
        rounds = total // (len(self.team_ids) * per_round)  # about how many rounds the events take
        extras: dict[int, list[dict[str, Any]]] = {}
        for team_id in self.team_ids:
            for when, row in self.team_extras(team_id, rounds):
                extras.setdefault(when, []).append(row)
        left, number = total, 0
        while left:
            number += 1
            yield "round", {"id": number, "exercise_id": self.exercise_id, "number": number, "day": 1,
                            "exercise_seconds": number * float(self.model.round_seconds),
                            "timeline_seconds": number * float(self.model.round_seconds),
                            "started_at": START + timedelta(seconds=number * self.model.round_seconds),
                            "finished_at": START + timedelta(seconds=number * self.model.round_seconds + 4),
                            "checks_run": len(self.team_ids) * len(self.model.checks), "errors": 0}
            for row in [*self.round_events(number), *extras.pop(number, [])]:
                if left == 0:  # the last round's surplus is not written
                    break
                left -= 1
                self.totals[row["team_id"]][0] += row["points"]
                self.totals[row["team_id"]][1] += 1
                yield "event", row


def fill_ledger(database: Database, writer: LedgerWriter, total: int) -> tuple[int, Counter[str]]:
    """Bulk insert (Core ``insert()``, executemany in chunks); returns the rounds and the sources written."""
    sources: Counter[str] = Counter()
    rounds: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    written_rounds = 0

    def flush(connection: Any) -> None:
        if rounds:
            connection.execute(insert(ScoringRound), rounds)
        if events:
            connection.execute(insert(ScoreEvent), events)
        rounds.clear()
        events.clear()

    with database.engine.begin() as connection:
        for kind, row in writer.rows(total):
            if kind == "round":
                rounds.append(row)
                written_rounds += 1
            else:
                events.append(row)
                sources[row["source"].value] += 1
            if len(events) >= CHUNK:
                flush(connection)
        flush(connection)
        connection.execute(insert(TeamScore), [
            {"team_id": t, "exercise_id": writer.exercise_id, "points": p, "events": n}
            for t, (p, n) in writer.totals.items()])
        if connection.dialect.name == "postgresql":  # explicit ids: move the sequence past them
            connection.execute(text("SELECT setval(pg_get_serial_sequence('scoring_rounds', 'id'), "
                                    "(SELECT max(id) FROM scoring_rounds))"))
    settle(database)
    return written_rounds, sources


def settle(database: Database) -> None:
    """PostgreSQL: what autovacuum does soon after a bulk load (statistics, the visibility map).

    SQLite gets no ANALYZE, as the platform runs none there.
    """
    if database.engine.dialect.name == "postgresql":
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE score_events"))


def totals_match(database: Database, exercise_id: int) -> bool:
    """``ledger.sums`` (added up from the events) equals the running totals."""
    with database.session() as session:
        exercise = session.get(Exercise, exercise_id)
        assert exercise is not None
        kept = {row.team_id: row.points for row in session.scalars(select(TeamScore))}
        return ledger.sums(session, exercise) == kept


# Timing ------------------------------------------------------------------------------------------

Query = Callable[[Session, Exercise, Team], object]


def timings(database: Database, exercise_id: int, team_ids: list[int], query: Query, repeat: int) -> list[float]:
    """Milliseconds of *query*, each in a fresh session (the exercise and team loaded beforehand)."""
    out = []
    for n in range(repeat):
        with database.session() as session:
            exercise, team = session.get(Exercise, exercise_id), session.get(Team, team_ids[n % len(team_ids)])
            assert exercise is not None and team is not None
            started = time.perf_counter()
            query(session, exercise, team)
            out.append((time.perf_counter() - started) * 1000)
    return out


def naive_scoreboard(session: Session, exercise: Exercise, team: Team) -> object:
    return session.execute(select(ScoreEvent.team_id, func.sum(ScoreEvent.points))
                           .group_by(ScoreEvent.team_id)).all()


QUERIES: dict[str, Query] = {
    "scoreboard": lambda s, e, t: ledger.scoreboard(s, e),
    "breakdown": lambda s, e, t: ledger.breakdown(s, t),
    "events(limit=200)": lambda s, e, t: ledger.events(s, t, limit=200),
    "naive SUM GROUP BY": naive_scoreboard,
}


def plan(database: Database, exercise_id: int, team_id: int, query: Query) -> list[str]:
    """The database's plan for the last statement *query* runs."""
    seen: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", keep)
    try:
        timings(database, exercise_id, [team_id], query, 1)
    finally:
        event.remove(database.engine, "before_cursor_execute", keep)
    statement, parameters = seen[-1]
    sqlite = database.engine.dialect.name == "sqlite"
    with database.engine.connect() as connection:
        rows = connection.exec_driver_sql(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement,
                                          parameters).all()
    return [str(row[-1]) for row in rows]


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 2)}


def try_index(database: Database, name: str, columns: str) -> None:
    """An index in the benchmark's own database only (the models are not changed)."""
    with database.engine.begin() as connection:
        connection.execute(text(f"CREATE INDEX {name} ON score_events ({columns})"))
    settle(database)


FIXES = {"breakdown": ("bench_ix_team_source_id", "team_id, source, source_id, points"),
         "events(limit=200)": ("bench_ix_team_id", "team_id, id")}


def with_fixes(database: Database, exercise_id: int, team_ids: list[int], names: list[str],
               repeat: int) -> tuple[dict[str, list[str]], dict[str, dict[str, float]]]:
    """The plan of each named query, then its plan and timings with the index that would serve it."""
    plans, timed = {}, {}
    for name in names:
        plans[name] = plan(database, exercise_id, team_ids[0], QUERIES[name])
        index, columns = FIXES[name]
        try_index(database, index, columns)
        fixed = f"{name} with ({columns})"
        plans[fixed] = plan(database, exercise_id, team_ids[0], QUERIES[name])
        timed[fixed] = summary(timings(database, exercise_id, team_ids, QUERIES[name], repeat))
    return plans, timed


# Running -----------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--teams", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--database-url", help="a PostgreSQL server URL whose role may create databases")
    parser.add_argument("--explain", action="store_true", help="print the query plans even when on target")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with fresh_database(args.database_url) as database:
        exercise_id, team_ids, model = make_exercise(database, args.teams)
        writer = LedgerWriter(exercise_id, team_ids, model)
        started = time.perf_counter()
        rounds, sources = fill_ledger(database, writer, args.events)
        load_seconds = time.perf_counter() - started
        consistent = totals_match(database, exercise_id)
        results = {name: summary(timings(database, exercise_id, team_ids, q, args.repeat))
                   for name, q in QUERIES.items()}
        slow = [n for n in FIXES if results[n]["median_ms"] > TARGET_MS or args.explain]
        plans, indexed = with_fixes(database, exercise_id, team_ids, slow, args.repeat)
        backend = database.engine.dialect.name
    return report(args, backend, rounds, sources, load_seconds, consistent, results, plans, indexed)


def report(args: argparse.Namespace, backend: str, rounds: int, sources: Counter[str], load_seconds: float,
           consistent: bool, results: dict[str, dict[str, float]], plans: dict[str, list[str]],
           indexed: dict[str, dict[str, float]]) -> int:
    ratio = results["scoreboard"]["median_ms"] / max(results["naive SUM GROUP BY"]["median_ms"], 1e-9)
    passed = all(results[n]["median_ms"] <= TARGET_MS for n in ("scoreboard", "breakdown", "events(limit=200)"))
    if args.json:
        print(json.dumps({"database": backend, "events": args.events, "teams": args.teams, "rounds": rounds,
                          "sources": dict(sources), "load_seconds": round(load_seconds, 1),
                          "totals_match": consistent, "queries": results, "scoreboard_ratio": round(ratio, 3),
                          "plans": plans, "with_index": indexed, "passed": passed}))
        return 0 if consistent else 1
    print(f"{backend}: {args.events:,} score events of {args.teams} teams over {rounds:,} rounds "
          f"({', '.join(f'{n:,} {s}' for s, n in sources.most_common())}), loaded in {load_seconds:.1f} s")
    print(f"  ledger.sums equals TeamScore: {'yes' if consistent else 'NO'}")
    for name, found in results.items():
        verdict = "" if name.startswith("naive") else ("  ok" if found["median_ms"] <= TARGET_MS else "  OVER")
        print(f"  {name:20} median {found['median_ms']:8.2f} ms   p95 {found['p95_ms']:8.2f} ms{verdict}")
    for name, lines in plans.items():
        print(f"  plan of {name}: " + " | ".join(line.strip() for line in lines))
    for name, found in indexed.items():
        print(f"  {name}: median {found['median_ms']:.2f} ms, p95 {found['p95_ms']:.2f} ms")
    median = {name: found["median_ms"] for name, found in results.items()}
    print(f"scoreboard: median {median['scoreboard']:.2f} ms, naive SUM {median['naive SUM GROUP BY']:.2f} ms, "
          f"ratio {ratio:.3f}; breakdown {median['breakdown']:.2f} ms, events {median['events(limit=200)']:.2f} ms "
          f"(target < {TARGET_MS:g} ms: {'pass' if passed else 'FAIL'})")
    return 0 if consistent else 1  # like the other benches: exit 1 when broken, not when slow


if __name__ == "__main__":
    sys.exit(main())
