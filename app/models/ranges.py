"""Each team's range as the control plane knows it: state, access, and its hosts.

Docker's labels are the truth about what exists; these rows record what the
control plane asked for and last saw, so instructors see progress and a
restarted control plane can reconcile.
"""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.accounts import enum_column
from app.models.base import Base, UTCDateTime, utcnow
from app.models.exercises import Team


class RangeState(enum.StrEnum):
    PENDING = "pending"
    CREATING = "creating"
    READY = "ready"
    FAILED = "failed"
    PAUSED = "paused"
    TORN_DOWN = "torn_down"


class TeamRange(Base):
    __tablename__ = "team_ranges"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), unique=True)
    state: Mapped[RangeState] = mapped_column(enum_column(RangeState), default=RangeState.PENDING)
    reason: Mapped[str] = mapped_column(Text, default="")
    step: Mapped[str] = mapped_column(String(200), default="")
    gateway_port: Mapped[int | None] = mapped_column(Integer)
    gateway_user: Mapped[str] = mapped_column(String(64), default="")
    gateway_password: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    team: Mapped[Team] = relationship()
    hosts: Mapped[list["RangeHost"]] = relationship(
        back_populates="team_range", cascade="all, delete-orphan", order_by="RangeHost.id"
    )


class RangeHost(Base):
    __tablename__ = "range_hosts"
    __table_args__ = (UniqueConstraint("team_range_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_range_id: Mapped[int] = mapped_column(ForeignKey("team_ranges.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    container_id: Mapped[str | None] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(20), default="missing")
    addresses: Mapped[dict] = mapped_column(JSON, default=dict)

    team_range: Mapped[TeamRange] = relationship(back_populates="hosts")
