"""API tokens: shown once, stored only as a SHA-256 digest."""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ApiToken, User, utcnow
from app.services import audit
from app.services.errors import N_, NotFound

PREFIX = "mmr_"


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def issue(session: Session, user: User, name: str, *, actor: User | None) -> str:
    """A new token for *user*; *actor* is who asked (``None``: the operator's CLI)."""
    raw = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user=user, name=name.strip()[:100] or "token", token_hash=_digest(raw)))
    audit.record(session, "token.issue", actor=actor, target=f"user:{user.login}", name=name)
    return raw


def resolve(session: Session, raw: str) -> User | None:
    if not raw.startswith(PREFIX) or len(raw) > 200:
        return None
    token = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _digest(raw), ApiToken.revoked_at.is_(None))
    )
    if token is None or not token.user.active:
        return None
    token.last_used_at = utcnow()
    return token.user


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    return list(
        session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id))
    )


def revoke(session: Session, user: User, token_id: int, *, actor: User | None) -> None:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(N_("no such token"))
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(session, "token.revoke", actor=actor, target=f"user:{user.login}", name=token.name)


def revoke_all(session: Session, user: User, *, actor: User | None) -> int:
    """Revoke every live token of *user* (e.g. from the operator's CLI); returns how many."""
    live = [t for t in tokens_of(session, user) if t.revoked_at is None]
    for token in live:
        revoke(session, user, token.id, actor=actor)
    return len(live)
