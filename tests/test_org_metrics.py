"""The organisation in the review and the after-action report: time to report up, to ask the vendor and to
notify beside the cohort median; the AAR quoting the team's reports, its correspondence and its requests
(page and PDF). The scenario is tests/scenarios/organisation.yaml: a boss, a vendor, an authority.
"""
from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.models import (
    Exercise, ExerciseState, InjectRun, RequestRun, RequestStatus, Role, RunStatus, Team, Thread, User,
)
from app.scenario import load_scenario_file
from app.services import correspondence, lifecycle, reports, review, scenarios
from tests.factories import add_member, make_exercise, make_user, run_by
from tests.test_review import cells, page

ORGANISATION = Path(__file__).parent / "scenarios" / "organisation.yaml"
T0 = datetime(2026, 11, 27, 0, 0, tzinfo=timezone.utc)  # 09:00 in Tokyo
REPORT_TEXT = "発生日時：本日 9:20\n影響範囲：ws01 のみ\n対応状況：保守ベンダーに隔離を依頼済み"
ISOLATE_BODY = "ws01 をネットワークから隔離してください。"
REPLY = "ws01 を隔離しました。ログを添付します。"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@dataclass
class World:
    exercise: Exercise
    teams: list[Team]
    members: list[User]
    instructor: User


def build(db: Session, *, teams: int = 3, tag: str = "") -> World:
    """Three teams; the beacon at 10:00 and the police call at 20:00 for all.

    Team 1: first report (to the boss) at 20:50, the boss at 21:40, the vendor (isolate ws01) at 23:20 with
    a reply carrying an attachment, the police at 25:00. Team 2: the boss at 26:40, the vendor at 30:00, its
    report 1 min 40 s late at 51:40. Team 3: only the police, at 16:40 (before the police call).
    """
    scenario = scenarios.register_file(db, load_scenario_file(ORGANISATION)).scenario
    instructor = make_user(db, role=Role.INSTRUCTOR, login=f"sensei{tag}", display_name="山田講師")
    exercise = make_exercise(db, teams=teams, scenario=scenario, name=f"組織対応{tag}")
    run_by(db, exercise, instructor)
    exercise.state = ExerciseState.READY
    lifecycle.start(db, exercise, actor=None, speed=1, now=T0)
    members = []
    for team in exercise.teams:
        member = make_user(db, login=f"member{tag}-{team.number}")
        add_member(db, team, member)
        members.append(member)
        for inject, seconds in (("beacon", 600), ("police-call", 1200)):
            db.add(InjectRun(exercise_id=exercise.id, team_id=team.id, inject_id=inject, status=RunStatus.DONE,
                             day=1, started_seconds=seconds, started_at=at(seconds)))
    db.flush()
    one, two, three = exercise.teams[:3]

    def write(team: Team, member: User, to: str, seconds: float, body: str, **kw: object) -> None:
        correspondence.write(db, exercise, team, member, character_id=to, subject=f"{to} への連絡", body=body,
                             now=at(seconds), **kw)  # type: ignore[arg-type]

    reports.submit(db, exercise, one, members[0], "first-report", text=REPORT_TEXT, now=at(1250))
    write(one, members[0], "boss", 1300, "ご報告します。不審な通信を確認しました。")
    write(one, members[0], "vendor", 1400, ISOLATE_BODY, request_id="isolate", params={"host": "ws01"})
    run = db.scalar(select(RequestRun).where(RequestRun.team_id == one.id))
    vendor = correspondence.character(exercise, "vendor")
    correspondence.deliver(db, exercise, one, vendor, thread=db.get(Thread, run.thread_id), subject="隔離完了", body_ja=REPLY, body_en="ws01 is isolated.",
                           attachments=(("syslog.txt", b"Nov 27 09:20 ws01 curl\n"),), now=at(1700))
    run.status, run.result = RequestStatus.FULFILLED, "isolate ws01: done"
    write(one, members[0], "nisc", 1500, "被害の届出をします。")
    write(two, members[1], "boss", 1600, "ご報告します。")
    write(two, members[1], "vendor", 1800, "状況を教えてください。")
    reports.submit(db, exercise, two, members[1], "first-report", text="遅れた第一報", now=at(3100))
    write(three, members[2], "nisc", 1000, "通報します。")
    db.commit()
    return World(exercise, list(exercise.teams), members, instructor)


@pytest.fixture
def world(db: Session) -> World:
    return build(db)


@pytest.fixture
def staff(client: FlaskClient, auth, world: World) -> FlaskClient:  # type: ignore[no-untyped-def]
    auth.login("sensei")
    return client


# --- the metrics --------------------------------------------------------------------------------------------------


