"""Two team-mates writing one report: nothing is ever written over unseen, and nothing is ever cut.

Each member has their own logged-in browser (a Flask test client). A save names the state of the report
its writer started from (the hidden ``base``); when a team-mate saved or handed in since, the save is
refused with both texts on the page, and saving again from there is deliberate.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Exercise, ReportStatus, ReportVersion, Role, Team, User
from app.services import reports
from app.services.errors import Conflict
from tests.factories import add_member, make_running_exercise, make_user

REPORT = "first-report"
CONFIRM = "提出すると、講師から修正依頼がない限り変更できません。提出しますか？"


@dataclass
class Pair:
    exercise: Exercise
    team: Team
    sato: User
    suzuki: User
    sato_browser: FlaskClient
    suzuki_browser: FlaskClient

    @property
    def editor(self) -> str:
        return f"/teams/{self.team.id}/reports/{REPORT}"


def browser(app: Flask, login: str) -> FlaskClient:
    client = app.test_client()
    response = client.post("/login", data={"login": login, "password": "correct-horse-battery"})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def pair(app: Flask, db: Session) -> Pair:
    """A running exercise whose police call rang at 20:00; team 1 has two members, each logged in."""
    exercise = make_running_exercise(db, elapsed=1300, fired={"police-call": 1200})
    team = exercise.teams[0]
    sato = make_user(db, role=Role.TRAINEE, login="sato", display_name="佐藤 花子")
    suzuki = make_user(db, role=Role.TRAINEE, login="suzuki", display_name="鈴木 一郎")
    add_member(db, team, sato)
    add_member(db, team, suzuki)
    db.commit()
    return Pair(exercise, team, sato, suzuki, browser(app, "sato"), browser(app, "suzuki"))


def open_editor(client: FlaskClient, path: str) -> dict[str, str]:
    """The editor as a member opens it: the text in the form and the base it carries."""
    response = client.get(path)
    assert response.status_code == 200
    return form_of(response.get_data(as_text=True))


def form_of(html: str) -> dict[str, str]:
    text = re.search(r'<textarea[^>]*name="text"[^>]*>(.*?)</textarea>', html, re.S)
    base = re.search(r'<input[^>]*name="base"[^>]*value="([^"]*)"', html) or re.search(
        r'<input[^>]*value="([^"]*)"[^>]*name="base"', html)
    assert text and base, "the editor has the text and its base"
    return {"text": unescape(text.group(1)).lstrip("\r\n"), "base": base.group(1)}


def post(client: FlaskClient, path: str, base: str, text: str, button: str = "save_draft"):  # type: ignore[no-untyped-def]
    return client.post(path, data={"text": text, "base": base, button: "1"})


def versions(db: Session, team: Team) -> list[ReportVersion]:
    db.expire_all()
    return list(db.scalars(select(ReportVersion).where(ReportVersion.team_id == team.id)
                           .order_by(ReportVersion.number)))


def theirs_block(html: str) -> str:
    start = html.index('id="conflict"')
    return html[start:html.index("</section>", start)]


# --- two members, one draft ----------------------------------------------------------------------------------------


def test_the_second_save_is_refused_with_both_texts_and_the_first_survives(pair, db) -> None:  # type: ignore[no-untyped-def]
    opened_by_sato = open_editor(pair.sato_browser, pair.editor)
    opened_by_suzuki = open_editor(pair.suzuki_browser, pair.editor)
    assert opened_by_sato["base"] == opened_by_suzuki["base"] == "0.0", "nothing written yet"

    first = post(pair.sato_browser, pair.editor, opened_by_sato["base"], "佐藤：ws01 が感染、隔離済み")
    assert first.status_code == 302
    second = post(pair.suzuki_browser, pair.editor, opened_by_suzuki["base"], "鈴木：外部への通信は 10:05 から")
    html = second.get_data(as_text=True)
    assert second.status_code == 409
    assert "編集中に 佐藤 花子 さんがこの下書きを保存しました。内容を確認してから保存し直してください。" in html
    assert "佐藤：ws01 が感染、隔離済み" in theirs_block(html), "the team-mate's saved text is shown"
    kept = form_of(html)
    assert kept["text"] == "鈴木：外部への通信は 10:05 から", "the writer's own text is still in the form, unsaved"
    [draft] = versions(db, pair.team)
    assert (draft.text, draft.author_id, draft.revision) == ("佐藤：ws01 が感染、隔離済み", pair.sato.id, 1)
    assert kept["base"] == "1.1", "the form now names the team-mate's save"

    # Saving again from there is deliberate: it applies.
    merged = "佐藤：ws01 が感染、隔離済み\n鈴木：外部への通信は 10:05 から"
    again = post(pair.suzuki_browser, pair.editor, kept["base"], merged)
    assert again.status_code == 302
    [draft] = versions(db, pair.team)
    assert (draft.text, draft.author_id, draft.revision) == (merged, pair.suzuki.id, 2)
    # Sato's page is now behind: Sato's next save is refused in turn, naming Suzuki.
    late = post(pair.sato_browser, pair.editor, "1.1", "佐藤：上書き")
    assert late.status_code == 409 and "編集中に 鈴木 一郎 さんが" in late.get_data(as_text=True)
    assert versions(db, pair.team)[0].text == merged


def test_a_member_saving_twice_from_their_own_fresh_page_is_no_conflict(pair, db) -> None:  # type: ignore[no-untyped-def]
    base = open_editor(pair.sato_browser, pair.editor)["base"]
    assert post(pair.sato_browser, pair.editor, base, "一回目").status_code == 302
    reopened = open_editor(pair.sato_browser, pair.editor)
    assert reopened == {"text": "一回目", "base": "1.1"}
    assert post(pair.sato_browser, pair.editor, reopened["base"], "二回目").status_code == 302
    assert [(v.text, v.revision) for v in versions(db, pair.team)] == [("二回目", 2)]


def test_saving_the_text_a_team_mate_already_saved_is_no_conflict(pair, db) -> None:  # type: ignore[no-untyped-def]
    base = open_editor(pair.sato_browser, pair.editor)["base"]
    assert post(pair.sato_browser, pair.editor, base, "同じ文").status_code == 302
    assert post(pair.suzuki_browser, pair.editor, base, "同じ文").status_code == 302, "nothing would be lost"
    assert [v.text for v in versions(db, pair.team)] == ["同じ文"]


def test_handing_in_over_a_team_mate_s_newer_save_is_refused_and_nothing_is_submitted(pair, db) -> None:  # type: ignore[no-untyped-def]
    opened = open_editor(pair.sato_browser, pair.editor)
    assert post(pair.suzuki_browser, pair.editor, opened["base"], "鈴木の版").status_code == 302
    response = post(pair.sato_browser, pair.editor, opened["base"], "佐藤の版", button="hand_in")
    html = response.get_data(as_text=True)
    assert response.status_code == 409 and "鈴木 一郎 さんがこの下書きを保存しました" in html
    assert form_of(html)["text"] == "佐藤の版"
    [draft] = versions(db, pair.team)
    assert (draft.status, draft.text, draft.submitted_at) == (ReportStatus.DRAFT, "鈴木の版", None)


def test_a_team_mate_handing_in_meanwhile_is_shown_and_the_next_save_starts_a_new_version(pair, db) -> None:  # type: ignore[no-untyped-def]
    base = open_editor(pair.sato_browser, pair.editor)["base"]
    assert post(pair.sato_browser, pair.editor, base, "下書き").status_code == 302
    sato_page = open_editor(pair.sato_browser, pair.editor)
    suzuki_page = open_editor(pair.suzuki_browser, pair.editor)
    assert post(pair.suzuki_browser, pair.editor, suzuki_page["base"], "鈴木が提出した版",
                button="hand_in").status_code == 302
    response = post(pair.sato_browser, pair.editor, sato_page["base"], "佐藤の追記")
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "編集中に 鈴木 一郎 さんが第 1 版を提出しました。" in html and "鈴木が提出した版" in theirs_block(html)
    again = post(pair.sato_browser, pair.editor, form_of(html)["base"], "佐藤の追記")
    assert again.status_code == 302
    assert [(v.number, v.status, v.text) for v in versions(db, pair.team)] == [
        (1, ReportStatus.SUBMITTED, "鈴木が提出した版"), (2, ReportStatus.DRAFT, "佐藤の追記")]


def test_a_page_without_a_base_never_overwrites(pair, db) -> None:  # type: ignore[no-untyped-def]
    assert post(pair.sato_browser, pair.editor, "0.0", "佐藤の文").status_code == 302
    response = pair.suzuki_browser.post(pair.editor, data={"text": "古い画面から", "save_draft": "1"})
    assert response.status_code == 409
    assert [v.text for v in versions(db, pair.team)] == ["佐藤の文"]


def test_simultaneous_saves_from_one_revision_apply_exactly_once(app, db, pair) -> None:  # type: ignore[no-untyped-def]
    """Five members press 保存 at the same moment from the same page: one save applies, four are refused."""
    reports.save_draft(db, pair.exercise, pair.team, pair.sato, REPORT, "元の文")
    db.commit()
    members = [pair.sato.id, pair.suzuki.id]
    for index in range(3):
        user = make_user(db, role=Role.TRAINEE, login=f"member{index}")
        add_member(db, pair.team, user)
        members.append(user.id)
    db.commit()
    base = reports.Base(1, 1)
    barrier, outcomes = threading.Barrier(len(members)), []

    def save(user_id: int) -> None:
        session = app.extensions["mamori.db"].session()
        try:
            exercise, team = session.get(Exercise, pair.exercise.id), session.get(Team, pair.team.id)
            user = session.get(User, user_id)
            barrier.wait()
            try:
                reports.save_draft(session, exercise, team, user, REPORT, f"{user_id} の文", base=base)
                session.commit()
                outcomes.append("saved")
            except Conflict as exc:
                session.rollback()
                outcomes.append(type(exc).__name__)
        finally:
            session.close()

    threads = [threading.Thread(target=save, args=(user_id,)) for user_id in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["DraftConflict"] * 4 + ["saved"], outcomes
    [draft] = versions(db, pair.team)
    assert draft.revision == 2 and draft.text == f"{draft.author_id} の文"


# --- the length limit ----------------------------------------------------------------------------------------------


def test_an_over_limit_paste_is_refused_whole_and_kept_in_the_form(pair, db) -> None:  # type: ignore[no-untyped-def]
    page = pair.sato_browser.get(pair.editor).get_data(as_text=True)
    textarea = re.search(r"<textarea[^>]*>", page).group(0)
    assert "maxlength" not in textarea, "the browser must not cut a paste silently"
    assert f'data-max-chars="{reports.MAX_TEXT}"' in textarea
    assert 'id="report-counter"' in page and "/static/report.js" in page

    pasted = "あ" * (reports.MAX_TEXT + 5)
    for button in ("save_draft", "hand_in"):
        response = post(pair.sato_browser, pair.editor, "0.0", pasted, button=button)
        html = response.get_data(as_text=True)
        assert response.status_code == 400
        assert "本文が上限（20000文字）を超えています（20005文字）" in html
        assert form_of(html)["text"] == pasted, "the whole text is still in the form"
        assert "20005 / 20000 文字" in html, "the counter says so too"
    assert versions(db, pair.team) == [], "nothing saved"


def test_line_ends_count_as_one_character_as_the_counter_counts_them(pair, db) -> None:  # type: ignore[no-untyped-def]
    """Browsers send CRLF; the page counts a line end once, so does the server."""
    text = "a\r\n" * (reports.MAX_TEXT // 2)  # 20000 characters on the page, 30000 as sent
    assert post(pair.sato_browser, pair.editor, "0.0", text).status_code == 302
    [draft] = versions(db, pair.team)
    assert draft.text == "a\n" * (reports.MAX_TEXT // 2) and len(draft.text) == reports.MAX_TEXT


# --- handing in asks first -----------------------------------------------------------------------------------------


def test_the_submit_button_asks_for_confirmation_and_save_does_not(pair) -> None:  # type: ignore[no-untyped-def]
    page = pair.sato_browser.get(pair.editor).get_data(as_text=True)
    submit = re.search(r'<input[^>]*name="hand_in"[^>]*>', page).group(0)
    save = re.search(r'<input[^>]*name="save_draft"[^>]*>', page).group(0)
    assert f'data-confirm="{CONFIRM}"' in submit
    assert "data-confirm" not in save
    script = pair.sato_browser.get("/static/site.js")  # on every page: a pressed button's data-confirm asks too
    assert script.status_code == 200 and b"event.submitter" in script.data
    script.close()


def test_a_save_from_an_older_window_of_one_s_own_says_so(pair, db) -> None:  # type: ignore[no-untyped-def]
    old_tab = open_editor(pair.sato_browser, pair.editor)
    assert post(pair.sato_browser, pair.editor, old_tab["base"], "新しいタブの文").status_code == 302
    response = post(pair.sato_browser, pair.editor, old_tab["base"], "古いタブの文")
    html = response.get_data(as_text=True)
    assert response.status_code == 409 and "別の画面" in html and "新しいタブの文" in theirs_block(html)
    assert [v.text for v in versions(db, pair.team)] == ["新しいタブの文"]
