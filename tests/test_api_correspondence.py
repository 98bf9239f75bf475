"""A team's correspondence over the JSON API: threads, one thread, writing — with the portal's rules."""
from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Message, MessageAttachment, RequestRun, RequestStatus, Thread
from app.services import correspondence, tokens
from tests.test_correspondence_web import fresh, organisation_world


@pytest.fixture
def world(app: Flask, db: Session) -> dict[str, Any]:
    built = organisation_world(db)
    built["tokens"] = {name: tokens.issue(db, user, "test", actor=user) for name, user in built["users"].items()}
    db.commit()
    return built


def call(client: FlaskClient, world: dict[str, Any], who: str, method: str, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {world['tokens'][who]}"}
    return client.open(path, method=method, headers=headers, **kwargs)


def test_a_request_round_trip(client: FlaskClient, world: dict[str, Any], db: Session) -> None:
    a = world["a"].id
    sent = call(client, world, "a", "POST", f"/api/v1/teams/{a}/messages", json={
        "character": "vendor", "subject": "隔離のお願い", "text": "お願いします。", "request": "isolate",
        "params": {"host": "ws01"}})
    assert sent.status_code == 201, sent.get_json()
    thread_id = sent.get_json()["thread"]
    run = fresh(db).scalars(select(RequestRun)).one()
    assert (run.request_id, run.params, run.status, run.via) == ("isolate", {"host": "ws01"}, RequestStatus.PENDING,
                                                                 "chosen")

    listed = call(client, world, "a", "GET", f"/api/v1/teams/{a}/threads").get_json()
    assert [(t["id"], t["character"], t["state"], t["messages"], t["unread"]) for t in listed] == [
        (thread_id, "vendor", "sent", 1, 0)]
    assert listed[0]["character_name"]["ja"] == "みなとシステム保守"

    # The vendor answers with a file, as the engine does.
    vendor = correspondence.character(world["exercise"], "vendor")
    correspondence.deliver(db, world["exercise"], world["a"], vendor, thread=db.get(Thread, thread_id),
                           subject="Re: 隔離のお願い", body_ja="ws01 を隔離しました。", body_en="ws01 is isolated.",
                           attachments=(("syslog.txt", "ログ\n".encode()),))
    db.commit()
    assert call(client, world, "a", "GET", f"/api/v1/teams/{a}/threads").get_json()[0]["unread"] == 1

    shown = call(client, world, "a", "GET", f"/api/v1/teams/{a}/threads/{thread_id}").get_json()
    assert shown["state"] == "answered"
    assert [m["direction"] for m in shown["messages"]] == ["out", "in"]
    reply = shown["messages"][1]
    assert reply["text"]["ja"] == "ws01 を隔離しました。" and reply["sender"]["ja"] == "みなとシステム保守（保守担当）"
    assert reply["read"] is False  # as it was when the member asked: now it is read
    assert [(r["request"], r["status"]) for r in shown["requests"]] == [("isolate", "pending")]
    (file,) = reply["attachments"]
    assert (file["name"], file["content_type"], file["size"]) == ("syslog.txt", "text/plain", len("ログ\n".encode()))
    download = call(client, world, "a", "GET", file["url"])
    assert download.status_code == 200 and download.data == "ログ\n".encode()
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert call(client, world, "a", "GET", f"/api/v1/teams/{a}/threads").get_json()[0]["unread"] == 0

    answered = call(client, world, "a", "POST", f"/api/v1/teams/{a}/messages",
                    json={"thread": thread_id, "text": "ありがとうございました。"})
    assert answered.status_code == 201 and answered.get_json()["thread"] == thread_id
    assert fresh(db).get(Thread, thread_id).state.value == "sent"
    assert fresh(db).scalars(select(Message).order_by(Message.id.desc())).first().subject_ja == "Re: 隔離のお願い"


def test_free_text_is_matched_or_waits_for_the_white_cell(client: FlaskClient, world: dict[str, Any],
                                                          db: Session) -> None:
    a = world["a"].id
    matched = call(client, world, "a", "POST", f"/api/v1/teams/{a}/messages",
                   json={"character": "vendor", "subject": "至急", "text": "ＷＳ０１を隔離してください"})
    unmatched = call(client, world, "a", "POST", f"/api/v1/teams/{a}/messages",
                     json={"character": "boss", "subject": "報告", "text": "調査中です"})

    assert matched.status_code == unmatched.status_code == 201
    assert fresh(db).scalars(select(RequestRun)).one().params == {"host": "ws01"}
    assert db.get(Message, unmatched.get_json()["message"]).white_cell == "waiting"


def test_the_same_rules_as_the_portal(client: FlaskClient, world: dict[str, Any], db: Session) -> None:
    a, b = world["a"].id, world["b"].id
    thread_id = call(client, world, "a", "POST", f"/api/v1/teams/{a}/messages",
                     json={"character": "boss", "subject": "報告", "text": "調査中です"}).get_json()["thread"]
    boss = correspondence.character(world["exercise"], "boss")
    correspondence.deliver(db, world["exercise"], world["a"], boss, thread=fresh(db).get(Thread, thread_id),
                           subject="Re: 報告", body_ja="了解", body_en="OK", attachments=(("memo.txt", b"memo"),))
    db.commit()
    attachment_id = db.scalars(select(MessageAttachment)).one().id
    attachment_path = f"/api/v1/teams/{b}/attachments/{attachment_id}"
    assert call(client, world, "a", "GET", f"/api/v1/teams/{a}/attachments/{attachment_id}").data == b"memo"

    # Another team: not found under its own team, refused under this one; nothing is posted.
    assert call(client, world, "b", "GET", f"/api/v1/teams/{b}/threads/{thread_id}").status_code == 404
    assert call(client, world, "b", "GET", attachment_path).status_code == 404
    assert call(client, world, "b", "POST", f"/api/v1/teams/{b}/messages",
                json={"thread": thread_id, "text": "割り込み"}).status_code == 404
    assert call(client, world, "b", "GET", f"/api/v1/teams/{a}/threads/{thread_id}").status_code == 403
    assert call(client, world, "b", "GET", f"/api/v1/teams/{b}/threads").get_json() == []
    # Staff read (without marking anything read) but do not write; other instructors are refused.
    assert call(client, world, "staff", "GET", f"/api/v1/teams/{a}/threads/{thread_id}").status_code == 200
    assert call(client, world, "a", "GET", f"/api/v1/teams/{a}/threads").get_json()[0]["unread"] == 1
    assert call(client, world, "staff", "POST", f"/api/v1/teams/{a}/messages",
                json={"character": "boss", "text": "講師"}).status_code == 403
    assert call(client, world, "other", "GET", f"/api/v1/teams/{a}/threads").status_code == 403
    # Bad input: both or neither addressee (422), an unknown character (404), a bad parameter (400).
    assert call(client, world, "a", "POST", f"/api/v1/teams/{a}/messages",
                json={"character": "boss", "thread": thread_id, "text": "x"}).status_code == 422
    assert call(client, world, "a", "POST", f"/api/v1/teams/{a}/messages", json={"text": "x"}).status_code == 422
    assert call(client, world, "a", "POST", f"/api/v1/teams/{a}/messages",
                json={"character": "attacker", "subject": "s", "text": "x"}).status_code == 404
    refused = call(client, world, "a", "POST", f"/api/v1/teams/{a}/messages", json={
        "character": "vendor", "subject": "s", "text": "x", "request": "isolate", "params": {"host": "nope"}})
    assert refused.status_code == 400 and "not one of" in refused.get_json()["message"]
    assert fresh(db).scalar(select(func.count()).select_from(Message)) == 2  # the team's and the boss's


def test_the_endpoints_are_in_the_openapi_document(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]

    assert {"/api/v1/teams/{team_id}/threads", "/api/v1/teams/{team_id}/threads/{thread_id}",
            "/api/v1/teams/{team_id}/messages", "/api/v1/teams/{team_id}/attachments/{attachment_id}"} <= set(paths)
