"""The white cell: the queue of team messages no script recognised, answered by instructors as the characters;
the instructors' messages as a character; the live view's escalations and overdue reports."""
from __future__ import annotations

import hashlib
import itertools
import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import (
    AuditEvent, Exercise, ExerciseState, InjectRun, Message, MessageAttachment, ReportStatus, ReportVersion, RequestRun,
    RequestStatus, Role, RunStatus, Scenario, Thread, ThreadState, User, utcnow,
)
from app.scenario import load_scenario_file
from app.services import correspondence, lifecycle, live
from app.services.errors import Conflict
from tests.factories import PASSWORD, add_member, make_exercise, make_user, run_by

ORGANISATION = Path(__file__).parent / "scenarios" / "organisation.yaml"
VENDOR_JA = "みなとシステム保守（保守担当）"
CANNED = "確認して折り返します。"
QUESTION = "サーバの様子がおかしいのですが、どう見ればよいでしょうか。"
_counter = itertools.count(1)


def organisation_scenario(db: Session) -> Scenario:
    """tests/scenarios/organisation.yaml registered, its first report addressed to the boss."""
    loaded = load_scenario_file(ORGANISATION)
    slug = f"organisation{next(_counter)}"
    document = {**loaded.document, "id": slug,
                "reports": [{**loaded.document["reports"][0], "to": "boss"}, *loaded.document["reports"][1:]]}
    scenario = Scenario(slug=slug, version="1.0", content_hash=hashlib.sha256(f"{slug}{loaded.text}".encode()).hexdigest(),
                        title_ja=loaded.title_ja, title_en=loaded.title_en, level=loaded.level, days=1,
                        source_path=f"{slug}.yaml", source_text=loaded.text, document=document, bundle={})
    db.add(scenario)
    db.flush()
    return scenario


def running(db: Session, *, teams: int = 2, elapsed: float = 1800.0, instructor: User | None = None) -> Exercise:
    exercise = make_exercise(db, teams=teams, scenario=organisation_scenario(db), instructor=instructor)
    exercise.state = ExerciseState.READY
    lifecycle.start(db, exercise, actor=None, speed=1, now=utcnow() - timedelta(seconds=elapsed))
    db.flush()
    return exercise


@pytest.fixture
def sensei(db: Session) -> User:
    return make_user(db, role=Role.INSTRUCTOR, login="sensei", display_name="講師 佐藤")


@pytest.fixture
def world(db: Session, sensei: User) -> dict:
    """A running exercise run by sensei (and kohai), a trainee of team 1, and its unmatched question to the vendor."""
    exercise = running(db, instructor=sensei)
    kohai = make_user(db, role=Role.INSTRUCTOR, login="kohai", display_name="講師 鈴木")
    run_by(db, exercise, kohai)
    make_user(db, role=Role.INSTRUCTOR, login="yoso", display_name="他の講師")
    trainee = make_user(db, role=Role.TRAINEE, login="kenshu")
    add_member(db, exercise.teams[0], trainee)
    message = correspondence.write(db, exercise, exercise.teams[0], trainee, character_id="vendor",
                                   subject="挙動の相談", body=QUESTION,
                                   uploads=(correspondence.Upload("memo.txt", "気付いた点のメモ".encode()),))
    message.created_at = utcnow() - timedelta(minutes=7)
    db.commit()
    return {"exercise": exercise, "message": message, "trainee": trainee, "kohai": kohai}


