"""The whole exercise, as its people live it, in Chromium against a real range and a running engine.

An instructor creates an exercise and imports the roster (one-time passwords
on slips), builds every team's range from the readiness board and starts the
day at 60× speed (each irreversible click asks first); the engine runs beside the web app in its own process, as
``mamori serve`` runs it. A trainee logs in with the slip's password, chooses
a new one, sees the police's message arrive in the inbox without reloading,
answers the task and submits the first report. The team's organisation
answers too: the vendor refuses to isolate ws01 before the chief has been
told, the trainee tells the chief, asks again, and the vendor's reply arrives
with ws01 really cut off; a question no request recognises reaches the white
cell, where the instructor answers as the vendor. The instructor grades the
report and releases the grade and finishes the exercise; the
administrator sees the score in the review and opens the after-action report
and its PDF; the instructor tears the ranges down from the readiness board.
The instructor never needs a terminal.

Screenshots of the way go to ``$MAMORI_SCREENSHOTS`` (``docs/screenshots/``
was made that way); without it, to the test's temporary folder.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask

from sqlalchemy import select

from app.models import Exercise, Role
from app.scenario import load_scenario_file
from app.services import range_jobs, ranges, scenarios
from app.settings import Settings
from range import labels
from range.docker_backend import DockerBackend
from range.engine import DockerRangeEngine
from tests.browser.conftest import login
from tests.factories import PASSWORD, make_user
from tests.test_range.conftest import docker_backend  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.docker]

NEW_PASSWORD = "minato-csirt-2026"
REPORT = "発生日時：1 日目 00:10 ごろ\n影響範囲：ws01 のみ\n対応状況：不審な curl のプロセスを停止しました。"
# The minimal scenario with its organisation (docs/scenario-format.md, "Worked example: the organisation").
ORGANISATION = Path(__file__).resolve().parents[1] / "scenarios" / "valid" / "organisation-example.yaml"


@pytest.fixture
def people(db) -> None:  # type: ignore[no-untyped-def]
    scenarios.register_file(db, load_scenario_file(ORGANISATION))
    make_user(db, role=Role.INSTRUCTOR, login="sensei", display_name="山田 講師")
    make_user(db, role=Role.ADMIN, login="kanri", display_name="県 管理者")
    db.commit()


@pytest.fixture
def engine_process(app: Flask, settings: Settings, tmp_path: Path) -> Iterator[None]:
    """``mamori engine run`` on the test database: exercise time, injects and scoring rounds."""
    log = open(tmp_path / "engine.log", "wb")
    process = subprocess.Popen([range_jobs.mamori_program(), "engine", "run", "--interval", "0.5"],
                               env=range_jobs.job_environment(settings), stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


@pytest.fixture
def ranges_removed(db, settings: Settings, docker_backend: DockerBackend) -> Iterator[None]:  # type: ignore[no-untyped-def]  # noqa: F811
    """Whatever the test built is removed by label, also when it fails."""
    yield
    db.rollback()
    for exercise in db.scalars(select(Exercise)):
        DockerRangeEngine(docker_backend).teardown(ranges.range_label(settings.instance_id, exercise))


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("MAMORI_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def new_page(new_page, tmp_path: Path) -> Iterator:  # type: ignore[no-untyped-def, type-arg]
    """Tabs that leave a screenshot in the test's folder when the journey fails (to see where it stopped)."""
    pages = []

    def make():  # type: ignore[no-untyped-def]
        pages.append(new_page())
        return pages[-1]

    yield make
    for index, page in enumerate(pages):
        page.screenshot(path=tmp_path / f"last-{index}.png", full_page=True)


