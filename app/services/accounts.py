"""Accounts: creating users, passwords, logging in with throttling, roles."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from app.models import AuditEvent, Organisation, Role, User, utcnow
from app.services import audit, login_throttle
from app.services.login_throttle import LoginThrottled, ThrottlePolicy  # noqa: F401 (callers catch it here)
from app.services.text import is_plain_text
from app.services.errors import N_, Conflict, InvalidInput, NotFound, ServiceError

_hasher = PasswordHasher()
# Letters and digits that cannot be mistaken for each other on a printed slip.
_SLIP_ALPHABET = "abcdefghjkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY34679"
MIN_PASSWORD_LENGTH = 10


class InvalidCredentials(ServiceError):
    status = 401


class WrongPassword(InvalidInput):
    """The current password given to confirm a change is wrong."""


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
    if len(set(password)) == 1:
        raise InvalidInput(N_("the password cannot be one character repeated"))


def validate_display_name(value: str) -> str:
    """A person's or an organisation's name as shown on pages, slips and the operator's terminal."""
    if not is_plain_text(value):
        raise InvalidInput(N_("names cannot contain line breaks or control characters"))
    return value.strip()


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
    display_name = validate_display_name(display_name)
    validate_password(password)
    if session.scalar(select(User.id).where(User.login == login)) is not None:
        raise Conflict(N_("the login %(login)r is already taken"), login=login)
    user = User(
        login=login,
        display_name=display_name or login,
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


def authenticate(
    session: Session,
    login: str,
    password: str,
    *,
    ip: str,
    policy: ThrottlePolicy,
    device: str | None = None,
    now: datetime | None = None,
) -> User:
    """Check a login, slowing down guessing (see ``login_throttle``).

    *device* is given when the browser proved it logged in to *login* before;
    its failures then count apart from everyone else's at the same address.
    """
    now = now or utcnow()
    login = login.strip()[:64]
    pair = login_throttle.device_key(device) if device else ip
    # A refused try is not audited (a loop would add a row each time): the failures that caused the wait are.
    login_throttle.check(session, login, pair, now=now)
    user = session.scalar(select(User).where(User.login == login))
    # Verify against a hash even for unknown logins, so timing does not tell which exist.
    known = check_password(user, password) if user is not None else _check_dummy(password)
    if user is None or not user.active or not known:
        audit.record(session, "login.failure", target=f"login:{login}", ip=ip)
        wait = login_throttle.record_failure(session, login, pair, network=ip, policy=policy, now=now)
        if wait:
            audit.record(session, "login.throttled", target=f"login:{login}", ip=ip, seconds=wait)
        raise InvalidCredentials(N_("wrong login or password"))
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    login_throttle.forget_pair(session, login, pair)
    user.last_login_at = now
    audit.record(session, "login.success", actor=user, target=f"login:{login}", ip=ip)
    return user


def unlock(session: Session, user: User, *, actor: User | None, ip: str = "") -> int:
    """Clear the failed-login waits of *user* from every address; returns how many were cleared."""
    cleared = login_throttle.forget_login(session, user.login)
    audit.record(session, "user.unlock", actor=actor, target=f"user:{user.login}", ip=ip, cleared=cleared)
    return cleared


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
    """Set a new password and end every other session of *user*.

    The caller's own session must take the new ``session_generation`` to stay signed in.
    """
    if not check_password(user, current):
        raise WrongPassword(N_("the current password is wrong"))
    if new == current:
        raise InvalidInput(N_("the new password must differ from the current one"))
    validate_password(new)
    user.password_hash = hash_password(new)
    user.must_change_password = False
    end_sessions(user)
    audit.record(session, "user.password_change", actor=user, target=f"user:{user.login}", ip=ip)


def reset_password(session: Session, user: User, *, actor: User | None, ip: str = "") -> str:
    password = generate_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    end_sessions(user)
    audit.record(session, "user.password_reset", actor=actor, target=f"user:{user.login}", ip=ip)
    return password


def end_sessions(user: User) -> None:
    """Make every session cookie issued to *user* so far stop working (checked on each request)."""
    user.session_generation = (user.session_generation or 0) + 1


def log_out_everywhere(session: Session, user: User, *, ip: str = "") -> None:
    """End every session of *user*, in every browser, including the caller's."""
    end_sessions(user)
    audit.record(session, "user.logout_everywhere", actor=user, target=f"user:{user.login}", ip=ip)


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
    if not active:
        end_sessions(user)
    audit.record(
        session, "user.activate" if active else "user.deactivate",
        actor=actor, target=f"user:{user.login}", ip=ip,
    )


def list_users(session: Session) -> list[User]:
    """Every account with its organisation and that organisation's prefecture (one query)."""
    return list(session.scalars(select(User).order_by(User.role, User.login).options(
        joinedload(User.organisation).joinedload(Organisation.prefecture))))


def get_user_by_id(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(N_("no user %(id)d"), id=user_id)
    return user


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
