"""Tasks, hints, reports and scores in the browser: what trainees and instructors see and may do."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Exercise, InjectRun, ReportVersion, Role, ScoringRound, Team, TeamScore
from app.runtime import rounds
from app.services import ledger, scenarios, tokens
from scoring.checks import CheckResult
from tests.factories import add_member, make_running_exercise, make_user, run_by

TASK = "infected-host"
REPORT = "first-report"
PROMPT_JA = "不審な通信をしている端末のホスト名は？"
HINT_JA = "プロセス一覧を見てみましょう。"


@dataclass
class World:
    exercise: Exercise
    team_a: Team
    team_b: Team

    def tasks(self, team: Team | None = None) -> str:
        return f"/teams/{(team or self.team_a).id}/tasks"

    def answer(self, team: Team | None = None) -> str:
        return f"/teams/{(team or self.team_a).id}/tasks/{TASK}/answer"

    def hint(self, team: Team | None = None) -> str:
        return f"/teams/{(team or self.team_a).id}/tasks/{TASK}/hints/0"

    def reports(self, team: Team | None = None) -> str:
        return f"/teams/{(team or self.team_a).id}/reports"

    def report(self, team: Team | None = None) -> str:
        return f"/teams/{(team or self.team_a).id}/reports/{REPORT}"

    @property
    def staff(self) -> str:
        return f"/exercises/{self.exercise.id}"


@pytest.fixture
def world(db: Session) -> World:
    """A running two-team exercise whose police call came in 100 seconds ago: the task is open."""
    exercise = make_running_exercise(db, elapsed=1300, fired={"police-call": 1200})
    team_a, team_b = exercise.teams
    add_member(db, team_a, make_user(db, role=Role.TRAINEE, login="kenshu-a"))
    add_member(db, team_b, make_user(db, role=Role.TRAINEE, login="kenshu-b"))
    run_by(db, exercise, make_user(db, role=Role.INSTRUCTOR, login="sensei"))
    db.commit()
    return World(exercise, team_a, team_b)


def page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def answer(client: FlaskClient, world: World, text: str) -> str:
    response = client.post(world.answer(), data={f"{TASK}-answer": text}, follow_redirects=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def points(db: Session, team: Team) -> int:
    db.expire_all()
    return db.scalar(select(TeamScore.points).where(TeamScore.team_id == team.id)) or 0


# --- tasks and hints ---------------------------------------------------------------------------------------------


def test_a_trainee_answers_a_task_in_full_width_and_sees_the_points(client, auth, db, world) -> None:  # type: ignore[no-untyped-def]
    auth.login("kenshu-a")
    tasks_page = page(client, world.tasks())
    assert PROMPT_JA in tasks_page and "残り解答回数" in tasks_page

    wrong = answer(client, world, "ws02")
    assert "不正解です（-5 点）。残り 2 回です。" in wrong

    right = answer(client, world, "ｗｓ０１")
    assert "正解です。チームに 50 点が加算されました。" in right
    assert "正解済み" in right and f'name="{TASK}-answer"' not in right, "a solved task takes no more answers"
    assert points(db, world.team_a) == 45

    again = client.post(world.answer(), data={f"{TASK}-answer": "ws01"})
    assert again.status_code == 409 and "既に正解しています" in again.get_data(as_text=True)


def test_an_empty_answer_is_refused_beside_its_field(client, auth, world) -> None:  # type: ignore[no-untyped-def]
    auth.login("kenshu-a")
    response = client.post(world.answer(), data={f"{TASK}-answer": "  "})
    assert response.status_code == 400
    assert f'id="{TASK}-answer-errors"' in response.get_data(as_text=True)


def test_a_hint_is_confirmed_then_shown_and_costs_points(client, auth, db, world) -> None:  # type: ignore[no-untyped-def]
    auth.login("kenshu-a")
    tasks_page = page(client, world.tasks())
    assert HINT_JA not in tasks_page and "10 点減点" in tasks_page

    confirm = page(client, world.hint())
    assert "このヒントを見ると 10 点減点されます。" in confirm
    assert HINT_JA not in confirm, "looking at the confirmation costs nothing and shows nothing"
    assert points(db, world.team_a) == 0

    taken = client.post(world.hint(), follow_redirects=True).get_data(as_text=True)
    assert HINT_JA in taken
    assert points(db, world.team_a) == -10
    client.post(world.hint())
    assert points(db, world.team_a) == -10, "a hint is paid once"

    auth.logout()
    auth.login("sensei")
    lines = page(client, f"{world.staff}/teams/1/score")
    assert "ヒント" in lines and "-10" in lines and PROMPT_JA in lines


def test_a_task_that_is_not_open_is_not_shown(client, auth, db, world) -> None:  # type: ignore[no-untyped-def]
    db.query(InjectRun).filter(InjectRun.team_id == world.team_a.id).delete()
    db.commit()
    auth.login("kenshu-a")
    assert PROMPT_JA not in page(client, world.tasks())
    assert client.get(world.hint()).status_code == 404
    assert client.post(world.answer(), data={f"{TASK}-answer": "ws01"}).status_code == 404


def test_staff_see_a_teams_tasks_but_do_not_answer_for_it(client, auth, db, world) -> None:  # type: ignore[no-untyped-def]
    auth.login("sensei")
    tasks_page = page(client, world.tasks())
    assert PROMPT_JA in tasks_page and f'name="{TASK}-answer"' not in tasks_page
    assert client.post(world.answer(), data={f"{TASK}-answer": "ws01"}).status_code == 403
    assert client.post(world.hint()).status_code == 403
    assert points(db, world.team_a) == 0


def test_another_team_can_neither_see_nor_act(client, auth, db, world) -> None:  # type: ignore[no-untyped-def]
    auth.login("kenshu-b")
    for path in (world.tasks(), world.hint(), world.reports(), world.report()):
        assert client.get(path).status_code == 403, path
    assert client.post(world.answer(), data={f"{TASK}-answer": "ws01"}).status_code == 403
    assert client.post(world.hint()).status_code == 403
    assert client.post(world.report(), data={"text": "x", "save_draft": "1"}).status_code == 403
    for path in ("/scores", "/grading", "/teams/1/score"):
        assert client.get(world.staff + path).status_code == 403, path
    assert client.post(f"{world.staff}/adjustments", data={"team": 1, "points": 5, "reason": "x"}).status_code == 403
    assert client.post(f"{world.staff}/grading/release").status_code == 403
    assert points(db, world.team_a) == 0
    assert db.scalar(select(ReportVersion.id)) is None
    assert PROMPT_JA in page(client, world.tasks(world.team_b)), "their own team's tasks are there"


# --- reports -----------------------------------------------------------------------------------------------------


def test_draft_submit_grade_and_release(client, auth, db, world) -> None:  # type: ignore[no-untyped-def]
    auth.login("kenshu-a")
    editor = page(client, world.report())
    assert "発生日時：" in editor and "下書き保存" in editor and "提出" in editor and "第一報" in editor

    saved = client.post(world.report(), data={"text": "影響範囲：ws01 のみ", "save_draft": "1"}, follow_redirects=True)
    assert "下書きを保存しました。" in saved.get_data(as_text=True)
    assert "影響範囲：ws01 のみ" in saved.get_data(as_text=True), "the draft comes back in the editor"
    assert "下書き（未提出）" in page(client, world.reports())

    assert 'name="base" type="hidden" value="1.1"' in saved.get_data(as_text=True), "the draft's first revision"
    submitted = client.post(world.report(), data={"text": "影響範囲：ws01 のみ（確定）", "base": "1.1", "hand_in": "1"},
                            follow_redirects=True).get_data(as_text=True)
    assert "報告書を提出しました。" in submitted and "提出済み（採点待ち）" in submitted

    auth.logout()
    auth.login("sensei")
    queue = page(client, f"{world.staff}/grading")
    assert "Team 01" in queue and "第一報" in queue
    version = db.scalar(select(ReportVersion))
    grade_page = page(client, f"{world.staff}/grading/{version.id}")
    assert "影響範囲：ws01 のみ（確定）" in grade_page and "影響範囲を特定している" in grade_page
    assert "0〜20 点" in grade_page and "採点" in grade_page and "差し戻し" in grade_page
    graded = client.post(f"{world.staff}/grading/{version.id}",
                         data={"criterion_0": "15", "comment": "範囲の特定が的確です", "grade": "1"},
                         follow_redirects=True).get_data(as_text=True)
    assert "採点しました（20 点中 15 点）" in graded and "採点済み・未公開" in graded
    assert points(db, world.team_a) == 15

    auth.logout()
    auth.login("kenshu-a")
    before = page(client, world.reports())
    assert "範囲の特定が的確です" not in before and "15 / 20" not in before
    assert "講師が公開すると結果が表示されます" in before

    auth.logout()
    auth.login("sensei")
    released = client.post(f"{world.staff}/grading/release", follow_redirects=True).get_data(as_text=True)
    assert "1 件の採点結果をチームに公開しました。" in released

    auth.logout()
    auth.login("kenshu-a")
    after = page(client, world.reports())
    assert "範囲の特定が的確です" in after and "15 / 20" in after and "合計：20 点中 15 点" in after


def test_a_revision_request_reaches_the_team_at_once(client, auth, db, world) -> None:  # type: ignore[no-untyped-def]
    auth.login("kenshu-a")
    client.post(world.report(), data={"text": "第一報です", "hand_in": "1"})
    version = db.scalar(select(ReportVersion))
    auth.logout()
    auth.login("sensei")
    no_comment = client.post(f"{world.staff}/grading/{version.id}", data={"comment": "", "revise": "1"})
    assert no_comment.status_code == 400 and "修正してほしい点" in no_comment.get_data(as_text=True)
    sent = client.post(f"{world.staff}/grading/{version.id}", data={"comment": "影響範囲を書いてください", "revise": "1"},
                       follow_redirects=True).get_data(as_text=True)
    assert "報告書をチームに差し戻しました。" in sent

    auth.logout()
    auth.login("kenshu-a")
    editor = page(client, world.report())
    assert "影響範囲を書いてください" in editor and "第一報です" in editor, "the sent-back text is ready to revise"


def test_a_grade_outside_the_rubric_is_shown_beside_its_field(client, auth, db, world) -> None:  # type: ignore[no-untyped-def]
    auth.login("kenshu-a")
    client.post(world.report(), data={"text": "第一報です", "hand_in": "1"})
    version = db.scalar(select(ReportVersion))
    auth.logout()
    auth.login("sensei")
    for given in ("25", ""):
        response = client.post(f"{world.staff}/grading/{version.id}", data={"criterion_0": given, "grade": "1"})
        assert response.status_code == 400
        assert 'id="criterion_0-errors"' in response.get_data(as_text=True)
    assert points(db, world.team_a) == 0


def test_an_empty_report_is_not_submitted(client, auth, db, world) -> None:  # type: ignore[no-untyped-def]
    auth.login("kenshu-a")
    response = client.post(world.report(), data={"text": "   ", "hand_in": "1"})
    assert response.status_code == 400 and "空の報告書は提出できません" in response.get_data(as_text=True)


# --- scores and adjustments --------------------------------------------------------------------------------------


def test_an_adjustment_appears_on_the_scoreboard_with_its_reason(client, auth, db, world) -> None:  # type: ignore[no-untyped-def]
    auth.login("sensei")
    exercise_page = page(client, world.staff)
    assert f"{world.staff}/scores" in exercise_page and f"{world.staff}/grading" in exercise_page

    done = client.post(f"{world.staff}/adjustments", data={"team": 2, "points": 30, "reason": "迅速な報告"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Team 02：+30 点を記録しました。" in done
    assert done.index("Team 02") < done.index("Team 01"), "the adjusted team leads"
    lines = page(client, f"{world.staff}/teams/2/score")
    assert "迅速な報告" in lines and "調整" in lines and "+30" in lines and "1 日目 00:2" in lines

    refused = client.post(f"{world.staff}/adjustments", data={"team": 1, "points": 0, "reason": "x"})
    assert refused.status_code == 400 and "0 以外" in refused.get_data(as_text=True)
    missing = client.post(f"{world.staff}/adjustments", data={"team": 1, "points": 5, "reason": ""})
    assert missing.status_code == 400 and 'id="reason-errors"' in missing.get_data(as_text=True)
    assert points(db, world.team_a) == 0 and points(db, world.team_b) == 30


def test_the_api_shows_and_adjusts_scores(client, db, world) -> None:  # type: ignore[no-untyped-def]
    sensei = make_user(db, role=Role.INSTRUCTOR, login="api-sensei")
    run_by(db, world.exercise, sensei)
    raw = tokens.issue(db, sensei, "test", actor=sensei)
    trainee_raw = tokens.issue(db, make_user(db, role=Role.TRAINEE), "test", actor=None)
    db.commit()
    bearer = {"Authorization": f"Bearer {raw}"}
    base = f"/api/v1/exercises/{world.exercise.id}"

    made = client.post(f"{base}/adjustments", json={"team": 1, "points": -7, "reason": "機器の無断停止"}, headers=bearer)
    assert made.status_code == 201 and made.get_json()["points"] == -7 and made.get_json()["source"] == "adjustment"
    board = client.get(f"{base}/scores", headers=bearer).get_json()
    assert [(s["rank"], s["team"]["number"], s["points"]) for s in board] == [(1, 2, 0), (2, 1, -7)]
    lines = client.get(f"{base}/teams/1/score-events", headers=bearer).get_json()
    assert lines["points"] == -7
    assert lines["breakdown"] == [{"source": "adjustment", "source_id": "instructor", "points": -7, "events": 1}]
    assert lines["events"][0]["reason"] == "機器の無断停止"

    assert client.post(f"{base}/adjustments", json={"team": 3, "points": 1, "reason": "x"}, headers=bearer).status_code == 404
    assert client.post(f"{base}/adjustments", json={"team": 1, "points": 0, "reason": "x"}, headers=bearer).status_code == 400
    assert client.post(f"{base}/adjustments", json={"team": 1, "points": "5", "reason": "x"},
                       headers=bearer).status_code == 422
    assert client.get("/api/v1/exercises/999999/scores", headers=bearer).status_code == 404
    assert client.get(f"{base}/scores", headers={"Authorization": f"Bearer {trainee_raw}"}).status_code == 403


# --- language ------------------------------------------------------------------------------------------------------


def test_pages_are_japanese_first_and_english_on_request(client, auth, db, world) -> None:  # type: ignore[no-untyped-def]
    auth.login("kenshu-a")
    team_page = page(client, f"/teams/{world.team_a.id}")
    assert world.tasks() in team_page and world.reports() in team_page
    assert "設問" in page(client, world.tasks()) and "第一報" in page(client, world.reports())

    client.get("/lang/en")
    tasks_page = page(client, world.tasks())
    assert "Which host is making the suspicious connections?" in tasks_page and PROMPT_JA not in tasks_page
    assert "Attempts left" in tasks_page
    reports_page = page(client, world.reports())
    assert "First report" in reports_page and "第一報" not in reports_page
    assert "When:" in page(client, world.report()), "the English template"
    assert "Seeing this hint takes 10 points" in page(client, world.hint())

    auth.logout()
    auth.login("sensei")
    for path in ("/scores", "/grading", "/teams/1/score"):
        body = page(client, world.staff + path)
        assert '<html lang="en"' in body and "得点" not in body, path


# --- check results and model answers in the scenario's words --------------------------------------------------------

RAW = "exit status 1, output ''"
EXPLAIN = {"pass": {"ja": "不審な通信は止まっています。", "en": "The suspicious traffic has stopped."},
           "fail": {"ja": "ws01 から不審な通信がまだ続いています。", "en": "ws01 is still calling out."}}


def edit_scenario(db: Session, exercise: Exercise, change: Callable[[dict[str, Any]], None]) -> None:
    """Change the exercise's scenario document (parsed afresh on the next request)."""
    document = copy.deepcopy(exercise.scenario.document)
    change(document)
    exercise.scenario.document = document
    db.commit()
    scenarios.forget_parsed()


