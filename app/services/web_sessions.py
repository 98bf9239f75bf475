"""Signed-in browser sessions that were ended before their cookie expired.

Sessions live in a signed cookie, so the server cannot delete one: a copy
made before logging out would still work. Logging out records the
session's id here until the cookie would have expired anyway; ending *all*
of a user's sessions is ``accounts.end_sessions`` (the session generation).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.models import RevokedSession, utcnow


def revoke(session: Session, session_id: str, *, lifetime_seconds: int, now: datetime | None = None) -> None:
    now = now or utcnow()
    session.execute(delete(RevokedSession).where(RevokedSession.expires_at < now))
    if not is_revoked(session, session_id):
        session.add(RevokedSession(session_id=session_id[:64],
                                   expires_at=now + timedelta(seconds=lifetime_seconds)))


def is_revoked(session: Session, session_id: str) -> bool:
    return session.scalar(select(RevokedSession.id).where(RevokedSession.session_id == session_id[:64])) is not None
