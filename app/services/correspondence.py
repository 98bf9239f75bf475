"""The team's side of the simulated organisation, and the white cell's.

Trainees write to the scenario's characters in threads (a new message or a
reply), with small attachments and, optionally, one of the character's
requests with its parameters. A free-text message is matched against the
character's requests (``app.scenario.requests``); a match becomes a
``RequestRun`` the engine carries out (``app.runtime.organisation``), anything
else waits in the white-cell queue, where an instructor answers as the
character, runs one of its requests by hand, or dismisses it.

Every thread and message belongs to one team: a team never reads, answers or
attaches to another team's.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import (
    Exercise, ExerciseState, Message, MessageAttachment, RequestRun, RequestStatus, Team, Thread, ThreadState,
    TimelineEvent, User, utcnow,
)
from app.scenario import requests as matching
from app.scenario.model import Character, CharacterRequest, Scenario
from app.services import audit, ledger, scenarios
from app.services.errors import N_, Conflict, InvalidInput, NotFound, RateLimited

MAX_SUBJECT = 200
MAX_BODY = 10_000
MAX_ATTACHMENTS = 3
MAX_ATTACHMENT_BYTES = 512 * 1024  # per file: a log excerpt, a screenshot
RATE_LIMIT = 10  # messages per account …
RATE_WINDOW = timedelta(seconds=60)  # … in this much wall time (a script flooding the white cell is refused)
WRITABLE_STATES = (ExerciseState.RUNNING, ExerciseState.PAUSED, ExerciseState.DAY_ENDED)
WAITING, ANSWERED, DISMISSED = "waiting", "answered", "dismissed"
_IMAGE_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


# Characters ------------------------------------------------------------------------------

def contactable(exercise: Exercise) -> list[Character]:
    """The characters trainees can write to, in scenario order."""
    return [c for c in scenarios.parsed(exercise.scenario).story.characters if c.reachable]


def character(exercise: Exercise, character_id: str) -> Character:
    found = next((c for c in contactable(exercise) if c.id == character_id), None)
    if found is None:
        raise NotFound(N_("the scenario has no character %(character)r to write to"), character=character_id)
    return found


def request_of(char: Character, request_id: str) -> CharacterRequest:
    found = next((r for r in char.requests if r.id == request_id), None)
    if found is None:
        raise NotFound(N_("%(character)s offers no request %(request)r"), character=char.name.ja, request=request_id)
    return found


def sender_names(char: Character) -> tuple[str, str]:
    return f"{char.name.ja}（{char.title.ja}）", f"{char.name.en} ({char.title.en})"


def param_choices(exercise: Exercise, request: CharacterRequest) -> dict[str, list[str]]:
    """The values each host/choice parameter offers (for forms and the API)."""
    model = scenarios.parsed(exercise.scenario)
    return {p.id: matching.choices(p, model) for p in request.params if p.type != "text"}


# Reading ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ThreadView:
    thread: Thread
    character: Character | None
    messages: int
    unread: int
    last_at: datetime


def threads(session: Session, team: Team) -> list[ThreadView]:
    """The team's threads, most recently active first (three queries however many there are)."""
    model = scenarios.for_team(team)
    people = {c.id: c for c in model.story.characters}
    rows = list(session.scalars(select(Thread).where(Thread.team_id == team.id)
                                .order_by(Thread.updated_at.desc(), Thread.id.desc())))
    counts = dict(session.execute(select(Message.thread_id, func.count()).where(
        Message.team_id == team.id, Message.thread_id.is_not(None)).group_by(Message.thread_id)).all())
    unread = dict(session.execute(select(Message.thread_id, func.count()).where(
        Message.team_id == team.id, Message.thread_id.is_not(None), Message.direction == "in",
        Message.read_at.is_(None)).group_by(Message.thread_id)).all())
    return [ThreadView(t, people.get(t.character_id), int(counts.get(t.id, 0)), int(unread.get(t.id, 0)),
                       t.updated_at) for t in rows]


def get_thread(session: Session, team: Team, thread_id: int) -> Thread:
    thread = session.get(Thread, thread_id)
    if thread is None or thread.team_id != team.id:
        raise NotFound(N_("no such thread"))
    return thread