def check_result(db: Session, world: World, number: int, status: str) -> None:
    """One scoring round of the beacon check for team A, through the engine's own ``record``."""
    check = next(c for c in scenarios.parsed(world.exercise.scenario).checks if c.id == "beacon-stopped")
    seconds = 1200.0 + number * 30
    scoring_round = ScoringRound(exercise_id=world.exercise.id, number=number, day=1, exercise_seconds=seconds,
                                 timeline_seconds=seconds)
    db.add(scoring_round)
    db.flush()
    rounds.record(db, world.team_a, scoring_round, check, CheckResult(status, RAW), ledger.at(world.exercise, 1, seconds),
                  active_since=0.0, previous_streak=0 if status == "up" else 1)
    db.commit()


def test_a_check_result_reads_as_a_neutral_sentence_for_the_team_and_as_detail_for_the_staff(client, auth, db, world) -> None:  # type: ignore[no-untyped-def]
    world.exercise.scores_visible = True
    check_result(db, world, 1, "up")  # the objective is met: its points, with the probe's raw reason
    auth.login("kenshu-a")
    lines = page(client, f"/teams/{world.team_a.id}/score")
    assert "確認できました。" in lines
    assert "exit status" not in lines and "output" not in lines, "the raw reason stays off the team's page"
    auth.logout()
    auth.login("sensei")
    staff = page(client, f"{world.staff}/teams/1/score")
    assert "確認できました。" in staff
    assert "技術的な詳細： <code>exit status 1, output &#39;&#39;</code>" in staff, "labelled, as written"


