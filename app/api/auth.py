"""Bearer-token authentication for the JSON API (session cookies are not accepted)."""
from __future__ import annotations

from functools import wraps
from typing import Callable, NoReturn, TypeVar

from flask import g, request
from flask_smorest import abort

from sqlalchemy.orm import Session

from app.models import Role, Team, User
from app.services import exercises, tokens
from app.services.errors import ServiceError
from app.web.context import db_session

F = TypeVar("F", bound=Callable[..., object])


def authenticate_request() -> None:
    """Resolve ``Authorization: Bearer mmr_…`` into ``g.api_user`` (or leave it unset)."""
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return
    session = db_session()
    user = tokens.resolve(session, raw.strip())
    if user is not None:
        session.commit()
        g.api_user = user


def api_user() -> User:
    return g.api_user


def require_api_role(role: Role) -> Callable[[F], F]:
    """401 without a valid token, 403 when the token's user lacks *role*.

    ``Role.TRAINEE`` means any authenticated user; the service layer limits
    what a trainee sees.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            user: User | None = g.get("api_user")
            if user is None:
                abort(401, message="a valid API token is required (Authorization: Bearer mmr_…)",
                      headers={"WWW-Authenticate": "Bearer"})
            if role is not Role.TRAINEE and not user.has_role(role):
                abort(403, message=f"this needs the {role.value} role")
            return view(*args, **kwargs)

        wrapper.required_role = role  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def fail(exc: ServiceError) -> NoReturn:
    """A service's refusal as the API's JSON error, with the service's status (404, 403, 409…)."""
    abort(exc.status, message=str(exc))
    raise AssertionError("abort() returned")  # pragma: no cover


def team_for(session: Session, team_id: int) -> Team:
    """The team the caller may see: staff any team of an exercise they run, a trainee only their own."""
    try:
        return exercises.get_team_for(session, api_user(), team_id)
    except ServiceError as exc:
        fail(exc)
