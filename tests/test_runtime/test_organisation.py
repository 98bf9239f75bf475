"""The engine carries out teams' requests to characters on real ranges: isolation, attachments, conditions,
once, exactly-once awards under parallel sends and two engines, branching injects on team events, recovery."""
from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app.models import (Exercise, InjectRun, Message, MessageAttachment, RequestRun, RequestStatus, RunStatus,
                        ScoreEvent, ScoreSource, Team, Thread, ThreadState, User)
from app.runtime.engine import Engine
from app.services import correspondence, exercises, lifecycle, reports, scenarios, tasks
from app.services.exercises import ExerciseDraft
from range.docker_backend import DockerBackend
from range.engine import DockerRangeEngine
from range.images import build_image
from range.labels import GATEWAY_HOST
from tests.clocks import ManualClock
from tests.factories import add_member, make_user
from tests.provisioned import build_ranges

pytestmark = pytest.mark.docker
MINIMAL = Path(__file__).resolve().parents[1] / "scenarios" / "valid" / "minimal.yaml"
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc)
APP_LOG = "/var/log/mamori-app.log"


def text(ja: str, en: str) -> dict[str, str]:
    return {"ja": ja, "en": en}


def run_on_ws01(command: str) -> dict[str, Any]:
    return {"type": "run", "params": {"host": "ws01", "command": command}}


CHARACTERS = [
    {"id": "boss", "kind": "boss", "name": text("山田 課長", "Section Chief Yamada"), "title": text("課長", "Chief"),
     "requests": [{"id": "approve", "label": text("停止の承認", "Approve a shutdown"),
                   "match": {"keywords": ["承認"]}, "reply": text("承認します。", "Approved.")}]},
    {"id": "vendor", "kind": "vendor", "name": text("みなとシステム保守", "Minato System Support"),
     "title": text("保守担当", "Support engineer"),
     "requests": [
         {"id": "isolate", "label": text("端末の隔離", "Isolate a host"),
          "params": [{"id": "host", "type": "host", "label": text("端末", "Host")}],
          "match": {"keywords": [["隔離", "isolate"]]},
          "reply": text("{host} を隔離しました。", "{host} is isolated."), "delay": "00:05",
          "actions": [{"type": "isolate", "params": {"host": "{host}"}}], "points": 10},
         {"id": "logs", "label": text("ログの提供", "Send the logs"), "match": {"keywords": ["ログ"]},
          "reply": text("ログをお送りします。", "Here is the log."),
          "attach": [{"name": "app.log", "host": "ws01", "path": APP_LOG, "max_bytes": 1024}]},
         {"id": "shutdown", "label": text("業務停止", "Stop the service"), "match": {"keywords": ["停止"]},
          "condition": {"contacted": "boss", "request": "approve", "fulfilled": True},
          "reply": text("停止しました。", "Stopped."),
          "refuse": text("課長の承認が必要です。", "We need your chief's approval."),
          "repeat": text("すでに停止済みです。", "It is already stopped."),
          "actions": [run_on_ws01("echo stopped >> /var/tmp/shutdown-count")], "points": 5},
         {"id": "scan", "label": text("ウイルス検査", "Scan for malware"), "match": {"keywords": ["検査"]},
          "reply": text("検査しました。", "Scanned."),
          "actions": [run_on_ws01("echo scanned >> /var/tmp/scan-count")], "points": 7},
     ]},
]


def inject(inject_id: str, when: dict[str, Any], sender: str, **extra: Any) -> dict[str, Any]:
    return {"id": inject_id, "title": text(inject_id, inject_id), "when": when,
            "message": {"from": sender, "subject": text(f"{inject_id}の件", f"About {inject_id}"),
                        "body": text(f"{inject_id}です。", f"This is {inject_id}.")},
            "debrief": text(inject_id, inject_id), **extra}


