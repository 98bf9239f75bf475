"""Accounts: creating users, passwords, logging in with throttling, roles."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import AuditEvent, Organisation, Role, User, utcnow
from app.services import audit
from app.services.errors import N_, Conflict, InvalidInput, NotFound, ServiceError

_hasher = PasswordHasher()
# Letters and digits that cannot be mistaken for each other on a printed slip.
_SLIP_ALPHABET = "abcdefghjkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY34679"
MIN_PASSWORD_LENGTH = 10


class InvalidCredentials(ServiceError):
    status = 401


class WrongPassword(InvalidInput):
    """The current password given to confirm a change is wrong."""


class LoginThrottled(ServiceError):
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(N_("too many failed logins; try again in %(seconds)d seconds"), seconds=retry_after)
        self.retry_after = retry_after


def generate_password(length: int = 12) -> str:
    return "".join(secrets.choice(_SLIP_ALPHABET) for _ in range(length))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(user: User, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def validate_login_name(login: str) -> str:
    login = login.strip()
    if not login or len(login) > 64 or not all(c.isascii() and (c.isalnum() or c in "._-") for c in login):
        raise InvalidInput(
            N_("login %(login)r must be 1–64 ASCII letters, digits, '.', '_' or '-'"), login=login
        )
    return login


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            N_("the password must have at least %(count)d characters"), count=MIN_PASSWORD_LENGTH
        )


def create_user(
    session: Session,
    *,
    login: str,
    display_name: str,
    role: Role,
    password: str,
    organisation: Organisation | None = None,
    must_change_password: bool = False,
    actor: User | None = None,
) -> User:
    login = validate_login_name(login)
    validate_password(password)
    if session.scalar(select(User.id).where(User.login == login)) is not None:
        raise Conflict(N_("the login %(login)r is already taken"), login=login)
    user = User(
        login=login,
        display_name=display_name.strip() or login,
        role=role,
        password_hash=hash_password(password),
        organisation=organisation,
        must_change_password=must_change_password,
        active=True,
    )
    session.add(user)
    session.flush()
    audit.record(session, "user.create", actor=actor, target=f"user:{login}", role=role.value)
    return user


def get_user(session: Session, login: str) -> User:
    user = session.scalar(select(User).where(User.login == login))
    if user is None:
        raise NotFound(N_("no user with login %(login)r"), login=login)
    return user


MAX_LOGIN_WAIT_SECONDS = 60


def authenticate(
    session: Session,
    login: str,
    password: str,
    *,
    ip: str,
    failure_limit: int,
    window_seconds: int,
    now: datetime | None = None,
) -> User:
    """Check a login; slow down guessing by login name and by address, using the audit log.

    After ``failure_limit`` failures within the window, each further attempt
    must wait longer since the last failure (5 s, 10 s, 20 s … at most a
    minute), so guessing stalls while someone who mistyped, or whose account
    a prankster keeps failing, waits seconds, not a quarter of an hour. The
    per-address limit is twenty times higher because a whole venue usually
    shares one address. The audit log is shared by every worker, so this
    holds across gunicorn processes.
    """
    now = now or utcnow()
    since = now - timedelta(seconds=window_seconds)
    login = login.strip()[:64]
    failures = select(func.count(), func.max(AuditEvent.at)).where(
        AuditEvent.action == "login.failure", AuditEvent.at >= since
    )
    by_login = session.execute(failures.where(AuditEvent.target == f"login:{login}")).one()
    by_ip = session.execute(failures.where(AuditEvent.ip == ip[:64])).one()
    for (count, last), limit in ((by_login, failure_limit), (by_ip, failure_limit * 20)):
        if count >= limit:
            wait = min(MAX_LOGIN_WAIT_SECONDS, 5 * 2 ** (count - limit))
            remaining = (last + timedelta(seconds=wait) - now).total_seconds()
            if remaining > 0:
                audit.record(session, "login.throttled", target=f"login:{login}", ip=ip)
                raise LoginThrottled(max(int(remaining) + 1, 1))
    user = session.scalar(select(User).where(User.login == login))
    # Verify against a hash even for unknown logins, so timing does not tell which exist.
    known = check_password(user, password) if user is not None else _check_dummy(password)
    if user is None or not user.active or not known:
        audit.record(session, "login.failure", target=f"login:{login}", ip=ip)
        raise InvalidCredentials(N_("wrong login or password"))
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    audit.record(session, "login.success", actor=user, target=f"login:{login}", ip=ip)
    return user


_DUMMY_HASH: list[str] = []


def _check_dummy(password: str) -> bool:
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(_hasher.hash(secrets.token_urlsafe(16)))
    try:
        _hasher.verify(_DUMMY_HASH[0], password)
    except (VerificationError, InvalidHashError):
        pass
    return False


def change_password(session: Session, user: User, current: str, new: str, *, ip: str = "") -> None:
    if not check_password(user, current):
        raise WrongPassword(N_("the current password is wrong"))
    validate_password(new)
    user.password_hash = hash_password(new)
    user.must_change_password = False
    audit.record(session, "user.password_change", actor=user, target=f"user:{user.login}", ip=ip)


def reset_password(session: Session, user: User, *, actor: User | None, ip: str = "") -> str:
    password = generate_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    audit.record(session, "user.password_reset", actor=actor, target=f"user:{user.login}", ip=ip)
    return password


def set_role(session: Session, user: User, role: Role, *, actor: User | None, ip: str = "") -> None:
    if user.role is role:
        return
    if actor is not None and actor.id == user.id:
        raise InvalidInput(N_("you cannot change your own role"))
    if user.role is Role.ADMIN and user.active and _count_admins(session) <= 1:
        raise InvalidInput(N_("the last administrator cannot lose the role"))
    previous = user.role
    user.role = role
    audit.record(
        session, "user.role_change", actor=actor, target=f"user:{user.login}", ip=ip,
        old=previous.value, new=role.value,
    )


def set_active(session: Session, user: User, active: bool, *, actor: User | None, ip: str = "") -> None:
    if actor is not None and actor.id == user.id and not active:
        raise InvalidInput(N_("you cannot deactivate yourself"))
    user.active = active
    audit.record(
        session, "user.activate" if active else "user.deactivate",
        actor=actor, target=f"user:{user.login}", ip=ip,
    )


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.role, User.login)))


def ensure_first_admin(session: Session, password: str | None) -> tuple[User, str | None] | None:
    """Create the administrator ``admin`` if no administrator exists.

    Returns ``(user, generated_password)`` when one was made (the password is
    ``None`` when the caller supplied it), or ``None`` when one existed.
    """
    if session.scalar(select(User.id).where(User.role == Role.ADMIN).limit(1)) is not None:
        return None
    generated = None
    if not password:
        password = generated = generate_password(16)
    user = create_user(
        session, login="admin", display_name="管理者", role=Role.ADMIN, password=password,
        must_change_password=generated is not None,
    )
    return user, generated


def _count_admins(session: Session) -> int:
    return session.scalar(
        select(func.count()).select_from(User).where(User.role == Role.ADMIN, User.active.is_(True))
    ) or 0
