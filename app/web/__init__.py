"""The server-rendered web UI: blueprints, login wiring, error pages, headers."""
from __future__ import annotations

from flask import Flask, Response, current_app, redirect, render_template, request, url_for
from flask_login import current_user

from app.extensions import login_manager
from app.i18n import LANGUAGES, localized, range_label, select_locale, state_label, text_of, translate, when
from app.models import Role, User
from app.web import (account, admin, auth, correspondence, exercises, live, main, range_text, review, scoring,
                     sessions, teams, teamwork, terminal, whitecell)
from app.web.context import close_session

# Pages a user who must change their password may still open.
_PASSWORD_CHANGE_ALLOWED = {"account.password", "account.logout_everywhere", "auth.logout", "auth.language", "static", "main.healthz"}


def register_web(app: Flask) -> None:
    for module in (auth, main, exercises, live, whitecell, teams, correspondence, teamwork, terminal, scoring, review,
                   admin, account):
        app.register_blueprint(module.bp)
    app.teardown_appcontext(close_session)

    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        # A logged-out, superseded (password change, log out everywhere) or deactivated session is anonymous.
        return sessions.load(user_id)

    @app.before_request
    def force_password_change():  # type: ignore[no-untyped-def]
        if (
            request.blueprint not in (None, "api")
            and not request.path.startswith("/api/")
            and current_user.is_authenticated
            and current_user.must_change_password
            and request.endpoint not in _PASSWORD_CHANGE_ALLOWED
        ):
            return redirect(url_for("account.password"))
        return None

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.context_processor
    def template_helpers() -> dict[str, object]:
        return {
            "Role": Role,
            "LANGUAGES": LANGUAGES,
            "current_locale": select_locale(),
            "localized": localized,
            "when": when,
            "state_label": state_label,
            "translate": translate,
            "range_label": range_label,
            "host_label": range_text.host_label,
            "step_label": range_text.step_label,
            "text_of": text_of,
            "exercise_time": scoring.exercise_time,
            "report_kinds": teamwork.REPORT_KINDS,
            "version_status": teamwork.VERSION_STATUS,
        }

    for status in (400, 403, 404, 405, 413, 429, 500):
        app.register_error_handler(status, _error_page)


def _error_page(error):  # type: ignore[no-untyped-def]
    status = getattr(error, "code", 500) or 500
    if request.path.startswith("/api/"):
        # The API answers in its own JSON shape, keeping the message given to abort().
        return current_app.extensions["mamori.api"].handle_http_exception(error)
    return render_template("error.html", status=status, error=error), status
