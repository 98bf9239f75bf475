"""Mamori's control plane. ``create_app`` is the composition root of the web process."""
from __future__ import annotations

from flask import Flask

from app.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    from app.db import Database
    from app.extensions import babel, csrf, login_manager
    from app.i18n import select_locale, select_timezone
    from app.web import register_web
    from app.web.converters import BoundedIntegerConverter, refuse_nul_characters
    from app.api import register_api

    settings = settings or Settings.from_env()
    flask_app = Flask(
        __name__, instance_path=str(settings.instance_path), instance_relative_config=True
    )
    flask_app.config.update(
        MAMORI_SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        TESTING=settings.testing,
        SESSION_COOKIE_NAME="mamori_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        PERMANENT_SESSION_LIFETIME=12 * 3600,
        MAX_CONTENT_LENGTH=4 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE=settings.default_locale,
        BABEL_DEFAULT_TIMEZONE=settings.display_timezone,
        API_TITLE="Mamori API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "components": {
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}
            },
            "security": [{"bearerAuth": []}],
        },
    )
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Behind N reverse proxies, take the client address and scheme from their headers.
        n = settings.trusted_proxies
        flask_app.wsgi_app = ProxyFix(flask_app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    flask_app.extensions["mamori.db"] = Database(settings.database_url)
    # Before any route: every <int:…> of the web UI and the API matches only what the database can hold.
    flask_app.url_map.converters["int"] = BoundedIntegerConverter
    flask_app.before_request(refuse_nul_characters)  # first, before CSRF and the views read the form

    login_manager.init_app(flask_app)
    csrf.init_app(flask_app)
    babel.init_app(flask_app, locale_selector=select_locale, timezone_selector=select_timezone)

    register_web(flask_app)
    flask_app.extensions["mamori.api"] = register_api(flask_app, csrf)
    return flask_app
