"""The team's correspondence with the scenario's characters: threads, attachments, requests and their runs.

A team writes to a character (its boss, the vendor, the police) in a thread;
the messages themselves are rows of ``messages`` (``direction`` ``out`` from the
team, ``in`` to it). A message recognised as one of the character's requests
becomes a ``RequestRun`` that the engine carries out (its condition, its delay,
its actions in the team's range, the reply); one nobody recognised waits in the
white-cell queue for an instructor to answer as the character.
"""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.accounts import enum_column
from app.models.base import Base, UTCDateTime, utcnow


class ThreadState(enum.StrEnum):
    SENT = "sent"  # 送信済: the team wrote; nobody has taken it up yet
    IN_PROGRESS = "in_progress"  # 対応中: a request is under way, or an instructor is on it
    ANSWERED = "answered"  # 回答あり: the character's reply is the latest message


class Thread(Base):
    """One conversation between a team and a character."""

    __tablename__ = "threads"
    __table_args__ = (Index("ix_threads_team_updated", "team_id", "updated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("exercises.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    character_id: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(300))
    state: Mapped[ThreadState] = mapped_column(enum_column(ThreadState), default=ThreadState.SENT)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    day: Mapped[int] = mapped_column(Integer, default=1)
    exercise_seconds: Mapped[float] = mapped_column(Float, default=0.0)


class MessageAttachment(Base):
    """A small file with a message: a log excerpt, a screenshot, a patched file (size-capped by the services)."""

    __tablename__ = "message_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class RequestStatus(enum.StrEnum):
    PENDING = "pending"  # made; the engine has not looked at its condition yet
    SCHEDULED = "scheduled"  # accepted: carried out when its delay has passed
    RUNNING = "running"
    FULFILLED = "fulfilled"  # its actions ran and the reply went out
    FAILED = "failed"  # an action failed (the reply still went out; the instructors see why)
    REFUSED = "refused"  # its condition did not hold: the refusal went out
    REPEATED = "repeated"  # asked again after it was fulfilled (once: true): "already done"
    INTERRUPTED = "interrupted"  # the engine stopped while running it


class RequestRun(Base):
    """One request a team made of a character (or an instructor made for it), and what came of it."""

    __tablename__ = "request_runs"
    __table_args__ = (Index("ix_request_runs_status", "exercise_id", "status"),
                      Index("ix_request_runs_team", "team_id", "character_id", "request_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("exercises.id", ondelete="CASCADE"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("threads.id", ondelete="SET NULL"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    character_id: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[RequestStatus] = mapped_column(enum_column(RequestStatus), default=RequestStatus.PENDING)
    via: Mapped[str] = mapped_column(String(20), default="chosen")  # chosen | matched | white_cell
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    day: Mapped[int] = mapped_column(Integer, default=1)
    exercise_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    timeline_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    due_day: Mapped[int | None] = mapped_column(Integer)
    due_seconds: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    engine: Mapped[str] = mapped_column(String(64), default="")
    result: Mapped[str] = mapped_column(Text, default="")
    output: Mapped[str] = mapped_column(Text, default="")
    reply_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
