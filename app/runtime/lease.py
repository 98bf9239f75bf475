"""The engine lease: one engine runs exercise time; a second one started by mistake waits."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import insert, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import EngineLease

LEASE = "engine"
TTL_SECONDS = 15


def hold(session: Session, holder: str, now: datetime) -> bool:
    """Take or renew the lease; ``False`` while another live engine holds it. Commits."""
    renewed = session.execute(
        update(EngineLease)
        .where(EngineLease.name == LEASE,
               or_(EngineLease.holder == holder, EngineLease.renewed_at < now - timedelta(seconds=TTL_SECONDS)))
        .values(holder=holder, renewed_at=now)
    ).rowcount
    if renewed:
        session.commit()
        return True
    try:
        session.execute(insert(EngineLease).values(name=LEASE, holder=holder, renewed_at=now))
        session.commit()
        return True
    except IntegrityError:
        session.rollback()
        return False


def release(session: Session, holder: str) -> None:
    session.execute(update(EngineLease).where(EngineLease.name == LEASE, EngineLease.holder == holder)
                    .values(renewed_at=datetime(2000, 1, 1, tzinfo=timezone.utc)))
    session.commit()
