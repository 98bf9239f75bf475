"""The report editor in Chromium: the counter follows the text, handing in asks first, and two members
writing at once each keep their text."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import ReportStatus, ReportVersion, Role
from tests.browser.conftest import login
from tests.factories import add_member, make_running_exercise, make_user

PASSWORD = "correct-horse-battery"
CONFIRM = "提出すると、講師から修正依頼がない限り変更できません。提出しますか？"


@pytest.fixture
def editor(db, live_server):  # type: ignore[no-untyped-def]
    exercise = make_running_exercise(db, elapsed=1300, fired={"police-call": 1200})
    team = exercise.teams[0]
    for login_name, name in (("sato", "佐藤 花子"), ("suzuki", "鈴木 一郎")):
        add_member(db, team, make_user(db, role=Role.TRAINEE, login=login_name, display_name=name))
    db.commit()
    return f"{live_server}/teams/{team.id}/reports/first-report", team


def test_the_counter_counts_and_handing_in_asks_first(db, page, live_server, editor) -> None:  # type: ignore[no-untyped-def]
    url, team = editor
    login(page, live_server, "sato", PASSWORD)
    page.goto(url)
    counter = page.locator("#report-counter")
    page.locator("textarea[name=text]").fill("あ" * 20_003)
    assert counter.inner_text() == "20003 / 20000 文字（上限を 3 文字超えているため保存できません）"
    assert "errors-inline" in (counter.get_attribute("class") or "")
    page.locator("textarea[name=text]").fill("ws01 が感染\n隔離済み")
    assert counter.inner_text() == "13 / 20000 文字", "a line end counts once, as on the server"

    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="提出").click()
    assert asked == [CONFIRM]
    assert db.scalar(select(ReportVersion.id).where(ReportVersion.team_id == team.id)) is None, "declined: nothing"

    page.get_by_role("button", name="下書き保存").click()  # no question for a draft
    page.wait_for_load_state()
    assert "下書きを保存しました。" in page.content()
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="提出").click()
    page.wait_for_load_state()
    assert asked == [CONFIRM, CONFIRM] and "報告書を提出しました。" in page.content()
    db.expire_all()
    assert db.scalar(select(ReportVersion.status).where(ReportVersion.team_id == team.id)) is ReportStatus.SUBMITTED


def test_two_members_saving_at_once_both_texts_survive(db, new_page, live_server, editor) -> None:  # type: ignore[no-untyped-def]
    url, team = editor
    sato, suzuki = new_page(), new_page()
    login(sato, live_server, "sato", PASSWORD)
    login(suzuki, live_server, "suzuki", PASSWORD)
    sato.goto(url)
    suzuki.goto(url)
    sato.locator("textarea[name=text]").fill("佐藤の文")
    suzuki.locator("textarea[name=text]").fill("鈴木の文")
    sato.get_by_role("button", name="下書き保存").click()
    sato.wait_for_load_state()
    suzuki.get_by_role("button", name="下書き保存").click()
    suzuki.wait_for_load_state()
    assert "編集中に 佐藤 花子 さんがこの下書きを保存しました。内容を確認してから保存し直してください。" in suzuki.content()
    assert suzuki.locator("#conflict pre").inner_text() == "佐藤の文"
    assert suzuki.locator("textarea[name=text]").input_value() == "鈴木の文"
    suzuki.locator("textarea[name=text]").fill("佐藤の文\n鈴木の文")
    suzuki.get_by_role("button", name="下書き保存").click()
    suzuki.wait_for_load_state()
    assert "下書きを保存しました。" in suzuki.content()
    db.expire_all()
    assert db.scalar(select(ReportVersion.text).where(ReportVersion.team_id == team.id)) == "佐藤の文\n鈴木の文"
