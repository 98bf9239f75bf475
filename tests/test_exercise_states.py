"""The exercise's states as people see them (issue 16).

Trainees read the state in words on every team page and their home — what is
happening, what still works, what does not — and never an English state word;
the instructor's irreversible clicks ask first (and finishing needs the form's
confirm field); a message or inject control for a team that does not exist is
refused with nothing done; the scenario's objectives are in the briefing.
"""
from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.cli import cli
from app.models import (
    AuditEvent, Exercise, ExerciseState, InjectRun, Message, RangeState, Role, TeamRange, utcnow,
)
from app.services import lifecycle, ranges
from tests.factories import add_member, make_exercise, make_running_exercise, make_scenario, make_user, run_by

TASK = "infected-host"
ENGLISH_STATE = re.compile(r"\b(draft|provisioning|ready|running|paused|day[_ ]ended|finished|torn[_ ]down|"
                           r"done|skipped|failed|queued|requested|held)\b", re.IGNORECASE)


class VisibleText(HTMLParser):
    """What a person reads: text outside scripts and styles, and the questions a form asks (data-confirm)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        self.parts.extend(value or "" for name, value in attrs if name in ("data-confirm", "aria-label", "title"))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


@pytest.fixture
def world(db: Session):  # type: ignore[no-untyped-def]
    """Two teams of the minimal scenario (one day), running for 1300 s with the police call done; team 1's
    trainee and the instructor who runs it."""
    exercise = make_running_exercise(db, elapsed=1300, fired={"police-call": 1200})
    trainee = make_user(db, role=Role.TRAINEE, login="kenshu")
    add_member(db, exercise.teams[0], trainee)
    run_by(db, exercise, make_user(db, role=Role.INSTRUCTOR, login="sensei"))
    ranges.team_range(db, exercise.teams[0])
    db.commit()
    return exercise


def put(db: Session, exercise_id: int, state: ExerciseState, range_state: RangeState) -> None:
    exercise = db.get(Exercise, exercise_id)
    assert exercise is not None
    exercise.state = state
    if state is not ExerciseState.RUNNING:
        exercise.clock_started_at = None
    db.scalars(select(TeamRange).where(TeamRange.team_id == exercise.teams[0].id)).one().state = range_state
    db.commit()


# Each state: (its range's state, what the banner says, what it must not say).
STATES = [
    (ExerciseState.DRAFT, RangeState.PENDING, ["演習はまだ始まっていません。演習環境を準備しています。"], []),
    (ExerciseState.PROVISIONING, RangeState.CREATING, ["演習はまだ始まっていません。演習環境を準備しています。"], []),
    (ExerciseState.READY, RangeState.READY,
     ["演習環境の準備ができています。演習はまだ始まっていません。", "講師が開始すると始まります。"], []),
    (ExerciseState.RUNNING, RangeState.READY, ["演習を実施中です（1 日間のうち 1 日目）。"], ["できること："]),
    (ExerciseState.PAUSED, RangeState.READY,
     ["演習は一時停止中です。", "講師が再開するまで、新しい出来事は起こらず、採点も行われません。",
      "できること： 報告書を作成・保存・提出する。 シナリオの登場人物に連絡する（時計が止まっている間は、返信が遅れることがあります）。 演習環境で作業する",
      "現在できないこと： 設問に回答し、ヒントを見る。"], []),
    (ExerciseState.DAY_ENDED, RangeState.READY,
     ["本日の演習は終了しました。", "演習の最終日でした。", "現在できないこと： 設問に回答し、ヒントを見る。 報告書を作成・保存・提出する。"],
     []),
    (ExerciseState.FINISHED, RangeState.READY,
     ["演習は終了しました。", "得点は、講師が公開すると「得点」のページに表示されます。",
      "現在できないこと： 設問に回答し、ヒントを見る。 報告書を作成・保存・提出する。 シナリオの登場人物に連絡する。"],
     []),
    (ExerciseState.TORN_DOWN, RangeState.TORN_DOWN,
     ["演習は終了し、演習環境は撤去されました。", "チームが書いたもの・受け取ったものは、引き続きここで読めます。"],
     ["演習環境で作業する", "演習環境はまだ準備できていません"]),
]


def test_every_team_page_says_the_state_in_japanese_words(client: FlaskClient, auth, db: Session,  # type: ignore[no-untyped-def]
                                                          world: Exercise) -> None:
    team = world.teams[0]
    pages = [f"/teams/{team.id}{suffix}" for suffix in ("", "/tasks", "/reports", "/reports/first-report", "/inbox",
                                                        "/messages/new", "/score", "/terminal")]
    auth.login("kenshu")
    for state, range_state, says, never in STATES:
        put(db, world.id, state, range_state)
        for path in [*pages, "/"]:
            response = client.get(path)
            assert response.status_code == 200, (state, path)
            text = visible(response.get_data(as_text=True))
            shown = text[text.index("演習の状態"):] if path != "/" else text
            for words in (says if path != "/" else says[:1]):
                assert words in shown, (state, path, words)
            for words in never:
                assert words not in text, (state, path, words)
            assert not ENGLISH_STATE.search(text), (state, path, ENGLISH_STATE.search(text))
        if state is ExerciseState.TORN_DOWN:
            assert "演習の終了後、演習環境は撤去されました。" in visible(client.get(pages[0]).get_data(as_text=True))


def test_a_paused_exercise_refuses_an_answer_in_words_and_keeps_it_unrecorded(client: FlaskClient, auth,  # type: ignore[no-untyped-def]
                                                                               db: Session, world: Exercise) -> None:
    lifecycle.pause(db, world, actor=None)
    db.commit()
    auth.login("kenshu")
    refused = client.post(f"/teams/{world.teams[0].id}/tasks/{TASK}/answer", data={f"{TASK}-answer": "ws01"})
    text = visible(refused.get_data(as_text=True))
    assert refused.status_code == 409
    assert "演習は一時停止中です。講師が再開すると、再び回答とヒントを受け付けます" in text
    assert "現在の状態" not in text and not ENGLISH_STATE.search(text)
    assert "演習は一時停止中です。" in text[text.index("演習の状態"):], "the banner is there too"


def test_the_briefing_lists_the_scenario_s_objectives(client: FlaskClient, auth, world: Exercise) -> None:
    auth.login("kenshu")
    path = f"/teams/{world.teams[0].id}"
    page = visible(client.get(path).get_data(as_text=True))
    assert "この演習のねらい 外部からの通報を受けて感染端末を特定できる" in page
    client.get("/lang/en")
    english = visible(client.get(path).get_data(as_text=True))
    assert "What this exercise is for Identify an infected host from an outside report" in english


# The instructor's side ---------------------------------------------------------------------------------------


def forms_of(html: str) -> dict[str, str]:
    """Each lifecycle form's opening tag and body, by its action (start, pause, end-day, finish…)."""
    return {m.group(1): m.group(0) for m in re.finditer(
        r'<form[^>]*action="/exercises/\d+/(start|pause|resume|end-day|finish)"[^>]*>.*?</form>', html, re.S)}


