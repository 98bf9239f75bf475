"""What happens during an exercise: inject runs (exactly once per team), the inbox, the timeline, the engine's lease."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.models.accounts import enum_column
from app.models.base import Base, UTCDateTime, utcnow


class RunStatus(enum.StrEnum):
    REQUESTED = "requested"  # an instructor asked to fire it now
    HELD = "held"  # an instructor holds it for this team
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    MISSED = "missed"  # its day ended before it could fire
    INTERRUPTED = "interrupted"  # the engine died while running it (not idempotent)


class InjectRun(Base):
    """One inject for one team. The unique key is what makes it happen exactly once."""

    __tablename__ = "inject_runs"
    __table_args__ = (UniqueConstraint("exercise_id", "team_id", "inject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("exercises.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    inject_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[RunStatus] = mapped_column(enum_column(RunStatus))
    day: Mapped[int] = mapped_column(Integer, default=1)
    due_seconds: Mapped[float | None] = mapped_column(Float)
    started_seconds: Mapped[float | None] = mapped_column(Float)
    lateness_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    engine: Mapped[str] = mapped_column(String(64), default="")
    result: Mapped[str] = mapped_column(Text, default="")
    output: Mapped[str] = mapped_column(Text, default="")


class Message(Base):
    """A message to a team (``in``: from a character — an inject, a request's reply, the white cell — or
    the instructors) or from it (``out``: to a character, in a thread).

    ``white_cell`` marks a team's message no request recognised: ``waiting`` in the
    instructors' queue, then ``answered`` or ``dismissed``.
    """

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("exercises.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    inject_run_id: Mapped[int | None] = mapped_column(ForeignKey("inject_runs.id", ondelete="SET NULL"))
    sender_ja: Mapped[str] = mapped_column(String(200))
    sender_en: Mapped[str] = mapped_column(String(200))
    subject_ja: Mapped[str] = mapped_column(String(300))
    subject_en: Mapped[str] = mapped_column(String(300))
    body_ja: Mapped[str] = mapped_column(Text)
    body_en: Mapped[str] = mapped_column(Text)
    day: Mapped[int] = mapped_column(Integer, default=1)
    exercise_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(3), default="in", server_default="in")
    character_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # Who really wrote it: the trainee (out), or the instructor answering in role (in).
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    white_cell: Mapped[str | None] = mapped_column(String(12), index=True)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TimelineEvent(Base):
    """One line of a team's (or the whole exercise's) timeline, for the debrief and the review."""

    __tablename__ = "timeline_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("exercises.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    day: Mapped[int] = mapped_column(Integer, default=1)
    exercise_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    kind: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(String(500))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class EngineLease(Base):
    """Who runs exercise time: one engine holds the lease and renews it; a second one waits."""

    __tablename__ = "engine_leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    renewed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TerminalSession(Base):
    """One browser terminal opened by a trainee on one range host; its recording is an asciicast file."""

    __tablename__ = "terminal_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("exercises.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    host: Mapped[str] = mapped_column(String(100))  # the scenario's host id
    account: Mapped[str] = mapped_column(String(100))  # the account logged into on that host
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str] = mapped_column(String(200), default="")
    # Relative to the instance folder: recordings/<exercise>/<team>/<id>.cast
    recording: Mapped[str] = mapped_column(String(500), default="")
    recorded_bytes: Mapped[int] = mapped_column(Integer, default=0)
    # The recording reached MAMORI_TERMINAL_RECORDING_MAX_MB and stopped there (the terminal went on).
    recording_truncated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