def test_each_team_s_times_to_report_up_ask_the_vendor_and_notify_and_the_cohort_medians(db, world) -> None:  # type: ignore[no-untyped-def]
    one, two, three = (t.id for t in world.teams)
    found = review.organisation_metrics(db, world.exercise, review.scores.metrics(db, world.exercise))
    after_call = {(team, metric): found.seconds[(team, "police-call", metric)]
                  for team in (one, two, three) for metric in review.ORGANISATION_METRICS}
    # From the police call (20:00): team 1's report to the boss (20:50) came before its message to the boss.
    assert after_call == {(one, "report_up"): 50.0, (one, "vendor"): 200.0, (one, "notify"): 300.0,
                          (two, "report_up"): 400.0, (two, "vendor"): 600.0, (two, "notify"): None,
                          (three, "report_up"): None, (three, "vendor"): None, (three, "notify"): None}
    assert found.medians[("police-call", "report_up")] == 225.0
    assert found.medians[("police-call", "vendor")] == 400.0
    assert found.medians[("police-call", "notify")] == 300.0, "team 3 notified before the call: not counted"
    # From the beacon (10:00) team 3's notification at 16:40 counts.
    assert found.seconds[(three, "beacon", "notify")] == 400.0
    assert found.medians[("beacon", "notify")] == (900.0 + 400.0) / 2


def test_the_team_page_shows_them_beside_the_median(staff, world) -> None:  # type: ignore[no-untyped-def]
    html = page(staff, f"/review/exercises/{world.exercise.id}/teams/1")
    assert cells(html, "警察からの通報", "上司への報告までの時間")[2:5] == ["0 分 50 秒", "3 分 45 秒", "2 分 55 秒 速い"]
    assert cells(html, "警察からの通報", "ベンダーへの依頼までの時間")[2:5] == ["3 分 20 秒", "6 分 40 秒", "3 分 20 秒 速い"]
    assert cells(html, "警察からの通報", "外部機関への届出までの時間")[2:5] == ["5 分 00 秒", "5 分 00 秒", "中央値と同じ"]
    three = page(staff, f"/review/exercises/{world.exercise.id}/teams/3")
    assert cells(three, "警察からの通報", "上司への報告までの時間")[2:5] == ["—", "3 分 45 秒", "—"]


def test_the_metrics_of_every_team_cost_two_more_queries_whatever_the_number_of_teams(db) -> None:  # type: ignore[no-untyped-def]
    def statements(world: World) -> list[str]:
        seen: list[str] = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731 - the statement
        cohort = review.scores.metrics(db, world.exercise)
        engine = db.get_bind()
        event.listen(engine, "before_cursor_execute", listener)
        try:
            review.organisation_metrics(db, world.exercise, cohort)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return seen

    small, big = statements(build(db, teams=3)), statements(build(db, teams=30, tag="-big"))
    assert len(small) == len(big) == 2
    assert sum("FROM messages" in s for s in big) == 1 and sum("FROM report_versions" in s for s in big) == 1


# --- the after-action report ---------------------------------------------------------------------------------------


def section(html: str, heading: str) -> str:
    start = html.index(f"<h2>{heading}</h2>")
    end = html.find("<h2>", start + 1)
    return html[start:end if end > 0 else None]


def test_the_aar_quotes_the_team_s_reports_and_its_correspondence(staff, world) -> None:  # type: ignore[no-untyped-def]
    html = page(staff, f"/review/exercises/{world.exercise.id}/teams/1/aar")
    own = section(html, "チームの報告書")
    assert "宛先：情報政策課長 山田 課長" in own and REPORT_TEXT in own and "期限超過" not in own
    letters = section(html, "組織とのやり取り")
    order = [letters.find(s) for s in ("ご報告します。不審な通信", ISOLATE_BODY, "被害の届出をします。", REPLY)]
    assert -1 not in order and order == sorted(order), "in time order"
    assert "チームから 保守担当 みなとシステム保守 へ" in letters and "（依頼：端末の隔離）" in letters
    assert "保守担当 みなとシステム保守 からチームへ" in letters and "添付ファイル： syslog.txt" in letters
    assert cells(letters, "端末の隔離")[2:4] == ["端末の隔離host: ws01", "完了"]
    assert "isolate ws01: done" not in letters, "the engine's own result line is for the staff pages, not the report"
    timeline = section(html, "攻撃とチームの対応")
    assert "保守担当 みなとシステム保守 へ連絡：「vendor への連絡」" in timeline
    assert "保守担当 みなとシステム保守 から連絡：「隔離完了」" in timeline
    assert "上司への報告までの時間" in section(html, "対応時間")
    two = page(staff, f"/review/exercises/{world.exercise.id}/teams/2/aar")
    assert "期限超過（2分遅れ）" in section(two, "チームの報告書") and "遅れた第一報" in two
    assert "期限超過（2分遅れ）" in section(two, "攻撃とチームの対応"), "on the submission's line too"
    assert "このチームは依頼をしていません。" in two
    three = page(staff, f"/review/exercises/{world.exercise.id}/teams/3/aar")
    assert "未提出です。" in section(three, "チームの報告書")


