"""The after-action report's record of the organisation: the team's letters to the characters, their replies,
the requests the team made and what came of them.

One query each for the team's messages, their attachments' names and its
requests, however many there are (the report costs the same for every team).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Exercise, Message, MessageAttachment, RequestRun, RequestStatus, Team
from app.scenario.model import Character, Text
from app.services import ledger


@dataclass(frozen=True)
class Stamp:
    """When something happened: on the exercise clock (when known) and on the wall."""

    day: int | None = None
    seconds: float | None = None
    timeline: float | None = None
    wall: datetime | None = None


@dataclass(frozen=True)
class Letter:
    """One message between the team and a character, quoted in full."""

    stamp: Stamp
    outgoing: bool  # written by the team (else the character's, or an inject's, message to it)
    character: Character | None  # None: a character the scenario no longer has
    message: Message  # subject_ja/en, body_ja/en, sender_ja/en
    attachments: list[str] = field(default_factory=list)  # file names
    request: Text | None = None  # the label of the request the message made, when it made one
    from_inject: bool = False  # the message an inject sent (the attack's side of the timeline shows the inject)


@dataclass(frozen=True)
class RequestOutcome:
    """A request the team made of a character (or an instructor made for it) and what came of it."""

    stamp: Stamp
    character: Character | None
    character_id: str
    request_id: str
    label: Text | None  # None: a request the scenario no longer has
    params: dict[str, Any]
    status: RequestStatus
    result: str


def record(session: Session, exercise: Exercise, team: Team,
           characters: dict[str, Character]) -> tuple[list[Letter], list[RequestOutcome]]:
    """The team's letters (its messages to characters and theirs to it) and its requests, each oldest first."""
    runs = list(session.scalars(select(RequestRun).where(RequestRun.team_id == team.id)
                                .order_by(RequestRun.created_at, RequestRun.id)))
    return _letters(session, exercise, team, characters, runs), [_outcome(exercise, run, characters) for run in runs]


def _letters(session: Session, exercise: Exercise, team: Team, characters: dict[str, Character],
             runs: list[RequestRun]) -> list[Letter]:
    rows = list(session.scalars(select(Message).where(Message.team_id == team.id, Message.character_id != "")
                                .order_by(Message.created_at, Message.id)))
    names: dict[int, list[str]] = {}
    for message_id, name in session.execute(
            select(MessageAttachment.message_id, MessageAttachment.name)
            .join(Message, Message.id == MessageAttachment.message_id)
            .where(Message.team_id == team.id).order_by(MessageAttachment.id)):
        names.setdefault(message_id, []).append(name)
    made = {run.message_id: run.request_id for run in runs if run.message_id is not None}
    found = []
    for m in rows:
        character = characters.get(m.character_id)
        found.append(Letter(_stamp(exercise, m.day, m.exercise_seconds, m.created_at), m.direction == "out",
                            character, m, names.get(m.id, []), _label(character, made.get(m.id)),
                            m.inject_run_id is not None))
    return found


def _outcome(exercise: Exercise, run: RequestRun, characters: dict[str, Character]) -> RequestOutcome:
    character = characters.get(run.character_id)
    return RequestOutcome(_stamp(exercise, run.day, run.exercise_seconds, run.created_at), character,
                          run.character_id, run.request_id, _label(character, run.request_id),
                          dict(run.params or {}), run.status, run.result)


def _label(character: Character | None, request_id: str | None) -> Text | None:
    if character is None or request_id is None:
        return None
    return next((r.label for r in character.requests if r.id == request_id), None)


def _stamp(exercise: Exercise, day: int, seconds: float, wall: datetime | None) -> Stamp:
    return Stamp(day, seconds, ledger.at(exercise, day, seconds).timeline, wall)