def test_irreversible_clicks_ask_first_and_say_what_happens(client: FlaskClient, auth, db: Session) -> None:
    instructor = make_user(db, role=Role.INSTRUCTOR, login="sensei")
    exercise = make_exercise(db, teams=2, scenario=make_scenario(db, slug="twodays", days=2), instructor=instructor)
    exercise.state = ExerciseState.READY
    db.commit()
    auth.login("sensei")
    for path in (f"/exercises/{exercise.id}", f"/exercises/{exercise.id}/live"):
        start = forms_of(client.get(path).get_data(as_text=True))["start"]
        assert 'data-confirm="1 日目を開始します。時計が動き出し、インジェクト（各チームの演習環境への実際の攻撃を含む）' in start

    lifecycle.start(db, exercise, actor=None)
    db.commit()
    for path in (f"/exercises/{exercise.id}", f"/exercises/{exercise.id}/live"):
        forms = forms_of(client.get(path).get_data(as_text=True))
        assert set(forms) == {"pause", "end-day", "finish"}, path
        assert "data-confirm" not in forms["pause"], "a pause can be undone: no question"
        assert ('data-confirm="本日の演習を終了します。時計が止まり、インジェクトと採点ラウンドは次の日を開始するまで'
                '行われません。') in forms["end-day"]
        assert 'data-confirm="演習を終了します。' in forms["finish"] and "元に戻せません。" in forms["finish"]
        assert '<input type="hidden" name="confirm" value="finish">' in forms["finish"]

    db.expire_all()
    exercise = db.get(Exercise, exercise.id)
    lifecycle.end_day(db, exercise, actor=None)
    db.commit()
    start = forms_of(client.get(f"/exercises/{exercise.id}").get_data(as_text=True))["start"]
    assert 'data-confirm="2 日目を開始します。' in start