def pdf_objects(pdf: bytes) -> dict[int, bytes]:
    """Every object of the PDF by number, those packed in object streams included."""
    objects = {int(m.group(1)): m.group(2) for m in re.finditer(rb"(\d+) 0 obj(.*?)endobj", pdf, re.S)}
    for body in list(objects.values()):
        if b"/ObjStm" not in body:
            continue
        data, first = stream(body), int(re.search(rb"/First (\d+)", body).group(1))  # type: ignore[union-attr]
        numbers = [int(n) for n in data[:first].split()]
        pairs = list(zip(numbers[::2], numbers[1::2]))
        for index, (number, offset) in enumerate(pairs):
            end = pairs[index + 1][1] if index + 1 < len(pairs) else len(data) - first
            objects[number] = data[first + offset:first + end]
    return objects


def stream(body: bytes) -> bytes:
    found = re.search(rb"stream\r?\n(.*?)\r?\nendstream", body, re.S)
    assert found is not None
    return zlib.decompress(found.group(1)) if b"/FlateDecode" in body else found.group(1)


def to_unicode(cmap: bytes) -> dict[int, str]:
    """A ToUnicode CMap's glyph → text table (bfchar pairs and bfrange runs)."""
    def text(code: bytes) -> str:
        return bytes.fromhex(code.decode()).decode("utf-16-be")

    table: dict[int, str] = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", cmap, re.S):
        for glyph, value in re.findall(rb"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>", block):
            table[int(glyph, 16)] = text(value)
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", cmap, re.S):
        for low, high, value in re.findall(rb"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>", block):
            start = ord(text(value)[-1])
            for offset, glyph in enumerate(range(int(low, 16), int(high, 16) + 1)):
                table[glyph] = text(value)[:-1] + chr(start + offset)
    return table


def pdf_text(pdf: bytes) -> str:
    """The text a reader of the PDF sees: the glyphs each page shows, decoded through their font's ToUnicode map."""
    objects = pdf_objects(pdf)
    fonts: dict[bytes, dict[int, str]] = {}  # a font's resource name -> glyph -> text
    for body in objects.values():
        for name, ref in re.findall(rb"/(\w+) (\d+) 0 R", body):
            unicode = re.search(rb"/ToUnicode (\d+) 0 R", objects.get(int(ref), b""))
            if unicode is not None and b"/Type /Font" in objects[int(ref)]:
                fonts[name] = to_unicode(stream(objects[int(unicode.group(1))]))
    pages = [int(ref) for body in objects.values() if b"/Type /Page/" in body or b"/Type /Page\n" in body
             for ref in re.findall(rb"/Contents (\d+) 0 R", body)]
    shown = []
    for number in pages:
        font: dict[int, str] = {}
        for op in re.finditer(rb"/(\w+) [\d.]+ Tf|\[(.*?)\] ?TJ|<([0-9a-fA-F]*)> ?Tj", stream(objects[number]), re.S):
            if op.group(1):
                font = fonts.get(op.group(1), {})
                continue
            strings = re.findall(rb"<([0-9a-fA-F]*)>", op.group(2)) if op.group(2) is not None else [op.group(3)]
            for hexes in strings:
                shown.append("".join(font.get(int(hexes[i:i + 4], 16), "") for i in range(0, len(hexes), 4)))
    return "".join(shown)


def test_the_aar_pdf_carries_the_reports_and_the_correspondence(staff, world) -> None:  # type: ignore[no-untyped-def]
    response = staff.get(f"/review/exercises/{world.exercise.id}/teams/1/aar.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = pdf_text(response.data)
    for expected in ("チームの報告書", "影響範囲：ws01のみ", "組織とのやり取り", "ws01をネットワークから隔離してください。",
                     "ws01を隔離しました。", "syslog.txt", "依頼とその結果", "完了"):
        assert expected in text.replace(" ", ""), expected


def test_the_correspondence_is_exported_with_the_attachments_named(staff, world) -> None:  # type: ignore[no-untyped-def]
    response = staff.get(f"/review/exercises/{world.exercise.id}/export/messages.json")
    assert response.status_code == 200
    rows = json.loads(response.get_data(as_text=True))["messages"]
    assert [(r["team"], r["direction"], r["character"]) for r in rows][:3] == [
        (3, "out", "nisc"), (1, "out", "boss"), (1, "out", "vendor")], "oldest first"
    reply = next(r for r in rows if r["direction"] == "in")
    assert (reply["team"], reply["body_ja"], reply["attachments"], reply["exercise_time"]) == (
        1, REPLY, "syslog.txt", "00:28:20")
    assert "組織とのやり取り" in page(staff, f"/review/exercises/{world.exercise.id}")
