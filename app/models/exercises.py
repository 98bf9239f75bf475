"""Scenarios as registered, exercises built from them, their teams and members."""
from __future__ import annotations

import enum
import secrets
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint, false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.accounts import User, enum_column
from app.models.base import Base, UTCDateTime, utcnow
from app.models.organisations import Prefecture


class Scenario(Base):
    """One version of a scenario file, identified by its content hash.

    An exercise points at the row it was created with, so editing the file
    later registers a new row and never changes a running exercise.
    """

    __tablename__ = "scenarios"
    __table_args__ = (UniqueConstraint("slug", "content_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[str] = mapped_column(String(40))
    content_hash: Mapped[str] = mapped_column(String(64))
    title_ja: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(20))
    days: Mapped[int] = mapped_column(Integer)
    source_path: Mapped[str] = mapped_column(String(500))
    source_text: Mapped[str] = mapped_column(Text)
    document: Mapped[dict] = mapped_column(JSON)
    # The scenario's bundled files (relative path -> base64), kept with the version.
    bundle: Mapped[dict] = mapped_column(JSON, default=dict)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExerciseState(enum.StrEnum):
    DRAFT = "draft"
    PROVISIONING = "provisioning"
    READY = "ready"
    RUNNING = "running"
    PAUSED = "paused"
    DAY_ENDED = "day_ended"
    FINISHED = "finished"
    TORN_DOWN = "torn_down"


class Exercise(Base):
    __tablename__ = "exercises"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id"))
    state: Mapped[ExerciseState] = mapped_column(
        enum_column(ExerciseState), default=ExerciseState.DRAFT
    )
    days: Mapped[int] = mapped_column(Integer, default=1)
    current_day: Mapped[int] = mapped_column(Integer, default=1)
    # The clock (see app.runtime.clock): seconds banked in the current day, when it last
    # started running (None while stopped), and how fast exercise time runs.
    clock_elapsed: Mapped[float] = mapped_column(Float, default=0.0)
    clock_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    speed: Mapped[float] = mapped_column(Float, default=1.0)
    # Whether trainees see their team's score and breakdown (the instructor decides; released
    # report grades only, whatever this says).
    scores_visible: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    venue: Mapped[str] = mapped_column(String(200), default="")
    prefecture_id: Mapped[int | None] = mapped_column(ForeignKey("prefectures.id"))
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Teams' variables are drawn from this seed and their number (app.services.scenarios.team_values).
    variable_seed: Mapped[str | None] = mapped_column(String(32), default=lambda: secrets.token_hex(16))

    scenario: Mapped[Scenario] = relationship()
    prefecture: Mapped[Prefecture | None] = relationship()
    created_by: Mapped[User | None] = relationship()
    teams: Mapped[list["Team"]] = relationship(
        back_populates="exercise", cascade="all, delete-orphan", order_by="Team.number"
    )
    staff: Mapped[list["ExerciseStaff"]] = relationship(
        back_populates="exercise", cascade="all, delete-orphan", order_by="ExerciseStaff.id"
    )


class ExerciseStaff(Base):
    """An instructor who runs an exercise (its creator first); other instructors only look at it.

    See ``app.services.staff`` for who may add and remove them.
    """

    __tablename__ = "exercise_staff"
    __table_args__ = (UniqueConstraint("exercise_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("exercises.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    exercise: Mapped[Exercise] = relationship(back_populates="staff")
    user: Mapped[User] = relationship(foreign_keys=[user_id])


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (
        UniqueConstraint("exercise_id", "number"),
        UniqueConstraint("exercise_id", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("exercises.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    # The scenario's variables as drawn for this team, fixed once drawn (None until first needed).
    variables: Mapped[dict | None] = mapped_column(JSON)

    exercise: Mapped[Exercise] = relationship(back_populates="teams")
    memberships: Mapped[list["Membership"]] = relationship(
        back_populates="team", cascade="all, delete-orphan"
    )


class Membership(Base):
    """A trainee in a team; one team per person per exercise."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("exercise_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("exercises.id", ondelete="CASCADE"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)

    team: Mapped[Team] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(back_populates="memberships")