def thread_messages(session: Session, thread: Thread) -> list[Message]:
    return list(session.scalars(select(Message).where(Message.thread_id == thread.id).order_by(Message.id)))


def attachments_of(session: Session, messages: list[Message]) -> dict[int, list[MessageAttachment]]:
    """Each message's attachments (name, type, size; one query), by message id."""
    found: dict[int, list[MessageAttachment]] = {m.id: [] for m in messages}
    if messages:
        for row in session.scalars(select(MessageAttachment).where(
                MessageAttachment.message_id.in_(list(found))).order_by(MessageAttachment.id)):
            found[row.message_id].append(row)
    return found


def request_runs(session: Session, thread: Thread) -> list[RequestRun]:
    return list(session.scalars(select(RequestRun).where(RequestRun.thread_id == thread.id).order_by(RequestRun.id)))


def mark_thread_read(session: Session, thread: Thread, now: datetime | None = None) -> int:
    """Mark the character's messages of *thread* read (call only when a member of the team opens it)."""
    rows = list(session.scalars(select(Message).where(Message.thread_id == thread.id, Message.direction == "in",
                                                      Message.read_at.is_(None))))
    for row in rows:
        row.read_at = now or utcnow()
    return len(rows)


def get_attachment(session: Session, exercise: Exercise, attachment_id: int, team: Team | None) -> MessageAttachment:
    """An attachment of *exercise*; of *team*'s messages only when a team is given (a trainee's view)."""
    row = session.get(MessageAttachment, attachment_id)
    message = session.get(Message, row.message_id) if row is not None else None
    if message is None or message.exercise_id != exercise.id or (team is not None and message.team_id != team.id):
        raise NotFound(N_("no such attachment"))
    return row


# Writing (trainees) ------------------------------------------------------------------------

def write(session: Session, exercise: Exercise, team: Team, user: User, *, character_id: str | None = None,
          thread_id: int | None = None, subject: str = "", body: str, request_id: str | None = None,
          params: dict[str, str] | None = None, uploads: tuple[Upload, ...] = (),
          now: datetime | None = None) -> Message:
    """A team's message to a character: a new thread (*character_id*, *subject*) or a reply (*thread_id*).

    With *request_id* it is that request, with *params*; without, its text is
    matched against the character's requests, and a message no request
    recognises (or one that leaves a required parameter open) goes to the
    white cell. Nothing is written when anything is wrong.
    """
    if exercise.state not in WRITABLE_STATES:
        raise Conflict(N_("messages can be sent while the exercise runs (it is %(state)s)"),
                       state=exercise.state.value)
    wall = now or utcnow()
    recent = session.scalar(select(func.count()).select_from(Message).where(
        Message.team_id == team.id, Message.author_id == user.id, Message.direction == "out",
        Message.created_at > wall - RATE_WINDOW))
    if recent >= RATE_LIMIT:
        raise RateLimited(N_("too many messages: at most %(limit)d a minute per account, wait a moment"),
                          limit=RATE_LIMIT)
    if thread_id is not None:
        thread = get_thread(session, team, thread_id)
        char = character(exercise, thread.character_id)
        subject = subject.strip() or _reply_subject(thread.subject)
    else:
        if not character_id:
            raise InvalidInput(N_("choose whom to write to"))
        char = character(exercise, character_id)
        thread = None
    body = body.strip()
    subject = " ".join(subject.split())
    if not subject:
        raise InvalidInput(N_("a message needs a subject"))
    if not body:
        raise InvalidInput(N_("a message needs a text"))
    if len(subject) > MAX_SUBJECT or len(body) > MAX_BODY:
        raise InvalidInput(N_("a message has at most %(subject)d characters of subject and %(body)d of text"),
                           subject=MAX_SUBJECT, body=MAX_BODY)
    files = _checked_uploads(uploads)
    model = scenarios.for_team(team)
    chosen, values, via = _request_for(model, char, body, request_id, params or {})
    moment = ledger.moment(exercise, wall)
    if thread is None:
        thread = Thread(exercise_id=exercise.id, team_id=team.id, character_id=char.id, subject=subject,
                        created_by_id=user.id, created_at=wall, day=moment.day, exercise_seconds=moment.seconds)
        session.add(thread)
        session.flush()
    thread.state, thread.updated_at = ThreadState.SENT, wall
    names = sender_names(char)
    message = Message(exercise_id=exercise.id, team_id=team.id, thread_id=thread.id, direction="out",
                      character_id=char.id, author_id=user.id, sender_ja=team.name, sender_en=team.name,
                      subject_ja=subject, subject_en=subject, body_ja=body, body_en=body, day=moment.day,
                      exercise_seconds=moment.seconds, created_at=wall, read_at=wall,
                      white_cell=None if chosen is not None else WAITING)
    session.add(message)
    session.flush()
    for name, content_type, data in files:
        session.add(MessageAttachment(message_id=message.id, name=name, content_type=content_type, size=len(data),
                                      data=data))
    if chosen is not None:
        session.add(RequestRun(exercise_id=exercise.id, team_id=team.id, thread_id=thread.id, message_id=message.id,
                               character_id=char.id, request_id=chosen.id, params=values, via=via,
                               status=RequestStatus.PENDING, created_at=wall, day=moment.day,
                               exercise_seconds=moment.seconds, timeline_seconds=moment.timeline))
    what = f" (request {chosen.id})" if chosen is not None else " (to the white cell)"
    _timeline(session, team, moment, wall, "message", f"to {char.id}: {subject[:100]}{what}",
              character=char.id, thread=thread.id, message=message.id, user=user.id,
              request=chosen.id if chosen is not None else None, to=names[1])
    session.flush()
    return message


