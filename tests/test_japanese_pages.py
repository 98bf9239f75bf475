"""No English state word or internal message reaches a Japanese page.

One exercise of the bundled two-day ransomware scenario in every state (draft → torn down), each with
two teams and their ranges; the started ones with inject runs in every run status, reports in every
status, threads and requests in every status, check results whose raw reason is an internal message
(``exit status 1, output ''``), task attempts, an adjustment and terminal sessions with every ending.
A trainee (on team 1 of each), an instructor (who runs them all) and an administrator then open every
GET page of the url_map they can reach, in Japanese. The visible text must hold no English state word
and no raw check reason: tags and attributes are stripped (a class such as ``state-paused`` is no
text), except the attributes a person reads or hears (``data-confirm``, ``aria-label``, ``placeholder``,
``alt``); ``<code>``, ``<pre>`` and ``<textarea>`` are left out on purpose, since they show what
trainees typed, scenario files and technical detail for the staff as written. The after-action
report's PDF is checked on the HTML handed to WeasyPrint.
"""
from __future__ import annotations

import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.models import (
    Exercise, ExerciseState, InjectRun, Message, RangeHost, RangeState, ReportStatus, ReportVersion, RequestRun,
    RequestStatus, Role, RunStatus, ScoreSource, ScoringRound, TaskAttempt, Team, TeamRange, TerminalSession,
    Thread, ThreadState, User,
)
from app.runtime import rounds
from app.scenario import load_scenario_file
from app.services import exports, injects, ledger, lifecycle, scenarios, scores
from app.services.terminals import EndReason
from scoring.checks import CheckResult
from tests.factories import PASSWORD, add_member, make_exercise, make_user

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "ransomware.yaml"
T0 = datetime(2026, 11, 27, 0, 0, tzinfo=timezone.utc)  # 09:00 in Tokyo
RAW_REASON = "exit status 1, output ''"  # what a check or an action reports when a command fails

# Every state word the database holds (exercise, range, host, inject run, report, thread, request, check,
# white cell, terminal ending), as it would leak: a raw enum value or its English label.
STATE_WORDS = [
    "draft", "provisioning", "ready", "running", "paused", "day_ended", "day ended", "finished", "torn_down",
    "torn down", "pending", "creating", "queued", "failed", "requested", "held", "done", "skipped", "missed",
    "interrupted", "submitted", "revision_requested", "graded", "released", "sent", "in_progress", "answered",
    "scheduled", "fulfilled", "refused", "repeated", "waiting", "dismissed", "up", "down", "error", "exited",
    "missing", "lost", "idle", "closed", "unavailable", "replied", "fired",
]
INTERNAL = ["exit status", "output ''", "Traceback", "engine stop", "re-run"]
WORDS = re.compile(r"(?<![A-Za-z0-9_.-])(" + "|".join(re.escape(w) for w in STATE_WORDS) + r")(?![A-Za-z0-9_.-])",
                   re.IGNORECASE)
# Read aloud or shown in a dialog: these attributes are text too.
SPOKEN = {"data-confirm", "aria-label", "placeholder", "alt"}
HIDDEN = {"code", "pre", "textarea", "script", "style"}

# Not pages: downloads, JSON, sockets, the PDF (checked on its HTML), the language switch, static files.
SKIPPED = {
    "static", "auth.language", "main.healthz", "api-docs.openapi_json", "teams.ssh_config", "terminal.recording",
    "terminal.socket", "terminal.watch_socket", "review.aar_pdf", "review.export_exercise",
    "review.export_exercises", "review.export_participation", "whitecell.attachment", "correspondence.attachment",
}
# The administrator sees the same exercise pages as the instructor: two states are enough to cover its extras.
ADMIN_STATES = {ExerciseState.RUNNING, ExerciseState.TORN_DOWN}