def login(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    assert client.post("/login", data={"login": name, "password": PASSWORD}).status_code == 302
    return client


def queue_url(exercise: Exercise) -> str:
    return f"/exercises/{exercise.id}/white-cell"


# The queue -------------------------------------------------------------------------------------


def test_an_unmatched_message_waits_in_the_queue_with_the_characters_suggested_replies(
        app: Flask, db: Session, world: dict) -> None:
    exercise, message = world["exercise"], world["message"]
    assert message.white_cell == "waiting", "nothing recognised it: it waits for the white cell"
    client = login(app, "sensei")

    page = client.get(queue_url(exercise))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Team 01" in html and "みなとシステム保守" in html and "挙動の相談" in html and QUESTION in html
    assert "7 分" in html, "how long it has waited"
    assert f'<option value="{CANNED}">' in html, "the vendor's canned reply is a suggestion"
    assert "{host} を隔離しました。" in html and "ログをお送りします。" in html, "then its requests' replies"
    assert f'data-fill="m{message.id}-body"' in html and f'id="m{message.id}-body"' in html
    assert '<option value="ws01">ws01</option>' in html, "the isolate request's host parameter offers the hosts"
    assert " style=" not in html and not re.search(r"<script(?![^>]*\bsrc=)", html), "the CSP forbids inline code"

    attachment = db.scalar(select(MessageAttachment).where(
        MessageAttachment.message_id == message.id))
    link = f"/exercises/{exercise.id}/attachments/{attachment.id}"
    assert f'href="{link}"' in html
    download = client.get(link)
    assert download.status_code == 200 and download.data == "気付いた点のメモ".encode()
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Content-Type"].startswith("text/plain")

    # The live view and the exercise page link to the queue; the live board counts what waits.
    board = client.get(f"/exercises/{exercise.id}/live/board").get_data(as_text=True)
    assert "白セル対応待ちの連絡が 1 件あります" in board and f'href="{queue_url(exercise)}"' in board
    assert f'href="{queue_url(exercise)}"' in client.get(f"/exercises/{exercise.id}").get_data(as_text=True)
    assert f'href="{queue_url(exercise)}"' in client.get(f"/exercises/{exercise.id}/live").get_data(as_text=True)


def test_the_instructor_answers_in_role(app: Flask, db: Session, world: dict, sensei: User) -> None:
    exercise, message = world["exercise"], world["message"]
    client = login(app, "sensei")
    answered = client.post(f"{queue_url(exercise)}/{message.id}/answer",
                           data={f"m{message.id}-body": f"{CANNED}\n30 分ほどお待ちください。"})
    assert answered.status_code == 302 and answered.headers["Location"].endswith(queue_url(exercise))
    after = client.get(queue_url(exercise)).get_data(as_text=True)
    assert "待っている連絡はありません" in after and QUESTION not in after

    db.expire_all()
    thread = db.get(Thread, message.thread_id)
    reply = correspondence.thread_messages(db, thread)[-1]
    assert reply.direction == "in" and reply.sender_ja == VENDOR_JA and reply.author_id == sensei.id
    assert thread.state is ThreadState.ANSWERED
    audit = db.scalar(select(AuditEvent).where(AuditEvent.action == "white_cell.answer"))
    assert audit is not None and audit.actor_id == sensei.id and audit.actor_login == "sensei"

    # The team reads it under the vendor's name, never the instructor's.
    team = exercise.teams[0]
    trainee = login(app, "kenshu")
    page = trainee.get(f"/teams/{team.id}/threads/{thread.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert VENDOR_JA in html and "30 分ほどお待ちください。" in html
    assert "佐藤" not in html and "sensei" not in html


def test_an_empty_answer_is_refused_beside_its_form(app: Flask, db: Session, world: dict) -> None:
    exercise, message = world["exercise"], world["message"]
    refused = login(app, "sensei").post(f"{queue_url(exercise)}/{message.id}/answer", data={f"m{message.id}-body": ""})
    assert refused.status_code == 400
    assert f'id="m{message.id}-body-errors"' in refused.get_data(as_text=True)
    db.expire_all()
    assert db.get(Message, message.id).white_cell == "waiting"


def test_a_request_run_by_hand(app: Flask, db: Session, world: dict, sensei: User) -> None:
    exercise, message = world["exercise"], world["message"]
    client = login(app, "sensei")
    bad = client.post(f"{queue_url(exercise)}/{message.id}/request", data={"request_id": "isolate", "param-host": "nope"})
    assert bad.status_code == 400 and "端末の隔離" in bad.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(RequestRun)) == 0

    done = client.post(f"{queue_url(exercise)}/{message.id}/request", data={"request_id": "isolate", "param-host": "ws01"})
    assert done.status_code == 302
    db.expire_all()
    run = db.scalar(select(RequestRun))
    assert (run.request_id, run.params, run.status, run.via, run.actor_id) == (
        "isolate", {"host": "ws01"}, RequestStatus.PENDING, "white_cell", sensei.id)
    assert run.team_id == exercise.teams[0].id and run.message_id == message.id
    assert db.get(Thread, message.thread_id).state is ThreadState.IN_PROGRESS
    audit = db.scalar(select(AuditEvent).where(AuditEvent.action == "white_cell.request"))
    assert audit.actor_id == sensei.id and audit.detail["params"] == {"host": "ws01"}
    assert correspondence.queue_length(db, exercise) == 0


def test_dismiss(app: Flask, db: Session, world: dict, sensei: User) -> None:
    exercise, message = world["exercise"], world["message"]
    done = login(app, "sensei").post(f"{queue_url(exercise)}/{message.id}/dismiss")
    assert done.status_code == 302
    db.expire_all()
    row = db.get(Message, message.id)
    assert (row.white_cell, row.handled_by_id) == ("dismissed", sensei.id)
    assert db.get(Thread, message.thread_id).state is ThreadState.IN_PROGRESS
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "white_cell.dismiss")).actor_id == sensei.id
    assert len(correspondence.thread_messages(db, db.get(Thread, message.thread_id))) == 1, "nothing was sent"