def _reply_subject(subject: str) -> str:
    return subject if subject.startswith("Re: ") else f"Re: {subject}"[:MAX_SUBJECT]


def _request_for(model: Scenario, char: Character, body: str, request_id: str | None,
                 params: dict[str, str]) -> tuple[CharacterRequest | None, dict[str, str], str]:
    if request_id:
        request = request_of(char, request_id)
        values = {k: v.strip() for k, v in params.items() if v is not None and v.strip()}
        problems = matching.check_values(request, values, model)
        if problems:
            raise InvalidInput(N_("the request %(request)r cannot be made: %(problems)s"),
                               request=request.label.ja, problems="; ".join(problems))
        return request, values, "chosen"
    found = matching.recognise(char, body, model)
    if found is None or found.missing:
        return None, {}, ""
    return found.request, found.params, "matched"


def _checked_uploads(uploads: tuple[Upload, ...]) -> list[tuple[str, str, bytes]]:
    uploads = tuple(u for u in uploads if u.name or u.data)
    if len(uploads) > MAX_ATTACHMENTS:
        raise InvalidInput(N_("at most %(count)d files can be attached"), count=MAX_ATTACHMENTS)
    checked = []
    for upload in uploads:
        name = _safe_name(upload.name)
        if not upload.data:
            raise InvalidInput(N_("the file %(name)r is empty"), name=name)
        if len(upload.data) > MAX_ATTACHMENT_BYTES:
            raise InvalidInput(N_("the file %(name)r is larger than %(size)d KiB"), name=name,
                               size=MAX_ATTACHMENT_BYTES // 1024)
        content_type = sniff(upload.data)
        if content_type is None:
            raise InvalidInput(N_("the file %(name)r is neither text (UTF-8) nor a PNG or JPEG image"), name=name)
        checked.append((name, content_type, upload.data))
    return checked


def sniff(data: bytes) -> str | None:
    """What a file really is, from its bytes (never from its name): text, PNG, JPEG, or nothing we keep."""
    for magic, content_type in _IMAGE_MAGIC.items():
        if data.startswith(magic):
            return content_type
    if b"\x00" in data:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "text/plain"


def _safe_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"|?*').strip(" .")
    return cleaned[:100] or "file"


def download_type(row: MessageAttachment) -> str:
    """The type to serve an attachment as: images as themselves, everything else as plain text."""
    return row.content_type if row.content_type in _IMAGE_MAGIC.values() else "text/plain; charset=utf-8"


# The white cell ------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueueItem:
    message: Message
    team: Team
    thread: Thread
    character: Character | None
    waiting_seconds: float
    suggestions: tuple[tuple[str, str], ...]  # (label, text) in Japanese: canned replies, then requests' replies


def white_cell_queue(session: Session, exercise: Exercise, now: datetime | None = None) -> list[QueueItem]:
    """Team messages no request recognised, oldest first, with the character's suggested replies."""
    wall = now or utcnow()
    teams = {t.id: t for t in exercise.teams}
    rows = list(session.scalars(select(Message).where(Message.exercise_id == exercise.id,
                                                      Message.white_cell == WAITING).order_by(Message.id)))
    thread_ids = {m.thread_id for m in rows if m.thread_id is not None}
    threads_by_id = {t.id: t for t in session.scalars(select(Thread).where(Thread.id.in_(thread_ids)))} \
        if thread_ids else {}
    items = []
    for message in rows:
        team = teams[message.team_id]  # the suggestions with the team's own values, ready to send
        char = next((c for c in scenarios.for_team(team).story.characters if c.id == message.character_id), None)
        items.append(QueueItem(message, team, threads_by_id[message.thread_id], char,
                               max((wall - message.created_at).total_seconds(), 0.0), suggestions(char)))
    return items


def suggestions(char: Character | None) -> tuple[tuple[str, str], ...]:
    if char is None:
        return ()
    canned = [(reply.ja.splitlines()[0][:40], reply.ja) for reply in char.replies]
    return tuple(canned + [(request.label.ja, request.reply.ja) for request in char.requests])


def queue_length(session: Session, exercise: Exercise) -> int:
    return session.scalar(select(func.count()).select_from(Message).where(
        Message.exercise_id == exercise.id, Message.white_cell == WAITING)) or 0


def _waiting(session: Session, exercise: Exercise, message_id: int) -> Message:
    # Locked until the caller commits: of two instructors acting at once, the second sees it handled.
    message = session.get(Message, message_id, with_for_update=True, populate_existing=True)
    if message is None or message.exercise_id != exercise.id or message.direction != "out":
        raise NotFound(N_("no such message"))
    if message.white_cell != WAITING:
        raise Conflict(N_("this message was already handled (%(state)s)"), state=message.white_cell or "-")
    return message


def answer_in_role(session: Session, exercise: Exercise, message_id: int, actor: User, *, body: str,
                   ip: str = "", now: datetime | None = None) -> Message:
    """An instructor's reply as the character to a waiting message; trainees see the character's name."""
    message = _waiting(session, exercise, message_id)
    body = body.strip()
    if not body:
        raise InvalidInput(N_("a message needs a text"))
    if len(body) > MAX_BODY:
        raise InvalidInput(N_("a message has at most %(subject)d characters of subject and %(body)d of text"),
                           subject=MAX_SUBJECT, body=MAX_BODY)
    wall = now or utcnow()
    thread = session.get(Thread, message.thread_id)
    char = next(c for c in scenarios.parsed(exercise.scenario).story.characters if c.id == message.character_id)
    team = session.get(Team, message.team_id)
    reply = deliver(session, exercise, team, char, thread=thread, subject=_reply_subject(message.subject_ja),
                    body_ja=body, body_en=body, author=actor, now=wall)
    message.white_cell, message.handled_by_id, message.handled_at = ANSWERED, actor.id, wall
    audit.record(session, "white_cell.answer", actor=actor, target=f"exercise:{exercise.id}:message:{message.id}",
                 exercise_id=exercise.id, ip=ip, team=team.number, character=char.id, reply=reply.id)
    return reply


def run_request_by_hand(session: Session, exercise: Exercise, message_id: int, actor: User, *, request_id: str,
                        params: dict[str, str] | None = None, ip: str = "", now: datetime | None = None) -> RequestRun:
    """An instructor decides a waiting message is one of the character's requests: the engine carries it out."""
    message = _waiting(session, exercise, message_id)
    char = next(c for c in scenarios.parsed(exercise.scenario).story.characters if c.id == message.character_id)
    request = request_of(char, request_id)
    values = {k: v.strip() for k, v in (params or {}).items() if v is not None and v.strip()}
    problems = matching.check_values(request, values, scenarios.parsed(exercise.scenario))
    if problems:
        raise InvalidInput(N_("the request %(request)r cannot be made: %(problems)s"), request=request.label.ja,
                           problems="; ".join(problems))
    wall = now or utcnow()
    moment = ledger.moment(exercise, wall)
    run = RequestRun(exercise_id=exercise.id, team_id=message.team_id, thread_id=message.thread_id,
                     message_id=message.id, character_id=char.id, request_id=request.id, params=values,
                     via="white_cell", actor_id=actor.id, status=RequestStatus.PENDING, created_at=wall,
                     day=moment.day, exercise_seconds=moment.seconds, timeline_seconds=moment.timeline)
    session.add(run)
    message.white_cell, message.handled_by_id, message.handled_at = ANSWERED, actor.id, wall
    thread = session.get(Thread, message.thread_id)
    thread.state, thread.updated_at = ThreadState.IN_PROGRESS, wall
    session.flush()
    audit.record(session, "white_cell.request", actor=actor, target=f"exercise:{exercise.id}:message:{message.id}",
                 exercise_id=exercise.id, ip=ip, team=session.get(Team, message.team_id).number,
                 character=char.id, request=request.id, params=values)
    return run


def dismiss(session: Session, exercise: Exercise, message_id: int, actor: User, *, ip: str = "",
            now: datetime | None = None) -> None:
    """Take a message off the queue without answering it (the team sees its thread as 対応中)."""
    message = _waiting(session, exercise, message_id)
    wall = now or utcnow()
    message.white_cell, message.handled_by_id, message.handled_at = DISMISSED, actor.id, wall
    thread = session.get(Thread, message.thread_id)
    if thread is not None and thread.state is ThreadState.SENT:
        thread.state = ThreadState.IN_PROGRESS
    audit.record(session, "white_cell.dismiss", actor=actor, target=f"exercise:{exercise.id}:message:{message.id}",
                 exercise_id=exercise.id, ip=ip, team=session.get(Team, message.team_id).number)


# Delivering (the engine, injects, the white cell) ------------------------------------------------

def deliver(session: Session, exercise: Exercise, team: Team, char: Character, *, thread: Thread | None,
            subject: str, body_ja: str, body_en: str, subject_en: str | None = None,
            attachments: tuple[tuple[str, bytes], ...] = (), author: User | None = None,
            inject_run_id: int | None = None, now: datetime | None = None) -> Message:
    """A message from *char* to the team, in *thread* (a new thread when ``None``); the thread is answered."""
    wall = now or utcnow()
    moment = ledger.moment(exercise, wall)
    if thread is None:
        thread = Thread(exercise_id=exercise.id, team_id=team.id, character_id=char.id, subject=subject[:300],
                        created_at=wall, day=moment.day, exercise_seconds=moment.seconds)
        session.add(thread)
        session.flush()
    thread.state, thread.updated_at = ThreadState.ANSWERED, wall
    sender_ja, sender_en = sender_names(char)
    message = Message(exercise_id=exercise.id, team_id=team.id, thread_id=thread.id, direction="in",
                      character_id=char.id, author_id=author.id if author is not None else None,
                      inject_run_id=inject_run_id, sender_ja=sender_ja, sender_en=sender_en,
                      subject_ja=subject[:300], subject_en=(subject_en or subject)[:300], body_ja=body_ja,
                      body_en=body_en, day=moment.day, exercise_seconds=moment.seconds, created_at=wall)
    session.add(message)
    session.flush()
    for name, data in attachments:
        content_type = sniff(data) or "text/plain"
        session.add(MessageAttachment(message_id=message.id, name=_safe_name(name), content_type=content_type,
                                      size=len(data), data=data))
    _timeline(session, team, moment, wall, "reply", f"from {char.id}: {subject[:100]}", character=char.id,
              thread=thread.id, message=message.id, by=author.id if author is not None else None)
    return message


def _timeline(session: Session, team: Team, moment: ledger.Moment, wall: datetime, kind: str, summary: str,
              **detail: object) -> None:
    session.add(TimelineEvent(exercise_id=team.exercise_id, team_id=team.id, at=wall, day=moment.day,
                              exercise_seconds=moment.seconds, kind=kind, summary=summary[:500],
                              detail={k: v for k, v in detail.items() if v is not None}))
