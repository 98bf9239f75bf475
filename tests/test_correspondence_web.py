"""The trainee's side of the simulated organisation in the team portal: writing to characters, threads,
requests, attachments, reading — through real HTTP on a real database (tests/scenarios/organisation.yaml)."""
from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from app.models import (ExerciseState, Message, MessageAttachment, RequestRun, RequestStatus, Role, Team, Thread,
                        ThreadState, utcnow)
from app.scenario import load_scenario_file
from app.services import correspondence, lifecycle, scenarios
from app.services.correspondence import MAX_ATTACHMENT_BYTES
from tests.factories import PASSWORD, add_member, make_exercise, make_user, run_by

ORGANISATION = Path(__file__).parent / "scenarios" / "organisation.yaml"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)


def organisation_world(db: Session) -> dict[str, Any]:
    """A running exercise of the organisation scenario: two teams with a member each, a running instructor,
    an instructor who does not run it."""
    scenario = scenarios.register_file(db, load_scenario_file(ORGANISATION)).scenario
    exercise = make_exercise(db, teams=2, scenario=scenario)
    exercise.state = ExerciseState.READY
    lifecycle.start(db, exercise, actor=None, speed=1, now=utcnow() - timedelta(seconds=600))
    team_a, team_b = exercise.teams
    users = {"a": make_user(db, login="member-a", display_name="青木"),
             "b": make_user(db, login="member-b"),
             "staff": make_user(db, role=Role.INSTRUCTOR, login="staff-instructor", display_name="本物の講師"),
             "other": make_user(db, role=Role.INSTRUCTOR, login="other-instructor")}
    add_member(db, team_a, users["a"])
    add_member(db, team_b, users["b"])
    run_by(db, exercise, users["staff"])
    db.commit()
    return {"exercise": exercise, "a": team_a, "b": team_b, "users": users}


@pytest.fixture
def world(app: Flask, db: Session) -> dict[str, Any]:
    return organisation_world(db)