def test_a_second_instructor_is_told_the_message_was_already_handled(app: Flask, db: Session, world: dict) -> None:
    exercise, message = world["exercise"], world["message"]
    first, second = login(app, "sensei"), login(app, "kohai")
    assert first.post(f"{queue_url(exercise)}/{message.id}/answer",
                      data={f"m{message.id}-body": "確認します。"}).status_code == 302
    for path, data in (("answer", {f"m{message.id}-body": "こちらでも確認します。"}),
                       ("request", {"request_id": "logs"}), ("dismiss", {})):
        late = second.post(f"{queue_url(exercise)}/{message.id}/{path}", data=data)
        html = late.get_data(as_text=True)
        assert late.status_code == 409, path
        assert "他の講師がすでに対応しました" in html and "講師 佐藤" in html, path
    db.expire_all()
    thread = db.get(Thread, message.thread_id)
    assert [m.body_ja for m in correspondence.thread_messages(db, thread)] == [QUESTION, "確認します。"]
    assert db.scalar(select(func.count()).select_from(RequestRun)) == 0


def test_two_instructors_at_the_same_moment_only_one_acts(app: Flask, db: Session, world: dict,
                                                           sensei: User) -> None:
    """The message is locked while the first acts: the second waits, then is told it was handled."""
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("row locks: the PostgreSQL pass runs this (SQLite serialises writers on its own)")
    database = app.extensions["mamori.db"]
    first, second = database.session(), database.session()
    message_id, exercise_id = world["message"].id, world["exercise"].id
    correspondence.dismiss(first, first.get(Exercise, exercise_id), message_id, first.get(User, sensei.id))
    outcome: list[str] = []

    def answer() -> None:
        try:
            correspondence.answer_in_role(second, second.get(Exercise, exercise_id), message_id,
                                          second.get(User, world["kohai"].id), body="同時に回答")
            second.commit()
            outcome.append("answered")
        except Conflict:
            second.rollback()
            outcome.append("already handled")

    other = threading.Thread(target=answer)
    other.start()
    other.join(0.5)
    assert other.is_alive(), "the second instructor waits for the first"
    first.commit()
    other.join(10)
    first.close()
    second.close()
    assert outcome == ["already handled"]
    assert db.scalar(select(func.count()).select_from(Message).where(Message.direction == "in")) == 0


def test_who_may_look_and_act(app: Flask, db: Session, world: dict) -> None:
    exercise, message = world["exercise"], world["message"]
    attachment = db.scalar(select(MessageAttachment))
    other = login(app, "yoso")  # an instructor not on the exercise's staff
    assert other.get(queue_url(exercise)).status_code == 403
    assert other.post(f"{queue_url(exercise)}/{message.id}/answer",
                      data={f"m{message.id}-body": "横から回答"}).status_code == 403
    assert other.post(f"{queue_url(exercise)}/{message.id}/dismiss").status_code == 403
    assert other.get(f"/exercises/{exercise.id}/attachments/{attachment.id}").status_code == 403
    trainee = login(app, "kenshu")
    assert trainee.get(queue_url(exercise)).status_code == 403
    assert trainee.get(f"/exercises/{exercise.id}/attachments/{attachment.id}").status_code == 403
    db.expire_all()
    assert db.get(Message, message.id).white_cell == "waiting"

    # Another exercise's message or attachment is not this exercise's.
    elsewhere = make_exercise(db, teams=1, instructor=db.scalar(select(User).where(User.login == "sensei")))
    db.commit()
    staff = login(app, "sensei")
    assert staff.post(f"/exercises/{elsewhere.id}/white-cell/{message.id}/dismiss").status_code == 404
    assert staff.get(f"/exercises/{elsewhere.id}/attachments/{attachment.id}").status_code == 404


# A message as a character ------------------------------------------------------------------------


