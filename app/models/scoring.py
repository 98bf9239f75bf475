"""Scoring: rounds of checks and their results, the append-only ledger, task attempts, report versions.

The ledger (``ScoreEvent``) is the only place points live; every event has a
key unique per team, so an award written twice (50 simultaneous correct
answers, a round replayed after a crash) is written once. ``TeamScore`` is the
running sum of a team's events, kept in the same transaction as each event so
the scoreboard never adds up a million rows.
"""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.accounts import enum_column
from app.models.base import Base, UTCDateTime, utcnow


class ExerciseMoment:
    """Where an event sits on the exercise clock: the day, seconds into it, seconds since day 1 began."""

    day: Mapped[int] = mapped_column(Integer, default=1)
    exercise_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    timeline_seconds: Mapped[float] = mapped_column(Float, default=0.0)


class ScoringRound(ExerciseMoment, Base):
    """One round of checks over every running team; its number is unique per exercise."""

    __tablename__ = "scoring_rounds"
    __table_args__ = (UniqueConstraint("exercise_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("exercises.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    checks_run: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)


class CheckResultRow(ExerciseMoment, Base):
    """One check of one team in one round: UP / DOWN / ERROR and why."""

    __tablename__ = "check_results"
    __table_args__ = (
        UniqueConstraint("round_id", "team_id", "check_id"),
        Index("ix_check_results_team_check", "team_id", "check_id", "round_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("scoring_rounds.id", ondelete="CASCADE"))
    round_number: Mapped[int] = mapped_column(Integer)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("exercises.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    check_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(300), default="")
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    # When the check became active for this team (its active_from inject fired), on the timeline.
    active_since: Mapped[float] = mapped_column(Float, default=0.0)
    # Consecutive DOWN results up to and including this one (ERROR neither counts nor resets).
    down_streak: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScoreSource(enum.StrEnum):
    CHECK = "check"
    TASK = "task"
    WRONG_ANSWER = "wrong_answer"
    HINT = "hint"
    REPORT = "report"
    REQUEST = "request"  # a character's request fulfilled (once per team and request)
    ADJUSTMENT = "adjustment"


class ScoreEvent(ExerciseMoment, Base):
    """One line of a team's score: where it came from, how many points, why. Never updated."""

    __tablename__ = "score_events"
    __table_args__ = (
        UniqueConstraint("exercise_id", "team_id", "key"),
        # A team's breakdown (points per source) reads this index alone; its lines, newest first, the next one.
        Index("ix_score_events_team_source", "team_id", "source", "source_id", "points"),
        Index("ix_score_events_team_id", "team_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("exercises.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    source: Mapped[ScoreSource] = mapped_column(enum_column(ScoreSource))
    source_id: Mapped[str] = mapped_column(String(100))  # a check, task or report id of the scenario
    key: Mapped[str] = mapped_column(String(160))
    points: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500), default="")  # free text: a check's finding, an instructor's words
    detail: Mapped[dict] = mapped_column(JSON, default=dict)  # the numbers behind the points, shown in either language
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    round_id: Mapped[int | None] = mapped_column(ForeignKey("scoring_rounds.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TeamScore(Base):
    """A team's running total: the sum of its score events, updated with each of them."""

    __tablename__ = "team_scores"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("exercises.id", ondelete="CASCADE"), index=True)
    points: Mapped[int] = mapped_column(Integer, default=0)
    events: Mapped[int] = mapped_column(Integer, default=0)


class TaskAttempt(ExerciseMoment, Base):
    """One answer a team gave to a task. The number is unique per team and task: the attempts limit holds."""

    __tablename__ = "task_attempts"
    __table_args__ = (
        UniqueConstraint("exercise_id", "team_id", "task_id", "number"),
        Index("ix_task_attempts_user_at", "user_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("exercises.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    task_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    answer: Mapped[str] = mapped_column(String(1000))
    correct: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReportStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    REVISION_REQUESTED = "revision_requested"
    GRADED = "graded"


class ReportVersion(ExerciseMoment, Base):
    """One version of a team's report (第一報 / 続報 / 最終報): drafted, submitted, then graded or sent back.

    The moment fields say when it was submitted.
    """

    __tablename__ = "report_versions"
    __table_args__ = (UniqueConstraint("exercise_id", "team_id", "report_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("exercises.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    report_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[ReportStatus] = mapped_column(enum_column(ReportStatus), default=ReportStatus.DRAFT)
    text: Mapped[str] = mapped_column(Text, default="")
    # Counts the saves of this row's text: a save names the revision its writer started from and is
    # refused when a team-mate saved since, so no one's text is ever written over unseen.
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The instructor's side: points per rubric criterion, the total, a comment.
    scores: Mapped[dict] = mapped_column(JSON, default=dict)
    total: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    grader_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    graded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
