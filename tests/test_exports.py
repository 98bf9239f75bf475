"""Exports of the review: CSV that Excel opens with its Japanese intact, the same data as JSON, audited."""
from __future__ import annotations

import csv
import io
import json
from datetime import date

from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.models import AuditEvent, ScoreEvent
from app.services import ledger, scores
from tests.factories import make_exercise
from tests.test_review import ADJUSTMENT, PROMPT_JA, at
from tests.test_review import staff, world  # noqa: F401  (the fixtures)

BOM = b"\xef\xbb\xbf"


def download(client: FlaskClient, path: str) -> bytes:
    response = client.get(path)
    assert response.status_code == 200, path
    assert "attachment" in response.headers["Content-Disposition"]
    return response.data


def read_csv(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(BOM), "Excel needs the byte-order mark to read UTF-8"
    text = data.decode("utf-8-sig")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", ""), "CRLF line ends only"
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_the_events_csv_has_every_ledger_line_with_japanese_intact(staff, db, world) -> None:  # type: ignore[no-untyped-def]
    rows = read_csv(download(staff, f"/review/exercises/{world.exercise.id}/export/events.csv"))
    assert len(rows) == db.scalar(select(func.count()).select_from(ScoreEvent).where(
        ScoreEvent.exercise_id == world.exercise.id))
    adjustment = next(r for r in rows if r["reason"] == ADJUSTMENT)
    assert (adjustment["team"], adjustment["source"], adjustment["points"]) == ("1", "adjustment", "5")
    assert adjustment["exercise_time"] == "00:33:20"
    wrong = next(r for r in rows if r["source"] == "wrong_answer")
    assert wrong["points"] == "-5", "a negative number stays a number"
    by_team: dict[str, int] = {}
    for r in rows:
        by_team[r["team"]] = by_team.get(r["team"], 0) + int(r["points"])
    sums = ledger.sums(db, world.exercise)
    assert by_team == {"1": sums[world.teams[0].id], "2": sums[world.teams[1].id]}, "team 3 has no lines"


def test_times_in_the_csv_are_tokyo_times(staff, db, world) -> None:  # type: ignore[no-untyped-def]
    scores.adjust(db, world.exercise, world.teams[2], 3, "後日の加点", actor=world.instructor, now=at(4000))
    db.execute(ScoreEvent.__table__.update().where(ScoreEvent.reason == "後日の加点").values(created_at=at(4000)))
    db.commit()
    rows = read_csv(download(staff, f"/review/exercises/{world.exercise.id}/export/events.csv"))
    assert next(r for r in rows if r["reason"] == "後日の加点")["created_at"] == "2026-11-27 10:06:40"
    document = json.loads(download(staff, f"/review/exercises/{world.exercise.id}/export/events.json"))
    assert next(r for r in document["events"] if r["reason"] == "後日の加点")["created_at"] == \
        "2026-11-27T10:06:40+09:00"


def test_a_cell_excel_would_run_as_a_formula_is_made_text(staff, db, world) -> None:  # type: ignore[no-untyped-def]
    scores.adjust(db, world.exercise, world.teams[2], 1, '=HYPERLINK("http://example.invalid","詳細")',
                  actor=world.instructor, now=at(3000))
    db.commit()
    rows = read_csv(download(staff, f"/review/exercises/{world.exercise.id}/export/events.csv"))
    assert any(r["reason"] == '\'=HYPERLINK("http://example.invalid","詳細")' for r in rows)


def test_teams_and_scores_csv_match_the_ranking(staff, db, world) -> None:  # type: ignore[no-untyped-def]
    teams = read_csv(download(staff, f"/review/exercises/{world.exercise.id}/export/teams.csv"))
    sums = ledger.sums(db, world.exercise)
    assert [(r["rank"], r["team_name"], int(r["points"])) for r in teams] == [
        ("1", "Team 01", sums[world.teams[0].id]), ("2", "Team 02", sums[world.teams[1].id]), ("3", "Team 03", 0)]
    assert teams[0]["members"] == "佐藤 花子 (kenshu-a)"
    assert (teams[0]["points_task"], teams[0]["points_hint"], teams[0]["points_adjustment"]) == ("50", "-10", "5")
    lines = read_csv(download(staff, f"/review/exercises/{world.exercise.id}/export/scores.csv"))
    task = next(r for r in lines if r["team"] == "1" and r["source"] == "task")
    assert (task["title_ja"], task["points"]) == (PROMPT_JA, "50")
    assert sum(int(r["points"]) for r in lines if r["team"] == "1") == sums[world.teams[0].id]


def test_json_exports_carry_the_same_rows(staff, world) -> None:  # type: ignore[no-untyped-def]
    base = f"/review/exercises/{world.exercise.id}/export"
    for kind in ("teams", "scores", "events"):
        document = json.loads(download(staff, f"{base}/{kind}.json"))
        assert document["exercise"] == {"id": world.exercise.id, "name": "みなと市 演習",
                                        "scenario": world.exercise.scenario.slug}
        as_csv = read_csv(download(staff, f"{base}/{kind}.csv"))
        assert len(document[kind]) == len(as_csv) > 0
        assert set(document[kind][0]) == set(as_csv[0]), "the same columns"
    teams = json.loads(download(staff, f"{base}/teams.json"))["teams"]
    assert teams[0]["points"] == teams[0]["points_check"] + 50 - 5 - 10 + 15 + 5, "numbers are numbers"


def test_the_exercise_list_exports_with_its_filters(staff, db, world) -> None:  # type: ignore[no-untyped-def]
    other = make_exercise(db, name="大阪の演習")
    other.prefecture_id, other.starts_on = 27, date(2027, 1, 20)
    db.commit()
    everything = read_csv(download(staff, "/review/export/exercises.csv"))
    assert {r["name"] for r in everything} == {"みなと市 演習", "大阪の演習"}
    tokyo = read_csv(download(staff, "/review/export/exercises.csv?prefecture=13"))
    assert [(r["name"], r["prefecture_ja"], r["venue"], r["starts_on"], r["teams"]) for r in tokyo] == [
        ("みなと市 演習", "東京都", "都庁 第一本庁舎", "2026-11-27", "3")]
    document = json.loads(download(staff, "/review/export/exercises.json?date_from=2027-01-01"))
    assert [e["name"] for e in document["exercises"]] == ["大阪の演習"]
    assert staff.get("/review/export/exercises.csv?date_from=2027-02-01&date_to=2027-01-01").status_code == 400


def test_every_export_is_written_to_the_audit_log(staff, db, world) -> None:  # type: ignore[no-untyped-def]
    download(staff, f"/review/exercises/{world.exercise.id}/export/teams.csv")
    db.expire_all()
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "review.export"))
    assert event is not None and event.actor_login == "sensei" and event.exercise_id == world.exercise.id
    assert event.detail == {"table": "teams", "format": "csv", "rows": 3}