def login(app: Flask, login_name: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert client.post("/login", data={"login": login_name, "password": PASSWORD}).status_code == 302
    return client


def fresh(db: Session) -> Session:
    db.rollback()
    db.expire_all()
    return db


def count(db: Session, model: type) -> int:
    return fresh(db).scalar(select(func.count()).select_from(model)) or 0


def multipart(form: dict[str, Any]) -> dict[str, Any]:
    """A multipart body built here in memory: the test client spools a large one to a temporary file it never
    closes (a ResourceWarning, an error under filterwarnings=error)."""
    values = MultiDict()
    for key, value in form.items():
        for item in value if isinstance(value, list) else [value]:
            values.add(key, FileStorage(item[0], filename=item[1]) if isinstance(item, tuple) else item)
    boundary, body = encode_multipart(values)
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def send(client, team: Team, **form: Any):  # type: ignore[no-untyped-def]
    return client.post(f"/teams/{team.id}/messages/new", **multipart({"subject": "件名", "body": "本文", **form}))


def thread_id_of(response) -> int:  # type: ignore[no-untyped-def]
    found = re.search(r"/threads/(\d+)", response.headers["Location"])
    assert found, response.headers.get("Location")
    return int(found.group(1))


def test_the_compose_page_lists_whom_the_team_can_write_to(app: Flask, world: dict[str, Any]) -> None:
    client = login(app, "member-a")
    page = client.get(f"/teams/{world['a'].id}/messages/new?to=vendor").get_data(as_text=True)

    for name, kind in (("山田 課長", "上司"), ("みなとシステム保守", "ベンダー"), ("県警サイバー対策課", "関係機関")):
        assert name in page and kind in page
    assert "情報政策課長" in page and "第二サポート部" in page  # title and department
    assert "攻撃者" not in page  # nobody writes to the attacker
    assert 'value="vendor" checked' in page
    # The vendor's requests, their descriptions, and the host parameter as a choice of the team's hosts.
    assert "端末の隔離" in page and "指定した端末をネットワークから切り離します。" in page
    assert '<select name="param.vendor.isolate.host"' in page and '<option value="ws01">' in page
    assert '<input type="text" name="param.nisc.notify.summary"' in page
    # The limits, and the script that narrows the requests to the chosen character.
    assert "3 個まで、1 ファイル 512 KiB まで" in page
    assert "/static/correspondence.js" in page and "<script>" not in page


def test_the_team_page_says_who_the_team_can_contact(app: Flask, world: dict[str, Any]) -> None:
    page = login(app, "member-a").get(f"/teams/{world['a'].id}").get_data(as_text=True)

    assert "連絡できる相手" in page
    assert f"/teams/{world['a'].id}/messages/new?to=vendor" in page
    assert "保守担当" in page and "ベンダー" in page


def test_a_chosen_request_with_its_parameter_becomes_a_pending_run(app: Flask, world: dict[str, Any],
                                                                   db: Session) -> None:
    client = login(app, "member-a")
    response = send(client, world["a"], to="vendor", subject="端末の隔離のお願い", body="よろしくお願いします。",
                    request="vendor/isolate", **{"param.vendor.isolate.host": "ws01"})

    assert response.status_code == 302
    thread_id = thread_id_of(response)
    run = fresh(db).scalars(select(RequestRun)).one()
    assert (run.team_id, run.character_id, run.request_id, run.params, run.via, run.status) == (
        world["a"].id, "vendor", "isolate", {"host": "ws01"}, "chosen", RequestStatus.PENDING)
    assert run.thread_id == thread_id
    page = client.get(response.headers["Location"], follow_redirects=True).get_data(as_text=True)
    assert "依頼「端末の隔離」を受け付けました" in page  # the flash
    assert '<span class="state " id="thread-state">送信済</span>' in page
    assert "端末の隔離" in page and "受付" in page and "<code>host</code>: ws01" in page
    inbox = client.get(f"/teams/{world['a'].id}/inbox").get_data(as_text=True)
    assert "端末の隔離のお願い" in inbox and "送信済" in inbox and "みなとシステム保守" in inbox


def test_free_text_in_full_width_is_recognised_as_the_request(app: Flask, world: dict[str, Any],
                                                              db: Session) -> None:
    client = login(app, "member-a")
    response = send(client, world["a"], to="vendor", subject="至急", body="ＷＳ０１を隔離してください")

    assert response.status_code == 302
    run = fresh(db).scalars(select(RequestRun)).one()
    assert (run.request_id, run.params, run.via) == ("isolate", {"host": "ws01"}, "matched")
    assert db.scalars(select(Message)).one().white_cell is None


def test_text_no_request_matches_waits_for_the_white_cell(app: Flask, world: dict[str, Any], db: Session) -> None:
    client = login(app, "member-a")
    response = send(client, world["a"], to="boss", subject="状況のご報告", body="現在、調査中です。")

    assert response.status_code == 302
    message = fresh(db).scalars(select(Message)).one()
    assert (message.white_cell, message.direction, message.character_id) == ("waiting", "out", "boss")
    assert count(db, RequestRun) == 0
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "送信済" in page and "現在、調査中です。" in page and "青木" in page
    assert "white" not in page.lower() and "ホワイトセル" not in page  # the trainee is not told who answers


def test_a_form_error_is_shown_beside_the_form_and_nothing_is_saved(app: Flask, world: dict[str, Any],
                                                                    db: Session) -> None:
    client = login(app, "member-a")
    missing_host = send(client, world["a"], to="vendor", body="隔離を", request="vendor/isolate")
    not_theirs = send(client, world["a"], to="boss", body="お願い", request="vendor/isolate")
    nobody = send(client, world["a"], body="誰か")
    no_text = send(client, world["a"], to="boss", body="  ")

    for response in (missing_host, not_theirs, nobody, no_text):
        assert response.status_code == 400
        assert 'role="alert" id="write-error"' in response.get_data(as_text=True)
    assert "host is required" in missing_host.get_data(as_text=True)
    assert "選んだ依頼はこの相手の依頼ではありません" in not_theirs.get_data(as_text=True)
    assert "宛先を選んでください" in nobody.get_data(as_text=True)
    assert "本文を入力してください" in no_text.get_data(as_text=True)
    assert "隔離を" in missing_host.get_data(as_text=True)  # what the team typed comes back
    assert (count(db, Message), count(db, Thread), count(db, RequestRun)) == (0, 0, 0)


def test_a_reply_in_the_thread_and_the_character_answering(app: Flask, world: dict[str, Any], db: Session) -> None:
    client = login(app, "member-a")
    thread_id = thread_id_of(send(client, world["a"], to="boss", subject="第一報", body="不審な通信を確認しました。"))
    thread = fresh(db).get(Thread, thread_id)
    boss = correspondence.character(world["exercise"], "boss")
    correspondence.deliver(db, world["exercise"], world["a"], boss, thread=thread, subject="Re: 第一報",
                           body_ja="了解。続報を待ちます。", body_en="OK.", author=world["users"]["staff"])
    db.commit()

    inbox = client.get(f"/teams/{world['a'].id}/inbox").get_data(as_text=True)
    assert "回答あり" in inbox and "新着 1" in inbox
    page = client.get(f"/teams/{world['a'].id}/threads/{thread_id}").get_data(as_text=True)
    assert "了解。続報を待ちます。" in page and "山田 課長（情報政策課長）" in page
    assert "本物の講師" not in page  # the instructor who answered in role stays behind the character
    response = client.post(f"/teams/{world['a'].id}/threads/{thread_id}", data={"body": "承知しました。"},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    messages = correspondence.thread_messages(fresh(db), db.get(Thread, thread_id))
    assert [(m.direction, m.subject_ja) for m in messages] == [
        ("out", "第一報"), ("in", "Re: 第一報"), ("out", "Re: 第一報")]
    assert db.get(Thread, thread_id).state is ThreadState.SENT
    assert messages[-1].white_cell == "waiting"


def _character_reply(db: Session, world: dict[str, Any], thread_id: int) -> None:
    thread = fresh(db).get(Thread, thread_id)
    vendor = correspondence.character(world["exercise"], "vendor")
    correspondence.deliver(db, world["exercise"], world["a"], vendor, thread=thread, subject="Re: ログ",
                           body_ja="ログを送ります。", body_en="Logs.", attachments=(("syslog.txt", b"line 1\n"),))
    db.commit()


def test_opening_a_thread_reads_it_for_members_only(app: Flask, world: dict[str, Any], db: Session) -> None:
    member = login(app, "member-a")
    thread_id = thread_id_of(send(member, world["a"], to="vendor", subject="ログ", body="ログをください"))
    status = f"/teams/{world['a'].id}/status"
    assert "未読のメッセージはありません" in member.get(status).get_data(as_text=True)  # its own message is not unread
    _character_reply(db, world, thread_id)
    assert "未読 1 件" in member.get(status).get_data(as_text=True)

    staff = login(app, "staff-instructor")
    assert staff.get(f"/teams/{world['a'].id}/threads/{thread_id}").status_code == 200
    assert "未読 1 件" in member.get(status).get_data(as_text=True)  # staff looking in leave it unread

    page = member.get(f"/teams/{world['a'].id}/threads/{thread_id}").get_data(as_text=True)
    assert "新着" in page or "未読" in page  # marked as new the first time it is shown
    assert "未読のメッセージはありません" in member.get(status).get_data(as_text=True)
    assert fresh(db).scalar(select(func.count()).select_from(Message).where(Message.read_at.is_(None))) == 0


def test_a_flood_of_messages_is_refused_and_nothing_of_it_is_saved(app: Flask, world: dict[str, Any],
                                                                   db: Session) -> None:
    """A script posting in a loop cannot fill the white cell: ten messages a minute per account."""
    client = login(app, "member-a")
    sent = [send(client, world["a"], to="boss", body=f"報告 {n}").status_code for n in range(10)]
    assert sent == [302] * 10
    refused = send(client, world["a"], to="boss", body="報告 11")
    assert refused.status_code == 400
    assert "1 分間に 10 件まで" in refused.get_data(as_text=True)
    assert count(db, Message) == 10 and count(db, Thread) == 10


def test_an_open_thread_shows_the_reply_when_it_arrives(app: Flask, world: dict[str, Any], db: Session) -> None:
    """The thread page polls its body: the reply appears without a reload, and the member's poll reads it."""
    member = login(app, "member-a")
    thread_id = thread_id_of(send(member, world["a"], to="vendor", subject="ログ", body="ログをください"))
    page = member.get(f"/teams/{world['a'].id}/threads/{thread_id}").get_data(as_text=True)
    body_url = f"/teams/{world['a'].id}/threads/{thread_id}/body"
    assert f'hx-get="{body_url}"' in page and "送信済" in page
    staff = login(app, "staff-instructor")
    _character_reply(db, world, thread_id)
    assert "ログを送ります。" in staff.get(body_url).get_data(as_text=True)
    status = f"/teams/{world['a'].id}/status"
    assert "未読 1 件" in member.get(status).get_data(as_text=True)  # staff polling leave it unread
    polled = member.get(body_url)
    text = polled.get_data(as_text=True)
    assert polled.status_code == 200 and "<html" not in text  # the fragment only
    assert "ログを送ります。" in text and "回答あり" in text and "syslog.txt" in text
    assert "未読のメッセージはありません" in member.get(status).get_data(as_text=True)
    assert login(app, "member-b").get(body_url).status_code == 403


def test_attachments_round_trip(app: Flask, world: dict[str, Any], db: Session) -> None:
    client = login(app, "member-a")
    log = "2024-06-01 不審な通信 ws01 → 203.0.113.5\n".encode() * 100
    response = send(client, world["a"], to="vendor", body="ログを添付します", **{
        "attachment": [(io.BytesIO(log), "ファイアウォール.log"),
                       (io.BytesIO(PNG), "画面.png")]})
    assert response.status_code == 302
    files = fresh(db).scalars(select(MessageAttachment).order_by(MessageAttachment.id)).all()
    assert [(f.name, f.content_type, f.size) for f in files] == [
        ("ファイアウォール.log", "text/plain", len(log)), ("画面.png", "image/png", len(PNG))]

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    text_url = f"/teams/{world['a'].id}/attachments/{files[0].id}"
    assert text_url in page
    text = client.get(text_url)
    assert text.status_code == 200 and text.data == log
    assert text.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert text.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''" in text.headers["Content-Disposition"]
    assert text.headers["X-Content-Type-Options"] == "nosniff"
    image = client.get(f"/teams/{world['a'].id}/attachments/{files[1].id}")
    assert (image.data, image.headers["Content-Type"]) == (PNG, "image/png")
    assert image.headers["Content-Disposition"].startswith("attachment;")


def test_too_large_or_binary_uploads_are_refused_and_nothing_is_saved(app: Flask, world: dict[str, Any],
                                                                      db: Session) -> None:
    client = login(app, "member-a")
    big = send(client, world["a"], to="vendor", body="大きい", attachment=(io.BytesIO(b"a" * 600 * 1024), "big.log"))
    elf = send(client, world["a"], to="vendor", body="実行ファイル",
               attachment=(io.BytesIO(b"\x7fELF\x02\x01\x01" + bytes(100)), "notes.txt"))
    four = send(client, world["a"], to="vendor", body="4 個",
                attachment=[(io.BytesIO(b"x"), f"{n}.txt") for n in range(4)])

    assert big.status_code == elf.status_code == four.status_code == 400
    assert "ファイル &#39;big.log&#39; は 512 KiB を超えています" in big.get_data(as_text=True)
    assert "ファイル &#39;notes.txt&#39; はテキスト（UTF-8）でも PNG・JPEG 画像でもありません" in elf.get_data(as_text=True)
    assert "添付できるファイルは 3 個までです" in four.get_data(as_text=True)
    assert (count(db, Message), count(db, Thread), count(db, MessageAttachment)) == (0, 0, 0)
    # Three files at the cap fit in one request (the app's body limit is above 3 × 512 KiB).
    fits = send(client, world["a"], to="vendor", body="3 個",
                attachment=[(io.BytesIO(b"b" * MAX_ATTACHMENT_BYTES), f"{n}.log") for n in range(3)])
    assert fits.status_code == 302 and count(db, MessageAttachment) == 3


def test_a_body_past_the_limit_is_a_clear_413(app: Flask, world: dict[str, Any], db: Session) -> None:
    client = login(app, "member-a")
    response = send(client, world["a"], to="vendor", body="巨大",
                    attachment=(io.BytesIO(b"c" * (app.config["MAX_CONTENT_LENGTH"] + 1)), "huge.log"))

    assert response.status_code == 413
    assert "アップロードするファイルが大きすぎます" in response.get_data(as_text=True)
    assert count(db, Message) == 0


def test_another_team_never_reaches_the_thread_or_its_files(app: Flask, world: dict[str, Any], db: Session) -> None:
    member = login(app, "member-a")
    thread_id = thread_id_of(send(member, world["a"], to="vendor", subject="秘密の件", body="ログを添付",
                                  attachment=(io.BytesIO(b"secret"), "secret.txt")))
    attachment_id = fresh(db).scalars(select(MessageAttachment)).one().id
    other = login(app, "member-b")
    a, b = world["a"].id, world["b"].id

    # Under its own team's address: no such thread or file (404), and nothing is posted.
    assert other.get(f"/teams/{b}/threads/{thread_id}").status_code == 404
    assert other.get(f"/teams/{b}/attachments/{attachment_id}").status_code == 404
    assert other.post(f"/teams/{b}/threads/{thread_id}", data={"body": "割り込み"},
                      content_type="multipart/form-data").status_code == 404
    # Under the other team's address: refused like every page of another team.
    assert other.get(f"/teams/{a}/threads/{thread_id}").status_code == 403
    assert other.get(f"/teams/{a}/attachments/{attachment_id}").status_code == 403
    assert other.post(f"/teams/{a}/threads/{thread_id}", data={"body": "割り込み"},
                      content_type="multipart/form-data").status_code == 403
    assert "秘密の件" not in other.get(f"/teams/{b}/inbox").get_data(as_text=True)
    assert count(db, Message) == 1


def test_staff_read_but_do_not_write_and_other_instructors_are_refused(app: Flask, world: dict[str, Any],
                                                                        db: Session) -> None:
    thread_id = thread_id_of(send(login(app, "member-a"), world["a"], to="boss", body="報告"))
    staff = login(app, "staff-instructor")
    a = world["a"].id

    assert staff.get(f"/teams/{a}/inbox").status_code == 200
    assert staff.get(f"/teams/{a}/threads/{thread_id}").status_code == 200
    assert send(staff, world["a"], to="boss", body="講師が書く").status_code == 403
    assert staff.post(f"/teams/{a}/threads/{thread_id}", data={"body": "講師が書く"}).status_code == 403
    other = login(app, "other-instructor")
    assert other.get(f"/teams/{a}/threads/{thread_id}").status_code == 403
    assert count(db, Message) == 1


def test_old_inbox_links_to_a_thread_message_lead_to_the_thread(app: Flask, world: dict[str, Any],
                                                                db: Session) -> None:
    client = login(app, "member-a")
    thread_id = thread_id_of(send(client, world["a"], to="vendor", subject="ログ", body="ログをください"))
    _character_reply(db, world, thread_id)
    reply = fresh(db).scalars(select(Message).where(Message.direction == "in")).one()

    response = client.get(f"/teams/{world['a'].id}/inbox/{reply.id}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/teams/{world['a'].id}/threads/{thread_id}#message-{reply.id}")