def test_a_check_result_reads_in_the_scenario_s_words_on_the_score_page_and_the_debrief(client, auth, db, world) -> None:  # type: ignore[no-untyped-def]
    edit_scenario(db, world.exercise, lambda d: d["checks"][0].update(explain=EXPLAIN))
    world.exercise.scores_visible = True
    check_result(db, world, 1, "down")
    check_result(db, world, 2, "up")
    auth.login("kenshu-a")
    lines = page(client, f"/teams/{world.team_a.id}/score")
    assert "不審な通信は止まっています。" in lines and "確認できました" not in lines and "exit status" not in lines
    auth.logout()
    auth.login("sensei")
    debrief = page(client, f"/review/exercises/{world.exercise.id}/teams/1/aar")
    assert "ws01 から不審な通信がまだ続いています。" in debrief, "the failing check, in the scenario's words"
    assert "不審な通信は止まっています。" in debrief, "and when it passed again"
    assert "exit status" not in debrief
    client.get("/lang/en")
    assert "ws01 is still calling out." in page(client, f"/review/exercises/{world.exercise.id}/teams/1/aar")


def test_the_debrief_shows_the_display_answer_and_never_a_regular_expression(client, auth, db, world) -> None:  # type: ignore[no-untyped-def]
    auth.login("sensei")
    path = f"/review/exercises/{world.exercise.id}/teams/1/aar"
    assert '<span class="aar-model">ws01</span>' in page(client, path), "a literal answer as written"

    def regex(document: dict[str, Any]) -> None:
        document["tasks"][0]["answer"] = {"match": "regex", "values": ["^ws0?1$"]}
    edit_scenario(db, world.exercise, regex)
    shown = page(client, path)
    assert "^ws0?1$" not in shown and '<span class="aar-model">（解説を参照）</span>' in shown

    def displayed(document: dict[str, Any]) -> None:
        document["tasks"][0]["display_answer"] = {"ja": "ws01（職員端末1）", "en": "ws01 (staff PC 1)"}
    edit_scenario(db, world.exercise, displayed)
    assert '<span class="aar-model">ws01（職員端末1）</span>' in page(client, path)
    client.get("/lang/en")
    assert '<span class="aar-model">ws01 (staff PC 1)</span>' in page(client, path)

    def spellings(document: dict[str, Any]) -> None:
        document["tasks"][0].pop("display_answer")
        document["tasks"][0]["answer"] = {"match": "one_of", "values": ["ws01", "ws01.city.example"]}
    edit_scenario(db, world.exercise, spellings)
    assert '<span class="aar-model">ws01 <small>(also accepted: ws01.city.example)</small></span>' in page(client, path)
