"""Slowing down password guessing without handing anyone a lockout button.

Failures are counted per *pair* (one login name from one address, or from one
browser that has logged in to that name before) and per *address* (every
name from one address). Only a pair is ever made to wait, so:

- wrong passwords for ``admin`` from one address make only that address wait
  for ``admin``; the administrator elsewhere, or in a browser that logged in
  as ``admin`` before, logs in at once;
- a whole venue behind one NAT shares the address count. Below its limit
  (300 failures in 15 minutes by default: 100 trainees who each mistype a
  printed one-time password three times) nothing changes; above it, each
  pair from that address waits after its *first* failure instead of its
  fifth. Nobody's first try is refused and no wait is longer than a minute:
  a prankster at the venue slows everyone's retries, he cannot stop a login.

The state is in the database, so every gunicorn worker sees the same counts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import LoginThrottle, ThrottleScope
from app.services.errors import N_, ServiceError


class LoginThrottled(ServiceError):
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(N_("too many failed logins; try again in %(seconds)d seconds"), seconds=retry_after)
        self.retry_after = retry_after


@dataclass(frozen=True)
class ThrottlePolicy:
    pair_limit: int = 5  # failures of one pair before it must wait
    address_limit: int = 300  # failures from one address beyond which every failing pair there waits
    window_seconds: int = 900  # counts start again this long after a key's first failure
    first_wait_seconds: int = 5  # doubled for each further failure…
    max_wait_seconds: int = 60  # …up to this


def device_key(device: str) -> str:
    """The pair's "address" for a browser that logged in to this name before."""
    return f"device:{device}"[:64]


def check(session: Session, login: str, address: str, *, now: datetime) -> None:
    """Raise ``LoginThrottled`` when this pair must still wait; nothing else is ever refused."""
    blocked_until = session.scalar(select(LoginThrottle.blocked_until).where(
        *_key(ThrottleScope.PAIR, login, address), LoginThrottle.blocked_until > now))
    if blocked_until is not None:
        raise LoginThrottled(max(math.ceil((blocked_until - now).total_seconds()), 1))


def record_failure(
    session: Session, login: str, address: str, *, network: str, policy: ThrottlePolicy, now: datetime
) -> int:
    """Count a failure for the pair (*login*, *address*) and for *network* (the client's address).

    Returns the seconds the pair must now wait (0: none).
    """
    window = timedelta(seconds=policy.window_seconds)
    session.execute(delete(LoginThrottle).where(LoginThrottle.window_started_at < now - window))
    from_network = _count(session, ThrottleScope.ADDRESS, "", network, now=now)
    failures = _count(session, ThrottleScope.PAIR, login, address, now=now)
    limit = 1 if from_network > policy.address_limit else policy.pair_limit
    if failures < limit:
        return 0
    wait = min(policy.max_wait_seconds, policy.first_wait_seconds * 2 ** min(failures - limit, 16))
    session.execute(update(LoginThrottle).where(*_key(ThrottleScope.PAIR, login, address))
                    .values(blocked_until=now + timedelta(seconds=wait)))
    return wait


def forget_pair(session: Session, login: str, address: str) -> None:
    """A successful login clears its pair's failures."""
    session.execute(delete(LoginThrottle).where(*_key(ThrottleScope.PAIR, login, address)))


def forget_login(session: Session, login: str) -> int:
    """Clear every pair of *login* (from any address or browser); returns how many there were."""
    result = session.execute(delete(LoginThrottle).where(
        LoginThrottle.scope == ThrottleScope.PAIR, LoginThrottle.login == login))
    return result.rowcount or 0


def _key(scope: ThrottleScope, login: str, address: str) -> tuple:  # type: ignore[type-arg]
    return LoginThrottle.scope == scope, LoginThrottle.login == login, LoginThrottle.address == address


def _count(session: Session, scope: ThrottleScope, login: str, address: str, *, now: datetime) -> int:
    """Add one failure to a key in one statement (workers may race) and return its count."""
    login, address = login[:64], address[:64]
    bump = (update(LoginThrottle).where(*_key(scope, login, address))
            .values(failures=LoginThrottle.failures + 1, last_failure_at=now)
            .execution_options(synchronize_session=False))
    if session.execute(bump).rowcount == 0:
        try:
            with session.begin_nested():
                session.add(LoginThrottle(scope=scope, login=login, address=address, failures=1,
                                          window_started_at=now, last_failure_at=now))
        except IntegrityError:  # another worker made the row first
            session.execute(bump)
    return session.scalar(select(LoginThrottle.failures).where(*_key(scope, login, address))) or 0
