"""Instructor controls over injects and the inbox: fire now, hold, skip, message, broadcast."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Exercise, InjectRun, Message, RunStatus, Team, TimelineEvent, User, utcnow
from app.scenario import variables
from app.scenario.model import Character
from app.services import audit, correspondence, lifecycle, scenarios
from app.services.errors import N_, Conflict, InvalidInput, NotFound

CONTROLS = {"fire": RunStatus.REQUESTED, "hold": RunStatus.HELD, "skip": RunStatus.SKIPPED}
NO_SUCH_TEAM = N_("there is no team %(team)s (this exercise's teams are %(first)d to %(last)d)")


def control(session: Session, exercise: Exercise, inject_id: str, action: str, *, teams: list[int] | None,
            actor: User | None, ip: str = "") -> list[int]:
    """Fire now, hold, or skip *inject_id* for the named teams (all when ``None``); returns the teams changed.

    Only injects that have not run can be changed; ``release`` undoes a hold.
    """
    if inject_id not in {i.id for i in scenarios.parsed(exercise.scenario).injects}:
        raise NotFound(N_("the scenario has no inject %(inject)r"), inject=inject_id)
    chosen = chosen_teams(exercise, teams)
    changed = []
    for team in chosen:
        run = session.scalar(select(InjectRun).where(
            InjectRun.exercise_id == exercise.id, InjectRun.team_id == team.id, InjectRun.inject_id == inject_id))
        if action == "release":
            if run is not None and run.status is RunStatus.HELD:
                session.delete(run)
                changed.append(team.number)
            continue
        if run is not None and run.status not in (RunStatus.HELD, RunStatus.REQUESTED):
            continue  # it already ran (or was decided): exactly once
        if run is None:
            run = InjectRun(exercise_id=exercise.id, team_id=team.id, inject_id=inject_id, status=CONTROLS[action])
            session.add(run)
        run.status = CONTROLS[action]
        if action == "skip":
            run.result, run.finished_at = "skipped by an instructor", utcnow()
        changed.append(team.number)
        _timeline(session, exercise, team, f"{inject_id}: {action} by an instructor")
    if teams is not None and not changed:
        raise Conflict(N_("the inject %(inject)r has already run for these teams"), inject=inject_id)
    session.flush()
    audit.record(session, f"inject.{action}", actor=actor, target=f"exercise:{exercise.id}:{inject_id}",
                 exercise_id=exercise.id, ip=ip, teams=changed)
    return changed


def send(session: Session, exercise: Exercise, *, subject: str, body: str, teams: list[int] | None,
         actor: User | None, ip: str = "", sender: str | None = None) -> int:
    """A message from the instructors to some teams' inboxes (all teams: a broadcast).

    With *sender*, a character of the scenario writes it instead of "講師": to
    each chosen team in a thread of its own with that character (when trainees
    can write to it) so the team can answer; the audit log keeps the real
    instructor.
    """
    if not subject.strip() or not body.strip():
        raise InvalidInput(N_("a message needs a subject and a text"))
    chosen = chosen_teams(exercise, teams)
    char = _character(exercise, sender) if sender else None
    reading = lifecycle.reading(exercise)
    written_subject, written_body = subject, body
    for team in chosen:  # {{variable}} in the instructor's text: each team reads its own value
        values = scenarios.team_values(team)
        subject, body = variables.render_text(written_subject, values), variables.render_text(written_body, values)
        if char is not None and char.reachable:
            correspondence.deliver(session, exercise, team, char, thread=None, subject=subject, body_ja=body,
                                   body_en=body, author=actor)
            continue
        sender_ja, sender_en = correspondence.sender_names(char) if char is not None else ("講師", "Instructors")
        session.add(Message(exercise_id=exercise.id, team_id=team.id, sender_ja=sender_ja, sender_en=sender_en,
                            subject_ja=subject, subject_en=subject, body_ja=body, body_en=body,
                            character_id=char.id if char is not None else "", author_id=actor.id if actor else None,
                            day=reading.day, exercise_seconds=reading.seconds))
        _timeline(session, exercise, team, f"message from {char.id if char else 'the instructors'}: {subject[:100]}")
    audit.record(session, "message.broadcast" if teams is None else "message.send", actor=actor,
                 target=f"exercise:{exercise.id}", exercise_id=exercise.id, ip=ip,
                 teams=[t.number for t in chosen], subject=written_subject[:200], sender=char.id if char else None)
    return len(chosen)


def chosen_teams(exercise: Exercise, numbers: list[int] | None) -> list[Team]:
    """The exercise's teams numbered *numbers* (every team when ``None``).

    A number the exercise does not have is refused, naming it and the numbers
    there are, so a typo never quietly reaches no one (or fewer teams than asked).
    """
    if numbers is None:
        return list(exercise.teams)
    have = sorted(t.number for t in exercise.teams)  # 1..N, numbered when the exercise was created
    missing = sorted(set(numbers) - set(have))
    if missing:
        raise InvalidInput(NO_SUCH_TEAM, team=", ".join(str(n) for n in missing), first=have[0], last=have[-1])
    return [t for t in exercise.teams if t.number in numbers]


def _character(exercise: Exercise, character_id: str) -> Character:
    found = next((c for c in scenarios.parsed(exercise.scenario).story.characters if c.id == character_id), None)
    if found is None:
        raise NotFound(N_("the scenario has no character %(character)r"), character=character_id)
    return found


def inbox(session: Session, team: Team) -> list[Message]:
    """Every message *to* the team (the instructors', injects', characters'), newest first; never its own."""
    return list(session.scalars(select(Message).where(Message.team_id == team.id, Message.direction == "in")
                                .order_by(Message.id.desc())))


def broadcasts(session: Session, team: Team) -> list[Message]:
    """The instructors' messages to the team outside any thread (from 講師), newest first."""
    return list(session.scalars(select(Message).where(Message.team_id == team.id, Message.direction == "in",
                                                      Message.thread_id.is_(None)).order_by(Message.id.desc())))


def unread_count(session: Session, team: Team) -> int:
    """How many messages to the team no member has opened yet (one indexed count, however full the inbox).

    Only messages *to* the team count: what the team itself sent is never "unread".
    """
    return session.scalar(select(func.count()).select_from(Message).where(
        Message.team_id == team.id, Message.direction == "in", Message.read_at.is_(None))) or 0


def get_message(session: Session, team: Team, message_id: int) -> Message:
    message = session.get(Message, message_id)
    if message is None or message.team_id != team.id:
        raise NotFound(N_("no such message"))
    return message


def mark_read(message: Message) -> None:
    message.read_at = message.read_at or utcnow()


def runs_of(session: Session, exercise: Exercise) -> list[InjectRun]:
    return list(session.scalars(select(InjectRun).where(InjectRun.exercise_id == exercise.id)
                                .order_by(InjectRun.team_id, InjectRun.id)))


def _timeline(session: Session, exercise: Exercise, team: Team, summary: str) -> None:
    reading = lifecycle.reading(exercise)
    session.add(TimelineEvent(exercise_id=exercise.id, team_id=team.id, day=reading.day,
                              exercise_seconds=reading.seconds, kind="instructor", summary=summary[:500]))


