"""Benchmark: the team page and the instructor's live view with 30 teams and 100 trainees polling.

A fresh database (SQLite in a temporary folder, or a new database on the
PostgreSQL server of --database-url, dropped afterwards) is filled as after
about ten hours of a two-day exercise of the largest bundled scenario: 30
teams, 100 trainees and 3 instructors, every range ready, a ledger of
``--events`` score events (rounds, check results for every team and check of
every round, answers, hints, report grades, adjustments), fired injects and
inbox messages; the exercise is running. The platform is served as in
production (``mamori serve --no-engine``: gunicorn, gthread workers) on a free
loopback port, and locust (headless, bounded in time) logs every person in
through the login form and polls: trainees their team page and its clock,
instructors the live view and its board. ``/healthz`` is polled as often by
every user: the baseline, measured under the same load in the same run.

Printed: p50/p95 of each page, the ratio of its p95 to the baseline's, and
whether p95 is under the 200 ms target. Exit status 1 when a request failed
or a page missed the target.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from app.models import (  # noqa: E402
    CheckResultRow, Exercise, ExerciseState, InjectRun, Membership, RangeHost, RangeState, Role, RunStatus,
    ScoringRound, TeamRange,
)
from app.models.base import utcnow  # noqa: E402
from app.services import accounts, injects  # noqa: E402
from scoreboard import LedgerWriter, fill_ledger, fresh_database, make_exercise  # noqa: E402

TARGET_MS = 200.0
TEAMS, TRAINEES, INSTRUCTORS = 30, 100, 3
PASSWORD = "bench-password-123"
# What each kind of person polls; {team} and {exercise} are filled in per person.
TRAINEE_PAGES = [["team page", "/teams/{team}"], ["team status", "/teams/{team}/status"]]
INSTRUCTOR_PAGES = [["live view", "/exercises/{exercise}/live"], ["live board", "/exercises/{exercise}/live/board"]]
TRAINEE_EVERY, INSTRUCTOR_EVERY = 10.0, 5.0  # seconds between polls (the pages' own polling intervals)
WARMUP = 25  # seconds for everyone to log in before the measured polling starts


def populate(database: Any, events: int) -> dict[str, Any]:
    """The exercise as after ten hours, and the plan locust follows."""
    exercise_id, team_ids, model = make_exercise(database, TEAMS)
    rounds, _ = fill_ledger(database, LedgerWriter(exercise_id, team_ids, model), events)
    rng = random.Random(11)
    with database.engine.begin() as connection:
        rows = []
        round_ids = dict(connection.execute(select(ScoringRound.number, ScoringRound.id)
                                            .where(ScoringRound.exercise_id == exercise_id)).all())
        for number, round_id in round_ids.items():
            for team_id in team_ids:
                for check in model.checks:
                    up = rng.random() < 0.93
                    rows.append({"round_id": round_id, "round_number": number, "exercise_id": exercise_id,
                                 "team_id": team_id, "check_id": check.id, "status": "up" if up else "down",
                                 "reason": "" if up else "connection refused", "seconds": 0.05,
                                 "active_since": 0.0, "down_streak": 0 if up else 1, "at": utcnow()})
            if len(rows) > 20_000:
                connection.execute(insert(CheckResultRow), rows)
                rows.clear()
        if rows:
            connection.execute(insert(CheckResultRow), rows)
    with database.transaction() as session:
        exercise = session.get(Exercise, exercise_id)
        assert exercise is not None
        trainees = []
        for n in range(TRAINEES):
            user = accounts.create_user(session, login=f"bench-trainee-{n:03d}", display_name=f"受講者 {n:03d}",
                                        role=Role.TRAINEE, password=PASSWORD, must_change_password=False)
            team = exercise.teams[n % TEAMS]
            session.add(Membership(exercise_id=exercise_id, team=team, user=user))
            trainees.append({"login": user.login, "team": team.id, "exercise": exercise_id})
        instructors = []
        for n in range(INSTRUCTORS):
            user = accounts.create_user(session, login=f"bench-instructor-{n}", display_name=f"講師 {n}",
                                        role=Role.INSTRUCTOR, password=PASSWORD, must_change_password=False)
            instructors.append({"login": user.login, "exercise": exercise_id})
        for number, team in enumerate(exercise.teams):
            row = TeamRange(team=team, state=RangeState.READY, gateway_port=42000 + number, gateway_user="trainee",
                            gateway_password="gateway-password", ready_at=utcnow())
            session.add(row)
            for index, host in enumerate(model.network.hosts):
                session.add(RangeHost(team_range=row, name=host.id, container_id=f"{number:04x}{index:04x}" * 8,
                                      state="running", addresses={"segment": f"10.{160 + number}.0.{10 + index}"}))
            for index, inject in enumerate(model.injects):  # two thirds fired, some held or failed, the rest due
                status = (RunStatus.FAILED if index % 7 == 3 else RunStatus.DONE) \
                    if index < len(model.injects) * 2 // 3 else RunStatus.HELD if index % 2 else None
                if status is not None:
                    session.add(InjectRun(exercise_id=exercise_id, team_id=team.id, inject_id=inject.id,
                                          status=status, due_seconds=600.0 * index,
                                          started_seconds=600.0 * index if status is not RunStatus.HELD else None))
        exercise.state = ExerciseState.RUNNING
        exercise.speed = 1.0
        exercise.clock_elapsed = 0.0
        exercise.clock_started_at = utcnow() - timedelta(hours=10)
        session.flush()
        for n in range(12):
            injects.send(session, exercise, subject=f"お知らせ {n + 1}", body="状況を確認してください。" * 20,
                         teams=None, actor=None)
    print(f"  seeded: {TEAMS} teams, {TRAINEES} trainees, {events:,} score events, {rounds} rounds "
          f"({rounds * TEAMS * len(model.checks):,} check results)")
    return {"password": PASSWORD, "trainees": trainees, "instructors": instructors,
            "trainee_pages": TRAINEE_PAGES, "instructor_pages": INSTRUCTOR_PAGES,
            "trainee_weight": TRAINEES, "instructor_weight": INSTRUCTORS,
            "trainee_every": TRAINEE_EVERY, "instructor_every": INSTRUCTOR_EVERY, "warmup": WARMUP}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(database_url: str, folder: Path, port: int) -> subprocess.Popen[bytes]:
    """The platform as in production (gunicorn), without the engine: nothing moves but the clock."""
    env = {**os.environ, "DATABASE_URL": database_url, "MAMORI_INSTANCE_PATH": str(folder / "instance"),
           "TZ": "Asia/Tokyo", "MAMORI_INSTANCE_ID": "benchportal"}
    log = open(folder / "gunicorn.log", "wb")
    server = subprocess.Popen([str(Path(sys.executable).parent / "mamori"), "serve", "--no-engine",
                               "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.3)
        if server.poll() is not None:
            break
    server.kill()
    raise SystemExit(f"the server did not start; see {folder / 'gunicorn.log'}:\n"
                     + (folder / "gunicorn.log").read_text(errors="replace")[-2000:])


def run_locust(plan_path: Path, port: int, seconds: int, folder: Path) -> list[dict[str, str]]:
    users = TRAINEES + INSTRUCTORS
    command = [str(Path(sys.executable).parent / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"),
               "--headless", "--users", str(users), "--spawn-rate", "25", "--run-time", f"{seconds + WARMUP}s",
               "--host", f"http://127.0.0.1:{port}", "--csv", str(folder / "locust"), "--only-summary",
               "--stop-timeout", "5", "--loglevel", "WARNING"]
    subprocess.run(command, env={**os.environ, "MAMORI_BENCH_PLAN": str(plan_path)}, check=False,
                   stdin=subprocess.DEVNULL, timeout=seconds + 120)
    with open(folder / "locust_stats.csv", encoding="utf-8") as stats:
        return list(csv.DictReader(stats))


def report(rows: list[dict[str, str]]) -> bool:
    by_name = {row["Name"]: row for row in rows}
    baseline = by_name.get("baseline /healthz")
    if baseline is None:
        print("  no baseline measured (no request reached /healthz)")
        return False
    base95 = max(float(baseline["95%"]), 1.0)
    ok = True
    print(f"  {'page':<22}{'requests':>9}{'failures':>9}{'p50 ms':>8}{'p95 ms':>8}{'ratio':>8}  target p95 < "
          f"{TARGET_MS:.0f} ms")
    for name, _ in [*TRAINEE_PAGES, *INSTRUCTOR_PAGES, ["baseline /healthz", ""]]:
        row = by_name.get(name)
        if row is None:
            print(f"  {name:<22} not measured")
            ok = False
            continue
        p50, p95, failures = float(row["50%"]), float(row["95%"]), int(row["Failure Count"])
        met = p95 < TARGET_MS and failures == 0
        ok &= met or name.startswith("baseline")
        print(f"  {name:<22}{row['Request Count']:>9}{failures:>9}{p50:>8.0f}{p95:>8.0f}{p95 / base95:>8.2f}  "
              f"{'ok' if met else 'MISSED'}")
    failures = sum(int(row["Failure Count"]) for row in rows if row["Name"] != "Aggregated")
    if failures:
        print(f"  {failures} request(s) failed")
    return ok and failures == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server (a database is made and dropped)")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seconds", type=int, default=60, help="how long the measured polling lasts (after the warm-up)")
    args = parser.parse_args()
    kind = "PostgreSQL" if args.database_url else "SQLite"
    print(f"portal: {TRAINEES} trainees every {TRAINEE_EVERY:.0f} s and {INSTRUCTORS} instructors every "
          f"{INSTRUCTOR_EVERY:.0f} s, {args.seconds} s, {kind}")
    with fresh_database(args.database_url) as database, tempfile.TemporaryDirectory(prefix="mamori-portal-") as tmp:
        folder = Path(tmp)
        plan = populate(database, args.events)
        plan_path = folder / "plan.json"
        plan_path.write_text(json.dumps(plan, ensure_ascii=False), encoding="utf-8")
        url = database.engine.url.render_as_string(hide_password=False)
        database.dispose()
        port = free_port()
        server = serve(url, folder, port)
        try:
            rows = run_locust(plan_path, port, args.seconds, folder)
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)
        return 0 if report(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