class VisibleText(HTMLParser):
    """The text a reader of the page sees (or hears), without tags, code blocks and technical attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in HIDDEN:
            self._hidden += 1
        self.parts.extend(value for name, value in attrs if name in SPOKEN and value)

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def findings(html: str) -> list[str]:
    """Each English state word or internal message in the visible text, with a little context."""
    parser = VisibleText()
    parser.feed(html)
    text = re.sub(r"\s+", " ", " ".join(parser.parts))
    found = [f"{m.group(0)!r} in “…{text[max(m.start() - 40, 0):m.end() + 40]}…”" for m in WORDS.finditer(text)]
    for phrase in INTERNAL:
        for m in re.finditer(re.escape(phrase), text):
            found.append(f"{phrase!r} in “…{text[max(m.start() - 40, 0):m.end() + 40]}…”")
    return found


def test_the_checker_finds_words_in_text_and_leaves_classes_code_and_names_alone() -> None:
    page = ('<p class="state state-paused" title="x">一時停止中</p><code>paused</code><pre>failed</pre>'
            '<form data-confirm="ready?"></form><td>状態：paused</td><p>Ready-made</p><p>up_to</p>'
            "<p>チェック：exit status 1, output ''</p>")
    assert findings('<p class="state-paused">一時停止中</p><code>done</code>') == []
    found = findings(page)
    assert [f.split(" in ")[0] for f in found] == ["'ready'", "'paused'", "'exit status'", '"output \'\'"']


# The world ---------------------------------------------------------------------------------------------------


@dataclass
class World:
    trainee: User
    instructor: User
    admin: User
    exercises: dict[ExerciseState, Exercise]
    ids: dict[int, dict[str, str]] = field(default_factory=dict)  # per exercise: path argument → value


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def build_world(db: Session, instance: Path) -> World:
    scenario = scenarios.register_file(db, load_scenario_file(SCENARIO)).scenario
    instructor = make_user(db, role=Role.INSTRUCTOR, login="ja-sensei", display_name="山田 講師")
    admin = make_user(db, role=Role.ADMIN, login="ja-kanri", display_name="管理 太郎")
    trainee = make_user(db, login="ja-kenshu", display_name="佐藤 花子")
    world = World(trainee, instructor, admin, {})
    for number, state in enumerate(ExerciseState, start=1):
        exercise = make_exercise(db, teams=2, scenario=scenario, instructor=instructor, name=f"みなと市演習 第{number}回")
        exercise.scores_visible = True
        add_member(db, exercise.teams[0], trainee)
        _reach(db, exercise, state)
        world.exercises[state] = exercise
        world.ids[exercise.id] = {"exercise_id": str(exercise.id), "team_id": str(exercise.teams[0].id),
                                  "number": "1", "index": "0", "user_id": str(trainee.id)}
        if state not in _NOT_STARTED:
            world.ids[exercise.id].update(_history(db, exercise, trainee, instructor, instance))
    db.commit()
    return world


_NOT_STARTED = {ExerciseState.DRAFT, ExerciseState.PROVISIONING, ExerciseState.READY}


def _ranges(db: Session, exercise: Exercise, one: RangeState, two: RangeState) -> None:
    """Team 1's range in state *one* (with its hosts), team 2's in *two* (failed: with Docker's reason)."""
    for team, state in zip(exercise.teams, (one, two)):
        row = TeamRange(team_id=team.id, state=state, step="queued" if state is RangeState.PENDING else "",
                        reason="network with name mmr-1-access already exists" if state is RangeState.FAILED else "",
                        gateway_port=22000 + team.id, gateway_user="team", gateway_password="pw")
        db.add(row)
        db.flush()
        for name, host_state in (("fs01", "running"), ("ws01", "exited"), ("bk01", "missing")):
            db.add(RangeHost(team_range_id=row.id, name=name, container_id=f"c{team.id}{name}", state=host_state,
                             addresses={"office": "10.0.1.10"}))


def _reach(db: Session, exercise: Exercise, state: ExerciseState) -> None:
    """Bring *exercise* to *state* the way it gets there: lifecycle calls, or the row a job writes."""
    if state is ExerciseState.DRAFT:
        return
    if state is ExerciseState.PROVISIONING:
        exercise.state = state
        _ranges(db, exercise, RangeState.CREATING, RangeState.PENDING)
        return
    exercise.state = ExerciseState.READY
    if state is ExerciseState.READY:
        _ranges(db, exercise, RangeState.READY, RangeState.FAILED)
        return
    _ranges(db, exercise, RangeState.READY, RangeState.PAUSED if state is ExerciseState.PAUSED else RangeState.FAILED)
    lifecycle.start(db, exercise, actor=None, speed=1, now=T0)
    if state is ExerciseState.PAUSED:
        lifecycle.pause(db, exercise, actor=None, now=at(3600))
    elif state is ExerciseState.DAY_ENDED:
        assert lifecycle.close_day(db, exercise, now=at(5 * 3600))  # the engine ends the day at its length
    elif state in (ExerciseState.FINISHED, ExerciseState.TORN_DOWN):
        lifecycle.finish(db, exercise, actor=None, now=at(4 * 3600))
    if state is ExerciseState.TORN_DOWN:
        exercise.state = state
        for row in db.query(TeamRange).filter(TeamRange.team_id.in_([t.id for t in exercise.teams])):
            row.state = RangeState.TORN_DOWN


def _history(db: Session, exercise: Exercise, trainee: User, instructor: User, instance: Path) -> dict[str, str]:
    """Everything a started exercise records, in every status; returns the ids its pages take."""
    model = scenarios.parsed(exercise.scenario)
    one, two = exercise.teams
    _inject_runs(db, exercise, model, one, two)
    injects.send(db, exercise, subject="全チームへの連絡", body="10 分後に休憩します。", teams=None, actor=None)
    thread_id = _correspondence(db, exercise, model, one, trainee)
    _checks(db, exercise, model, one, two)
    task = model.tasks[0]
    for number, (answer, correct) in enumerate((("ws99", False), ("vpn01", True)), start=1):
        db.add(TaskAttempt(exercise_id=exercise.id, team_id=one.id, task_id=task.id, number=number, user_id=trainee.id,
                           answer=answer, correct=correct, at=at(900 + number * 60), day=1,
                           exercise_seconds=900 + number * 60, timeline_seconds=900 + number * 60))
        ledger.append(db, one, source=ScoreSource.TASK if correct else ScoreSource.WRONG_ANSWER, source_id=task.id,
                      key=f"task:{task.id}:{number}", points=task.points if correct else -task.wrong_penalty,
                      when=ledger.at(exercise, 1, 900 + number * 60), detail={"attempt": number})
    version_id = _reports(db, exercise, model, one, two, trainee, instructor)
    scores.adjust(db, exercise, one, 5, "上長への報告が迅速でした", actor=instructor, now=at(3000))
    terminal_id = 0
    for index, reason in enumerate(EndReason):
        row = TerminalSession(exercise_id=exercise.id, team_id=one.id, user_id=trainee.id, host="ws01",
                              account="staff", started_at=at(1000 + index * 100), ended_at=at(1060 + index * 100),
                              end_reason=reason.value)
        db.add(row)
        db.flush()
        terminal_id = terminal_id or row.id
        row.recording = f"recordings/{exercise.id}/{one.id}/{row.id}.cast"
        recording = instance / row.recording
        recording.parent.mkdir(parents=True, exist_ok=True)
        recording.write_text('{"version": 2, "width": 80, "height": 24}\n[0.5, "o", "$ "]\n[1.0, "i", "ls\\r"]\n',
                             encoding="utf-8")
    db.add(TerminalSession(exercise_id=exercise.id, team_id=one.id, user_id=trainee.id, host="fs01", account="staff",
                           started_at=at(2000)))  # still open
    db.flush()
    message = next(m for m in injects.inbox(db, one) if m.thread_id is None)
    return {"message_id": str(message.id), "thread_id": str(thread_id), "version_id": str(version_id),
            "report_id": model.reports[0].id, "task_id": task.id, "terminal_id": str(terminal_id)}


def _inject_runs(db: Session, exercise: Exercise, model: Any, one: Team, two: Team) -> None:
    """Team 1's injects in every run status (as the engine writes them), team 2's all done."""
    statuses = list(RunStatus)
    results = {RunStatus.FAILED: RAW_REASON, RunStatus.DONE: "ok", RunStatus.SKIPPED: "skipped: condition false",
               RunStatus.INTERRUPTED: "interrupted by an engine stop; not re-run (not idempotent)"}
    for index, inject in enumerate(model.injects[:len(statuses)]):
        status = statuses[index]
        started = 300.0 * (index + 1)
        ran = status in (RunStatus.RUNNING, RunStatus.DONE, RunStatus.FAILED, RunStatus.INTERRUPTED)
        db.add(InjectRun(exercise_id=exercise.id, team_id=one.id, inject_id=inject.id, status=status, day=1,
                         due_seconds=started, started_seconds=started if ran else None,
                         started_at=at(started) if ran else None, result=results.get(status, ""),
                         output="Traceback (most recent call last):" if status is RunStatus.FAILED else ""))
        db.add(InjectRun(exercise_id=exercise.id, team_id=two.id, inject_id=inject.id, status=RunStatus.DONE, day=1,
                         due_seconds=started, started_seconds=started, started_at=at(started), result="ok"))
    db.flush()


def _correspondence(db: Session, exercise: Exercise, model: Any, team: Team, trainee: User) -> int:
    """A thread in every state; requests in every status; the white cell's queue in every state."""
    vendor = next(c for c in model.story.characters if c.requests)
    request = vendor.requests[0]
    threads = []
    for index, state in enumerate(ThreadState):
        thread = Thread(exercise_id=exercise.id, team_id=team.id, character_id=vendor.id, subject=f"ご相談 {index + 1}",
                        state=state, created_by_id=trainee.id, created_at=at(1200 + index), updated_at=at(1200 + index),
                        exercise_seconds=1200 + index)
        db.add(thread)
        db.flush()
        threads.append(thread)
        white_cell = ("waiting", "answered", "dismissed")[index % 3]
        db.add(Message(exercise_id=exercise.id, team_id=team.id, thread_id=thread.id, direction="out",
                       character_id=vendor.id, author_id=trainee.id, white_cell=white_cell, sender_ja="チーム",
                       sender_en="Team", subject_ja=thread.subject, subject_en=thread.subject,
                       body_ja="端末の状況を教えてください。", body_en="端末の状況を教えてください。",
                       exercise_seconds=1200 + index, created_at=at(1200 + index)))
        if state is ThreadState.ANSWERED:
            db.add(Message(exercise_id=exercise.id, team_id=team.id, thread_id=thread.id, direction="in",
                           character_id=vendor.id, sender_ja="高橋", sender_en="Takahashi",
                           subject_ja=f"Re: {thread.subject}", subject_en=f"Re: {thread.subject}",
                           body_ja=request.reply.ja, body_en=request.reply.en, exercise_seconds=1300,
                           created_at=at(1300)))
    results = {RequestStatus.FULFILLED: "replied", RequestStatus.FAILED: RAW_REASON,
               RequestStatus.REFUSED: "refused: the condition does not hold",
               RequestStatus.INTERRUPTED: "interrupted by an engine stop; not re-run (an instructor can run it again by hand)"}
    for index, status in enumerate(RequestStatus):
        db.add(RequestRun(exercise_id=exercise.id, team_id=team.id, thread_id=threads[index % len(threads)].id,
                          character_id=vendor.id, request_id=request.id, status=status, created_at=at(1250 + index),
                          exercise_seconds=1250 + index, timeline_seconds=1250 + index, result=results.get(status, ""),
                          output=RAW_REASON if status is RequestStatus.FAILED else ""))
    db.flush()
    return threads[-1].id


def _checks(db: Session, exercise: Exercise, model: Any, one: Team, two: Team) -> None:
    """Three rounds of every check through the engine's own ``record``: down, error, then up for team 1."""
    for number, (first, second) in enumerate((("down", "down"), ("error", "down"), ("up", "down")), start=1):
        seconds = 1800.0 + number * 60
        scoring_round = ScoringRound(exercise_id=exercise.id, number=number, day=1, exercise_seconds=seconds,
                                     timeline_seconds=seconds, started_at=at(seconds), finished_at=at(seconds))
        db.add(scoring_round)
        db.flush()
        when = ledger.at(exercise, 1, seconds)
        for check in model.checks:
            for team, status in ((one, first), (two, second)):
                reason = RAW_REASON if status != "up" else "output 'ok'"
                rounds.record(db, team, scoring_round, check, CheckResult(status, reason), when,
                              active_since=0.0, previous_streak=0 if status == "up" else number - 1)


def _reports(db: Session, exercise: Exercise, model: Any, one: Team, two: Team, trainee: User,
             instructor: User) -> int:
    """Team 1: a graded and released first report, a newer submitted version, a draft final report. Team 2: a first
    report sent back then graded (not released), a submitted final report. Returns team 1's submitted version."""
    first, final = model.reports[0], model.reports[-1]
    of = sum(c.points for c in first.rubric)
    rows = [
        (one, first, 1, ReportStatus.GRADED, True), (one, first, 2, ReportStatus.SUBMITTED, False),
        (one, final, 1, ReportStatus.DRAFT, False), (two, first, 1, ReportStatus.REVISION_REQUESTED, False),
        (two, first, 2, ReportStatus.GRADED, False), (two, final, 1, ReportStatus.SUBMITTED, False),
    ]
    submitted = 0
    for team, report, number, status, released in rows:
        seconds = 2400.0 + number * 300
        graded = status is ReportStatus.GRADED
        row = ReportVersion(
            exercise_id=exercise.id, team_id=team.id, report_id=report.id, number=number, status=status,
            text="発生日時：11 月 27 日 9:40\n影響範囲：fs01 の共有フォルダ", author_id=trainee.id,
            submitted_at=None if status is ReportStatus.DRAFT else at(seconds), day=1, exercise_seconds=seconds,
            timeline_seconds=seconds, scores={c.id: c.points // 2 for c in report.rubric} if graded else {},
            total=of // 2 if graded else None, comment="影響範囲の根拠を具体的に。" if status is not ReportStatus.SUBMITTED else "",
            grader_id=instructor.id if graded else None, graded_at=at(seconds + 60) if graded else None,
            released_at=at(seconds + 120) if released else None)
        db.add(row)
        db.flush()
        if graded:
            ledger.append(db, team, source=ScoreSource.REPORT, source_id=report.id, key=f"report:{report.id}:{number}",
                          points=of // 2, when=ledger.at(exercise, 1, seconds + 60),
                          detail={"version": number, "total": of // 2, "of": of}, actor=instructor)
        if team is one and status is ReportStatus.SUBMITTED:
            submitted = row.id
    return submitted


# The pages ---------------------------------------------------------------------------------------------------


def _path(rule: Any, values: dict[str, str]) -> str | None:
    """The rule's path with *values* for its arguments; ``None`` when one is missing."""
    if any(name not in values for name in rule.arguments):
        return None
    return re.sub(r"<(?:[^:<>]+:)?([a-z_]+)>", lambda m: values[m.group(1)], rule.rule)


def _client(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    client.set_cookie("mamori_lang", "ja")
    assert client.post("/login", data={"login": user.login, "password": PASSWORD}).status_code == 302
    return client


def test_every_page_in_every_state_speaks_japanese(app: Flask, db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    world = build_world(db, app.config["MAMORI_SETTINGS"].instance_path)
    pdf_sources: list[str] = []
    monkeypatch.setattr(exports, "to_pdf", lambda html, css: pdf_sources.append(html) or b"%PDF-1.7")
    rules = [r for r in app.url_map.iter_rules()
             if "GET" in (r.methods or ()) and not r.websocket and r.endpoint not in SKIPPED
             and not r.endpoint.startswith("api")]
    problems: dict[str, list[str]] = defaultdict(list)
    rendered: set[str] = set()
    started = time.monotonic()
    personas = {"trainee": world.trainee, "instructor": world.instructor, "admin": world.admin}
    for persona, user in personas.items():
        client = _client(app, user)
        seen: set[str] = set()
        for state, exercise in world.exercises.items():
            if persona == "admin" and state not in ADMIN_STATES:
                continue
            values = world.ids[exercise.id]
            for rule in rules:
                path = _path(rule, values)
                if path is None or path in seen:
                    continue
                seen.add(path)
                try:
                    response = client.get(path)
                except Exception as exc:  # noqa: BLE001 - a page that cannot render is reported with the others
                    problems[f"{persona} {rule.endpoint} [{state.value}]"].append(f"raised {exc!r}"[:200])
                    continue
                if response.status_code != 200 or not response.mimetype.startswith("text/html"):
                    continue
                rendered.add(rule.endpoint)
                for finding in findings(response.get_data(as_text=True)):
                    problems[f"{persona} {rule.endpoint} [{state.value}]"].append(finding)
            if persona != "trainee":
                pdf_path = f"/review/exercises/{exercise.id}/teams/1/aar.pdf"
                assert client.get(pdf_path).status_code == 200, pdf_path
                for finding in findings(pdf_sources.pop()):
                    problems[f"{persona} review.aar_pdf (HTML) [{state.value}]"].append(finding)
    anonymous = app.test_client()
    anonymous.set_cookie("mamori_lang", "ja")
    for endpoint, path in (("auth.login", "/login"),):
        response = anonymous.get(path)
        assert response.status_code == 200, path
        rendered.add(endpoint)
        problems[f"anonymous {endpoint}"].extend(findings(response.get_data(as_text=True)))
    elapsed = time.monotonic() - started
    missed = sorted({r.endpoint for r in rules} - rendered)
    problems = {k: v for k, v in problems.items() if v}
    report = [f"{where}: {', '.join(sorted(set(found))[:6])}" for where, found in sorted(problems.items())]
    assert (report, missed) == ([], []), (f"{len(report)} page(s) show English or internals:\n" + "\n".join(report)
                                          + f"\npages no one could open in the world of this test: {missed}")
    assert elapsed < 60, f"the pass took {elapsed:.0f} s: keep it bounded"