def test_finishing_without_the_confirm_field_changes_nothing(client: FlaskClient, auth, db: Session,  # type: ignore[no-untyped-def]
                                                             world: Exercise) -> None:
    auth.login("sensei")
    base = f"/exercises/{world.id}"
    for data in ({}, {"back": "live"}, {"confirm": "yes"}):
        refused = client.post(f"{base}/finish", data=data)
        assert refused.status_code == 400, data
        assert "演習は終了していません。終了には確認が必要です" in refused.get_data(as_text=True)
    db.expire_all()
    assert db.get(Exercise, world.id).state is ExerciseState.RUNNING
    assert db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "exercise.finish")) == 0

    finished = client.post(f"{base}/finish", data={"confirm": "finish"})
    assert finished.status_code == 302
    db.expire_all()
    assert db.get(Exercise, world.id).state is ExerciseState.FINISHED


def test_a_message_or_an_inject_control_for_a_team_that_does_not_exist_is_refused(  # type: ignore[no-untyped-def]
        app: Flask, client: FlaskClient, auth, db: Session, world: Exercise) -> None:
    auth.login("sensei")
    base = f"/exercises/{world.id}"
    refusal = "チーム 7 はありません（この演習のチームは 1〜2）"
    for back in ("", "live"):
        sent = client.post(f"{base}/messages", data={"subject": "至急の連絡", "body": "本文です", "team": "7",
                                                     "back": back})
        html = sent.get_data(as_text=True)
        assert sent.status_code == 400 and refusal in html and 'id="message-team-errors"' in html, back
        assert "至急の連絡" in html and "本文です" in html, "what was typed is kept"
        assert "チームにメッセージを送りました" not in html
        control = client.post(f"{base}/injects", data={"inject": "beacon", "action": "hold", "team": "7",
                                                       "back": back})
        assert control.status_code == 400 and refusal in control.get_data(as_text=True), back
    assert db.scalar(select(func.count()).select_from(Message)) == 0
    assert db.scalar(select(func.count()).select_from(InjectRun).where(InjectRun.inject_id == "beacon")) == 0
    assert db.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action.in_(["message.send", "inject.hold"]))) == 0

    cli_sent = app.test_cli_runner().invoke(cli, ["message", "send", str(world.id), "--subject", "s", "--body", "b",
                                                  "--team", "1", "--team", "9"])
    assert cli_sent.exit_code == 1 and "there is no team 9 (this exercise's teams are 1 to 2)" in cli_sent.output
    assert db.scalar(select(func.count()).select_from(Message)) == 0, "not even to team 1"


def test_a_day_that_reached_its_length_is_shown_ended_everywhere(client: FlaskClient, auth, db: Session,  # type: ignore[no-untyped-def]
                                                                  app: Flask) -> None:
    """The engine's own step (no range needed here; tests/test_runtime/test_day_end.py does it on a real one)."""
    from app.runtime.dayend import end_due_days

    instructor = make_user(db, role=Role.INSTRUCTOR, login="sensei")
    exercise = make_exercise(db, teams=1, scenario=make_scenario(db, slug="twodays", days=2), instructor=instructor)
    trainee = make_user(db, role=Role.TRAINEE, login="kenshu")
    add_member(db, exercise.teams[0], trainee)
    exercise.state = ExerciseState.READY
    started = utcnow() - timedelta(hours=3)  # a day of 02:00 at speed 1, started three hours ago
    lifecycle.start(db, exercise, actor=None, speed=1, now=started)
    db.commit()
    assert end_due_days(app.extensions["mamori.db"], utcnow()) == [exercise.id]

    auth.login("sensei")
    for path in (f"/exercises/{exercise.id}", f"/exercises/{exercise.id}/live"):
        text = visible(client.get(path).get_data(as_text=True))
        assert "本日の演習は終了しました。" in text and "02:00:00" in text and "04:" not in text, path
    auth.login("kenshu")
    text = visible(client.get(f"/teams/{exercise.teams[0].id}").get_data(as_text=True))
    assert "本日の演習は終了しました。 2 日間のうち 1 日目が終わりました。2 日目は講師が開始すると始まります。" in text
