"""The signed-in session: started at login, checked on every request, ended at logout.

A session carries its own random id and the user's session generation at
login. It stops working when it logged out (its id is revoked) or when the
generation moved on (log out everywhere, password change or reset,
deactivation). The WebSocket handshake of the browser terminal goes through
the same check, since Flask-Login loads the user the same way.

A second, long-lived cookie remembers which login last signed in from this
browser, so its failed logins count apart from a stranger's at the same
address (``login_throttle``): whoever hammers ``admin`` from the venue's
NAT cannot make the administrator's own browser wait.
"""
from __future__ import annotations

import secrets

from flask import current_app, request, session
from flask_login import login_user, logout_user
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.wrappers import Response

from app.models import User
from app.services import web_sessions
from app.web.context import db_session, settings

DEVICE_COOKIE = "mamori_device"
_DEVICE_DAYS = 180


def start(user: User) -> None:
    login_user(user)
    session["sid"] = secrets.token_urlsafe(24)
    session["generation"] = user.session_generation


def keep_after_generation_change(user: User) -> None:
    """This browser stays signed in after its own password change or "log out elsewhere"."""
    session["generation"] = user.session_generation


def load(user_id: str) -> User | None:
    """The request's user, when its session was started for the user's current generation, was not
    logged out and the account is active; else ``None`` (anonymous). One query per request."""
    sid = session.get("sid")
    if not user_id.isdigit() or not isinstance(sid, str):
        return None
    user = web_sessions.signed_in_user(db_session(), int(user_id), sid)
    return user if user is not None and user.active and session.get("generation") == user.session_generation else None


def end() -> None:
    """Log out and make a copy of this session's cookie useless. The caller commits."""
    sid = session.get("sid")
    if isinstance(sid, str):
        lifetime = int(current_app.permanent_session_lifetime.total_seconds())
        web_sessions.revoke(db_session(), sid, lifetime_seconds=lifetime)
    logout_user()
    session.pop("sid", None)
    session.pop("generation", None)


def _devices() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="mamori-login-device")  # type: ignore[arg-type]


def _read_device() -> dict[str, str]:
    try:
        value = _devices().loads(request.cookies.get(DEVICE_COOKIE, ""))
    except BadSignature:
        return {}
    return value if isinstance(value, dict) else {}


def device_for(login: str) -> str | None:
    """This browser's id if it last signed in as *login* (its failures then count on their own)."""
    value = _read_device()
    return value.get("d") if value.get("l") == login.strip() else None


def remember_device(response: Response, user: User) -> None:
    device = _read_device().get("d") or secrets.token_hex(16)
    response.set_cookie(
        DEVICE_COOKIE, _devices().dumps({"l": user.login, "d": device}), max_age=_DEVICE_DAYS * 86400,
        httponly=True, samesite="Lax", secure=settings().secure_cookies,
    )