INJECTS = [
    inject("vendor-followup", {"day": 1, "at": "00:30"}, "vendor", condition={"contacted": "vendor", "request": "logs"}),
    inject("press", {"day": 1, "at": "00:30"}, "boss", skip_if={"report": "first-report"}),
    inject("praise", {"day": 1, "condition": {"task": "infected-host", "answered": "correct"}}, "boss"),
]


@pytest.fixture
def world(app: Flask, db, tmp_path: Path, docker_backend: DockerBackend):  # type: ignore[no-untyped-def]
    for name in ("base", "workstation", "attacker"):
        build_image(docker_backend, name, log=lambda line: None)
    document = yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))
    document["id"] = "organisation-engine"
    document["story"]["characters"] += CHARACTERS
    document["injects"] += INJECTS
    (tmp_path / "organisation.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    found, problems = scenarios.register_directory(db, tmp_path)
    assert problems == []
    exercise = exercises.create_exercise(db, found[0].scenario, ExerciseDraft(name="org", team_count=2), actor=None)
    db.commit()
    settings = app.config["MAMORI_SETTINGS"]
    range_engine, label = build_ranges(app, docker_backend, exercise)
    clock = ManualClock(T0)
    engine = Engine(app.extensions["mamori.db"], range_engine, settings.instance_id, now=clock)
    db.expire_all()
    exercise = exercises.get_exercise(db, exercise.id)
    lifecycle.start(db, exercise, actor=None, speed=60, now=T0)
    users = {}
    for team in exercise.teams:
        users[team.number] = make_user(db)
        add_member(db, team, users[team.number])
    db.commit()
    yield World(db, exercise.id, engine, clock, range_engine, label, {n: u.id for n, u in users.items()})
    range_engine.teardown(label)


class World:
    def __init__(self, db, exercise_id: int, engine: Engine, clock: ManualClock,  # type: ignore[no-untyped-def]
                 range_engine: DockerRangeEngine, label: str, users: dict[int, int]) -> None:
        self.db, self.exercise_id, self.engine, self.clock = db, exercise_id, engine, clock
        self.range_engine, self.label, self.users = range_engine, label, users

    @property
    def exercise(self) -> Exercise:
        self.db.expire_all()
        return exercises.get_exercise(self.db, self.exercise_id)

    def team(self, number: int) -> Team:
        return next(t for t in self.exercise.teams if t.number == number)

    def write(self, number: int, to: str, body: str, request_id: str | None = None,
              **params: str) -> Message:
        team = self.team(number)
        message = correspondence.write(self.db, team.exercise, team, self.db.get(User, self.users[number]),
                                       character_id=to, subject="お願い", body=body, request_id=request_id,
                                       params=params, now=self.clock())
        self.db.commit()
        return message

    def sh(self, number: int, host: str, script: str, timeout: float = 20) -> Any:
        return self.range_engine.exec(self.label, str(number), host, ["bash", "-c", script], timeout=timeout)

    def connects(self, number: int, source: str, host: str, port: int = 22) -> bool:
        return self.sh(number, source, f"timeout 3 bash -c 'echo > /dev/tcp/{host}/{port}'").ok

    def runs(self, number: int, request_id: str) -> list[RequestRun]:
        self.db.expire_all()
        return list(self.db.scalars(select(RequestRun).where(
            RequestRun.team_id == self.team(number).id, RequestRun.request_id == request_id).order_by(RequestRun.id)))

    def ledger(self, number: int, key: str) -> list[ScoreEvent]:
        return list(self.db.scalars(select(ScoreEvent).where(ScoreEvent.team_id == self.team(number).id,
                                                             ScoreEvent.key == key)))

    def reply_to(self, run: RequestRun) -> Message:
        reply = self.db.get(Message, run.reply_message_id)
        assert reply is not None and reply.direction == "in" and reply.thread_id == run.thread_id
        return reply

    def inject_run(self, number: int, inject_id: str) -> InjectRun | None:
        self.db.expire_all()
        return self.db.scalar(select(InjectRun).where(InjectRun.team_id == self.team(number).id,
                                                      InjectRun.inject_id == inject_id))


def test_isolating_a_host_on_request_really_cuts_it_off(world: World) -> None:
    w = world
    w.clock.at(1)
    for team in (1, 2):
        assert w.connects(team, "attacker", "ws01"), "before: the range reaches ws01"
    # A connection opened before the isolation (an intruder's session to sshd) is held by the attacker.
    held = ("exec 3<>/dev/tcp/ws01/22; read -r banner <&3; echo \\${banner:0:4} > /tmp/held-banner; while [ ! -f /tmp/go ]; do sleep 0.2; done;"
            " printf 'SSH-2.0-mamori\\r\\n' >&3; timeout 5 head -c 1 <&3 > /tmp/held-after; echo \\$? > /tmp/held-rc")
    assert w.sh(1, "attacker", f"setsid bash -c \"{held}\" >/dev/null 2>&1 < /dev/null & sleep 1; "
                               "cat /tmp/held-banner").text == "SSH-\n"
    chosen = w.write(1, "vendor", "端末を隔離してください。", request_id="isolate", host="ws01")
    typed = w.write(2, "vendor", "ＷＳ０１を隔離してください")  # free text, full-width: matched
    assert w.engine.tick() == 2
    [run1], [run2] = w.runs(1, "isolate"), w.runs(2, "isolate")
    assert (run1.via, run2.via, run2.params) == ("chosen", "matched", {"host": "ws01"})
    assert {run1.status, run2.status} == {RequestStatus.SCHEDULED}
    assert w.db.get(Thread, chosen.thread_id).state is ThreadState.IN_PROGRESS

    w.clock.at(5.5)  # the vendor takes five minutes of exercise time
    w.engine.tick()
    assert [r.status for r in w.runs(1, "isolate")] == [RequestStatus.SCHEDULED]
    assert w.connects(1, "attacker", "ws01")

    w.clock.at(6)
    w.engine.tick()
    for team, message in ((1, chosen), (2, typed)):
        [run] = w.runs(team, "isolate")
        assert run.status is RequestStatus.FULFILLED, run.result
        assert "ws01 isolated" in run.result and run.thread_id == message.thread_id
        assert not w.connects(team, "attacker", "ws01"), "another host of the range still reaches ws01"
        assert w.connects(team, GATEWAY_HOST, "ws01"), "the team's own way in must stay open"
        reply = w.reply_to(run)
        assert (reply.sender_ja, reply.body_ja, reply.body_en) == (
            "みなとシステム保守（保守担当）", "ws01 を隔離しました。", "ws01 is isolated.")
        assert reply.subject_ja == "Re: お願い" and reply.read_at is None
        assert w.db.get(Thread, run.thread_id).state is ThreadState.ANSWERED
        [event] = w.ledger(team, "request:vendor/isolate")
        assert (event.points, event.source) == (10, ScoreSource.REQUEST)
    w.sh(1, "attacker", "touch /tmp/go; sleep 6.5")
    assert w.sh(1, "attacker", "cat /tmp/held-rc").text.strip() == "124", "the open connection still gets answers"
    assert w.engine.tick() == 0, "nothing is carried out twice"


def test_attachments_conditions_once_and_injects_on_team_events(world: World) -> None:
    w = world
    lines = "".join(f"{n:05d} 2026-11-27 sshd[1]: Failed password for root\n" for n in range(3000))
    made = f"for n in $(seq -f %05g 0 2999); do echo \"$n 2026-11-27 sshd[1]: Failed password for root\"; done > {APP_LOG}"
    assert w.sh(1, "ws01", made).ok
    w.clock.at(1)
    w.write(1, "vendor", "ﾛｸﾞを送ってください")
    refused = w.write(1, "vendor", "サーバを停止してください", request_id="shutdown")
    w.engine.tick()
    [run] = w.runs(1, "shutdown")
    assert run.status is RequestStatus.REFUSED and "fulfilled boss/approve" in run.result
    assert w.reply_to(run).body_ja == "課長の承認が必要です。" and run.thread_id == refused.thread_id

    w.clock.at(2)
    w.engine.tick()
    [logs] = w.runs(1, "logs")
    assert logs.status is RequestStatus.FULFILLED, logs.result
    [attachment] = w.db.scalars(select(MessageAttachment).where(MessageAttachment.message_id == logs.reply_message_id))
    assert (attachment.name, attachment.content_type, attachment.size) == ("app.log", "text/plain", 1024)
    assert attachment.data == lines.encode()[-1024:] and attachment.data.endswith(b"02999 2026-11-27 sshd[1]: "
                                                                                   b"Failed password for root\n")

    w.write(1, "boss", "停止を承認してください")  # the boss approves ...
    w.engine.tick()
    w.clock.at(3)
    w.engine.tick()
    assert [r.status for r in w.runs(1, "approve")] == [RequestStatus.FULFILLED]
    w.write(1, "vendor", "承認が出ました。停止をお願いします。", request_id="shutdown")  # ... then it is done
    w.engine.tick()
    w.clock.at(4)
    w.engine.tick()
    assert [r.status for r in w.runs(1, "shutdown")] == [RequestStatus.REFUSED, RequestStatus.FULFILLED]
    w.write(1, "vendor", "停止してください")  # once: asking again gets "already done"
    w.engine.tick()
    w.engine.tick()
    statuses = [r.status for r in w.runs(1, "shutdown")]
    assert statuses == [RequestStatus.REFUSED, RequestStatus.FULFILLED, RequestStatus.REPEATED]
    assert w.reply_to(w.runs(1, "shutdown")[-1]).body_ja == "すでに停止済みです。"
    assert w.sh(1, "ws01", "cat /var/tmp/shutdown-count").text == "stopped\n", "the actions ran once"
    assert len(w.ledger(1, "request:vendor/shutdown")) == 1

    # Injects on team events: team 1 asked for the logs, answered the task and reported; team 2 did nothing.
    for minute in (10, 20):  # the beacon, then the police call (the task opens after it)
        w.clock.at(minute)
        w.engine.tick()
    w.clock.at(21)
    exercise, team1 = w.exercise, w.team(1)
    user = w.db.get(User, w.users[1])
    assert tasks.submit_answer(w.db, exercise, team1, user, "infected-host", "ws01", now=w.clock()).correct
    reports.submit(w.db, exercise, team1, user, "first-report", text="影響範囲：ws01", now=w.clock())
    w.db.commit()
    w.engine.tick()
    assert w.inject_run(1, "praise").status is RunStatus.DONE
    assert w.inject_run(2, "praise") is None, "its condition does not hold for team 2: it waits"
    w.clock.at(30)
    w.engine.tick()
    followup1, followup2 = w.inject_run(1, "vendor-followup"), w.inject_run(2, "vendor-followup")
    assert followup1.status is RunStatus.DONE and "message from vendor" in followup1.result
    assert followup2.status is RunStatus.SKIPPED and followup2.result == "condition not met: contacted vendor/logs"
    press1, press2 = w.inject_run(1, "press"), w.inject_run(2, "press")
    assert press1.status is RunStatus.SKIPPED and press1.result == "skip_if holds: submitted first-report"
    assert press2.status is RunStatus.DONE
    followed = w.db.scalar(select(Message).where(Message.inject_run_id == followup1.id))
    assert followed.sender_ja.startswith("みなとシステム保守") and followed.thread_id is not None


def _write_in_own_session(database: Any, exercise_id: int, team_id: int, user_id: int, now: datetime,
                          barrier: threading.Barrier, results: list[object]) -> None:
    barrier.wait()
    for _ in range(50):  # SQLite: "database is locked" beyond its busy timeout means try again
        session = database.session()
        try:
            exercise = session.get(Exercise, exercise_id)
            message = correspondence.write(session, exercise, session.get(Team, team_id), session.get(User, user_id),
                                           character_id="vendor", subject="検査", body="検査をお願いします",
                                           request_id="scan", now=now)
            session.commit()
            results.append(message.id)
            return
        except OperationalError:
            session.rollback()
            time.sleep(random.uniform(0.01, 0.1))
        finally:
            session.close()
    results.append("gave up")


def test_parallel_sends_and_two_engines_award_once_and_a_crash_is_not_rerun(app: Flask, world: World) -> None:
    w = world
    database = app.extensions["mamori.db"]
    w.clock.at(1)
    team = w.team(1)
    senders = 8
    barrier, results = threading.Barrier(senders), []  # type: ignore[var-annotated]
    threads = [threading.Thread(target=_write_in_own_session, args=(
        database, w.exercise_id, team.id, w.users[1], w.clock(), barrier, results)) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == senders and "gave up" not in results
    assert len(w.runs(1, "scan")) == senders

    second = Engine(database, w.range_engine, w.engine.instance_id, holder="second-engine", now=w.clock)
    for step in range(4):  # two engines tick side by side, again and again
        both = [threading.Thread(target=engine.tick) for engine in (w.engine, second)]
        for thread in both:
            thread.start()
        for thread in both:
            thread.join()
        w.clock.at(1 + 0.5 * (step + 1))
    runs = w.runs(1, "scan")
    statuses = sorted(r.status.value for r in runs)
    assert statuses == ["fulfilled"] + ["repeated"] * (senders - 1), statuses
    assert all(r.reply_message_id is not None for r in runs)
    replies = w.db.scalar(select(func.count()).select_from(Message).where(
        Message.team_id == team.id, Message.direction == "in", Message.character_id == "vendor"))
    assert replies == senders, "one reply per request: none decided twice"
    assert len(w.ledger(1, "request:vendor/scan")) == 1
    assert w.sh(1, "ws01", "cat /var/tmp/scan-count").text == "scanned\n"

    # A crash while a request runs: it is marked interrupted, never run again.
    team2 = w.team(2)
    w.write(2, "vendor", "検査をお願いします")
    [crashed] = w.runs(2, "scan")
    crashed.status, crashed.started_at, crashed.engine = RequestStatus.RUNNING, w.clock(), "crashed-engine"
    w.db.commit()
    assert w.engine.recover() == 1
    w.engine.tick()
    w.engine.tick()
    [after] = w.runs(2, "scan")
    assert after.status is RequestStatus.INTERRUPTED and "not re-run" in after.result
    assert "No such file" in w.sh(2, "ws01", "cat /var/tmp/scan-count 2>&1").text
    assert w.ledger(2, "request:vendor/scan") == [] and team2.id != team.id


def test_a_tampered_request_row_is_refused_and_acts_on_nothing(world: World) -> None:
    """A value that was never offered (the hidden attacker host, written into the row behind the services'
    back) is refused when the request runs: nothing is isolated, no points, the default refusal goes out."""
    w = world
    w.clock.at(1)
    w.write(1, "vendor", "端末を隔離してください。", request_id="isolate", host="ws01")
    [run] = w.runs(1, "isolate")
    run.params = {"host": "attacker"}
    w.db.commit()
    w.engine.tick()
    w.clock.at(7)
    w.engine.tick()
    [run] = w.runs(1, "isolate")
    assert run.status is RequestStatus.REFUSED and run.result.startswith("refused:"), run.result
    assert w.connects(1, "attacker", "ws01") and w.connects(1, "ws01", "attacker"), "nothing was isolated"
    assert w.ledger(1, "request:vendor/isolate") == []
    assert w.reply_to(run).body_ja == "申し訳ありませんが、現時点ではご依頼に対応できません。"
