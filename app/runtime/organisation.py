"""The engine's side of the simulated organisation: carrying out the requests teams make of characters.

Per team, each tick: a *pending* request has its condition looked at (team
events, and checks of the range) and is refused, answered "already done"
(``once``) or *scheduled* after the request's delay in exercise time; a
scheduled request whose time has come is claimed (a conditional update, so
two engines never both run it), its actions run in the team's range, its
attachments are read, the reply goes to the team's thread, and its points go
to the ledger under a key unique per team and request: exactly once, however
many times the team asks.
"""
from __future__ import annotations

import base64
import logging
from datetime import datetime
from typing import Callable

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import Exercise, RequestRun, RequestStatus, ScoreSource, Team, Thread, ThreadState, User
from app.runtime.clock import ClockReading
from app.scenario import conditions
from app.scenario import requests as matching
from app.scenario.model import Character, CharacterRequest, Scenario, minutes
from app.services import correspondence, ledger
from range.actions import ActionTarget, run_action
from range.errors import RangeError
from scoring.probe import Probe, ProbeError

log = logging.getLogger("mamori.engine")
MAX_OUTPUT = 16 * 1024
ACTION_TIMEOUT = 120
ATTACHMENT_READ_LIMIT = 4 * 1024 * 1024  # a log is read up to this much, then its last max_bytes are sent
DEFAULT_REFUSAL = ("申し訳ありませんが、現時点ではご依頼に対応できません。", "I am sorry, we cannot do that at this point.")
DEFAULT_REPEAT = ("ご依頼の件は、すでに対応済みです。", "That has already been done.")
Holds = Callable[[object], bool]


def open_runs(session: Session, team: Team) -> list[RequestRun]:
    return list(session.scalars(select(RequestRun).where(
        RequestRun.team_id == team.id,
        RequestRun.status.in_((RequestStatus.PENDING, RequestStatus.SCHEDULED))).order_by(RequestRun.id)))


def settle(session: Session, exercise: Exercise, model: Scenario, team: Team, runs: list[RequestRun],
           reading: ClockReading, holds: Holds, target: Callable[[], ActionTarget], probe: Callable[[], Probe],
           holder: str, now: datetime) -> int:
    """Decide the team's pending *runs* (``open_runs``) and carry out those due; returns how many changed. Commits."""
    changed = 0
    for run in runs:
        found = _request(model, run)
        if found is None:  # the scenario no longer has it (cannot happen for a registered version)
            continue
        char, request = found
        if run.status is RequestStatus.PENDING:
            changed += _decide(session, exercise, team, run, char, request, reading, holds, now)
        elif (run.due_day, run.due_seconds or 0.0) <= (reading.day, reading.seconds):
            changed += _carry_out(session, exercise, model, team, run, char, request, target, probe, holder, now)
    return changed


def _request(model: Scenario, run: RequestRun) -> tuple[Character, CharacterRequest] | None:
    char = next((c for c in model.story.characters if c.id == run.character_id), None)
    request = next((r for r in char.requests if r.id == run.request_id), None) if char else None
    return (char, request) if char is not None and request is not None else None


def _decide(session: Session, exercise: Exercise, team: Team, run: RequestRun, char: Character,
            request: CharacterRequest, reading: ClockReading, holds: Holds, now: datetime) -> int:
    values = dict(run.params or {})
    texts: tuple[str, str] | None = None
    if request.once and _already(session, team, run):
        changes = {"status": RequestStatus.REPEATED, "finished_at": now, "result": "already fulfilled (once: true)"}
        texts = (request.repeat.ja, request.repeat.en) if request.repeat else DEFAULT_REPEAT
    elif request.condition is not None and not holds(request.condition):
        changes = {"status": RequestStatus.REFUSED, "finished_at": now,
                   "result": f"refused: the condition does not hold ({conditions.describe(request.condition)})"}
        texts = (request.refuse.ja, request.refuse.en) if request.refuse else DEFAULT_REFUSAL
    else:
        changes = {"status": RequestStatus.SCHEDULED, "due_day": reading.day,
                   "due_seconds": reading.seconds + minutes(request.delay) * 60.0}
    # Decided only if still pending: a second engine (or a stale read) never decides, replies or reschedules twice.
    decided = session.execute(update(RequestRun).where(
        RequestRun.id == run.id, RequestRun.status == RequestStatus.PENDING).values(**changes)).rowcount
    if decided != 1:
        session.rollback()
        return 0
    session.refresh(run)
    if texts is not None:
        _reply(session, exercise, team, run, char, texts, values, now)
    else:
        thread = session.get(Thread, run.thread_id) if run.thread_id is not None else None
        if thread is not None and thread.state is ThreadState.SENT:
            thread.state = ThreadState.IN_PROGRESS
    session.commit()
    return 1


def _already(session: Session, team: Team, run: RequestRun) -> bool:
    """Another run of the same request is fulfilled, or under way, for this team."""
    return session.scalar(select(RequestRun.id).where(
        RequestRun.team_id == team.id, RequestRun.character_id == run.character_id,
        RequestRun.request_id == run.request_id, RequestRun.id != run.id,
        RequestRun.status.in_((RequestStatus.SCHEDULED, RequestStatus.RUNNING, RequestStatus.FULFILLED,
                               RequestStatus.FAILED))).limit(1)) is not None


