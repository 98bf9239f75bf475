"""Writing to the audit log."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditEvent, User


def record(
    session: Session,
    action: str,
    *,
    actor: User | None = None,
    target: str = "",
    exercise_id: int | None = None,
    ip: str = "",
    **detail: Any,
) -> AuditEvent:
    """Append one audit event (added to *session*, committed by the caller)."""
    event = AuditEvent(
        action=action,
        actor_id=actor.id if actor is not None else None,
        actor_login=actor.login if actor is not None else "",
        target=target[:200],
        exercise_id=exercise_id,
        ip=ip[:64],
        detail=detail,
    )
    session.add(event)
    return event


def recent(session: Session, *, limit: int = 200, action: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEvent.action == action)
    return list(session.scalars(query))
