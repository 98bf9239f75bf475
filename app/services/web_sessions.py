"""Signed-in browser sessions that were ended before their cookie expired.

Sessions live in a signed cookie, so the server cannot delete one: a copy
made before logging out would still work. Logging out records the
session's id here until the cookie would have expired anyway; ending *all*
of a user's sessions is ``accounts.end_sessions`` (the session generation).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from app.models import RevokedSession, User, utcnow


def revoke(session: Session, session_id: str, *, lifetime_seconds: int, now: datetime | None = None) -> None:
    now = now or utcnow()
    session.execute(delete(RevokedSession).where(RevokedSession.expires_at < now))
    if not is_revoked(session, session_id):
        session.add(RevokedSession(session_id=session_id[:64],
                                   expires_at=now + timedelta(seconds=lifetime_seconds)))


def signed_in_user(session: Session, user_id: int, session_id: str) -> User | None:
    """User *user_id* unless the session *session_id* was logged out — one query, on every request."""
    revoked = exists().where(RevokedSession.session_id == session_id[:64])
    row = session.execute(select(User, revoked).where(User.id == user_id)).first()
    return None if row is None or row[1] else row[0]


def is_revoked(session: Session, session_id: str) -> bool:
    return session.scalar(select(RevokedSession.id).where(RevokedSession.session_id == session_id[:64])) is not None