def _carry_out(session: Session, exercise: Exercise, model: Scenario, team: Team, run: RequestRun,
               char: Character, request: CharacterRequest, target: Callable[[], ActionTarget], probe: Callable[[], Probe],
               holder: str, now: datetime) -> int:
    claimed = session.execute(update(RequestRun).where(
        RequestRun.id == run.id, RequestRun.status == RequestStatus.SCHEDULED).values(
        status=RequestStatus.RUNNING, started_at=now, engine=holder)).rowcount
    session.commit()
    if claimed != 1:  # another engine took it
        return 0
    session.refresh(run)
    values = dict(run.params or {})
    problems = matching.not_offered(request, values, model)
    if problems:  # the services check values before a row is written: a tampered row runs and reads nothing
        run.status, run.finished_at = RequestStatus.REFUSED, now
        run.result = f"refused: {'; '.join(problems)}"[:2000]
        _reply(session, exercise, team, run, char, DEFAULT_REFUSAL, {}, now)
        session.commit()
        return 1
    outcomes, outputs = [], []
    try:
        actions = matching.expand_actions(request, values, model)
    except ValidationError as exc:  # the validator expanded every combination; cannot happen for offered values
        actions, outcomes = [], [(False, f"the parameters do not make valid actions: {exc.errors()[0]['msg']}")]
    for action in actions:
        result = run_action(action.type, action.params, target(), ACTION_TIMEOUT)
        outcomes.append((result.ok, f"{action.type}: {result.summary}"))
        outputs.append(result.output.decode("utf-8", errors="replace"))
    files = []
    for attachment in matching.expand_attachments(request, values, model):
        data, said = _attachment(attachment, probe, bundle=exercise.scenario.bundle or {})
        outcomes.append((data is not None, f"attach {attachment.name}: {said}"))
        if data is not None:
            files.append((attachment.name, data))
    ok = all(flag for flag, _ in outcomes)
    run.status = RequestStatus.FULFILLED if ok else RequestStatus.FAILED
    run.result = ("; ".join(text for _, text in outcomes) or "replied")[:2000]
    run.output = "\n".join(outputs)[-MAX_OUTPUT:]
    run.finished_at = now
    _reply(session, exercise, team, run, char, (request.reply.ja, request.reply.en), values, now, tuple(files))
    if request.points:
        ledger.append(session, team, source=ScoreSource.REQUEST, source_id=f"{char.id}/{request.id}"[:100],
                      key=f"request:{char.id}/{request.id}", points=request.points, when=ledger.moment(exercise, now),
                      reason=f"{char.id}: {request.id}", detail={"character": char.id, "request": request.id,
                                                                 "run": run.id},
                      actor=session.get(User, run.actor_id) if run.actor_id else None)
    session.commit()
    log.info("exercise %s team %s request %s/%s: %s %s", exercise.id, team.number, char.id, request.id,
             run.status.value, run.result[:200])
    return 1


def _attachment(attachment: object, probe: Callable[[], Probe], *, bundle: dict[str, str]) -> tuple[bytes | None, str]:
    source = getattr(attachment, "source", None)
    limit = getattr(attachment, "max_bytes")
    if source is not None:
        encoded = bundle.get(source)
        if encoded is None:
            return None, f"no bundled file {source!r}"
        data = base64.b64decode(encoded)
        return data[:limit], f"{len(data[:limit])} bytes from {source}"
    host, path = getattr(attachment, "host"), getattr(attachment, "path")
    try:
        data = probe().read_file(host, path, ATTACHMENT_READ_LIMIT)
    except (ProbeError, RangeError) as exc:
        return None, f"{path} on {host} could not be read: {exc}"
    if data is None:
        return None, f"{path} on {host} does not exist"
    cut = data[-limit:]
    return cut, f"{len(cut)} bytes of {path} on {host}" + (" (its end)" if len(cut) < len(data) else "")


def _reply(session: Session, exercise: Exercise, team: Team, run: RequestRun, char: Character,
           texts: tuple[str, str], values: dict[str, str], now: datetime,
           files: tuple[tuple[str, bytes], ...] = ()) -> None:
    thread = session.get(Thread, run.thread_id) if run.thread_id is not None else None
    subject = f"Re: {thread.subject}" if thread is not None and not thread.subject.startswith("Re: ") else (
        thread.subject if thread is not None else run.request_id)
    message = correspondence.deliver(session, exercise, team, char, thread=thread, subject=subject,
                                     body_ja=matching.fill(texts[0], values), body_en=matching.fill(texts[1], values),
                                     attachments=files, now=now)
    run.thread_id = message.thread_id
    run.reply_message_id = message.id


def interrupt_running(session: Session, now: datetime) -> int:
    """After a crash: a request that was running is not run again (its actions may have half-happened)."""
    rows = list(session.scalars(select(RequestRun).where(RequestRun.status == RequestStatus.RUNNING)))
    for run in rows:
        run.status, run.finished_at = RequestStatus.INTERRUPTED, now
        run.result = "interrupted by an engine stop; not re-run (an instructor can run it again by hand)"
    return len(rows)
