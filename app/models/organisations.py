"""Prefectures and the organisations (municipalities) trainees come from."""
from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base


class Prefecture(Base):
    """One of Japan's 47 prefectures; ``id`` is the JIS X 0401 code."""

    __tablename__ = "prefectures"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name_ja: Mapped[str] = mapped_column(String(20), unique=True)
    name_en: Mapped[str] = mapped_column(String(40), unique=True)


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = (UniqueConstraint("name", "prefecture_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefecture_id: Mapped[int | None] = mapped_column(ForeignKey("prefectures.id"))

    prefecture: Mapped[Prefecture | None] = relationship()
