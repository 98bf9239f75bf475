"""Logging in and out, and the language switch."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from app.i18n import LANG_COOKIE, LANGUAGES, translate
from app.services import accounts, audit
from app.services.login_throttle import ThrottlePolicy
from app.settings import Settings
from app.web import sessions
from app.web.access import public, require_role
from app.models import Role
from app.web.caching import no_store
from app.web.context import client_ip, db_session, settings
from app.web.forms import LoginForm

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths of printable characters; anything else goes home.

    A backslash counts as a slash for browsers (``/\\evil.example``); a control character (CR/LF) cannot go
    into a Location header at all.
    """
    if (target and target.startswith("/") and not target.startswith(("//", "/\\")) and target.isprintable()
            and len(target) <= 2000 and not urlsplit(target).netloc):
        return target
    return url_for("main.index")


def throttle_policy(config: Settings) -> ThrottlePolicy:
    return ThrottlePolicy(
        pair_limit=config.login_failure_limit, address_limit=config.login_address_failure_limit,
        window_seconds=config.login_failure_window_seconds,
    )


@bp.route("/login", methods=["GET", "POST"])
@public
@no_store
def login() -> Response | tuple[str, int, dict[str, str]]:
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    status = 200
    headers: dict[str, str] = {}
    if form.validate_on_submit():
        session = db_session()
        login_name = form.login.data or ""
        try:
            user = accounts.authenticate(
                session, login_name, form.password.data or "", ip=client_ip(),
                policy=throttle_policy(settings()), device=sessions.device_for(login_name),
            )
        except accounts.LoginThrottled as exc:
            session.commit()
            flash(translate(exc.text), "error")
            status = 429
            headers["Retry-After"] = str(exc.retry_after)
        except accounts.InvalidCredentials:
            session.commit()
            flash(_("Wrong login ID or password."), "error")
            status = 401
        else:
            session.commit()
            sessions.start(user)
            response = redirect(_safe_next(request.args.get("next")))
            sessions.remember_device(response, user)
            return response
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status, headers


@bp.route("/logout", methods=["POST"])
@require_role(Role.TRAINEE)
def logout() -> Response:
    session = db_session()
    audit.record(session, "logout", actor=current_user._get_current_object(), ip=client_ip())
    sessions.end()
    session.commit()
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/lang/<code>")
@public
def language(code: str) -> Response:
    response = make_response(redirect(_safe_next(request.args.get("next"))))
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="Lax", httponly=True,
                            secure=settings().secure_cookies)
    return response