def test_the_instructor_writes_as_a_character(app: Flask, db: Session, sensei: User) -> None:
    exercise = running(db, instructor=sensei)
    trainee = make_user(db, role=Role.TRAINEE, login="kenshu")
    add_member(db, exercise.teams[0], trainee)
    db.commit()
    client = login(app, "sensei")
    live_page = client.get(f"/exercises/{exercise.id}/live").get_data(as_text=True)
    assert '<select id="message-sender" name="sender">' in live_page
    assert '<option selected value="">講師</option>' in live_page and '<option value="boss">山田 課長（情報政策課長）' in live_page

    sent = client.post(f"/exercises/{exercise.id}/messages", data={
        "sender": "boss", "subject": "状況を教えて", "body": "今どうなっていますか。", "team": "1", "back": "live"})
    assert sent.status_code == 302
    db.expire_all()
    message = db.scalar(select(Message).where(Message.subject_ja == "状況を教えて"))
    assert message.sender_ja == "山田 課長（情報政策課長）" and message.author_id == sensei.id
    assert message.team_id == exercise.teams[0].id and message.thread_id is not None
    audit = db.scalar(select(AuditEvent).where(AuditEvent.action == "message.send"))
    assert audit.actor_id == sensei.id and audit.detail["sender"] == "boss"

    # The team answers in that thread; its reply reaches the white cell (no request matches it).
    reply = correspondence.write(db, exercise, exercise.teams[0], trainee, thread_id=message.thread_id,
                                 body="調査中です。")
    db.commit()
    assert reply.character_id == "boss" and reply.white_cell == "waiting"

    # A broadcast as the police: every team gets a thread of its own.
    assert client.post(f"/exercises/{exercise.id}/messages", data={
        "sender": "nisc", "subject": "注意喚起", "body": "不審な通信にご注意ください。"}).status_code == 302
    db.expire_all()
    rows = db.scalars(select(Message).where(Message.subject_ja == "注意喚起")).all()
    assert sorted(m.team_id for m in rows) == sorted(t.id for t in exercise.teams)
    assert len({m.thread_id for m in rows}) == 2 and all(m.sender_ja.startswith("県警") for m in rows)

    # "講師" as before, and an unknown sender is refused.
    assert client.post(f"/exercises/{exercise.id}/messages", data={
        "subject": "連絡", "body": "本文", "team": "1"}).status_code == 302
    db.expire_all()
    plain = db.scalar(select(Message).where(Message.subject_ja == "連絡"))
    assert plain.sender_ja == "講師" and plain.thread_id is None
    refused = client.post(f"/exercises/{exercise.id}/messages", data={
        "sender": "nobody", "subject": "x", "body": "y", "back": "live"})
    assert refused.status_code == 400 and 'id="message-sender-errors"' in refused.get_data(as_text=True)


# The live view -----------------------------------------------------------------------------------


def escalate(db: Session, exercise: Exercise, trainee: User) -> None:
    """Police call at 00:10 for every team (first report due 00:40); team 1 writes to the boss and the vendor
    and submits the report at 00:50 (late); team 2 does nothing (overdue)."""
    for team in exercise.teams:
        db.add(InjectRun(exercise_id=exercise.id, team_id=team.id, inject_id="police-call", status=RunStatus.DONE,
                         day=1, started_seconds=600))
    one = exercise.teams[0]
    correspondence.write(db, exercise, one, trainee, character_id="boss", subject="ご報告", body="不審な通信を確認しました。")
    correspondence.write(db, exercise, one, trainee, character_id="vendor", subject="端末の隔離依頼",
                         body="ws01 を隔離してください。")
    db.add(ReportVersion(exercise_id=exercise.id, team_id=one.id, report_id="first-report", number=1,
                         status=ReportStatus.SUBMITTED, text="第一報", submitted_at=utcnow(), day=1,
                         exercise_seconds=3000, timeline_seconds=3000))
    db.flush()


def test_the_live_view_shows_escalations_and_overdue_reports(app: Flask, db: Session, sensei: User) -> None:
    exercise = running(db, elapsed=4000, instructor=sensei)
    trainee = make_user(db, role=Role.TRAINEE, login="kenshu")
    add_member(db, exercise.teams[0], trainee)
    escalate(db, exercise, trainee)
    db.commit()

    board = live.board(db, exercise)
    one, two = board.teams
    assert [(e.to.id, e.report.id if e.report else e.subject) for e in one.escalations] == [
        ("vendor", "端末の隔離依頼"), ("boss", "ご報告"), ("boss", "first-report")], "newest first"
    assert one.escalations[2].late and (one.escalations[2].day, one.escalations[2].seconds) == (1, 3000)
    assert [r.id for r in one.late] == ["first-report"] and one.overdue == ()
    assert one.messages_sent == 2 and one.white_cell_waiting == 1, "the report to the boss waits; isolation matched"
    assert [r.id for r in two.overdue] == ["first-report"] and two.escalations == ()
    assert board.white_cell_waiting == 1

    html = login(app, "sensei").get(f"/exercises/{exercise.id}/live/board").get_data(as_text=True)
    assert "連絡・報告" in html
    assert "期限超過: 第一報" in html and "遅延提出: 第一報" in html
    assert "1 日目 00:50" in html and "山田 課長: 第一報" in html and "みなとシステム保守: 端末の隔離依頼" in html
