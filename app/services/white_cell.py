"""The white cell's page: the team messages waiting for an instructor, each ready to act on.

``app.services.correspondence`` keeps the queue and does the acting (answer as
the character, run a request by hand, dismiss — each audited with the real
instructor); this module gathers what the page shows beside each waiting
message: its attachments, the character's requests with the values their
parameters offer, and — when an instructor acts on a message someone else
already handled — who did and when.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app.models import Exercise, Message, MessageAttachment, User
from app.scenario.model import CharacterRequest
from app.services import correspondence


@dataclass(frozen=True)
class RequestForm:
    """One of the character's requests, with the values each host/choice parameter offers."""

    request: CharacterRequest
    choices: dict[str, list[str]]


@dataclass(frozen=True)
class Waiting:
    """A queue item with its attachments and the character's requests."""

    item: correspondence.QueueItem
    attachments: tuple[MessageAttachment, ...]
    requests: tuple[RequestForm, ...]

    @property
    def message(self) -> Message:
        return self.item.message

    @property
    def waiting_minutes(self) -> int:
        return int(self.item.waiting_seconds // 60)


def queue(session: Session, exercise: Exercise, now: datetime | None = None) -> list[Waiting]:
    """Every waiting team message, oldest first (a fixed number of queries however long the queue)."""
    items = correspondence.white_cell_queue(session, exercise, now)
    attached = correspondence.attachments_of(session, [item.message for item in items])
    offered: dict[str, tuple[RequestForm, ...]] = {}
    found = []
    for item in items:
        char = item.character
        if char is not None and char.id not in offered:
            offered[char.id] = tuple(RequestForm(r, correspondence.param_choices(exercise, r)) for r in char.requests)
        found.append(Waiting(item, tuple(attached[item.message.id]),
                             offered.get(char.id, ()) if char is not None else ()))
    return found


@dataclass(frozen=True)
class Handled:
    state: str  # answered or dismissed
    by: str  # the instructor's display name ("" when the account is gone)
    at: datetime | None


def handled(session: Session, exercise: Exercise, message_id: int) -> Handled | None:
    """Who already handled a team message of *exercise*; ``None`` while it waits (or when there is none)."""
    message = session.get(Message, message_id)
    if message is None or message.exercise_id != exercise.id or message.white_cell in (None, correspondence.WAITING):
        return None
    who = session.get(User, message.handled_by_id) if message.handled_by_id is not None else None
    return Handled(message.white_cell, who.display_name if who is not None else "", message.handled_at)