def test_an_exercise_from_creation_to_the_after_action_report(  # type: ignore[no-untyped-def]
        live_server: str, new_page, people, engine_process, ranges_removed, shots: Path, tmp_path: Path,
        db, settings: Settings, docker_backend: DockerBackend) -> None:  # noqa: F811
    instructor, trainee, admin = new_page(), new_page(), new_page()
    asked: list[str] = []  # what the instructor's confirmations said; each is accepted

    def accept(dialog) -> None:  # type: ignore[no-untyped-def]
        asked.append(dialog.message)
        dialog.accept()

    instructor.on("dialog", accept)

    # The instructor creates the exercise and imports the roster.
    login(instructor, live_server, "sensei", PASSWORD)
    instructor.goto(f"{live_server}/exercises/new")
    instructor.get_by_label(re.compile("不審な通信の発見")).check()
    instructor.get_by_label("演習名").fill("みなと市 CSIRT 演習")
    instructor.get_by_label("チーム数").fill("1")
    instructor.get_by_label("都道府県").select_option(label="神奈川県")
    instructor.get_by_label("会場").fill("県庁 第 3 会議室")
    instructor.get_by_label("初日").fill("2026-11-27")
    instructor.screenshot(path=shots / "01-instructor-new-exercise.png", full_page=True)
    instructor.get_by_role("button", name="作成").click()
    instructor.wait_for_url(re.compile(r"/exercises/\d+$"))
    exercise_id = int(instructor.url.rsplit("/", 1)[1])

    roster = tmp_path / "roster.csv"
    roster.write_text("name,organisation,login,team\n佐藤 花子,情報政策課,kenshu01,1\n", encoding="utf-8")
    instructor.get_by_label("受講者名簿（CSV、UTF-8）").set_input_files(str(roster))
    instructor.get_by_role("button", name="取り込み", exact=True).click()
    slip = instructor.locator(".slip").filter(has_text="kenshu01")
    one_time = slip.locator("code").nth(1).inner_text()
    instructor.screenshot(path=shots / "02-instructor-password-slips.png", full_page=True)

    # Every team's range is built from the readiness board (the mamori command, detached), then the day starts.
    instructor.goto(f"{live_server}/exercises/{exercise_id}/readiness")
    instructor.get_by_role("button", name="全チームの演習環境を構築").click()
    instructor.locator("#team-1").get_by_text("準備完了").wait_for(timeout=180_000)
    instructor.get_by_text("構築完了").first.wait_for(timeout=30_000)  # the job's result line
    instructor.screenshot(path=shots / "03-instructor-readiness.png", full_page=True)
    instructor.goto(f"{live_server}/exercises/{exercise_id}")
    start = instructor.locator("form").filter(has=instructor.get_by_role("button", name="開始"))
    start.locator("input[name=speed]").fill("60")
    start.get_by_role("button", name="開始").click()
    instructor.get_by_text("実施中").first.wait_for()
    assert len(asked) == 1 and "1 日目" in asked[0], asked

    # The trainee logs in with the slip, chooses a password, and waits for the police's call (00:20).
    login(trainee, live_server, "kenshu01", one_time)
    trainee.get_by_label("現在のパスワード").fill(one_time)
    trainee.get_by_label("新しいパスワード", exact=True).fill(NEW_PASSWORD)
    trainee.locator("input[name=confirm]").fill(NEW_PASSWORD)
    trainee.get_by_role("button", name="変更").click()
    trainee.goto(live_server)
    trainee.locator("main a[href^='/teams/']").first.click()
    team_url = trainee.url
    assert re.search(r"/teams/\d+$", team_url), team_url
    trainee.get_by_text("未読 1 件").wait_for(timeout=90_000)  # arrives without a reload
    trainee.screenshot(path=shots / "04-trainee-team-page.png", full_page=True)
    trainee.goto(f"{team_url}/inbox")  # (the link is in the box that refreshes itself)
    trainee.get_by_role("link", name=re.compile("不審な通信について")).click()
    assert "貴市のネットワークから不審なサーバへの通信を確認しました。" in trainee.content()

    trainee.goto(f"{team_url}/tasks")
    trainee.get_by_label("解答").fill("ws01")
    trainee.get_by_role("button", name="解答").click()
    assert "正解" in trainee.content()
    trainee.screenshot(path=shots / "05-trainee-task-answered.png", full_page=True)

    trainee.goto(f"{team_url}/reports/first-report")
    trainee.locator("textarea[name=text]").fill(REPORT)
    trainee.once("dialog", lambda dialog: dialog.accept())  # 「提出すると、…変更できません。提出しますか？」
    trainee.get_by_role("button", name="提出").click()
    assert "提出済み" in trainee.content()

    # The vendor isolates ws01 only once the chief has been told: refused first, then done.
    def write(to: str, subject: str, body: str, request: str = "", host: str = "") -> None:
        trainee.goto(f"{team_url}/messages/new")
        trainee.locator(f"input[name=to][value={to}]").check()
        trainee.get_by_label("件名").fill(subject)
        trainee.get_by_label("本文").fill(body)
        if request:
            trainee.locator("select[name=request]").select_option(request)
            trainee.locator(f"select[name='param.{to}.{request.split('/')[1]}.host']").select_option(host)
        with trainee.expect_navigation():
            trainee.get_by_role("button", name="送信").click()
        assert re.search(r"/threads/\d+(#|$)", trainee.url), trainee.url

    write("vendor", "ws01 の隔離のお願い", "調査のため ws01 を隔離してください。", "vendor/isolate", "ws01")
    refused = trainee.url.split("#")[0]
    for _ in range(30):  # the engine decides within a second or two of exercise time
        trainee.goto(refused)
        if "課長への報告が必要です" in trainee.content():
            break
        trainee.wait_for_timeout(1000)
    assert "課長への報告が必要です" in trainee.content()
    write("boss", "ws01 の件（報告）", "課長、ws01 が不審な通信をしていたため停止しました。第一報を提出済みです。")
    write("vendor", "ws01 の隔離（再依頼）", "課長に報告しました。ws01 を隔離してください。", "vendor/isolate", "ws01")
    isolated = trainee.url.split("#")[0]
    for _ in range(60):  # five minutes of exercise time: five seconds at 60×
        trainee.goto(isolated)
        if "をネットワークから切り離しました" in trainee.content():
            break
        trainee.wait_for_timeout(1000)
    thread_text = trainee.locator("main").inner_text()
    assert "ws01 をネットワークから切り離しました" in thread_text and "みなとシステム 中村" in thread_text, thread_text
    assert "回答あり" in thread_text and "完了" in thread_text, thread_text
    trainee.screenshot(path=shots / "05b-trainee-vendor-isolated.png", full_page=True)
    db.expire_all()
    label = ranges.range_label(settings.instance_id, db.get(Exercise, exercise_id))
    cut = DockerRangeEngine(docker_backend).exec(label, "1", "attacker", [
        "timeout", "3", "bash", "-c", "echo > /dev/tcp/ws01/22"], timeout=10)
    assert not cut.ok, "ws01 is still reachable on its segment after the vendor isolated it"

    # A question no request recognises goes to the white cell; the instructor answers as the vendor.
    write("vendor", "ログの保存期間", "ws01 の通信ログは何日分保存されていますか？")
    question = trainee.url.split("#")[0]
    instructor.goto(f"{live_server}/exercises/{exercise_id}/white-cell")
    item = instructor.locator("article, li, section").filter(has_text="ログの保存期間").last
    item.locator("textarea").fill("ws01 の通信ログは 90 日分、ログサーバに保存しています。必要な期間をお知らせください。")
    instructor.screenshot(path=shots / "06a-instructor-white-cell.png", full_page=True)
    item.get_by_role("button", name=re.compile("として送信")).click()
    trainee.goto(question)
    answer = trainee.locator("main").inner_text()
    assert "90 日分、ログサーバに保存しています" in answer and "みなとシステム 中村" in answer, answer
    assert "山田 講師" not in answer, "the instructor's own name must not reach the trainees"

    # The instructor grades the report and releases the grade; the live view shows the team.
    instructor.goto(f"{live_server}/exercises/{exercise_id}/grading")
    instructor.locator("tr", has_text="第一報").get_by_role("link", name="採点").first.click()
    instructor.get_by_label(re.compile("影響範囲を特定している")).fill("20")
    instructor.locator("textarea[name=comment]").fill("影響範囲が明確です。次は時刻も具体的に。")
    instructor.screenshot(path=shots / "06-instructor-grading.png", full_page=True)
    instructor.get_by_role("button", name="採点", exact=True).click()
    instructor.goto(f"{live_server}/exercises/{exercise_id}/grading")
    instructor.get_by_role("button", name="採点結果を公開").click()
    instructor.goto(f"{live_server}/exercises/{exercise_id}/live")
    instructor.locator("#live-board").wait_for()
    instructor.screenshot(path=shots / "07-instructor-live-view.png", full_page=True)

    # The instructor finishes the exercise (a one-day scenario: its last day has no "end the day" button;
    # the day would end by itself at its length); it asks first and says what happens.
    instructor.goto(f"{live_server}/exercises/{exercise_id}")
    assert instructor.get_by_role("button", name="本日の演習を終了").count() == 0
    instructor.get_by_role("button", name="演習を終了").click()
    instructor.locator(".state-finished").first.wait_for()
    assert len(asked) == 2 and "元に戻せません" in asked[1], asked
    trainee.goto(team_url)
    over = trainee.locator("main").inner_text()
    assert "演習は終了しました" in over, over
    trainee.screenshot(path=shots / "07b-trainee-exercise-over.png", full_page=True)

    # The administrator sees the score and opens the after-action report.
    login(admin, live_server, "kanri", PASSWORD)
    admin.goto(f"{live_server}/review/exercises/{exercise_id}")
    ranking = admin.locator("table").first.inner_text()
    # 50 for the answer + 20 for the report's scope + 10 for the vendor's isolation (+ 10 if the report was on time)
    assert "Team 01" in ranking and re.search(r"\b(80|90)\b", ranking), ranking
    admin.screenshot(path=shots / "08-admin-review.png", full_page=True)
    admin.goto(f"{live_server}/review/exercises/{exercise_id}/teams/1/aar")
    aar = admin.content()
    for seen in ("警察からの通報", "「ws01」と解答", "第一報", "影響範囲が明確です。", "ws01 で curl が 30 秒ごとに"):
        assert seen in aar, seen
    admin.screenshot(path=shots / "09-admin-after-action-report.png", full_page=True)
    pdf = admin.request.get(f"{live_server}/review/exercises/{exercise_id}/teams/1/aar.pdf")
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")

    # The instructor tears the ranges down from the board (asked first); the trainee reads what happened.
    instructor.goto(f"{live_server}/exercises/{exercise_id}/readiness")
    instructor.get_by_role("button", name="全チームの演習環境を削除").click()
    instructor.get_by_text("削除完了").first.wait_for(timeout=120_000)
    assert len(asked) == 3 and "成績・報告書・端末記録・監査ログは残ります" in asked[2], asked
    instructor.screenshot(path=shots / "10-instructor-ranges-torn-down.png", full_page=True)
    assert docker_backend.containers(labels.filters(label)) == []
    assert docker_backend.networks(labels.filters(label)) == []
    trainee.goto(team_url)
    assert "撤去されました" in trainee.locator("main").inner_text()
